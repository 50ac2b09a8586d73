"""A minimal loads agent in Python, written from docs/protocol.md alone, to
prove that the spec is enough for a second implementation (issue 12).

    /usr/bin/python3 py_agent.py --broker tcp://127.0.0.1:7781 --id p0

What it does: REGISTER (repeated every second until WELCOME), HEARTBEAT
with its state, PREPARE of a URL test over HTTP in the closed model (users
as threads, counted or timed cycles, think time, startup delay, graceful
stop), READY, START, one real request per hit, a RESULT every interval and
at each cycle's end, FINISHED; STOP; it ignores commands and keys it does
not know (4.8). It REJECTs what it cannot do (the open model, library
tests, ws and tcp URLs) and any host off loopback (like loads-agent's
default --allow). Like loads-agent it prints `registered ID BROKER` each
time it is welcomed, and `finished RUN HITS` when it sent FINISHED.

Not done: CURVE, data files, TLS (https is REJECTED), redirects (a run
with client.follow_redirects is REJECTED; without, a 3xx is the hit's
answer, as in loads-agent). A hit in flight at
a STOP runs to its end (its socket timeout bounds it) and then counts as
interrupted, where loads-agent cancels it at once.
"""
import argparse
import os
import queue
import random
import socket
import sys
import threading
import time
import urllib.parse
from pathlib import Path

import msgpack
import zmq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lcp import STAT_COUNTERS, bucket  # noqa: E402  (section 7's index(x))

V = 2
MAX_VALUE = 3_600_000_000_000  # one hour in ns: larger values are clamped (section 7)
LATER_COUNTERS = ["users_out_of_data", "start_failures", "skipped"]
MAX_MESSAGES = 50
LOOPBACK = ("127.", "::1", "localhost")


def now_ns():
    return time.monotonic_ns()


# ------------------------------------------------------------------ figures

class Histogram:
    """Section 7 and the Histogram rules of 4.6."""

    def __init__(self):
        self.counts, self.min, self.max, self.sum, self.clamped = {}, 0, 0, 0, 0

    def record(self, ns):
        ns = max(0, int(ns))
        if ns > MAX_VALUE:
            self.clamped += 1
            ns = MAX_VALUE
        b = bucket(ns)
        self.min = ns if not self.counts else min(self.min, ns)
        self.max = ns if not self.counts else max(self.max, ns)
        self.counts[b] = self.counts.get(b, 0) + 1
        self.sum = min(self.sum + ns, 2**64 - 1)

    def wire(self):
        flat = []
        for k in sorted(self.counts):
            flat += [k, self.counts[k]]
        if not flat:
            return {"buckets": [], "min": 0, "max": 0, "sum": 0, "clamped": 0}
        return {"buckets": flat, "min": self.min, "max": self.max, "sum": self.sum, "clamped": self.clamped}


class Label:
    def __init__(self):
        self.count, self.errors, self.latency = 0, 0, Histogram()


class Stats:
    """One interval's figures (a delta), as 4.6's Stats table and 4.8 say."""

    def __init__(self):
        self.c = {k: 0 for k in STAT_COUNTERS + LATER_COUNTERS}
        self.errors_by_kind, self.status_codes, self.messages, self.labels = {}, {}, {}, {}
        self.latency = Histogram()

    def note(self, text):
        if text in self.messages or len(self.messages) < MAX_MESSAGES:
            self.messages[text] = self.messages.get(text, 0) + 1
        else:
            self.messages["(other)"] = self.messages.get("(other)", 0) + 1

    def label(self, name):
        return self.labels.setdefault(name, Label())

    def wire(self):
        s = dict(self.c)
        s.update(errors_by_kind=dict(self.errors_by_kind),
                 status_codes={code if code < 600 else 0: n for code, n in self.status_codes.items()},
                 messages=dict(self.messages), latency=self.latency.wire(), latency_from_schedule=Histogram().wire(),
                 labels={name: {"count": l.count, "errors": l.errors, "latency": l.latency.wire()}
                         for name, l in self.labels.items() if l.count},
                 tasks={}, metrics={})
        return s


# ------------------------------------------------------------------ HTTP

class RequestError(Exception):
    def __init__(self, kind, text):
        super().__init__(text)
        self.kind = kind


class Connection:
    """One keep-alive HTTP/1.1 connection; counts the bytes it reads."""

    def __init__(self, host, port, connect_timeout, origin):
        self.sock, self.buf, self.received = None, b"", 0
        self.host, self.port, self.connect_timeout, self.origin = host, port, connect_timeout, origin

    def connect(self):
        try:
            self.sock = socket.create_connection((self.host, self.port), timeout=self.connect_timeout)
        except socket.timeout:
            raise RequestError("timeout", f"connect: timed out ({self.origin})")
        except OSError as e:
            raise RequestError("connect", f"connect: {os.strerror(e.errno) if e.errno else e} ({self.origin})")
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def close(self):
        if self.sock:
            self.sock.close()
        self.sock = None

    def _fill(self):
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            raise RequestError("timeout", "read: timed out")
        except OSError as e:
            raise RequestError("reset", f"read: {os.strerror(e.errno) if e.errno else e}")
        if not chunk:
            raise RequestError("reset", "read: End of file")
        self.received += len(chunk)
        self.buf += chunk

    def _line(self):
        while b"\r\n" not in self.buf:
            if len(self.buf) > 64 * 1024:
                raise RequestError("protocol", "read: header too long")
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _take(self, n):
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def exchange(self, request, head, timeout, max_body):
        """Sends `request`, reads one response: (status, body, bytes read)."""
        self.sock.settimeout(timeout)
        self.received = len(self.buf)
        try:
            self.sock.sendall(request)
        except socket.timeout:
            raise RequestError("timeout", "write: timed out")
        except OSError as e:
            raise RequestError("reset", f"write: {os.strerror(e.errno) if e.errno else e}")
        status_line = self._line().decode("latin-1")
        parts = status_line.split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            raise RequestError("protocol", "read: bad status line")
        status = int(parts[1])
        headers = {}
        while True:
            line = self._line()
            if not line:
                break
            k, _, v = line.decode("latin-1").partition(":")
            headers[k.strip().lower()] = v.strip()
        body = b""
        if not head and status not in (204, 304) and status >= 200:
            if headers.get("transfer-encoding", "").lower() == "chunked":
                while True:
                    size = int(self._line().split(b";")[0], 16)
                    if len(body) + size > max_body:
                        raise RequestError("protocol", "read: body limit exceeded")
                    if size == 0:
                        while self._line():
                            pass
                        break
                    body += self._take(size)
                    self._take(2)
            elif "content-length" in headers:
                n = int(headers["content-length"])
                if n > max_body:
                    raise RequestError("protocol", "read: body limit exceeded")
                body = self._take(n)
            else:  # the body ends with the connection
                try:
                    while len(self.buf) <= max_body:
                        self._fill()
                except RequestError:
                    pass
                if len(self.buf) > max_body:
                    raise RequestError("protocol", "read: body limit exceeded")
                body, self.buf = self.buf, b""
                self.close()
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status, body, self.received - len(self.buf)


class UrlTest:
    """A URL test over HTTP (4.6 URL tests): the request built once."""

    def __init__(self, spec):
        t, client = spec["test"], spec["client"]
        u = urllib.parse.urlsplit(t["url"])
        self.host, self.port = u.hostname, u.port or 80
        self.origin = f"http://{self.host}:{self.port}"
        target = (u.path or "/") + (f"?{u.query}" if u.query else "")
        self.label = f"{t['method']} {u.path or '/'}"  # path alone: no host, no query (4.8)
        names = {k.lower() for k, _ in t["headers"]}
        host = self.host + ("" if self.port == 80 else f":{self.port}")
        r = f"{t['method']} {target} HTTP/1.1\r\nHost: {host}\r\n"
        r += "".join(f"{k}: {v}\r\n" for k, v in t["headers"])
        if "user-agent" not in names:
            r += "User-Agent: loads-py-agent/0.1\r\n"
        if "accept" not in names:
            r += "Accept: */*\r\n"
        body = t["body"].encode()
        if body or t["method"] in ("POST", "PUT", "PATCH"):
            r += f"Content-Length: {len(body)}\r\n"
        self.request = r.encode() + b"\r\n" + body
        self.head = t["method"] == "HEAD"
        self.expect = t["expect"].encode()
        self.timeout = client["timeout_ns"] / 1e9
        self.connect_timeout = client["connect_timeout_ns"] / 1e9
        self.max_body = client["max_body"]

    def hit(self, conn, run):
        """One hit: raises RequestError (an error) or AssertionError (a failure).
        Its figures go to run.stats as it is when they are recorded, under
        run.lock: an interval's RESULT may have taken (and sent) the delta
        that was current when the request went out."""
        for attempt in (0, 1):
            reused = conn.sock is not None
            t0 = now_ns()
            try:
                if not reused:
                    conn.connect()
                status, body, got = conn.exchange(self.request, self.head, self.timeout, self.max_body)
                break
            except RequestError as e:
                conn.close()
                # A kept-alive connection the server closed while idle: retry once, fresh.
                if reused and attempt == 0 and e.kind == "reset":
                    continue
                took = now_ns() - t0
                with run.lock:
                    stats = run.stats
                    stats.c["request_errors"] += 1
                    stats.c["bytes_sent"] += len(self.request)
                    row = stats.label(self.label)
                    row.count += 1
                    row.errors += 1
                    if e.kind == "timeout":
                        stats.latency.record(took)
                        row.latency.record(took)
                raise
        took = now_ns() - t0
        with run.lock:
            stats = run.stats
            stats.c["requests"] += 1
            stats.c["bytes_sent"] += len(self.request)
            stats.c["bytes_received"] += got
            stats.status_codes[status] = stats.status_codes.get(status, 0) + 1
            stats.latency.record(took)
            row = stats.label(self.label)
            row.count += 1
            row.errors += status >= 500
            row.latency.record(took)
        if status >= 500:
            raise RequestError("status", f"HTTP {status}")
        if status >= 400:
            raise AssertionError(f"HTTP {status}")
        if self.expect and self.expect not in body:
            raise AssertionError("response body does not contain the expected text")


# ------------------------------------------------------------------ the run

class Run:
    """Runs a closed plan on threads; puts (command, body) on `out`."""

    def __init__(self, run_id, spec, out):
        self.id, self.spec, self.out = run_id, spec, out
        self.test = UrlTest(spec)
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.stats = Stats()
        self.hits_done = self.alive = self.busy = 0
        self.seq = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self.started_ms = int(time.time() * 1000)
        self.t0 = now_ns()
        self.thread.start()

    def _result(self, cycle):
        with self.lock:
            delta, self.stats = self.stats, Stats()
            hits_done, users, busy = self.hits_done, self.alive, self.busy
        self.seq += 1
        self.out.put(("RESULT", {"run": self.id, "seq": self.seq, "cycle": cycle, "hits_done": hits_done,
                                 "elapsed_ns": now_ns() - self.t0, "users": users, "users_busy": busy,
                                 "stats": delta.wire()}))

    def _user(self, k, cycle, index, started, deadline, cancel):
        plan = self.spec["plan"]
        delay = k * plan["startup_delay_ns"] / 1e9 - (time.monotonic() - started)
        if delay > 0 and self.stop.wait(delay if deadline is None else min(delay, deadline - time.monotonic())):
            return
        if self.stop.is_set() or (deadline is not None and time.monotonic() >= deadline):
            return
        with self.lock:
            self.alive += 1
        conn = Connection(self.test.host, self.test.port, self.test.connect_timeout, self.test.origin)
        n = 0
        try:
            while not self.stop.is_set():
                if deadline is None and n >= cycle[1]:
                    break
                if deadline is not None and time.monotonic() >= deadline:
                    break
                if n > 0 and plan["sleep_max_ns"] > 0:  # think time (4.6)
                    pause = random.randint(plan["sleep_min_ns"], plan["sleep_max_ns"]) / 1e9
                    if deadline is not None:
                        pause = min(pause, max(0.0, deadline - time.monotonic()))
                    if self.stop.wait(pause):
                        break
                    if deadline is not None and time.monotonic() >= deadline:
                        break
                self._one_hit(conn, cancel)
                n += 1
        finally:
            conn.close()
            with self.lock:
                self.alive -= 1

    def _one_hit(self, conn, cancel):
        with self.lock:
            self.busy += 1
        outcome, kind, text = "success", None, None
        try:
            self.test.hit(conn, self)
        except RequestError as e:
            outcome, kind, text = "error", e.kind, str(e)
        except AssertionError as e:
            outcome, text = "failure", str(e)
        except Exception as e:  # noqa: BLE001 - test code that threw: kind `exception`
            outcome, kind, text = "error", "exception", f"{type(e).__name__}: {e}"
        with self.lock:
            self.busy -= 1
            if self.stop.is_set() or cancel.is_set():
                self.stats.c["interrupted"] += 1  # cut short: no hit (4.8)
                return
            s = self.stats
            s.c["hits"] += 1
            self.hits_done += 1
            if outcome == "success":
                s.c["successes"] += 1
            elif outcome == "failure":
                s.c["failures"] += 1
                s.note(f"failure: {text}")
            else:
                s.c["errors"] += 1
                s.errors_by_kind[kind] = s.errors_by_kind.get(kind, 0) + 1
                s.note(f"{kind}: {text}")

    def _run(self):
        plan = self.spec["plan"]
        interval = max(self.spec["interval_ns"], 50_000_000) / 1e9
        cycles = []
        for index, cycle in enumerate(plan["cycles"]):
            if self.stop.is_set():
                break
            users, duration = cycle[0], cycle[2]  # the third element: ns or nil, always there (4.6)
            started = time.monotonic()
            deadline = None if duration is None else started + duration / 1e9
            cancel = threading.Event()
            threads = [threading.Thread(target=self._user, args=(k, cycle, index, started, deadline, cancel),
                                        daemon=True) for k in range(users)]
            for t in threads:
                t.start()
            next_tick = started + interval
            cancel_at = None if deadline is None else deadline + plan["graceful_stop_ns"] / 1e9
            while any(t.is_alive() for t in threads):
                wait = next_tick - time.monotonic()
                if cancel_at is not None:
                    wait = min(wait, cancel_at - time.monotonic())
                time.sleep(max(0.0, min(wait, 0.01)))
                now = time.monotonic()
                if cancel_at is not None and now >= cancel_at:
                    cancel.set()
                if now >= next_tick:
                    self._result(index)
                    next_tick += interval
                    if next_tick < now:
                        next_tick = now + interval
            self._result(index)  # every cycle ends with a RESULT (4.8)
            cycles.append({"index": index, "users": users, "elapsed_ns": int((time.monotonic() - started) * 1e9)})
        self.out.put(("FINISHED", {"run": self.id, "last_seq": self.seq, "stopped": self.stop.is_set(),
                                   "started_ms": self.started_ms, "elapsed_ns": now_ns() - self.t0,
                                   "cycles": cycles}))


def why_not(spec):
    """Why this agent cannot run the spec, or ""."""
    t, plan = spec["test"], spec["plan"]
    if t["kind"] != "url":
        return "py_agent runs URL tests only, not test libraries"
    if plan["model"] != "closed":
        return "py_agent runs the closed model only"
    u = urllib.parse.urlsplit(t["url"])
    if u.scheme != "http":
        return f"py_agent speaks http only, not {u.scheme}"
    if not (u.hostname or "").startswith(LOOPBACK):
        return f"{t['url']} is outside this agent's loopback-only allow list"
    if spec["client"].get("follow_redirects"):
        return "py_agent does not follow redirects"
    return ""


# ------------------------------------------------------------------ the session

class Agent:
    def __init__(self, broker, agent_id):
        self.broker, self.id = broker, agent_id
        self.ctx = zmq.Context.instance()
        self.out = queue.Queue()
        self.sock = None
        self.state, self.run_id, self.spec, self.run = "idle", "", None, None
        self.heartbeat, self.liveness = 1.0, 5.0

    def connect(self):
        if self.sock:
            self.sock.close()
        self.sock = self.ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.IDENTITY, self.id.encode())  # the routing id IS the agent id (2, 4.8)
        self.sock.connect(self.broker)
        self.welcomed = False
        self.last_register = 0.0
        self.last_heard = time.monotonic()

    def send(self, command, body):
        self.sock.send_multipart([command.encode(), msgpack.packb({"v": V, **body}, use_bin_type=True)])
        self.last_sent = time.monotonic()

    def register(self):
        self.send("REGISTER", {"agent": {"id": self.id, "host": socket.gethostname(), "pid": os.getpid(),
                                         "threads": 1, "version": "py-0.1"}})
        self.last_register = time.monotonic()

    def serve(self):
        self.connect()
        self.last_sent = 0.0
        while True:
            now = time.monotonic()
            if not self.welcomed and now - self.last_register >= 1.0:
                self.register()
            if self.welcomed and now - self.last_sent >= self.heartbeat:
                self.send("HEARTBEAT", {"state": self.state, "run": self.run_id})
            if now - self.last_heard > self.liveness and self.welcomed:
                self.end_run()
                self.connect()  # the broker went silent: register anew (section 6)
                continue
            self.forward()
            if self.sock.poll(20):
                frames = self.sock.recv_multipart()
                self.last_heard = time.monotonic()
                if len(frames) != 2:
                    continue
                try:
                    body = msgpack.unpackb(frames[1], raw=False, strict_map_key=False)
                except Exception:  # noqa: BLE001 - log and drop what cannot be decoded (section 6)
                    continue
                if isinstance(body, dict) and body.get("v") == V:
                    self.on_message(frames[0].decode(errors="replace"), body)

    def forward(self):
        while True:
            try:
                command, body = self.out.get_nowait()
            except queue.Empty:
                return
            self.send(command, body)
            if command == "FINISHED":
                hits = self.run.hits_done
                print(f"finished {self.run_id} {hits}", flush=True)
                self.state, self.run_id, self.spec, self.run = "idle", "", None, None

    def end_run(self):
        if self.run:
            self.run.stop.set()
            self.run.thread.join(timeout=35)
        self.out = queue.Queue()
        self.state, self.run_id, self.spec, self.run = "idle", "", None, None

    def on_message(self, command, body):
        if command == "WELCOME":
            self.welcomed = True
            self.heartbeat = max(body["heartbeat_ms"], 10) / 1000
            self.liveness = max(body["liveness_ms"] / 1000, 2 * self.heartbeat)
            print(f"registered {self.id} {self.broker}", flush=True)
        elif command == "PREPARE":
            if self.state != "idle":
                self.send("REJECTED", {"run": body["run"], "error": f"busy with run {self.run_id}"})
                return
            why = why_not(body["spec"])
            if why:
                self.send("REJECTED", {"run": body["run"], "error": why})
                return
            self.state, self.run_id, self.spec = "preparing", body["run"], body["spec"]
            self.send("READY", {"run": self.run_id})
        elif command == "START":
            if self.state != "preparing" or body["run"] != self.run_id:
                self.send("ERROR", {"code": "unknown-run",
                                    "message": f"START for run {body['run']} which this agent has not prepared"})
                return
            self.state = "busy"
            self.run = Run(self.run_id, self.spec, self.out)
            self.run.start()
        elif command == "STOP":
            if body["run"] != self.run_id:
                return
            if self.state == "preparing":
                self.send("FINISHED", {"run": self.run_id, "last_seq": 0, "stopped": True, "started_ms": 0,
                                       "elapsed_ns": 0, "cycles": []})
                self.state, self.run_id, self.spec = "idle", "", None
            elif self.run:
                self.run.stop.set()
        elif command == "ERROR":
            print(f"broker says {body.get('code')}: {body.get('message')}", file=sys.stderr, flush=True)
            if body.get("code") == "unknown-agent":
                self.end_run()
                self.connect()
        # HEARTBEAT and any command this agent does not know: ignored (4.8).


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--broker", required=True)
    ap.add_argument("--id", default=f"{socket.gethostname()}-py-{os.getpid()}")
    a = ap.parse_args()
    try:
        Agent(a.broker, a.id).serve()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
