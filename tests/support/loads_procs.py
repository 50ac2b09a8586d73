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
        self.p = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  env=env, cwd=cwd, start_new_session=True)
        self.lines = []
        self._buf = b""

    def wait_for(self, predicate, timeout=15.0):
        """Reads stdout until a line satisfies predicate; returns that line."""
        deadline = time.monotonic() + timeout
        for line in self.lines:
            if predicate(line):
                return line
        while time.monotonic() < deadline:
            r, _, _ = select.select([self.p.stdout], [], [], max(0.0, deadline - time.monotonic()))
            if not r:
                break
            chunk = os.read(self.p.stdout.fileno(), 65536)
            if not chunk:
                break
            self._buf += chunk
            while b"\n" in self._buf:
                raw, self._buf = self._buf.split(b"\n", 1)
                line = raw.decode(errors="replace")
                self.lines.append(line)
                if predicate(line):
                    return line
        err = self.stderr_text()
        raise AssertionError(f"{self.args[0]}: no matching line within {timeout}s; "
                             f"stdout={self.lines!r} stderr={err[-2000:]!r}")

    def stderr_text(self):
        if self.p.poll() is None:
            return ""
        return self.p.stderr.read().decode(errors="replace")

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
