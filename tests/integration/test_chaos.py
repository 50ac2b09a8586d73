"""Faults in the middle of a run, with real processes (issue 12): an agent
stopped (SIGSTOP) for 3 s and for 10 s, the broker killed (SIGKILL) and
restarted, an agent cut from the broker by a network partition (namespaces of
the test's own). Each run is a count plan long enough to outlast the fault, so
its hits are known exactly; the runner's summary must count every hit the
demo target served, and say what happened."""
import json
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from loads_procs import AGENT, BROKER, DEMO, RUNNER, Agent, Broker, Cluster, Proc, free_port

SUBSCRIBER = Path(__file__).resolve().parents[2] / "examples" / "subscriber" / "loads_subscribe.py"


class Runner:
    """loads-runner in the background, its output in files (JSON report on stdout)."""

    def __init__(self, *args, prefix=()):
        self.out, self.err = tempfile.TemporaryFile(), tempfile.TemporaryFile()
        self.p = subprocess.Popen([*map(str, prefix), str(RUNNER), *map(str, args)], stdout=self.out,
                                  stderr=self.err, start_new_session=True)

    def finish(self, timeout):
        try:
            rc = self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait(timeout=10)
            raise AssertionError(f"the runner did not end within {timeout}s: {self.stderr()[-3000:]}")
        self.out.seek(0)
        return rc, self.out.read().decode(errors="replace")

    def stderr(self):
        self.err.seek(0)
        return self.err.read().decode(errors="replace")

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait(timeout=10)


def wait_until(what, predicate, timeout=20.0, step=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"not within {timeout}s: {what}")


def running(broker):
    return any(r["state"] == "running" for r in broker.status()["runs"])


def report(rc, stdout, runner):
    try:
        return json.loads(stdout)
    except ValueError:
        raise AssertionError(f"rc={rc}, no JSON report: {stdout[-2000:]!r} {runner.stderr()[-3000:]}")


# Each agent's users make exactly this many hits: 2 users x HITS per agent,
# about 10 ms apart, so a run lasts about HITS / 100 s.
USERS = 2


def plan(hits):
    return ["-u", USERS, "-c", hits, "--sleep", "10ms", "--output", "json"]


def stop_agent(cluster, target, seconds, hits):
    """A run on two agents; agent a1 is stopped for `seconds` once the run is
    under way. Returns the runner's report and the target's count."""
    runner = Runner(target.url + "/", *plan(hits), "--agents", 2, "--broker", cluster.broker.frontend)
    try:
        wait_until("the run is running", lambda: running(cluster.broker))
        wait_until("hits reach the target", lambda: target.stats()["http_requests"] > 200)
        victim = cluster.agents[1]
        victim.signal(signal.SIGSTOP)
        time.sleep(seconds)
        victim.signal(signal.SIGCONT)
        rc, out = runner.finish(timeout=90)
        return rc, report(rc, out, runner), target.stats()["http_requests"], runner.stderr()
    finally:
        runner.kill()


def test_an_agent_stopped_3s_is_not_lost_and_nothing_is_missing(tmp_path, target):
    c = Cluster(2, tmp_path, heartbeat="200ms", liveness="5000ms")
    try:
        rc, j, served, err = stop_agent(c, target, 3, 1000)
        assert j["total"]["hits"] == 2 * USERS * 1000 == served, (j["total"]["hits"], served)
        assert not j["incomplete"], j["events"]
        assert not any("lost" in e for e in j["events"]), j["events"]
        assert rc == 0, err
    finally:
        c.kill()


def test_an_agent_stopped_10s_is_lost_rejoins_and_nothing_is_missing(tmp_path, target):
    # liveness 1.5 s: a1 is declared lost 1.5 s into its 10 s stop.
    c = Cluster(2, tmp_path, heartbeat="200ms", liveness="1500ms")
    try:
        rc, j, served, err = stop_agent(c, target, 10, 2000)
        assert j["total"]["hits"] == 2 * USERS * 2000 == served, (j["total"]["hits"], served, j["events"])
        assert any(e.startswith("agent a1 lost at") for e in j["events"]), j["events"]
        back = [e for e in j["events"] if e.startswith("agent a1 was lost for ")]
        assert len(back) == 1 and back[0].endswith("s and rejoined; nothing missing"), j["events"]
        away = float(back[0].split()[5])
        assert 9.0 <= away <= 13.0, back
        assert not j["incomplete"], j["events"]
        assert rc == 0, err
        assert "rejoined" in err  # said live, too
        # Both agents are idle again and take the next run.
        c.broker.wait_agents(2, timeout=10)
    finally:
        c.kill()


def test_the_only_agent_of_a_run_lost_for_a_moment_rejoins_before_the_run_ends(tmp_path, target):
    """A run keeps a lost agent's place for a liveness window: its only agent,
    stopped 3 s (lost after 2 s), rejoins and the run is complete."""
    c = Cluster(1, tmp_path, heartbeat="200ms", liveness="2000ms")
    try:
        runner = Runner(target.url + "/", *plan(800), "--agents", 1, "--broker", c.broker.frontend)
        try:
            wait_until("hits reach the target", lambda: target.stats()["http_requests"] > 100)
            c.agents[0].signal(signal.SIGSTOP)
            time.sleep(3)
            c.agents[0].signal(signal.SIGCONT)
            rc, out = runner.finish(timeout=90)
            j = report(rc, out, runner)
        finally:
            runner.kill()
        served = target.stats()["http_requests"]
        assert j["total"]["hits"] == USERS * 800 == served, (j["total"]["hits"], served, j["events"])
        assert any(e.startswith("agent a0 lost at") for e in j["events"]), j["events"]
        assert any(e.startswith("agent a0 was lost for ") and e.endswith("nothing missing") for e in j["events"])
        assert not j["incomplete"] and rc == 0, (j["events"], runner.stderr())
    finally:
        c.kill()


def test_the_broker_killed_and_restarted_mid_run_loses_nothing(tmp_path, target):
    ports = [free_port() for _ in range(3)]
    eps = dict(zip(("frontend", "backend", "publisher"), (f"tcp://127.0.0.1:{p}" for p in ports)))
    broker = Broker(heartbeat="200ms", liveness="1500ms", **eps)
    agents, runner = [], None
    try:
        agents = [Agent(broker.backend, f"a{i}", cache_dir=str(tmp_path / f"cache-{i}")) for i in range(2)]
        broker.wait_agents(2)
        runner = Runner(target.url + "/", *plan(1500), "--agents", 2, "--broker", broker.frontend)
        wait_until("the run is running", lambda: running(broker))
        wait_until("hits reach the target", lambda: target.stats()["http_requests"] > 200)
        broker.kill()  # SIGKILL: nothing of the run survives in it
        time.sleep(1)
        broker = Broker(heartbeat="200ms", liveness="1500ms", **eps)
        # The agents come back with the run; the broker learns it from them.
        wait_until("the run is learned back", lambda: running(broker), timeout=15)
        rc, out = runner.finish(timeout=90)
        j = report(rc, out, runner)
        served = target.stats()["http_requests"]
        assert j["total"]["hits"] == 2 * USERS * 1500 == served, (j["total"]["hits"], served, j["events"])
        assert not j["incomplete"], j["events"]
        assert any("the broker restarted" in e for e in j["events"]), j["events"]
        assert rc == 0, runner.stderr()
        assert "re-attaching" in runner.stderr() and "re-attached to run" in runner.stderr()
        broker.wait_agents(2, timeout=10)
    finally:
        if runner:
            runner.kill()
        for a in agents:
            a.kill()
        broker.kill()


def test_an_agent_cut_from_the_broker_for_10s_rejoins_and_nothing_is_missing(tmp_path):
    """Broker and runner on one host, each agent on a host of its own with its
    own demo target on its loopback (so cutting an agent's link cuts it from
    the broker only); agent a1's link goes down for 10 s mid-run."""
    from netns import Net
    net = Net("broker", "a0", "a1")
    procs, runner = [], None
    try:
        b = net.addr["broker"]
        broker = net.proc("broker", [BROKER, "--frontend", f"tcp://{b}:7780", "--backend", f"tcp://{b}:7781",
                                     "--publisher", f"tcp://{b}:7782", "--heartbeat", "200ms", "--liveness", "1500ms",
                                     "--insecure"])
        procs.append(broker)
        broker.wait_for(lambda l: l == "ready")
        for h in ("a0", "a1"):
            t = net.proc(h, [DEMO, "--http-port", "8080", "--no-tcp"])
            procs.append(t)
            t.wait_for(lambda l: l == "ready")
        for h in ("a0", "a1"):
            a = net.proc(h, [AGENT, "--broker", f"tcp://{b}:7781", "--id", h, "--threads", "1",
                             "--cache-dir", tmp_path / f"cache-{h}"])
            procs.append(a)
            a.wait_for(lambda l: l.startswith("registered "))

        def served(h):
            p = net.run(h, ["/usr/bin/python3", "-c", "import urllib.request;print(urllib.request.urlopen("
                            "'http://127.0.0.1:8080/stats', timeout=5).read().decode())"])
            assert p.returncode == 0, p.stderr
            return json.loads(p.stdout)["http_requests"]

        runner = Runner("http://127.0.0.1:8080/", *plan(2000), "--agents", 2, "--broker", f"tcp://{b}:7780",
                        prefix=["ip", "netns", "exec", net.ns["broker"]])
        wait_until("hits reach both targets", lambda: served("a0") > 200 and served("a1") > 200, timeout=30, step=0.2)
        net.cut("a1")
        time.sleep(10)
        net.heal("a1")
        rc, out = runner.finish(timeout=90)
        j = report(rc, out, runner)
        total = served("a0") + served("a1")
        assert j["total"]["hits"] == 2 * USERS * 2000 == total, (j["total"]["hits"], total, j["events"])
        back = [e for e in j["events"] if e.startswith("agent a1 was lost for ")]
        assert len(back) == 1 and back[0].endswith("nothing missing"), j["events"]
        assert not j["incomplete"], j["events"]
        assert rc == 0, runner.stderr()
    finally:
        if runner:
            runner.kill()
        for p in procs:
            p.kill()
        net.close()


def test_under_curve_a_restarted_broker_keeps_the_run_its_owners(tmp_path, target):
    """With CURVE, the run a restarted broker learns back from its agents is
    still its runner's: that runner re-attaches and gets the whole summary,
    another allowed runner key gets not-yours."""
    from loads_procs import request
    for d in ("agents", "runners"):
        (tmp_path / d).mkdir()

    def keygen(name, d):
        p = subprocess.run([str(BROKER), "keygen", name, "--dir", str(d)], capture_output=True, text=True, timeout=10)
        assert p.returncode == 0, p.stderr
        return d / f"{name}.key", d / f"{name}.pub"

    bkey = keygen("broker", tmp_path)
    a0, r0, r1 = keygen("a0", tmp_path / "agents"), keygen("r0", tmp_path / "runners"), keygen("r1", tmp_path / "runners")
    ports = [free_port() for _ in range(3)]
    eps = dict(zip(("frontend", "backend", "publisher"), (f"tcp://127.0.0.1:{p}" for p in ports)))
    args = ("--curve-key", bkey[0], "--allow-agents", tmp_path / "agents", "--allow-runners", tmp_path / "runners")

    def start_broker():
        b = Broker(*args, heartbeat="200ms", liveness="1500ms", **eps)
        b.curve = (r0[0], bkey[1])
        return b

    broker = start_broker()
    agent, runner = None, None
    try:
        agent = Agent(broker.backend, "a0", "--curve-key", a0[0], "--broker-pub", bkey[1],
                      cache_dir=str(tmp_path / "cache"))
        runner = Runner(target.url + "/", *plan(1200), "--agents", 1, "--broker", broker.frontend,
                        "--curve-key", r0[0], "--broker-pub", bkey[1])
        wait_until("the run is running", lambda: running(broker))
        run_id = broker.status()["runs"][0]["id"]
        wait_until("hits reach the target", lambda: target.stats()["http_requests"] > 100)
        broker.kill()
        time.sleep(1)
        broker = start_broker()
        wait_until("the run is learned back", lambda: running(broker), timeout=15)
        cmd, body = request(broker.frontend, "ATTACH", {"run": run_id}, curve=(r1[0], bkey[1]))
        assert (cmd, body["code"]) == ("ERROR", "not-yours"), (cmd, body)
        rc, out = runner.finish(timeout=90)
        j = report(rc, out, runner)
        served = target.stats()["http_requests"]
        assert j["total"]["hits"] == USERS * 1200 == served, (j["total"]["hits"], served, j["events"])
        assert not j["incomplete"], j["events"]
        assert rc == 0, runner.stderr()
        # Ended, its summary is kept for its owner only.
        cmd, body = request(broker.frontend, "ATTACH", {"run": run_id}, curve=(r1[0], bkey[1]))
        assert (cmd, body["code"]) == ("ERROR", "not-yours"), (cmd, body)
        cmd, body = request(broker.frontend, "ATTACH", {"run": run_id}, curve=(r0[0], bkey[1]))
        assert cmd == "SUBMITTED" and body["agents"] == ["a0"], (cmd, body)
    finally:
        if runner:
            runner.kill()
        if agent:
            agent.kill()
        broker.kill()


def test_the_runner_waits_as_long_as_the_broker_s_liveness(tmp_path, target):
    """A broker started with --liveness 8s says so in STATUS; its runner then
    waits 8 s of silence before it takes the broker for gone, not the 5 s it
    takes by default: a broker stopped 6.5 s is never reported lost, and the
    run ends whole."""
    c = Cluster(1, tmp_path, liveness="8s")
    runner = Runner(target.url + "/", *plan(500), "--agents", 1, "--broker", c.broker.frontend)
    try:
        assert c.broker.status()["liveness_ms"] == 8000
        wait_until("the run is running", lambda: running(c.broker))
        c.broker.signal(signal.SIGSTOP)
        time.sleep(6.5)  # the fault itself: a broker that is silent this long
        c.broker.signal(signal.SIGCONT)
        rc, out = runner.finish(timeout=90)
        j = report(rc, out, runner)
        err = runner.stderr()
        assert rc == 0, err[-3000:]
        assert "lost the broker" not in err, err[-3000:]
        assert j["total"]["hits"] == USERS * 500 == target.stats()["http_requests"]
    finally:
        runner.kill()
        c.kill()


def test_the_runner_gives_up_on_a_broker_that_never_comes_back(tmp_path, target):
    """The broker killed mid-run and never restarted: the runner takes it for
    gone after its liveness (5 s at least; the broker's 1 s is shorter),
    re-attaches for max(30 s, 3 x liveness) = 30 s, then gives up with exit 1
    and says so, not before. About 36 s of wall time: the 30 s floor is the
    runner's, nothing here waits longer than it must."""
    c = Cluster(1, tmp_path, heartbeat="200ms", liveness="1s")
    # Long enough (2 users x 10000 hits, 10 ms apart) to outlast the window.
    runner = Runner(target.url + "/", *plan(10000), "--interval", "100ms", "--agents", 1,
                    "--broker", c.broker.frontend)
    try:
        wait_until("the run is running", lambda: running(c.broker))
        wait_until("hits reach the target", lambda: target.stats()["http_requests"] > 50)
        c.broker.kill()  # SIGKILL, and no broker on that address again
        killed = time.monotonic()
        wait_until("the runner says it re-attaches", lambda: "re-attaching to run" in runner.stderr(), timeout=10)
        noticed = time.monotonic() - killed
        # Snapshots came every 100 ms: silence is 5 s from the kill, give or take.
        assert 4.5 <= noticed <= 7, noticed
        rc, _ = runner.finish(timeout=45)
        took = time.monotonic() - killed
        err = runner.stderr()
        assert rc == 1, err[-3000:]
        assert "could not be re-attached within 30.0 s" in err, err[-3000:]
        assert f"lost the broker at {c.broker.frontend}: run " in err, err[-3000:]
        # Not before the window: 5 s of silence, then 30 s of trying.
        assert 34.5 <= took <= 40, took
    finally:
        runner.kill()
        c.kill()


def pin(pid, cpu):
    """Every thread of process `pid` on `cpu` (threads it starts later inherit it)."""
    for tid in os.listdir(f"/proc/{pid}/task"):
        os.sched_setaffinity(int(tid), {cpu})


def test_agents_that_keep_sending_under_load_are_never_lost(tmp_path, target):
    """Issue 12 (Locust's flapping, #1843): a busy agent is not a dead one.
    A broker with --liveness 1s (heartbeat 250 ms); both agents and the target
    on one core, 200 users per agent hitting it back to back for 10 s, so the
    agents' threads and the target fight for that core the whole run. No
    agent-lost (nor a new agent-registered) on the PUB stream, the run
    complete, and its hits what the target served."""
    c = Cluster(2, tmp_path, heartbeat="250ms", liveness="1s")
    sub = runner = None
    try:
        cpu = min(os.sched_getaffinity(0))
        for proc in (target, *c.agents):
            pin(proc.p.pid, cpu)
        sub = Proc(["/usr/bin/python3", SUBSCRIBER, "--publisher", c.broker.publisher, "--timeout", "90", "--ready"])
        sub.wait_for(lambda l: l.startswith("subscribed"))
        runner = Runner(target.url + "/", "-u", 200, "-d", "10s", "--agents", 2, "--broker", c.broker.frontend,
                        "--output", "json")
        # The broker's view meanwhile: how long since it last heard each agent.
        quiet, deadline = [], time.monotonic() + 60
        while runner.p.poll() is None and time.monotonic() < deadline:
            quiet += [a["last_seen_ms"] for a in c.broker.status()["agents"]]
            time.sleep(0.1)
        rc, out = runner.finish(timeout=10)
        j = report(rc, out, runner)
        sub.wait_for(lambda l: l.startswith("finished "), timeout=20)
        flaps = [l for l in sub.lines if "agent-lost" in l or l.startswith("cluster agent-registered")]
        assert not flaps, flaps
        assert not any("lost" in e for e in j["events"]), j["events"]
        print(f"agents' silence seen by the broker: max {max(quiet)} ms over {len(quiet)} samples; hits {j['total']['hits']}")
        assert len(quiet) >= 100 and max(quiet) < 1000, (len(quiet), max(quiet))
        assert rc == 0, runner.stderr()[-3000:]
        assert not j["incomplete"], j["events"]
        t = j["total"]
        assert t["interrupted"] == 0 and t["errors"] == 0, t
        assert t["hits"] == t["successes"] == target.stats()["http_requests"], (t["hits"], target.stats())
        # The load was real: thousands of hits a second on that one core.
        assert j["duration_s"] >= 10 and t["hits"] > 10000, (j["duration_s"], t["hits"])
    finally:
        if runner:
            runner.kill()
        if sub:
            sub.kill()
        c.kill()
