"""A hostile or broken agent against a real broker (issue 12): a raw pyzmq
DEALER speaking docs/protocol.md sends what no loads-agent sends. Its bad
batches are refused with an ERROR and never merged, the run goes on, and a
real agent in the same run keeps its exact totals; no stuck state, and the
broker's log stays bounded under a flood."""
import json
import os
import time

import msgpack
import pytest
import zmq

from loads_procs import CASES_LIB, RUNNER, Agent, Broker, Proc

U64 = 2**64 - 1


def histogram(values=()):
    """A docs/protocol.md Histogram of small values (< 256 ns: bucket = value)."""
    counts = {}
    for v in values:
        counts[v] = counts.get(v, 0) + 1
    buckets = []
    for v in sorted(counts):
        buckets += [v, counts[v]]
    if not counts:
        return {"buckets": [], "min": 0, "max": 0, "sum": 0, "clamped": 0}
    return {"buckets": buckets, "min": min(counts), "max": max(counts), "sum": sum(values), "clamped": 0}


def stats(hits=0, successes=None, failures=0, errors=0, latency=None, labels=None, errors_by_kind=None):
    s = {k: 0 for k in ("hits", "successes", "failures", "errors", "interrupted", "scheduled", "dropped",
                        "late", "requests", "request_errors", "bytes_sent", "bytes_received", "ws_opened",
                        "ws_closed", "ws_messages_sent", "ws_messages_received", "ws_bytes_sent",
                        "ws_bytes_received", "tcp_opened", "tcp_closed", "tcp_bytes_sent", "tcp_bytes_received")}
    s["hits"] = hits
    s["successes"] = hits - failures - errors if successes is None else successes
    s["failures"] = failures
    s["errors"] = errors
    s["errors_by_kind"] = errors_by_kind or ({"connect": errors} if errors else {})
    s["status_codes"] = {}
    s["messages"] = {}
    s["latency"] = latency if latency is not None else histogram([100] * hits)
    s["latency_from_schedule"] = histogram()
    s["labels"] = labels or {}
    return s


class RawAgent:
    """An agent written with pyzmq from docs/protocol.md, that sends whatever
    the test tells it to."""

    def __init__(self, backend, agent_id, held=None):
        self.id = agent_id
        self.s = zmq.Context.instance().socket(zmq.DEALER)
        self.s.setsockopt(zmq.LINGER, 0)
        self.s.setsockopt(zmq.ROUTING_ID, agent_id.encode())
        self.s.connect(backend)
        self.acks = []  # the broker's ACK bodies, in order (docs/protocol.md 5.4)
        body = {"agent": {"id": agent_id, "host": "raw", "pid": os.getpid(), "threads": 1, "version": "raw"}}
        if held:
            body["run"] = held  # a RunState: the run it holds results of
        self.send("REGISTER", body)
        self.welcome = self.expect("WELCOME")

    def ack(self, timeout=5.0):
        """The next ACK body (after any already received)."""
        deadline = time.monotonic() + timeout
        while not self.acks:
            left = deadline - time.monotonic()
            if left <= 0 or not self.s.poll(int(left * 1000)):
                raise AssertionError(f"{self.id}: no ACK within {timeout}s")
            cmd, raw = self.s.recv_multipart()
            body = msgpack.unpackb(raw, strict_map_key=False)
            if cmd == b"HEARTBEAT":
                self.send("HEARTBEAT", {"state": "idle", "run": ""})
            elif cmd == b"ACK":
                self.acks.append(body)
            else:
                raise AssertionError(f"{self.id}: {cmd} while waiting for an ACK: {body}")
        return self.acks.pop(0)

    def send(self, command, body):
        self.s.send_multipart([command.encode(), msgpack.packb({"v": 2, **body})])

    def recv(self, timeout=15.0):
        """The next message that is not a HEARTBEAT or an ACK (kept in self.acks), or None."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not self.s.poll(int(left * 1000)):
                return None
            cmd, raw = self.s.recv_multipart()
            cmd = cmd.decode()
            if cmd == "HEARTBEAT":  # answered, so the broker keeps us
                self.send("HEARTBEAT", {"state": "idle", "run": ""})
            elif cmd == "ACK":
                self.acks.append(msgpack.unpackb(raw, strict_map_key=False))
            else:
                return cmd, msgpack.unpackb(raw, strict_map_key=False)

    def expect(self, command, timeout=15.0):
        got = self.recv(timeout)
        assert got is not None, f"{self.id}: no {command} within {timeout}s"
        assert got[0] == command, (command, got)
        return got[1]

    def nothing(self, timeout=0.5):
        """Asserts nothing but heartbeats arrives within timeout (no ERROR for a good batch)."""
        got = self.recv(timeout)
        assert got is None, got

    def result(self, run, seq, st, cycle=0, hits_done=0, first_seq=None):
        body = {"run": run, "seq": seq, "cycle": cycle, "hits_done": hits_done,
                "elapsed_ns": 1000, "users": 1, "users_busy": 0, "stats": st}
        if first_seq is not None:
            body["first_seq"] = first_seq
        self.send("RESULT", body)

    def finished(self, run, last_seq, stopped=False):
        self.send("FINISHED", {"run": run, "last_seq": last_seq, "stopped": stopped,
                               "started_ms": int(time.time() * 1000), "elapsed_ns": 1000, "cycles": []})

    def close(self):
        self.s.close()


def runner(broker, url, agents, *extra):
    return Proc([RUNNER, url, "-u", "2", "-c", "50", "--agents", str(agents), "--broker", broker.frontend,
                 "--interval", "100ms", "--output", "json", *extra])


def summary_of(proc, timeout=30):
    out, err = proc.p.communicate(timeout=timeout)
    assert out.strip(), f"no summary (rc {proc.p.returncode}): {proc.stderr_text()[-2000:]}"
    return proc.p.returncode, json.loads(out)


def vm_rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.fixture
def broker():
    b = Broker(heartbeat="200ms", liveness="10s")
    yield b
    b.kill()


@pytest.fixture
def lean_broker(monkeypatch):
    """The broker fixture's broker, for a test that bounds its memory. Under
    ASan (.ci/sanitize) freed blocks wait in a quarantine of 256 MB before
    reuse, so the freed buffers of refused messages would count as growth:
    this broker gets a quarantine of 16 MB (a use after free of a block freed
    recently is still caught); the bound then allows for ASan's redzones."""
    if os.environ.get("LOADS_SANITIZED"):
        monkeypatch.setenv("ASAN_OPTIONS", os.environ.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=16")
    b = Broker(heartbeat="200ms", liveness="10s")
    yield b
    b.kill()


def test_bad_batches_are_refused_and_a_real_agent_in_the_run_keeps_exact_totals(broker, tmp_path, target):
    real = Agent(broker.backend, "a0", cache_dir=str(tmp_path / "cache"))
    evil = RawAgent(broker.backend, "zz-evil")
    try:
        broker.wait_agents(2)
        r = runner(broker, target.url + "/", 2)
        prep = evil.expect("PREPARE")
        run = prep["run"]
        assert len(prep["spec"]["plan"]["cycles"]) == 1
        evil.send("READY", {"run": run})
        evil.expect("START")

        refused = []

        def refuse(seq, st, cycle=0):
            evil.result(run, seq, st, cycle=cycle)
            body = evil.expect("ERROR")
            assert body["code"] == "bad-result", body
            refused.append(body["message"])

        # A latency count of 2^64-1 would wrap the merged histogram.
        refuse(1, stats(hits=1, latency={"buckets": [100, U64], "min": 100, "max": 100, "sum": U64, "clamped": 0}))
        # Counters of 2^64-1 (two of them would wrap to a small total).
        refuse(2, stats(hits=U64, successes=U64, latency=histogram([100])))
        refuse(3, stats(hits=U64, successes=U64, latency=histogram([100])))
        # hits != successes + failures + errors.
        refuse(4, stats(hits=5, successes=1))
        # errors without their kinds.
        refuse(5, stats(hits=2, errors=2, errors_by_kind={"connect": 1}))
        # A cycle the plan does not have (a phantom cycle).
        refuse(6, stats(hits=1), cycle=4000)
        assert "above the bound" in refused[0] and "latency" in refused[0], refused[0]
        assert "hits" in refused[1] and "above the bound" in refused[1], refused[1]
        assert "successes + failures + errors" in refused[3], refused[3]
        assert "errors_by_kind" in refused[4], refused[4]
        assert "cycle 4000" in refused[5], refused[5]

        # A good batch is merged without a word; then the agent ends its part.
        evil.result(run, 7, stats(hits=3))
        evil.nothing(0.3)
        evil.finished(run, 7)

        rc, j = summary_of(r)
        # The real agent's 100 hits and the good batch's 3, nothing else.
        assert j["total"]["hits"] == 103, j["total"]
        assert j["total"]["successes"] == 103
        assert j["total"]["latency"]["count"] == 103
        assert len(j["cycles"]) == 1, j["cycles"]  # no phantom cycle
        assert j["cycles"][0]["hits"] == 103
        assert target.stats()["http_requests"] == 100
        # Refused batches make the run incomplete, and say why.
        assert j["incomplete"] is True and rc == 1
        assert sum("refused" in e for e in j["events"]) == 6, j["events"]
        broker.wait_agents(2, timeout=5)  # both idle again
        assert broker.p.poll() is None
    finally:
        evil.close()
        real.kill()


def test_seq_gap_late_duplicate_and_zero(broker, target):
    evil = RawAgent(broker.backend, "raw1")
    try:
        broker.wait_agents(1)
        r = runner(broker, target.url + "/", 1)
        run = evil.expect("PREPARE")["run"]
        evil.send("READY", {"run": run})
        evil.expect("START")
        evil.result(run, 1, stats(hits=1))
        evil.result(run, 3, stats(hits=2))   # 2 is missing for now
        evil.result(run, 2, stats(hits=4))   # late: merged, not "sent twice"
        evil.result(run, 2, stats(hits=8))   # a duplicate: dropped
        evil.nothing(0.3)                   # none of these is an error
        evil.result(run, 0, stats(hits=16))  # seq 0 is never valid
        body = evil.expect("ERROR")
        assert body["code"] == "bad-result" and "seq 0" in body["message"], body
        evil.finished(run, 3)
        rc, j = summary_of(r)
        assert j["total"]["hits"] == 7, j["total"]
        # Batch 2 came after all: the run is complete.
        assert any("batch 2 arrived late" in e for e in j["events"]), j["events"]
        assert not any("twice" in e for e in j["events"]), j["events"]
        # seq 0 was refused: that is recorded.
        assert any("seq 0" in e for e in j["events"]), j["events"]
    finally:
        evil.close()


def test_finished_before_start_does_not_end_the_run(broker, target):
    evil = RawAgent(broker.backend, "raw1")
    try:
        broker.wait_agents(1)
        r = runner(broker, target.url + "/", 1)
        run = evil.expect("PREPARE")["run"]
        evil.finished(run, 0)
        body = evil.expect("ERROR")
        assert "before START" in body["message"], body
        # A FINISHED for a run it is not in is dropped too.
        evil.finished("r999-none", 0)
        runs = broker.status()["runs"]
        assert [x["id"] for x in runs] == [run] and runs[0]["state"] == "preparing", runs
        assert r.p.poll() is None  # the runner still waits
        evil.send("READY", {"run": run})
        evil.expect("START")
        evil.result(run, 1, stats(hits=5))
        evil.finished(run, 1)
        rc, j = summary_of(r)
        assert rc == 0, j
        assert j["total"]["hits"] == 5
        assert j["incomplete"] is False
    finally:
        evil.close()


def test_rejected_before_ready_fails_cleanly_and_the_next_run_works(broker, target):
    a = RawAgent(broker.backend, "raw-a")
    b = RawAgent(broker.backend, "raw-b")
    try:
        broker.wait_agents(2)
        r = runner(broker, target.url + "/", 2)
        run = a.expect("PREPARE")["run"]
        assert b.expect("PREPARE")["run"] == run
        a.send("REJECTED", {"run": run, "error": "no such test"})
        # b was told to stop once a rejected: READY must not start the run.
        b.send("READY", {"run": run})
        got = b.recv(5)
        assert got is not None and got[0] == "STOP", got
        b.finished(run, 0, stopped=True)
        r.p.communicate(timeout=30)
        assert r.p.returncode == 1
        assert "agent raw-a rejected the run: no such test" in r.stderr_text(), r.stderr_text()
        # Neither got START; both are idle.
        assert a.recv(0.3) is None
        states = {x["agent"]["id"]: (x["state"], x["run"]) for x in broker.status()["agents"]}
        assert states == {"raw-a": ("idle", ""), "raw-b": ("idle", "")}, states

        # The next run on both works.
        r2 = runner(broker, target.url + "/", 2)
        run2 = a.expect("PREPARE")["run"]
        assert b.expect("PREPARE")["run"] == run2
        for ag, hits in ((a, 3), (b, 4)):
            ag.send("READY", {"run": run2})
        for ag, hits in ((a, 3), (b, 4)):
            ag.expect("START")
            ag.result(run2, 1, stats(hits=hits))
            ag.finished(run2, 1)
        rc, j = summary_of(r2)
        assert rc == 0, j
        assert j["total"]["hits"] == 7
    finally:
        a.close()
        b.close()


def test_heartbeat_idle_during_prepare_changes_nothing(broker, target):
    """The broker takes an agent's word that it is idle only for a run that is
    over for it: an idle HEARTBEAT racing its PREPARE leaves the run alone."""
    evil = RawAgent(broker.backend, "raw1")
    try:
        broker.wait_agents(1)
        r = runner(broker, target.url + "/", 1)
        run = evil.expect("PREPARE")["run"]
        evil.send("HEARTBEAT", {"state": "idle", "run": ""})
        evil.send("READY", {"run": run})
        evil.expect("START")
        agents = broker.status()["agents"]
        assert agents[0]["state"] == "busy" and agents[0]["run"] == run, agents
        evil.result(run, 1, stats(hits=2))
        evil.finished(run, 1)
        rc, j = summary_of(r)
        assert rc == 0 and j["total"]["hits"] == 2
    finally:
        evil.close()


def test_labels_are_capped_and_the_broker_stays_bounded(lean_broker, target):
    broker = lean_broker
    evil = RawAgent(broker.backend, "raw1")
    try:
        broker.wait_agents(1)
        r = runner(broker, target.url + "/", 1)
        run = evil.expect("PREPARE")["run"]
        evil.send("READY", {"run": run})
        evil.expect("START")
        before = vm_rss_kb(broker.p.pid)

        def labels(n, prefix, width=8):
            return {f"{prefix}{i:0{width}d}": {"count": 1, "errors": 0, "latency": histogram([100])}
                    for i in range(n)}

        # More labels than an agent ever sends: refused by the decoder.
        evil.result(run, 1, stats(hits=1, labels=labels(5000, "x")))
        body = evil.expect("ERROR")
        assert body["code"] == "bad-message" and "labels" in body["message"], body
        # 1000 labels of 2 KiB names: over the byte cap of a batch.
        evil.result(run, 2, stats(hits=1, labels=labels(1000, "y" * 2048)))
        body = evil.expect("ERROR")
        assert body["code"] == "bad-result" and "label names" in body["message"], body
        refused_growth = vm_rss_kb(broker.p.pid) - before

        # Batches of 1000 new labels each: the run keeps 1000 rows and (other).
        for seq in range(3, 8):
            evil.result(run, seq, stats(hits=1, labels=labels(1000, f"L{seq}-")))
        evil.nothing(0.5)
        grown = vm_rss_kb(broker.p.pid) - before
        evil.finished(run, 7)
        rc, j = summary_of(r, timeout=60)
        assert j["total"]["hits"] == 5
        assert 1000 <= len(j["total"]["names"]) <= 1001, len(j["total"]["names"])
        print(f"broker RSS: {before} kB at start, +{refused_growth} kB after refused batches, "
              f"+{grown} kB after 5 batches of 1000 labels")
        # Under ASan, with its quarantine at 16 MB (lean_broker), 75 MB:
        # its redzones and shadow memory come on top.
        assert refused_growth < (128 if os.environ.get("LOADS_SANITIZED") else 64) * 1024, refused_growth
        assert grown < 400 * 1024, grown
        assert broker.p.poll() is None
    finally:
        evil.close()


def test_a_flood_of_bad_messages_logs_a_bounded_number_of_lines(broker):
    s = zmq.Context.instance().socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    s.setsockopt(zmq.ROUTING_ID, b"flooder")
    s.connect(broker.backend)
    try:
        n = 3000
        for i in range(n):
            s.send_multipart([b"RESULT", b"\xc1garbage" + str(i).encode()])
        # Every bad message is answered: once all answers are in, all were handled.
        answers = 0
        deadline = time.monotonic() + 30
        while answers < n and time.monotonic() < deadline:
            if s.poll(1000):
                cmd, _ = s.recv_multipart()
                answers += cmd == b"ERROR"
        assert answers == n
        lines = [l for l in broker.stderr_text().splitlines() if "flooder" in l]
        assert 1 <= len(lines) <= 20, len(lines)
        # When the window closes, one line says how many were held back.
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            said = [l for l in broker.stderr_text().splitlines() if "flooder" in l and "suppressed" in l]
            if said:
                break
            time.sleep(0.2)
        assert said, broker.stderr_text()[-2000:]
        assert f"{n - 10} more warnings suppressed" in said[0], said
        assert broker.status()["agents"] == []
    finally:
        s.close()


def waiting_runs(b):
    return [x["id"] for x in b.status()["runs"] if x["state"] == "waiting"]


def test_a_waiting_run_of_a_gone_runner_expires_and_blocks_nothing(target):
    b = Broker(heartbeat="200ms", liveness="1500ms")
    evil = RawAgent(b.backend, "raw1")
    gone = runner(b, target.url + "/", 5, "--wait")
    live = None
    try:
        b.wait_agents(1)
        deadline = time.monotonic() + 15
        while not waiting_runs(b):
            assert time.monotonic() < deadline, b.status()
            time.sleep(0.05)
        orphan = waiting_runs(b)[0]
        # A live runner waiting for more agents than there are is kept past
        # the liveness window: it answers the broker's heartbeats.
        kept_until = time.monotonic() + 3.0
        while time.monotonic() < kept_until:
            assert waiting_runs(b) == [orphan]
            evil.nothing(0.2)  # answers heartbeats meanwhile
        gone.kill()
        gone_at = time.monotonic()
        # A run behind it that one agent can serve starts at once.
        live = runner(b, target.url + "/", 1, "--wait")
        run = evil.expect("PREPARE")["run"]
        evil.send("READY", {"run": run})
        evil.expect("START")
        evil.result(run, 1, stats(hits=4))
        evil.finished(run, 1)
        rc, j = summary_of(live)
        assert rc == 0 and j["total"]["hits"] == 4
        # The gone runner's run is dropped within the liveness window (+ a check interval).
        deadline = gone_at + 10
        while orphan in waiting_runs(b):
            assert time.monotonic() < deadline, b.status()
            time.sleep(0.1)
        assert b.status()["runs"] == []
        assert "went away" in b.stderr_text()
    finally:
        gone.kill()
        if live:
            live.kill()
        evil.close()
        b.kill()


def test_a_body_of_millions_of_values_is_refused_before_it_is_built(broker):
    """16 MiB of nils would be ~400 MB of decoded objects: refused as oversized
    by counting first (docs/protocol.md section 3), the broker stays small."""
    s = zmq.Context.instance().socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    s.setsockopt(zmq.ROUTING_ID, b"bomber")
    s.connect(broker.backend)
    try:
        before = vm_rss_kb(broker.p.pid)
        n = 16 << 20
        nils = b"\xdd" + n.to_bytes(4, "big") + b"\xc0" * n
        # A header claiming 2^32-1 values in 5 bytes, then the big one.
        for body in (b"\xdd\xff\xff\xff\xff", nils):
            s.send_multipart([b"RESULT", body])
        replies = []
        for _ in range(2):
            assert s.poll(30000)
            cmd, raw = s.recv_multipart()
            replies.append((cmd, msgpack.unpackb(raw)))
        assert replies[0][0] == b"ERROR" and replies[0][1]["message"].startswith("truncated"), replies[0]
        assert replies[1][0] == b"ERROR" and replies[1][1]["message"].startswith("oversized"), replies[1]
        grown = vm_rss_kb(broker.p.pid) - before
        print(f"broker RSS +{grown} kB after a 16 MiB body of nils")
        assert grown < 100 * 1024, grown
        assert broker.status()["pid"] == broker.p.pid
    finally:
        s.close()


def test_acks_rejoin_and_a_restarted_broker_learning_the_run_on_the_wire(target):
    """docs/protocol.md 5.4 from a raw agent: ACK says what the broker holds
    with none missing; after a SIGKILL and a restart on the same endpoints,
    REGISTER with a RunState re-creates the run (WELCOME acked 0), a range
    counts once, an overlapping one is refused, and the runner, re-attached,
    gets the summary."""
    from loads_procs import free_port
    eps = {k: f"tcp://127.0.0.1:{free_port()}" for k in ("frontend", "backend", "publisher")}
    b = Broker(heartbeat="200ms", liveness="1500ms", **eps)
    evil = r = None
    try:
        evil = RawAgent(b.backend, "raw1")
        b.wait_agents(1)
        r = runner(b, target.url + "/", 1)
        prep = evil.expect("PREPARE")
        run = prep["run"]
        assert prep["test"].startswith(target.url) and prep["owner"] == "", prep
        evil.send("READY", {"run": run})
        evil.expect("START")
        for seq in (1, 2, 3):
            evil.result(run, seq, stats(hits=seq))
            assert evil.ack() == {"v": 2, "run": run, "seq": seq, "finished": False}
        evil.result(run, 5, stats(hits=100))  # 4 is missing: the ACK stays at 3
        assert evil.ack()["seq"] == 3
        b.kill()
        evil.close()
        b = Broker(heartbeat="200ms", liveness="1500ms", **eps)
        held = {"run": run, "spec": prep["spec"], "test": prep["test"], "owner": "", "state": "running",
                "started_ms": int(time.time() * 1000), "last_seq": 5}
        evil = RawAgent(b.backend, "raw1", held=held)
        assert (evil.welcome["run"], evil.welcome["acked"]) == (run, 0), evil.welcome
        assert [x["state"] for x in b.status()["runs"]] == ["running"]
        evil.result(run, 3, stats(hits=6), first_seq=1)  # batches 1..3 merged: 1 + 2 + 3
        assert evil.ack()["seq"] == 3
        evil.result(run, 3, stats(hits=6), first_seq=1)  # again: a duplicate, dropped
        assert evil.ack()["seq"] == 3
        evil.result(run, 4, stats(hits=1000), first_seq=2)  # overlaps 1..3: refused whole
        body = evil.expect("ERROR")
        assert body["code"] == "bad-result" and "overlap" in body["message"], body
        assert evil.ack()["seq"] == 3
        evil.result(run, 4, stats(hits=4))
        evil.result(run, 5, stats(hits=100))
        assert [evil.ack()["seq"], evil.ack()["seq"]] == [4, 5]
        evil.finished(run, 5)
        assert evil.ack() == {"v": 2, "run": run, "seq": 5, "finished": True}
        rc, j = summary_of(r, timeout=60)
        assert j["total"]["hits"] == 110, j["total"]   # 1+2+3, 4, 100: each once
        assert any("the broker restarted" in e for e in j["events"]), j["events"]
        assert any("overlap" in e for e in j["events"]) and j["incomplete"], j["events"]
        assert "re-attaching" in r.stderr_text(), r.stderr_text()[-2000:]
    finally:
        if evil:
            evil.close()
        if r:
            r.kill()
        b.kill()


def test_an_agent_back_after_its_run_ended_is_told_so(target):
    """A lost agent that comes back with a run that ended meanwhile gets
    WELCOME without the run (it drops what it kept), and the run's figures
    are those from before it was lost."""
    b = Broker(heartbeat="200ms", liveness="1500ms")
    evil = r = None
    try:
        evil = RawAgent(b.backend, "raw1")
        b.wait_agents(1)
        r = runner(b, target.url + "/", 1)
        prep = evil.expect("PREPARE")
        run = prep["run"]
        evil.send("READY", {"run": run})
        evil.expect("START")
        evil.result(run, 1, stats(hits=3))
        assert evil.ack()["seq"] == 1
        # Silent (no heartbeat answered): lost, and the run, its only agent gone, ends.
        rc, j = summary_of(r, timeout=30)
        assert j["total"]["hits"] == 3 and j["incomplete"], j
        assert any(e.startswith("agent raw1 lost at") for e in j["events"]), j["events"]
        evil.close()
        held = {"run": run, "spec": prep["spec"], "test": prep["test"], "owner": "", "state": "running",
                "started_ms": int(time.time() * 1000), "last_seq": 2}
        evil = RawAgent(b.backend, "raw1", held=held)
        assert (evil.welcome["run"], evil.welcome["acked"]) == ("", 0), evil.welcome
        # Anything it sends for that run now is answered: nothing more is taken.
        evil.result(run, 2, stats(hits=5))
        assert evil.ack() == {"v": 2, "run": run, "seq": 0, "finished": True}
        assert b.status()["runs"] == [] and b.status()["agents"][0]["state"] == "idle"
    finally:
        if evil:
            evil.close()
        if r:
            r.kill()
        b.kill()


def test_fetch_is_answered_inside_the_run_s_library_only_and_bounded(broker):
    """PREPARE carries the library's size and hash, not its bytes; FETCH gets
    slices of it, ERROR bad-fetch for another library, bytes outside it, or
    past twice its size for the run (a peer that asks and never reads)."""
    import hashlib
    a = RawAgent(broker.backend, "raw-f")
    try:
        broker.wait_agents(1)
        r = Proc([RUNNER, f"{CASES_LIB}:Cases.test_throws", "-u", "1", "-c", "1", "--agents", "1",
                  "--broker", broker.frontend, "--output", "json"])
        p = a.expect("PREPARE")
        lib, size = p["library"], CASES_LIB.stat().st_size
        sha = hashlib.sha256(CASES_LIB.read_bytes()).hexdigest()
        assert lib["bytes"] == b"" and lib["size"] == size and lib["sha256"] == sha, {**lib, "bytes": len(lib["bytes"])}
        a.send("FETCH", {"sha256": "f" * 64, "offset": 0, "length": 10})
        e = a.expect("ERROR")
        assert e["code"] == "bad-fetch" and "no library with sha256 ffff" in e["message"], e
        a.send("FETCH", {"sha256": sha, "offset": size, "length": 10})
        e = a.expect("ERROR")
        assert e["code"] == "bad-fetch" and f"outside the library ({size} bytes)" in e["message"], e
        a.send("FETCH", {"sha256": sha, "offset": 0, "length": 0})
        assert a.expect("ERROR")["code"] == "bad-message"
        for _ in range(2):  # the whole library, twice: allowed
            got, off = bytearray(), 0
            while off < size:
                n = min(1 << 20, size - off)
                a.send("FETCH", {"sha256": sha, "offset": off, "length": n})
                c = a.expect("CHUNK")
                assert c["sha256"] == sha and c["offset"] == off and len(c["data"]) == n
                got += c["data"]
                off += n
            assert hashlib.sha256(got).hexdigest() == sha
        a.send("FETCH", {"sha256": sha, "offset": 0, "length": 1})
        e = a.expect("ERROR")
        assert e["code"] == "bad-fetch" and f"already sent you {2 * size} bytes" in e["message"], e
        a.send("REJECTED", {"run": p["run"], "error": "enough"})
        r.p.communicate(timeout=30)
        assert r.p.returncode == 1
        assert "agent raw-f rejected the run: enough" in r.stderr_text()
        assert [(x["agent"]["id"], x["state"]) for x in broker.status()["agents"]] == [("raw-f", "idle")]
    finally:
        a.close()
