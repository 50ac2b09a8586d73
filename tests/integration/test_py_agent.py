"""A second agent written from docs/protocol.md alone (tests/support/py_agent.py)
joins a real cluster beside a loads-agent, and their figures merge into one
truthful summary: the proof that the spec says enough (issue 12)."""
import json
import signal
import socket
import sys
import time
from pathlib import Path

import pytest

from loads_procs import RUNNER, Agent, Broker, Proc, run_runner

PY_AGENT = Path(__file__).resolve().parents[1] / "support" / "py_agent.py"


class PyAgent(Proc):
    def __init__(self, backend, agent_id):
        super().__init__([sys.executable, PY_AGENT, "--broker", backend, "--id", agent_id])
        self.id = agent_id
        self.wait_for(lambda l: l.startswith("registered "))

    def finished(self, run_count):
        """Waits for the run_count-th `finished RUN HITS` line; returns HITS."""
        self.wait_for(lambda l: sum(x.startswith("finished ") for x in self.lines) >= run_count, timeout=30)
        return int([x for x in self.lines if x.startswith("finished ")][run_count - 1].split()[2])


@pytest.fixture(scope="module")
def mixed():
    """A broker, one loads-agent (c0) and one Python agent (p0)."""
    broker = Broker()
    procs = [broker]
    try:
        procs.append(Agent(broker.backend, "c0"))
        procs.append(PyAgent(broker.backend, "p0"))
        broker.wait_agents(2)
        yield broker, procs[1], procs[2]
    finally:
        for p in reversed(procs):
            p.kill()


def run(broker, url, *args):
    r = run_runner(url, "-u", "2", "-c", "10", "--agents", "2", "--broker", broker.frontend,
                   "--interval", "100ms", "--output", "json", *args, timeout=60)
    assert r.stdout, r.stderr
    return r


def test_the_python_agent_registers_under_its_routing_id(mixed):
    broker, _, py = mixed
    agents = {a["agent"]["id"]: a for a in broker.status()["agents"]}
    assert set(agents) == {"c0", "p0"}
    assert agents["p0"]["agent"]["version"] == "py-0.1" and agents["p0"]["state"] == "idle"


def test_results_of_both_agents_merge_into_one_row(mixed, srv):
    broker, _, py = mixed
    srv.reset()
    r = run(broker, srv.url + "/?q=1")
    assert r.rc == 0, r.stderr
    j = r.json
    t = j["total"]
    assert sorted(j["agent_ids"]) == ["c0", "p0"]
    assert not j["incomplete"], j["events"]
    assert py.finished(1) == 20  # the Python agent ran its whole plan: 2 users x 10 hits
    assert t["hits"] == t["successes"] == 40 == srv.stats()["http_requests"]
    assert t["failures"] == t["errors"] == t["interrupted"] == 0
    assert t["requests"] == 40 and t["request_errors"] == 0
    assert t["status_codes"] == {"200": 40}
    assert t["latency"]["count"] == 40
    # ONE row, no host, no query, merged from both agents.
    assert list(t["names"]) == ["GET /"]
    row = t["names"]["GET /"]
    assert row["count"] == 40 and row["errors"] == 0 and row["latency"]["count"] == 40
    assert [c["hits"] for c in j["cycles"]] == [40]
    broker.wait_agents(2, timeout=5)


def test_failures_and_errors_count_the_same_on_both_agents(mixed, srv):
    broker, _, py = mixed
    runs = len([x for x in py.lines if x.startswith("finished ")])

    # 404: a failure of every hit, with its status and message; no label error.
    srv.reset()
    r = run(broker, srv.url + "/status/404")
    assert r.rc == 1, r.stderr
    t = r.json["total"]
    assert py.finished(runs + 1) == 20
    assert t["hits"] == t["failures"] == 40 == srv.stats()["http_requests"]
    assert t["status_codes"] == {"404": 40}
    assert t["messages"] == {"failure: HTTP 404": 40}
    assert t["names"]["GET /status/404"]["count"] == 40 and t["names"]["GET /status/404"]["errors"] == 0
    assert t["latency"]["count"] == 40

    # 503: an error of kind status, and a label error.
    srv.reset()
    r = run(broker, srv.url + "/status/503")
    t = r.json["total"]
    assert py.finished(runs + 2) == 20
    assert t["hits"] == t["errors"] == 40 == srv.stats()["http_requests"]
    assert t["errors_by_kind"]["status"] == 40
    assert t["messages"] == {"status: HTTP 503": 40}
    assert t["names"]["GET /status/503"]["errors"] == 40

    # Nothing listens: connect errors, no responses, no latency samples, and
    # the same message text from both agents (one key).
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        port = held.getsockname()[1]
        r = run(broker, f"http://127.0.0.1:{port}/")
    t = r.json["total"]
    assert py.finished(runs + 3) == 20
    assert t["hits"] == t["errors"] == 40
    assert {k: n for k, n in t["errors_by_kind"].items() if n} == {"connect": 40}
    assert t["requests"] == 0 and t["request_errors"] == 40 and t["status_codes"] == {}
    assert t["latency"]["count"] == 0
    assert t["names"]["GET /"]["count"] == 40 and t["names"]["GET /"]["errors"] == 40
    assert t["messages"] == {f"connect: connect: Connection refused (http://127.0.0.1:{port})": 40}
    broker.wait_agents(2, timeout=5)


def test_a_timed_cycle_with_think_time_ends_on_time(mixed, srv):
    broker, _, py = mixed
    runs = len([x for x in py.lines if x.startswith("finished ")])
    srv.reset()
    r = run_runner(srv.url + "/", "-u", "2", "-d", "1s", "--sleep", "20ms", "--agents", "2",
                   "--broker", broker.frontend, "--interval", "100ms", "--output", "json", timeout=60)
    assert r.rc == 0, r.stderr
    t = r.json["total"]
    py_hits = py.finished(runs + 1)
    # 2 users for 1 s with 20 ms of think time make at most 2 x 51 hits each agent.
    assert 0 < py_hits <= 102
    assert 0 < t["hits"] - py_hits <= 102
    assert t["hits"] == t["successes"] == srv.stats()["http_requests"]
    assert not r.json["incomplete"], r.json["events"]
    broker.wait_agents(2, timeout=5)


def test_a_stop_ends_both_agents_parts_and_in_flight_hits_are_interrupted(mixed, srv):
    broker, _, py = mixed
    runs = len([x for x in py.lines if x.startswith("finished ")])
    srv.reset()
    runner = Proc([RUNNER, srv.url + "/delay?ms=10", "-u", "2", "-d", "60s", "--agents", "2",
                   "--broker", broker.frontend, "--interval", "100ms", "--output", "json"])
    try:
        deadline = time.monotonic() + 15
        while not all(a["state"] == "busy" for a in broker.status()["agents"]):
            assert time.monotonic() < deadline, broker.status()
            time.sleep(0.05)
        time.sleep(0.5)  # some hits first: the scenario, not a sync
        t0 = time.monotonic()
        runner.p.send_signal(signal.SIGINT)  # the runner sends STOP
        out, _ = runner.p.communicate(timeout=20)
        assert time.monotonic() - t0 < 5
    finally:
        runner.kill()
    j = json.loads(out)
    t = j["total"]
    assert j["stopped"] is True and not j["incomplete"], j["events"]
    py_hits = py.finished(runs + 1)
    assert 0 < py_hits < t["hits"] and t["hits"] == t["successes"]
    assert t["interrupted"] <= 4  # at most one hit in flight per user
    # Every request the target answered is a hit or an interrupted one, no more.
    deadline = time.monotonic() + 2
    while srv.stats()["http_requests"] != t["hits"] + t["interrupted"] and time.monotonic() < deadline:
        time.sleep(0.02)
    assert srv.stats()["http_requests"] == t["hits"] + t["interrupted"]
    broker.wait_agents(2, timeout=5)


def test_the_python_agent_rejects_what_it_cannot_run(mixed, srv):
    broker, _, _ = mixed
    r = run_runner(srv.url + "/", "--rate", "10", "-d", "1s", "--agents", "2", "--broker", broker.frontend,
                   "--output", "json", timeout=60)
    assert r.rc != 0
    assert "py_agent runs the closed model only" in r.stdout + r.stderr
    broker.wait_agents(2, timeout=10)
    r = run_runner(srv.url + "/redirect/1", "--follow-redirects", "-u", "1", "-c", "1", "--agents", "2",
                   "--broker", broker.frontend, "--output", "json", timeout=60)
    assert r.rc != 0
    assert "py_agent does not follow redirects" in r.stdout + r.stderr
    broker.wait_agents(2, timeout=10)


def test_the_routing_id_names_an_agent_whatever_its_body_says():
    """4.8: the broker knows an agent by its routing id; REGISTER's agent.id is replaced by it."""
    import msgpack
    import zmq
    broker = Broker()
    d = zmq.Context.instance().socket(zmq.DEALER)
    try:
        d.setsockopt(zmq.LINGER, 0)
        d.setsockopt(zmq.IDENTITY, b"routing-x1")
        d.connect(broker.backend)
        d.send_multipart([b"REGISTER", msgpack.packb({"v": 2, "agent": {
            "id": "body-y2", "host": "h", "pid": 1, "threads": 1, "version": "raw"}})])
        assert d.poll(5000), "no WELCOME"
        cmd, _ = d.recv_multipart()
        assert cmd == b"WELCOME"
        assert [a["agent"]["id"] for a in broker.status()["agents"]] == ["routing-x1"]
    finally:
        d.close()
        broker.kill()


def test_the_python_agent_ignores_commands_it_does_not_know():
    """4.8: an agent does not answer a command it does not know; it goes on heartbeating."""
    import msgpack
    import zmq
    router = zmq.Context.instance().socket(zmq.ROUTER)
    router.setsockopt(zmq.LINGER, 0)
    port = router.bind_to_random_port("tcp://127.0.0.1")
    py = Proc([sys.executable, PY_AGENT, "--broker", f"tcp://127.0.0.1:{port}", "--id", "p9"])
    try:
        assert router.poll(5000), "no REGISTER"
        peer, cmd, body = router.recv_multipart()
        assert (peer, cmd) == (b"p9", b"REGISTER")
        assert msgpack.unpackb(body)["agent"]["id"] == "p9"
        router.send_multipart([peer, b"WELCOME", msgpack.packb({"v": 2, "heartbeat_ms": 50, "liveness_ms": 5000})])
        py.wait_for(lambda l: l.startswith("registered p9"))
        router.send_multipart([peer, b"SOMETHING_NEW", msgpack.packb({"v": 2, "run": "r1", "x": [1, 2]})])
        router.send_multipart([peer, b"HEARTBEAT", msgpack.packb({"v": 2, "state": "", "run": "", "new_key": 1})])
        seen = []
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline:
            if router.poll(50):
                _, cmd, body = router.recv_multipart()
                seen.append((cmd, msgpack.unpackb(body)))
        assert seen and all(c == b"HEARTBEAT" and b == {"v": 2, "state": "idle", "run": ""} for c, b in seen), seen
        assert py.p.poll() is None
    finally:
        py.kill()
        router.close()
