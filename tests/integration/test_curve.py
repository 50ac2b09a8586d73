"""CurveZMQ on the broker's three sockets (issue 16), on loopback: keys from
`loads-broker keygen`, a cluster that runs with them, and each kind of peer
that may not come in (no key, a key not allowed, the wrong broker key)
refused with a clear reason and counted. docs/security.md."""
import os
import shutil
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from loads_procs import AGENT, BROKER, RUNNER, Agent, Broker, Proc, request, run_runner

SUBSCRIBER = Path(__file__).resolve().parents[2] / "examples" / "subscriber" / "loads_subscribe.py"


def keygen(name, d):
    p = subprocess.run([str(BROKER), "keygen", name, "--dir", str(d)], capture_output=True, text=True, timeout=10)
    assert p.returncode == 0, p.stderr
    return d / f"{name}.key", d / f"{name}.pub"


@pytest.fixture
def keys(tmp_path):
    """Keys of a broker, agents a0 a1 (allowed), runner r0 (allowed), and
    strangers: agent x0, runner x1, subscriber s0 (allowed), s1 (not)."""
    for d in ("agents", "runners", "subscribers", "others"):
        (tmp_path / d).mkdir()
    k = {"broker": keygen("broker", tmp_path)}
    for name, d in [("a0", "agents"), ("a1", "agents"), ("r0", "runners"), ("s0", "subscribers"),
                    ("x0", "others"), ("x1", "others"), ("s1", "others")]:
        k[name] = keygen(name, tmp_path / d)
    k["dir"] = tmp_path
    return k


def curve_broker(keys, *extra):
    d = keys["dir"]
    b = Broker("--curve-key", keys["broker"][0], "--allow-agents", d / "agents", "--allow-runners", d / "runners",
               "--allow-subscribers", d / "subscribers", *extra)
    b.curve = (keys["r0"][0], keys["broker"][1])
    return b


def client_args(keys, name):
    return ["--curve-key", keys[name][0], "--broker-pub", keys["broker"][1]]


def auth_of(status):
    return {a["socket"]: a for a in status["auth"]}


def test_keygen_writes_a_private_key_and_a_shareable_one(tmp_path):
    key, pub = keygen("node-1", tmp_path)
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and stat.S_IMODE(pub.stat().st_mode) == 0o644
    text = key.read_text()
    assert text.count("-key = \"") == 2 and "secret-key" not in pub.read_text()
    # Never overwritten; bad names refused.
    again = subprocess.run([str(BROKER), "keygen", "node-1", "--dir", str(tmp_path)], capture_output=True, text=True)
    assert again.returncode == 1 and "exists already" in again.stderr
    assert key.read_text() == text
    bad = subprocess.run([str(BROKER), "keygen", "../up", "--dir", str(tmp_path)], capture_output=True, text=True)
    assert bad.returncode == 2 and "key name" in bad.stderr
    # A secret key others can read is refused by every peer that takes one.
    os.chmod(key, 0o644)
    r = run_runner("http://127.0.0.1:1/", "--agents", "1", "--curve-key", key, "--broker-pub", pub)
    assert r.rc == 2 and "can be read by others" in r.stderr and "chmod 600" in r.stderr, r.stderr


def test_a_curve_cluster_runs_and_shows_who_is_who(keys, target):
    b = curve_broker(keys)
    agents = []
    try:
        agents = [Agent(b.backend, n, *client_args(keys, n)) for n in ("a0", "a1")]
        r = run_runner(target.url + "/", "-u", "2", "-c", "5", "--agents", "2", "--broker", b.frontend,
                       *client_args(keys, "r0"), "--output", "json")
        assert r.rc == 0, r.stderr
        assert r.json["total"]["hits"] == 20 == target.stats()["http_requests"]
        c = run_runner("--check-cluster", "--broker", b.frontend, *client_args(keys, "r0"))
        assert c.rc == 0, c.stderr
        assert "CURVE on" in c.stdout
        assert "  a0  " in c.stdout and "key a0" in c.stdout and "key a1" in c.stdout, c.stdout
        s = b.status()
        assert s["curve"] is True and {a["agent"]["id"]: a["key"] for a in s["agents"]} == {"a0": "a0", "a1": "a1"}
        auth = auth_of(s)
        assert auth["backend"]["keys"] == 2 and auth["backend"]["allowed"] >= 2 and auth["backend"]["refused"] == 0
        assert auth["publisher"]["keys"] == 2  # s0 and the runner r0
    finally:
        for a in agents:
            a.kill()
        b.kill()


def test_peers_without_a_good_key_are_refused_and_counted(keys, target):
    b = curve_broker(keys)
    procs = []
    try:
        # A runner: without keys, with a key not allowed, with the wrong broker key.
        r = run_runner(target.url + "/", "--agents", "1", "--broker", b.frontend, "--broker-timeout", "2s")
        assert r.rc == 2 and "requires CURVE: give --curve-key" in r.stderr, r.stderr
        r = run_runner(target.url + "/", "--agents", "1", "--broker", b.frontend, "--broker-timeout", "2s",
                       *client_args(keys, "x1"))
        assert r.rc == 2 and "refused this peer's key" in r.stderr, r.stderr
        r = run_runner(target.url + "/", "--agents", "1", "--broker", b.frontend, "--broker-timeout", "2s",
                       "--curve-key", keys["r0"][0], "--broker-pub", keys["a0"][1])
        assert r.rc == 2 and "is --broker-pub" in r.stderr, r.stderr
        # An agent with a key not allowed says why and never registers.
        x = Proc([AGENT, "--broker", b.backend, "--id", "x0", "--threads", "1", *client_args(keys, "x0")])
        procs.append(x)
        wait_stderr(x, "cannot join the broker at")
        assert "refused this peer's key" in x.stderr_text()
        # Subscribers: s1 is not allowed; s0 is.
        bad = subprocess.run(["/usr/bin/python3", str(SUBSCRIBER), "--publisher", b.publisher, "--timeout", "5",
                              *client_args(keys, "s1")], capture_output=True, text=True, timeout=30)
        assert bad.returncode == 1 and "refused this key" in bad.stderr, bad.stderr
        nokey = subprocess.run(["/usr/bin/python3", str(SUBSCRIBER), "--publisher", b.publisher, "--timeout", "5"],
                               capture_output=True, text=True, timeout=30)
        assert nokey.returncode == 1 and "requires CURVE" in nokey.stderr, nokey.stderr
        good = Proc(["/usr/bin/python3", SUBSCRIBER, "--publisher", b.publisher, "--timeout", "30", "--ready",
                     *client_args(keys, "s0")])
        procs.append(good)
        good.wait_for(lambda l: l.startswith("subscribed"))
        # Nothing ran; the broker counted the refusals.
        assert target.stats()["http_requests"] == 0
        auth = auth_of(b.status())
        assert auth["frontend"]["refused"] >= 1 and auth["backend"]["refused"] >= 1
        assert auth["publisher"]["refused"] >= 1 and auth["publisher"]["allowed"] >= 1
        assert b.status()["agents"] == []
        # Each refused peer is logged once, with its address and key, however often it retries.
        log = b.stderr_text()
        x0_pub = open(keys["x0"][1]).read().split('"')[-2]
        assert log.count(x0_pub) == 1, log
    finally:
        for p in procs:
            p.kill()
        b.kill()


def wait_stderr(proc, text, timeout=15.0):
    import time
    deadline = time.monotonic() + timeout
    while text not in proc.stderr_text():
        assert time.monotonic() < deadline, f"{text!r} not in {proc.stderr_text()!r}"
        time.sleep(0.05)


def test_keys_added_or_removed_without_a_restart(keys):
    b = curve_broker(keys)
    procs = []
    try:
        # x0 is refused, then its key is added: it comes in without any restart.
        x = Proc([AGENT, "--broker", b.backend, "--id", "x0", "--threads", "1", *client_args(keys, "x0")])
        procs.append(x)
        wait_stderr(x, "cannot join the broker")
        shutil.copy(keys["x0"][1], keys["dir"] / "agents" / "x0.pub")
        x.wait_for(lambda l: l.startswith("registered x0"), timeout=15)
        # A runner key removed: refused at its next connection (SIGHUP re-reads at once).
        (keys["dir"] / "runners" / "r0.pub").rename(keys["dir"] / "r0.pub.off")
        b.signal(signal.SIGHUP)
        r = run_runner("--ping-broker", "--broker", b.frontend, "--broker-timeout", "3s", *client_args(keys, "r0"))
        assert r.rc == 1 and "refused this peer's key" in r.stderr, r.stderr
    finally:
        for p in procs:
            p.kill()
        b.kill()


def test_an_agent_id_belongs_to_its_key(keys, target):
    b = curve_broker(keys)
    procs = []
    try:
        a0 = Agent(b.backend, "a0", *client_args(keys, "a0"))
        procs.append(a0)
        # a1 claims a0's id: not a takeover; a0 keeps its place and still runs.
        thief = Proc([AGENT, "--broker", b.backend, "--id", "a0", "--threads", "1", *client_args(keys, "a1")])
        procs.append(thief)
        wait_stderr(thief, "no welcome from the broker")
        s = b.status()
        assert [(a["agent"]["id"], a["key"], a["agent"]["pid"]) for a in s["agents"]] == [("a0", "a0", a0.p.pid)]
        r = run_runner(target.url + "/", "-c", "3", "--agents", "1", "--broker", b.frontend,
                       *client_args(keys, "r0"), "--output", "json")
        assert r.rc == 0 and r.json["total"]["hits"] == 3, r.stderr
    finally:
        for p in procs:
            p.kill()
        b.kill()


def test_the_broker_will_not_expose_itself_without_keys(tmp_path):
    p = subprocess.run([str(BROKER), "--frontend", "tcp://0.0.0.0:0"], capture_output=True, text=True, timeout=10)
    assert p.returncode == 2 and "refusing to bind tcp://0.0.0.0:0 without CURVE" in p.stderr, p.stderr
    p = subprocess.run([str(BROKER), "--curve-key", str(tmp_path / "none.key"), "--allow-agents", str(tmp_path)],
                       capture_output=True, text=True, timeout=10)
    assert p.returncode == 2 and "--allow-runners" in p.stderr, p.stderr
    p = subprocess.run([str(BROKER), "--allow-agents", str(tmp_path)], capture_output=True, text=True, timeout=10)
    assert p.returncode == 2 and "need --curve-key" in p.stderr, p.stderr


def test_keys_come_from_config_files_too(keys, target, tmp_path):
    d = keys["dir"]
    conf = tmp_path / "broker.toml"
    conf.write_text(f'curve-key = "{keys["broker"][0]}"\nallow-agents = "{d / "agents"}"\n'
                    f'allow-runners = "{d / "runners"}"\n')
    b = Broker("--config", conf)
    b.curve = (keys["r0"][0], keys["broker"][1])
    agent_conf = tmp_path / "agent.ini"
    agent_conf.write_text(f"curve-key = {keys['a0'][0]}\nbroker-pub = {keys['broker'][1]}\n")
    runner_conf = tmp_path / "runner.ini"
    runner_conf.write_text(f"curve-key = {keys['r0'][0]}\nbroker-pub = {keys['broker'][1]}\n")
    a = None
    try:
        a = Agent(b.backend, "a0", "--config", agent_conf)
        assert b.status()["curve"] is True
        r = run_runner(target.url + "/", "-c", "4", "--agents", "1", "--broker", b.frontend,
                       "--config", runner_conf, "--output", "json")
        assert r.rc == 0 and r.json["total"]["hits"] == 4 == target.stats()["http_requests"], r.stderr
    finally:
        if a:
            a.kill()
        b.kill()


def test_a_run_is_stopped_only_by_its_own_key_or_an_operator(keys, target):
    d = keys["dir"]
    keygen("r1", d / "runners")
    keygen("ops", d / "runners")
    b = curve_broker(keys, "--operators", "ops")
    procs = []
    try:
        procs.append(Agent(b.backend, "a0", *client_args(keys, "a0")))
        # r0 submits a long run; r1 (also an allowed runner) may not stop or attach it.
        runner = Proc([RUNNER, target.url + "/", "-u", "1", "-d", "30s", "--agents", "1", "--broker", b.frontend,
                       *client_args(keys, "r0"), "--output", "json"])
        procs.append(runner)
        import time
        deadline = time.monotonic() + 15
        while not [r for r in b.status()["runs"] if r["state"] == "running"]:
            assert time.monotonic() < deadline, b.status()
            time.sleep(0.05)
        run = b.status()["runs"][0]["id"]
        r1 = (d / "runners" / "r1.key", keys["broker"][1])
        cmd, body = request(b.frontend, "STOP", {"run": run}, curve=r1)
        assert cmd == "ERROR" and body["code"] == "not-yours", body
        cmd, body = request(b.frontend, "ATTACH", {"run": run}, curve=r1)
        assert cmd == "ERROR" and body["code"] == "not-yours", body
        assert [r["state"] for r in b.status()["runs"]] == ["running"]
        # An operator may.
        ops = (d / "runners" / "ops.key", keys["broker"][1])
        request_no_reply(b.frontend, "STOP", {"run": run}, curve=ops)
        runner.p.wait(timeout=20)
        out = runner.wait_for(lambda l: l.startswith("{"), timeout=5)
        import json
        assert json.loads(out)["stopped"] is True
    finally:
        for p in procs:
            p.kill()
        b.kill()


def request_no_reply(endpoint, command, body, curve):
    """Sends one message (STOP has no reply when it is accepted) and waits
    until it has left."""
    import msgpack
    import zmq
    from loads_procs import key_file
    s = zmq.Context.instance().socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 2000)
    own, broker = key_file(curve[0]), key_file(curve[1])
    s.curve_secretkey, s.curve_publickey = own["secret-key"].encode(), own["public-key"].encode()
    s.curve_serverkey = broker["public-key"].encode()
    s.connect(endpoint)
    s.send_multipart([command.encode(), msgpack.packb({"v": 2, **body})])
    s.close()


def test_a_dashboard_with_keys_follows_a_curve_broker(keys, target, tmp_path):
    import json
    import urllib.request
    from loads_procs import DASHBOARD, DashboardProc
    b = curve_broker(keys)
    procs = []
    try:
        procs.append(Agent(b.backend, "a0", *client_args(keys, "a0")))
        # Its key is a subscriber's (s0), from a config file: the publisher lets it in.
        conf = tmp_path / "dash.ini"
        conf.write_text(f"curve-key = {keys['s0'][0]}\nbroker-pub = {keys['broker'][1]}\n")
        dash = DashboardProc(b, "--config", conf, frontend=False)
        procs.append(dash)
        r = run_runner(target.url + "/", "-c", "6", "--agents", "1", "--broker", b.frontend,
                       *client_args(keys, "r0"), "--output", "json")
        assert r.rc == 0, r.stderr
        import time
        deadline = time.monotonic() + 15
        while True:
            with urllib.request.urlopen(dash.url + "/api/state", timeout=5) as resp:
                runs = json.loads(resp.read())["runs"]
            if runs and runs[-1]["state"] == "finished":
                break
            assert time.monotonic() < deadline, runs
            time.sleep(0.1)
        assert runs[-1]["totals"]["hits"] == 6
        # Without keys: it says why, and never subscribes.
        bare = Proc([DASHBOARD, "--publisher", b.publisher, "--listen", "127.0.0.1:0", "--log-level", "error"])
        procs.append(bare)
        wait_stderr(bare, "cannot subscribe to")
        assert "requires CURVE" in bare.stderr_text()
    finally:
        for p in procs:
            p.kill()
        b.kill()


def test_peers_with_keys_are_told_when_the_broker_has_none(keys):
    b = Broker()  # no CURVE
    try:
        r = run_runner("--ping-broker", "--broker", b.frontend, "--broker-timeout", "2s", *client_args(keys, "r0"))
        # ZeroMQ reports the mechanism mismatch, or (a race) only the dropped connection.
        assert r.rc == 1 and ("the broker does not use CURVE" in r.stderr or
                              "does the broker use CURVE (--curve-key)?" in r.stderr), r.stderr
        a = Proc([AGENT, "--broker", b.backend, "--id", "a0", "--threads", "1", *client_args(keys, "a0")])
        try:
            wait_stderr(a, "CURVE")
        finally:
            a.kill()
    finally:
        b.kill()
