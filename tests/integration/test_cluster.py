"""The cluster as real processes on loopback: loads-broker, loads-agent x N,
loads-runner --agents N, the PUB stream and the Python subscriber."""
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from loads_procs import (CASES_LIB, RUNNER, WEBSITE_LIB, Agent, Broker, Cluster, Proc,
                         request, run_runner)

SUBSCRIBER = Path(__file__).resolve().parents[2] / "examples" / "subscriber" / "loads_subscribe.py"


@pytest.fixture
def cluster5(tmp_path):
    c = Cluster(5, tmp_path)
    yield c
    c.kill()


def test_five_agents_run_the_whole_plan_each(cluster5, target):
    r = run_runner(target.url + "/", "-u", "10:20:30", "-c", "20", "--agents", "5",
                   "--broker", cluster5.broker.frontend, "--output", "json", timeout=120)
    assert r.rc == 0, r.stderr
    j = r.json
    assert j["total"]["hits"] == 6000
    assert j["total"]["successes"] == 6000
    assert j["total"]["latency"]["count"] == 6000
    assert [c["users"] for c in j["cycles"]] == [50, 100, 150]
    assert [c["hits"] for c in j["cycles"]] == [1000, 2000, 3000]
    assert target.stats()["http_requests"] == 6000
    # Every agent is idle again and can take the next run.
    cluster5.broker.wait_agents(5, timeout=5)


def test_library_is_shipped_to_agents(tmp_path, target):
    c = Cluster(2, tmp_path)
    try:
        r = run_runner(f"{WEBSITE_LIB}:WebSite.test_home", "--server-url", target.url,
                       "-u", "3", "-c", "5", "--agents", "2", "--broker", c.broker.frontend,
                       "--output", "json", timeout=60)
        assert r.rc == 0, r.stderr
        assert r.json["total"]["hits"] == 30
        assert target.stats()["http_requests"] == 30
        cached = list(tmp_path.glob("cache-*/*.so"))
        assert len(cached) == 2, cached
        # A second run reuses the cached copy.
        r = run_runner(f"{WEBSITE_LIB}:WebSite.test_home", "--server-url", target.url,
                       "-u", "1", "-c", "1", "--agents", "2", "--broker", c.broker.frontend,
                       "--output", "json", timeout=60)
        assert r.rc == 0 and r.json["total"]["hits"] == 2
    finally:
        c.kill()


def test_failures_and_errors_add_up_across_agents(tmp_path, target):
    c = Cluster(2, tmp_path)
    try:
        r = run_runner(target.url + "/status/500", "-u", "2", "-c", "3", "--agents", "2",
                       "--broker", c.broker.frontend, "--output", "json", timeout=60)
        assert r.rc == 1
        t = r.json["total"]
        assert t["hits"] == 12 and t["errors"] == 12
        assert t["errors_by_kind"]["status"] == 12
    finally:
        c.kill()


def test_too_few_agents_is_a_clear_error(tmp_path, target):
    c = Cluster(1, tmp_path)
    try:
        r = run_runner(target.url + "/", "--agents", "3", "--broker", c.broker.frontend, timeout=30)
        assert r.rc == 2
        assert "need 3 idle agents" in r.stderr
    finally:
        c.kill()


def test_wait_holds_the_run_until_agents_come(tmp_path, target):
    c = Cluster(1, tmp_path)
    try:
        runner = Proc([RUNNER, target.url + "/", "-u", "2", "-c", "5", "--agents", "2", "--wait",
                       "--broker", c.broker.frontend, "--output", "json"])
        # The run waits at the broker for a second idle agent...
        deadline = time.monotonic() + 15
        while not any(r["state"] == "waiting" for r in c.broker.status()["runs"]):
            assert time.monotonic() < deadline, c.broker.status()
            time.sleep(0.05)
        assert target.stats()["http_requests"] == 0
        # ...and starts when one registers.
        c.agents.append(Agent(c.broker.backend, "a1", cache_dir=str(tmp_path / "cache-1")))
        out, err = runner.p.communicate(timeout=60)
        import json
        assert runner.p.returncode == 0, runner.stderr_text()
        assert json.loads(out)["total"]["hits"] == 20
        assert target.stats()["http_requests"] == 20
    finally:
        c.kill()


def test_no_broker_is_a_clear_error(target):
    # A port held by a socket that never listens: nothing can answer there.
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        port = held.getsockname()[1]
        r = run_runner(target.url + "/", "--agents", "1", "--broker", f"tcp://127.0.0.1:{port}",
                       "--broker-timeout", "1s", timeout=30)
    assert r.rc == 2
    assert "no broker" in r.stderr


def test_ping_and_check_cluster(tmp_path):
    c = Cluster(2, tmp_path)
    try:
        r = run_runner("--ping-broker", "--broker", c.broker.frontend, timeout=15)
        assert r.rc == 0, r.stderr
        assert "Agents: 2" in r.stdout
        r = run_runner("--check-cluster", "--broker", c.broker.frontend, timeout=15)
        assert r.rc == 0, r.stderr
        assert "a0" in r.stdout and "a1" in r.stdout and "idle" in r.stdout
    finally:
        c.kill()


def test_killed_agent_is_detected_and_survivors_results_kept(tmp_path, target):
    c = Cluster(3, tmp_path)
    try:
        runner = Proc([RUNNER, target.url + "/", "-u", "2", "-d", "5s", "--sleep", "0.02",
                       "--agents", "3", "--broker", c.broker.frontend, "--interval", "200ms",
                       "--output", "json"])
        # Wait until the run is going on every agent, then kill one.
        deadline = time.monotonic() + 15
        while not all(a["state"] == "busy" for a in c.broker.status()["agents"]):
            assert time.monotonic() < deadline, c.broker.status()
            time.sleep(0.05)
        time.sleep(1.0)  # let it do some work before dying: this is the scenario, not a sync
        killed_at = time.monotonic()
        c.agents[0].signal(signal.SIGKILL)
        out, err = runner.p.communicate(timeout=60)
        ended = time.monotonic()
        import json
        j = json.loads(out)
        assert runner.p.returncode == 1
        assert j["incomplete"] is True
        assert any("a0 lost" in e for e in j["events"]), j["events"]
        # The run went on for the survivors to its planned end and no further.
        assert ended - killed_at < 4 + 1.5 + 5
        # Everything the survivors did arrived: the target saw at most one
        # unreported interval (plus in-flight hits) of the killed agent.
        seen = target.stats()["http_requests"]
        hits = j["total"]["hits"]
        assert hits <= seen
        assert seen - hits <= 40, (seen, hits)
        assert hits > 100
    finally:
        c.kill()


def test_ctrl_c_stops_every_agent_and_prints_the_summary(tmp_path, target):
    c = Cluster(2, tmp_path)
    try:
        runner = Proc([RUNNER, target.url + "/delay?ms=10", "-u", "2", "-d", "60s",
                       "--agents", "2", "--broker", c.broker.frontend, "--interval", "200ms"])
        deadline = time.monotonic() + 15
        while not all(a["state"] == "busy" for a in c.broker.status()["agents"]):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(0.5)
        t0 = time.monotonic()
        runner.p.send_signal(signal.SIGINT)
        out, err = runner.p.communicate(timeout=20)
        assert time.monotonic() - t0 < 5
        assert "Hits:" in out.decode()
        assert runner.p.returncode == 1
        c.broker.wait_agents(2, timeout=5)
    finally:
        c.kill()


def test_broker_restart_gets_idle_agents_back(tmp_path):
    broker = Broker()  # ports from the OS; the restarted broker binds the same ones
    eps = dict(frontend=broker.frontend, backend=broker.backend, publisher=broker.publisher)
    agents = [Agent(broker.backend, f"r{i}") for i in range(2)]
    try:
        broker.wait_agents(2)
        broker.signal(signal.SIGTERM)
        broker.p.wait(timeout=10)
        broker = Broker(**eps)
        # Agents notice the silence within their liveness window and register again.
        assert sorted(broker.wait_agents(2, timeout=15)) == ["r0", "r1"]
    finally:
        for a in agents:
            a.kill()
        broker.kill()


def test_garbage_on_every_socket_leaves_the_broker_serving(tmp_path, target):
    import zmq
    c = Cluster(1, tmp_path)
    try:
        ctx = zmq.Context.instance()
        for ep in (c.broker.frontend, c.broker.backend):
            s = ctx.socket(zmq.DEALER)
            s.setsockopt(zmq.LINGER, 0)
            s.connect(ep)
            for frames in ([b"x"], [b"", b""], [b"RESULT", b"\xc1\xc1"], [b"SUBMIT", b"\x81\xa1v\x02"],
                           [b"SUBMIT", b"\x81\xa1v\x01"], [b"HEARTBEAT", b"\x93\x01\x02\x03"],
                           [b"A" * 100, b"B"], [b"REGISTER", b"\x81\xa1v\x01"]):
                s.send_multipart(frames)
            s.close()
        # Raw bytes that are not ZMTP at all, on all three ports.
        for ep in (c.broker.frontend, c.broker.backend, c.broker.publisher):
            host, port = ep.rsplit("/", 1)[1].rsplit(":", 1)
            with socket.create_connection((host, int(port)), timeout=5) as raw:
                raw.sendall(b"\xff" * 64 + b"GET / HTTP/1.1\r\n\r\n" + bytes(range(256)))
        # Still serving: status answers, the agent is there, and a run works.
        assert c.broker.status()["agents"][0]["agent"]["id"] == "a0"
        r = run_runner(target.url + "/", "-u", "2", "-c", "5", "--agents", "1",
                       "--broker", c.broker.frontend, "--output", "json", timeout=60)
        assert r.rc == 0, r.stderr
        assert r.json["total"]["hits"] == 10
        assert c.broker.p.poll() is None
    finally:
        c.kill()


def test_python_subscriber_sees_snapshots_and_the_final_summary(tmp_path, target):
    c = Cluster(2, tmp_path)
    try:
        sub = Proc(["/usr/bin/python3", SUBSCRIBER, "--publisher", c.broker.publisher,
                    "--timeout", "60", "--ready"])
        sub.wait_for(lambda l: l.startswith("subscribed"))
        r = run_runner(target.url + "/delay?ms=5", "-u", "2", "-d", "1500ms", "--agents", "2",
                       "--broker", c.broker.frontend, "--interval", "200ms", "--output", "json",
                       timeout=60)
        assert r.rc == 0, r.stderr
        line = sub.wait_for(lambda l: l.startswith("finished "), timeout=20)
        assert f"hits={r.json['total']['hits']}" in line
        snapshots = [l for l in sub.lines if l.startswith("snapshot ")]
        assert len(snapshots) >= 3, sub.lines
        assert any(l.startswith("event ") and " started " in l for l in sub.lines), sub.lines
        sub.p.wait(timeout=10)
        assert sub.p.returncode == 0
    finally:
        c.kill()
