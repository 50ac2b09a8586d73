"""Real processes for the integration tests: the demo target, the runner,
the broker and agents, each started on loopback with ports picked at run
time, awaited on their readiness lines, and always killed at the end.

Run with /usr/bin/python3 (Debian's python3-pytest, -zmq, -msgpack).
"""
import json
import os
import select
import signal
import subprocess
import time
from pathlib import Path

BUILD = Path(os.environ.get("LOADS_BUILD_DIR", Path(__file__).resolve().parents[2] / "build"))
RUNNER = BUILD / "runner" / "loads-runner"
DEMO = BUILD / "examples" / "demo_target" / "loads-demo-target"
BROKER = BUILD / "broker" / "loads-broker"
AGENT = BUILD / "agent" / "daemon" / "loads-agent"
WEBSITE_LIB = BUILD / "examples" / "website" / "libwebsite.so"
CASES_LIB = BUILD / "tests" / "support" / "libtestcases.so"


class Proc:
    """A child process whose stdout lines we can wait for."""

    def __init__(self, args, env=None, cwd=None):
        self.args = [str(a) for a in args]
        # stderr goes to a file: a chatty child must never block on a full pipe.
        import tempfile
        self._err = tempfile.TemporaryFile()
        self.p = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=self._err,
                                  env=env, cwd=cwd, start_new_session=True)
        self.lines = []
        self._buf = b""

    def wait_for(self, predicate, timeout=15.0):
        """Reads stdout until a line satisfies predicate; returns that line.

        Every whole line read goes into self.lines before any is matched: a
        chunk can carry two lines (`listening http` and `subscribed` from a
        dashboard that subscribed at once), and a line left in the buffer
        by an earlier call would otherwise never be seen, since no more
        bytes come to wake select()."""
        deadline = time.monotonic() + timeout
        checked = 0
        while True:
            while b"\n" in self._buf:
                raw, self._buf = self._buf.split(b"\n", 1)
                self.lines.append(raw.decode(errors="replace"))
            for line in self.lines[checked:]:
                if predicate(line):
                    return line
            checked = len(self.lines)
            left = deadline - time.monotonic()
            if left <= 0:
                break
            r, _, _ = select.select([self.p.stdout], [], [], left)
            if not r:
                break
            chunk = os.read(self.p.stdout.fileno(), 65536)
            if not chunk:
                break
            self._buf += chunk
        err = self.stderr_text()
        raise AssertionError(f"{self.args[0]}: no matching line within {timeout}s; "
                             f"stdout={self.lines!r} stderr={err[-2000:]!r}")

    def stderr_text(self):
        self._err.seek(0)
        return self._err.read().decode(errors="replace")

    def signal(self, sig):
        if self.p.poll() is None:
            os.killpg(self.p.pid, sig)

    def kill(self):
        if self.p.poll() is None:
            try:
                os.killpg(self.p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.p.wait(timeout=10)


class DemoTarget(Proc):
    def __init__(self, *extra):
        super().__init__([DEMO, "--http-port", "0", "--tcp-port", "0", *extra])
        self.wait_for(lambda l: l == "ready")
        self.http = next(l.split()[2] for l in self.lines if l.startswith("listening http "))
        tcp = [l.split()[2] for l in self.lines if l.startswith("listening tcp ")]
        self.tcp = tcp[0] if tcp else None
        self.url = f"http://{self.http}"

    def stats(self):
        import urllib.request
        with urllib.request.urlopen(self.url + "/stats", timeout=5) as r:
            return json.loads(r.read())

    def reset(self):
        import urllib.request
        req = urllib.request.Request(self.url + "/stats/reset", data=b"", method="POST")
        urllib.request.urlopen(req, timeout=5).read()


class Result:
    def __init__(self, rc, stdout, stderr, elapsed):
        self.rc, self.stdout, self.stderr, self.elapsed = rc, stdout, stderr, elapsed

    @property
    def json(self):
        return json.loads(self.stdout)


def run_runner(*args, timeout=60, cwd=None):
    """Runs loads-runner to its end (bounded) and returns its outcome."""
    t0 = time.monotonic()
    p = subprocess.run([str(RUNNER), *[str(a) for a in args]], capture_output=True, text=True,
                       timeout=timeout, cwd=cwd)
    return Result(p.returncode, p.stdout, p.stderr, time.monotonic() - t0)


def require_tool(name, package):
    """Fails (never skips) when a tool a test needs is missing: CI's setup
    installs it, so its absence is a broken setup, not a reason to pass."""
    import shutil
    import pytest
    if shutil.which(name) is None:
        pytest.fail(f"{name} is not installed (Debian package {package}): run `bash .ci/setup`", pytrace=False)


# Only for programs that cannot say which port the OS gave them: the deploy
# files under test (supervisord configs name fixed ports, as deployed) and
# Prometheus. Everything of ours binds port 0 and prints what it bound.
def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def key_file(path):
    """The Z85 keys of a loads key file ({"public-key": ..., "secret-key": ...})."""
    keys = {}
    for line in Path(path).read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            k, v = line.split("=", 1)
            keys[k.strip()] = v.strip().strip('"')
    return keys


def request(endpoint, command, body=None, timeout=5.0, curve=None):
    """One request/reply with the broker's frontend (docs/protocol.md);
    curve=(own .key file, broker .pub file) for a broker with CURVE."""
    import msgpack
    import zmq
    ctx = zmq.Context.instance()
    s = ctx.socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    if curve:
        own, broker = key_file(curve[0]), key_file(curve[1])
        s.curve_secretkey = own["secret-key"].encode()
        s.curve_publickey = own["public-key"].encode()
        s.curve_serverkey = broker["public-key"].encode()
    s.connect(endpoint)
    try:
        s.send_multipart([command.encode(), msgpack.packb({"v": 2, **(body or {})})])
        if not s.poll(int(timeout * 1000)):
            raise AssertionError(f"no reply to {command} from {endpoint}")
        cmd, raw = s.recv_multipart()
        return cmd.decode(), msgpack.unpackb(raw, strict_map_key=False)
    finally:
        s.close()


class Broker(Proc):
    def __init__(self, *extra, frontend="tcp://127.0.0.1:0", backend="tcp://127.0.0.1:0",
                 publisher="tcp://127.0.0.1:0", heartbeat="200ms", liveness="1500ms", wrapper=()):
        # wrapper: a command the broker runs under (["prlimit", "--nofile=160"]).
        super().__init__([*wrapper, BROKER, "--frontend", frontend, "--backend", backend,
                          "--publisher", publisher, "--heartbeat", heartbeat,
                          "--liveness", liveness, *extra])
        self.wait_for(lambda l: l == "ready")
        ep = {l.split()[1]: l.split()[2] for l in self.lines if l.startswith("listening ")}
        self.frontend, self.backend, self.publisher = ep["frontend"], ep["backend"], ep["publisher"]
        self.curve = None  # (a runner's .key, the broker's .pub) for status() on a CURVE broker

    def status(self):
        cmd, body = request(self.frontend, "STATUS", curve=self.curve)
        assert cmd == "STATUS", (cmd, body)
        return body

    def wait_agents(self, n, idle=True, timeout=15.0):
        """Waits until n agents are registered (and idle); returns their ids."""
        deadline = time.monotonic() + timeout
        while True:
            agents = self.status()["agents"]
            ok = [a["agent"]["id"] for a in agents if not idle or a["state"] == "idle"]
            if len(ok) >= n:
                return ok
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(ok)} of {n} agents after {timeout}s: {agents}")
            time.sleep(0.05)


class Agent(Proc):
    def __init__(self, backend, agent_id, *extra, cache_dir=None, threads=1):
        args = [AGENT, "--broker", backend, "--id", agent_id, "--threads", threads, *extra]
        if cache_dir:
            args += ["--cache-dir", cache_dir]
        super().__init__(args)
        self.id = agent_id
        self.wait_for(lambda l: l.startswith("registered "))


class Cluster:
    """A broker and n agents on loopback, ports picked at run time."""

    def __init__(self, n, tmp_path=None, agent_args=(), **broker_args):
        self.broker = Broker(**broker_args)
        self.agents = []
        try:
            for i in range(n):
                cache = str(tmp_path / f"cache-{i}") if tmp_path else None
                self.agents.append(Agent(self.broker.backend, f"a{i}", *agent_args, cache_dir=cache))
            self.broker.wait_agents(n)
        except Exception:
            self.kill()
            raise

    def kill(self):
        for a in self.agents:
            a.kill()
        self.broker.kill()


SOCKET_LIB = BUILD / "tests" / "support" / "libsocketcases.so"
EXAMPLES = BUILD / "examples"


class Peers(Proc):
    """tests/support/peers.py: WebSocket and TCP servers we did not write."""

    def __init__(self):
        super().__init__(["/usr/bin/python3", Path(__file__).resolve().parent / "peers.py"])
        self.wait_for(lambda l: l == "ready")
        self.ws = "ws://" + next(l.split()[2] for l in self.lines if l.startswith("listening ws "))
        self.tcp = "tcp://" + next(l.split()[2] for l in self.lines if l.startswith("listening tcp "))
DASHBOARD = BUILD / "dashboard" / "loads-dashboard"


class DashboardProc(Proc):
    """loads-dashboard on a broker's publisher (and frontend), on a free
    loopback port; ready once it serves and its subscription reached the broker."""

    def __init__(self, broker, *extra, frontend=True):
        args = [DASHBOARD, "--publisher", broker.publisher, "--listen", "127.0.0.1:0", *extra]
        if frontend:
            args += ["--broker", broker.frontend]
        super().__init__(args)
        line = self.wait_for(lambda l: l.startswith("listening http "))
        self.address = line.split()[2]
        self.url = f"http://{self.address}"
        try:
            self.wait_for(lambda l: l.startswith("subscribed "), timeout=30)
        except AssertionError as e:
            # Say what the dashboard knows and which connections it has. (Seen
            # three times under a loaded full ctest: each time the line had
            # come in the same read as `listening http`, and wait_for left it
            # in its buffer; fixed there.)
            raise AssertionError(f"{e}\n{self.diagnose(broker)}") from None

    def diagnose(self, broker):
        """The dashboard's own state and its TCP connections, for a failure."""
        import urllib.request
        out = []
        try:
            with urllib.request.urlopen(self.url + "/api/state", timeout=3) as r:
                out.append("api/state: " + r.read(4000).decode(errors="replace"))
        except Exception as e:  # noqa: BLE001 - a diagnostic: any failure is said
            out.append(f"api/state: {e!r}")
        ss = subprocess.run(["ss", "-tnpa"], capture_output=True, text=True).stdout
        mine = [l for l in ss.splitlines() if f"pid={self.p.pid}," in l]
        out.append("its sockets:\n  " + "\n  ".join(mine))
        try:
            out.append(f"broker connections: {broker.status().get('connections')}")
        except Exception as e:  # noqa: BLE001
            out.append(f"broker status: {e!r}")
        return "\n".join(out)
