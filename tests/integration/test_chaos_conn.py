"""Connections of the broker (issue 12): a dead agent (its connection
closed) is lost within a second, not a liveness window; a silent one is
still lost only after the liveness window; one whose connection is cut and
that reconnects at once is not lost."""
import json
import os
import resource
import signal
import socket
import subprocess
import threading
import time

import msgpack
import pytest
import zmq

from loads_procs import RUNNER, Agent, Broker, Cluster, Proc, run_runner


class Feed:
    """Every message of the broker's PUB stream, with the wall time it came."""

    def __init__(self, endpoint):
        self.msgs = []
        self._stop = False
        ctx = zmq.Context.instance()
        self.s = ctx.socket(zmq.SUB)
        self.s.setsockopt(zmq.LINGER, 0)
        self.s.setsockopt(zmq.SUBSCRIBE, b"")
        self.s.connect(endpoint)
        self.t = threading.Thread(target=self._loop, daemon=True)
        self.t.start()

    def _loop(self):
        while not self._stop:
            if self.s.poll(50):
                topic, body = self.s.recv_multipart()
                self.msgs.append((topic.decode(), msgpack.unpackb(body, strict_map_key=False), time.time()))

    def close(self):
        self._stop = True
        self.t.join(timeout=5)
        self.s.close()

    def cluster_events(self, event):
        return [(b, t) for topic, b, t in self.msgs if topic == "cluster" and b["event"] == event]

    def snapshots(self):
        return [b for topic, b, _ in self.msgs if topic.endswith(".snapshot")]


def wait_busy(broker, timeout=15):
    deadline = time.monotonic() + timeout
    while not all(a["state"] == "busy" for a in broker.status()["agents"]):
        assert time.monotonic() < deadline, broker.status()
        time.sleep(0.02)


def wait_gone(broker, agent_id, timeout):
    """Polls STATUS until the agent is no longer registered; returns when (monotonic)."""
    deadline = time.monotonic() + timeout
    while any(a["agent"]["id"] == agent_id for a in broker.status()["agents"]):
        if time.monotonic() > deadline:
            return None
        time.sleep(0.01)
    return time.monotonic()


def test_killed_agent_is_lost_within_a_second_and_the_survivor_keeps_everything(tmp_path, target):
    # liveness 5 s (the default): only the closed connection can explain a loss within 1 s.
    c = Cluster(2, tmp_path, heartbeat="1s", liveness="5s")
    feed = Feed(c.broker.publisher)
    try:
        time.sleep(0.3)  # the SUB's subscription reaches the broker (PUB has no readiness signal)
        hits = 300
        runner = Proc([RUNNER, target.url + "/", "-u", "1", "-c", hits, "--sleep", "0.01",
                       "--agents", "2", "--broker", c.broker.frontend, "--interval", "200ms",
                       "--output", "json"])
        wait_busy(c.broker)
        # Both agents have sent batches: a snapshot shows hits from each.
        deadline = time.monotonic() + 10
        while not any(all(a["hits_done"] > 0 for a in s["agents"]) for s in feed.snapshots()):
            assert time.monotonic() < deadline, feed.snapshots()[-1:]
            time.sleep(0.02)
        killed_wall, killed = time.time(), time.monotonic()
        c.agents[0].signal(signal.SIGKILL)
        gone = wait_gone(c.broker, "a0", timeout=5)
        assert gone is not None, c.broker.status()
        print(f"a0 gone from STATUS {gone - killed:.3f} s after SIGKILL")
        assert gone - killed < 1.0, f"a0 lost {gone - killed:.3f} s after SIGKILL"
        out, err = runner.p.communicate(timeout=60)
        j = json.loads(out)
        assert runner.p.returncode == 1, err
        assert j["incomplete"] is True
        lost = [e for e in j["events"] if "a0 lost" in e]
        assert lost and "connection closed" in lost[0], j["events"]
        # The broker's own clock: the cluster event's time_ms within 1 s of the kill.
        ev = feed.cluster_events("agent-lost")
        assert [b["agent"]["id"] for b, _ in ev] == ["a0"], ev
        assert ev[0][0]["time_ms"] / 1000.0 - killed_wall < 1.0, (ev[0][0]["time_ms"], killed_wall)
        # The last snapshot goes out just before the 'finished' event, which
        # may reach our SUB after the runner has its RUN_FINISHED.
        deadline = time.monotonic() + 5
        while not any(t.endswith(".event") and b["event"] == "finished" for t, b, _ in feed.msgs):
            assert time.monotonic() < deadline, "no finished event on PUB"
            time.sleep(0.02)
        # The survivor did its whole share and every batch of it was merged;
        # the summary is what the broker merged: the sum of the snapshots' deltas.
        last = feed.snapshots()[-1]
        share = {a["id"]: a["hits_done"] for a in last["agents"]}
        assert share["a1"] == hits, share
        assert 0 < share["a0"] < hits, share
        merged = sum(s["delta"]["hits"] for s in feed.snapshots())
        assert j["total"]["hits"] == merged, (j["total"]["hits"], merged)
        # a0's share of it: at most the hits_done it last reported (that count
        # may run a hit ahead of the batch it came with).
        assert 0 < merged - hits <= share["a0"], (merged, share)
        # The target saw at least that (the killed agent's unsent interval is gone).
        assert target.stats()["http_requests"] >= j["total"]["hits"]
        # The survivor is registered and idle again.
        assert [(a["agent"]["id"], a["state"]) for a in c.broker.status()["agents"]] == [("a1", "idle")]
    finally:
        feed.close()
        c.kill()


def test_stopped_agent_is_lost_only_after_the_liveness_window(tmp_path):
    c = Cluster(1, tmp_path, heartbeat="200ms", liveness="2s")
    try:
        stopped = time.monotonic()
        c.agents[0].signal(signal.SIGSTOP)
        # Its connection stays open: not lost before the liveness window...
        assert wait_gone(c.broker, "a0", timeout=1.5) is None
        # ...and lost once it passed.
        gone = wait_gone(c.broker, "a0", timeout=5)
        assert gone is not None and 2.0 <= gone - stopped < 3.5, gone and gone - stopped
    finally:
        c.agents[0].signal(signal.SIGCONT)
        c.kill()


def test_cut_connections_that_come_back_at_once_are_not_lost(tmp_path):
    c = Cluster(2, tmp_path, heartbeat="1s", liveness="5s")
    feed = Feed(c.broker.publisher)
    try:
        time.sleep(0.3)
        port = c.broker.backend.rsplit(":", 1)[1]
        # Destroy the broker's side of every backend connection (as a network
        # blip would): both agents' DEALERs reconnect by themselves.
        before = subprocess.run(["ss", "-tnH", "state", "established", f"( sport = :{port} )"],
                                capture_output=True, text=True).stdout.strip().splitlines()
        assert len(before) == 2, before
        r = subprocess.run(["ss", "-K", "-tn", "state", "established", f"( sport = :{port} )"],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        time.sleep(0.1)
        after = subprocess.run(["ss", "-tnH", "state", "established", f"( sport = :{port} )"],
                               capture_output=True, text=True).stdout.strip().splitlines()
        if set(after) == set(before):
            pytest.skip("this kernel cannot destroy sockets (ss -K needs CONFIG_INET_DIAG_DESTROY)")
        # Past the grace and a few checks: no agent lost, both still idle and registered.
        time.sleep(1.5)
        assert sorted(a["agent"]["id"] for a in c.broker.status()["agents"]) == ["a0", "a1"]
        assert feed.cluster_events("agent-lost") == []
        # The cut was real: the connections were replaced by new ones (other client ports).
        now = subprocess.run(["ss", "-tnH", "state", "established", f"( sport = :{port} )"],
                             capture_output=True, text=True).stdout.strip().splitlines()
        assert len(now) == 2 and not set(now) & set(before), (before, after, now)
        # And a dead one is still found: kill a0 now.
        killed = time.monotonic()
        c.agents[0].signal(signal.SIGKILL)
        gone = wait_gone(c.broker, "a0", timeout=5)
        assert gone is not None and gone - killed < 1.0
    finally:
        feed.close()
        c.kill()


def cpu_seconds(pid):
    """utime + stime of a process, from /proc/PID/stat."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class StatusClient:
    """One DEALER kept connected to the frontend: STATUS over a connection the
    broker already has, timed."""

    def __init__(self, endpoint):
        self.s = zmq.Context.instance().socket(zmq.DEALER)
        self.s.setsockopt(zmq.LINGER, 0)
        self.s.connect(endpoint)

    def status(self, timeout=2.0):
        t0 = time.monotonic()
        self.s.send_multipart([b"STATUS", msgpack.packb({"v": 2})])
        assert self.s.poll(int(timeout * 1000)), "no STATUS reply"
        cmd, body = self.s.recv_multipart()
        assert cmd == b"STATUS"
        return msgpack.unpackb(body, strict_map_key=False), time.monotonic() - t0

    def close(self):
        self.s.close()


def zmtp_accepts(port):
    """Opens a raw TCP connection: returns it if ZeroMQ took it (it sends its
    greeting at once), None if the broker reset it (refused)."""
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=2)
    except (ConnectionResetError, ConnectionRefusedError):
        return None  # reset before connect() even returned
    s.settimeout(2)
    try:
        data = s.recv(10)
    except (ConnectionResetError, socket.timeout):
        data = b""
    if data[:1] == b"\xff":
        return s
    s.close()
    return None


def test_connection_cap_refuses_new_connections_without_spinning_and_reopens(tmp_path, target):
    # 1024 descriptors: the broker raises its soft limit to that hard limit,
    # keeps 256 in reserve (an eighth, at least 256) and caps at 768
    # connections. This process holds them all: it needs more than 1024 too.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 2048 and (hard == resource.RLIM_INFINITY or hard >= 2048):
        resource.setrlimit(resource.RLIMIT_NOFILE, (2048, hard))
    broker = Broker(wrapper=["prlimit", "--nofile=1024:1024"])
    err = broker.stderr_text()
    assert "descriptor limit 1024" in err and "at most 768 connections" in err, err
    held, agents, client = [], [], None
    try:
        agents.append(Agent(broker.backend, "a0", cache_dir=str(tmp_path / "c0")))
        client = StatusClient(broker.frontend)
        st, _ = client.status()
        assert st["connections"]["max"] == 768 and st["connections"]["refusing"] is False, st["connections"]
        port = int(broker.backend.rsplit(":", 1)[1])
        refused = None
        for i in range(1000):
            s = zmtp_accepts(port)
            if s is None:
                refused = i
                break
            held.append(s)
        assert refused is not None, "never refused"
        st, took = client.status()
        c = st["connections"]
        total = c["frontend"] + c["backend"] + c["publisher"]
        # 2 connections before (the agent, this client), then ours up to the
        # cap; the broker learns of connections a moment after ZeroMQ takes
        # them, so a few more get in on a busy machine (the reserve is for
        # them: 256 less ZeroMQ's own 25 or so; with 32 it ran out under CI's
        # load, and neither ZeroMQ nor the sink could accept).
        assert 766 <= len(held) <= 966 and 768 <= total <= 968 and c["refusing"] is True, (len(held), c)
        assert took < 0.2, took
        # Refused for good while at the cap: more attempts are reset too, and
        # the broker sleeps (no accept loop at 100% CPU), answers STATUS fast,
        # and its agent is alive.
        cpu0, t0 = cpu_seconds(broker.p.pid), time.monotonic()
        for _ in range(20):
            assert zmtp_accepts(port) is None
        worst = 0.0
        while time.monotonic() - t0 < 2.0:
            st, took = client.status()
            worst = max(worst, took)
            time.sleep(0.05)
        cpu = (cpu_seconds(broker.p.pid) - cpu0) / (time.monotonic() - t0)
        assert cpu < 0.1, f"broker used {cpu:.0%} CPU while refusing"
        assert worst < 0.2, worst
        a0 = [a for a in st["agents"] if a["agent"]["id"] == "a0"]
        assert a0 and a0[0]["last_seen_ms"] < 1500, st["agents"]
        assert broker.stderr_text().count("refusing new connections until some close") == 1
        print(f"held {len(held)}, cap reached at {total}; broker CPU {cpu:.1%} while refusing; STATUS worst {worst*1000:.1f} ms")
        # Close enough to go below 90% of the cap (691): new connections are
        # taken again, and a new agent registers and runs with the first.
        drop = total - 691 + 5
        for s in held[:drop]:
            s.close()
        del held[:drop]
        deadline = time.monotonic() + 5
        while client.status()[0]["connections"]["refusing"]:
            assert time.monotonic() < deadline, client.status()[0]["connections"]
            time.sleep(0.02)
        assert "accepting new connections again" in broker.stderr_text()
        agents.append(Agent(broker.backend, "a1", cache_dir=str(tmp_path / "c1")))
        broker.wait_agents(2)
        r = run_runner(target.url + "/", "-u", "1", "-c", "10", "--agents", "2", "--broker", broker.frontend,
                       "--output", "json", timeout=60)
        assert r.rc == 0, r.stderr
        assert r.json["total"]["hits"] == 20
    finally:
        for s in held:
            s.close()
        if client:
            client.close()
        for a in agents:
            a.kill()
        broker.kill()
