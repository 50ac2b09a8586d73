"""bench/compare: loads against wrk, wrk2, h2load, ab and Locust, side by side.

Run through `bash bench/compare` (which installs the tools and builds loads
in Release), or directly with /usr/bin/python3 once that is done.

nginx serves on 127.0.0.1 with one worker pinned to CPU 0 (access_log off,
keep-alive without limit): a 12-byte body on `/`, a 16 KiB file on `/16k`,
and stub_status, whose request counter cross-checks every generator's count.
Each generator runs pinned to CPU 1 with one thread, in interleaved rounds
(A B C ... A B C ...). For each run we take the requests the tool reports,
the requests nginx counted, the generator's own CPU time (user + sys, from
wait4 or /proc for daemons), and nginx's CPU share; the report gives medians
and min-max over the rounds and the ratio of each tool's CPU-microseconds
per request to wrk's in the same variant.

HTTP/2 runs against two servers, each alone on CPU 0: nginx's `http2` listener
(h2c) and nghttpd (Debian's nghttp2-server, the server of the nghttp2 project
h2load belongs to; one thread, a 12-byte index.html). nginx writes every
response of a connection in its own frames and system calls, and costs more
per request than either generator: with 10 streams per connection it is at
100% of its core in every generator's row, so those rows measure nginx.
nghttpd batches its writes; at 10 streams both generators leave part of their
core idle against it, so their CPU per request is their own. nghttpd has no
request counter: its rows show "—" for the count check.

Open model (`wrk2 R=10k` against `loads --rate 10k`, the same at 40k): both
tools send at a fixed rate over 50 connections (--max-users 50) and measure
latency from each request's scheduled time. wrk2 is built from the unmodified
anchors tarball (../shared/anchors) into a cache directory, never copied into
the project. Its first ~10 s calibrate and are left out of its histogram, so
these variants run --open-duration seconds (20 by default). Per round: CPU
per request, p50 and p99 of loads over wrk2's.

`--max-rate` runs bench/max_rate.py instead: the highest rate each tool holds
on one core.

Everything is on loopback and every run is bounded in time.
"""
import argparse
import datetime
import hashlib
import json
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TICK = os.sysconf("SC_CLK_TCK")


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_cpu(pid):
    """user + sys seconds of a live process (all its threads)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def cpu_busy(cpu=1):
    """(user + nice + system, steal) seconds CPU `cpu` has spent so far."""
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith(f"cpu{cpu} "):
                v = [int(x) for x in line.split()[1:]]
                return (v[0] + v[1] + v[2]) / TICK, v[7] / TICK
    return 0.0, 0.0


def cpus_busy():
    return cpu_busy(0), cpu_busy(1)


def others_on_cpus(before, gen_cpu, nginx_cpu, duration):
    """Shares of CPU 1 and CPU 0 that processes other than the generator and
    nginx's worker took during a run (the machine is shared: a compiler on
    CPU 1 starves the generator, one on CPU 0 stalls nginx)."""
    after = cpus_busy()
    return {"cpu1_others_share": max(0.0, (after[1][0] - before[1][0] - gen_cpu) / duration),
            "cpu0_others_share": max(0.0, (after[0][0] - before[0][0] - nginx_cpu) / duration),
            "cpu1_steal_share": (after[1][1] - before[1][1]) / duration}


def wait_quiet(max_wait, threshold=0.15):
    """Waits (up to max_wait s) until other processes use less than
    `threshold` of CPU 0 and of CPU 1 over a second (between runs nginx and
    the generators are idle); returns the last shares seen."""
    deadline = time.monotonic() + max_wait
    while True:
        b0 = cpus_busy()
        time.sleep(1)
        b1 = cpus_busy()
        shares = [b1[i][0] - b0[i][0] for i in (0, 1)]
        if max(shares) < threshold or time.monotonic() > deadline:
            return shares
        log(f"  CPU 0 {shares[0]:.0%}, CPU 1 {shares[1]:.0%} busy with other processes: waiting "
            f"(--quiet-wait {max_wait})")
        time.sleep(4)


def proc_rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


# --------------------------------------------------------------------- wrk2

ANCHORS = Path(os.environ.get("LOADS_ANCHORS", ROOT.parent / "shared" / "anchors"))
WRK2_TARBALL = "wrk2-44a94c1.tar.gz"


def default_tools_dir():
    """Where tools built for the benchmark are cached (outside the repo)."""
    d = Path("/opt/loads/bench")
    try:
        d.mkdir(parents=True, exist_ok=True)
        if os.access(d, os.W_OK):
            return d
    except OSError:
        pass
    return Path.home() / ".cache" / "loads-bench"


def build_wrk2(tarball, tools_dir):
    """Builds wrk2 from the anchors' unmodified source tarball, once: the
    binary is cached under tools_dir, keyed by the tarball's hash. Returns its
    path (the binary is named `wrk`, like Debian's wrk: always called by
    path)."""
    tarball, tools_dir = Path(tarball), Path(tools_dir)
    if not tarball.is_file():
        raise SystemExit(f"wrk2: no {tarball} (set LOADS_ANCHORS or --wrk2-tarball, or give --wrk2 BINARY)")
    digest = hashlib.sha256(tarball.read_bytes()).hexdigest()[:12]
    dest = tools_dir / f"{tarball.name.removesuffix('.tar.gz')}-{digest}"
    binary = dest / "wrk2" / "wrk"
    if binary.is_file() and os.access(binary, os.X_OK):
        return binary
    missing = [t for t in ("cc", "make", "tar") if not shutil.which(t)]
    if not Path("/usr/include/openssl/ssl.h").is_file():
        missing.append("libssl-dev")
    if missing:
        raise SystemExit(f"wrk2: building it needs {', '.join(missing)} "
                         "(apt-get install gcc make libssl-dev; bash bench/compare does it)")
    tools_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".wrk2-build-", dir=tools_dir))
    try:
        subprocess.run(["tar", "xzf", str(tarball), "-C", str(tmp)], check=True)
        log(f"building wrk2 from {tarball} into {dest} (about a minute, once)")
        r = subprocess.run(["make", "-C", str(tmp / "wrk2"), f"-j{os.cpu_count() or 1}"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if r.returncode or not (tmp / "wrk2" / "wrk").is_file():
            raise SystemExit(f"wrk2: make failed (rc {r.returncode}):\n{r.stdout[-3000:]}")
        shutil.rmtree(dest, ignore_errors=True)
        tmp.rename(dest)  # whole or nothing: a failed build leaves no cache
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return binary


_TIME_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}


def _wrk2_block(out, title):
    """One "Latency Distribution (HdrHistogram - <title>)" block, in ms."""
    block = re.search(r"Latency Distribution \(HdrHistogram - " + re.escape(title)
                      + r"\)\n((?:[ \t]*[\d.]+%[ \t]+\S+[ \t]*\n)+)", out)
    if not block:
        return None
    pct = {}
    for line in block.group(1).splitlines():
        p, v = line.split()
        num, unit = re.fullmatch(r"([\d.]+)([a-z]+)", v).groups()
        pct[p.rstrip("%")] = float(num) * _TIME_UNITS[unit]
    return pct


def parse_wrk2(out):
    """wrk2's --latency -U report: requests; the HdrHistogram "Latency
    Distribution" block (ms; latency from each request's scheduled time,
    after the calibration period) and its total count; the uncorrected block
    (from the actual send: the service time)."""
    m = re.search(r"(\d+) requests in ([\d.]+)(\w+),", out)
    pct = _wrk2_block(out, "Recorded Latency")
    if not m or not pct:
        return None
    r = {"requests": int(m.group(1)), "p50_ms": pct["50.000"], "p90_ms": pct["90.000"],
         "p99_ms": pct["99.000"], "p999_ms": pct["99.900"], "max_ms": pct["100.000"]}
    u = _wrk2_block(out, "Uncorrected Latency (measured without taking delayed starts into account)")
    if u:
        r.update(service_p50_ms=u["50.000"], service_p99_ms=u["99.000"])
    c = re.search(r"Total count\s*=\s*(\d+)", out)
    r["histogram_count"] = int(c.group(1)) if c else None
    c = re.search(r"Thread calibration: mean lat\.: ([\d.]+)ms", out)
    r["calibration_mean_ms"] = float(c.group(1)) if c else None
    e = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    r["socket_errors"] = sum(map(int, e.groups())) if e else 0
    e = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    r["non_2xx"] = int(e.group(1)) if e else 0
    return r


def rate_arg(rate):
    """10000 -> "10k" (the runner's and the variant names' spelling)."""
    return f"{rate // 1000}k" if rate % 1000 == 0 else str(rate)


# --------------------------------------------------------------------- nginx

class Nginx:
    def __init__(self, workdir):
        self.dir = Path(workdir) / "nginx"
        (self.dir / "html").mkdir(parents=True, exist_ok=True)
        (self.dir / "html" / "16k").write_bytes(b"x" * 16384)
        self.port = free_port()
        self.h2_port = free_port()  # the same server over h2c (prior knowledge)
        conf = f"""
worker_processes 1;
worker_cpu_affinity 01;
worker_rlimit_nofile 65536;
daemon off;
master_process on;
user root;
pid {self.dir}/nginx.pid;
error_log {self.dir}/error.log warn;
events {{ worker_connections 30000; multi_accept on; }}
http {{
    access_log off;
    keepalive_requests 1000000000;
    keepalive_timeout 600s;
    client_body_temp_path {self.dir}/tmp_body;
    proxy_temp_path {self.dir}/tmp_proxy;
    fastcgi_temp_path {self.dir}/tmp_fastcgi;
    uwsgi_temp_path {self.dir}/tmp_uwsgi;
    scgi_temp_path {self.dir}/tmp_scgi;
    default_type text/plain;
    server {{
        listen 127.0.0.1:{self.port} backlog=4096;
        listen 127.0.0.1:{self.h2_port} http2 backlog=4096;
        location = / {{ return 200 "hello world\\n"; }}
        location = /16k {{ root {self.dir}/html; }}
        location = /nginx_status {{ stub_status; }}
    }}
}}
"""
        (self.dir / "nginx.conf").write_text(conf)
        self.p = subprocess.Popen(["nginx", "-c", str(self.dir / "nginx.conf"), "-p", str(self.dir)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                  preexec_fn=raise_nofile)
        deadline = time.monotonic() + 10
        while True:
            try:
                self.requests()
                break
            except OSError:
                if time.monotonic() > deadline or self.p.poll() is not None:
                    raise SystemExit(f"nginx did not start: {self.p.stderr.read().decode()}")
                time.sleep(0.05)
        self.worker = int(subprocess.check_output(["pgrep", "-P", str(self.p.pid)]).split()[0])
        self.url = f"http://127.0.0.1:{self.port}"
        self.h2_url = f"http://127.0.0.1:{self.h2_port}"

    def requests(self):
        """nginx's own request counter (the status request itself included)."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/nginx_status", timeout=5) as r:
            text = r.read().decode()
        return int(text.splitlines()[2].split()[2])

    def stop(self):
        self.p.send_signal(signal.SIGQUIT)
        try:
            self.p.wait(10)
        except subprocess.TimeoutExpired:
            self.p.kill()


class Nghttpd:
    """nghttpd (h2c, prior knowledge) serving a 12-byte index.html, one
    thread pinned to CPU 0: the h2 target that is cheaper per request than
    the generators. It counts nothing: requests() is None."""

    def __init__(self, workdir):
        if not shutil.which("nghttpd"):
            raise RuntimeError("nghttpd is missing (apt-get install nghttp2-server; bash bench/compare does)")
        self.dir = Path(workdir) / "nghttpd"
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "index.html").write_bytes(b"hello world\n")
        self.port = free_port()
        self.p = subprocess.Popen(["taskset", "-c", "0", "nghttpd", "--no-tls", "-d", str(self.dir), "-n", "1",
                                   str(self.port)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=raise_nofile)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or self.p.poll() is not None:
                    self.p.kill()
                    raise RuntimeError(f"nghttpd did not start: {self.p.stderr.read().decode()[-500:]}")
                time.sleep(0.05)
        self.worker = self.p.pid
        self.h2_url = f"http://127.0.0.1:{self.port}"

    def requests(self):
        return None

    def stop(self):
        self.p.terminate()
        try:
            self.p.wait(10)
        except subprocess.TimeoutExpired:
            self.p.kill()


# --------------------------------------------------------------- generators

def pinned(cmd):
    return ["taskset", "-c", "1", *map(str, cmd)]


def run_child(cmd, timeout, cwd=None):
    """Runs cmd to its end; returns (stdout, stderr, cpu seconds, wall)."""
    t0 = time.monotonic()
    out_f, err_f = tempfile.TemporaryFile(), tempfile.TemporaryFile()
    p = subprocess.Popen(cmd, stdout=out_f, stderr=err_f, cwd=cwd, preexec_fn=raise_nofile)
    deadline = t0 + timeout
    while True:
        pid, status, ru = os.wait4(p.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            p.kill()
            pid, status, ru = os.wait4(p.pid, 0)
            break
        time.sleep(0.02)
    p.returncode = os.waitstatus_to_exitcode(status)
    wall = time.monotonic() - t0
    out_f.seek(0)
    err_f.seek(0)
    return out_f.read().decode(errors="replace"), err_f.read().decode(errors="replace"), \
        ru.ru_utime + ru.ru_stime, wall, p.returncode


class Tools:
    def __init__(self, args, nginx, workdir):
        self.a = args
        self.nginx = nginx
        self.workdir = Path(workdir)
        self.build = Path(args.build)
        self.runner = self.build / "runner" / "loads-runner"
        self.cluster = None
        self.curve_cluster = None
        self.wrk2_bin = getattr(args, "wrk2_bin", None)
        self.nghttpd = None  # started by the first nghttpd variant
        self._rate_support = None

    def rate_support(self):
        """None when loads-runner has --rate (the open model), else why not."""
        if self._rate_support is None:
            try:
                h = subprocess.run([self.runner, "--help"], capture_output=True, text=True, timeout=30)
                text = h.stdout + h.stderr
            except OSError as e:
                text = ""
                self._rate_support = f"cannot run {self.runner}: {e}"
            if not self._rate_support:
                self._rate_support = "" if re.search(r"--rate\b", text) else (
                    f"{self.runner} has no --rate option (the open model is not in this build): "
                    "rebuild loads with it to run the 'loads --rate' variants")
        return self._rate_support or None

    # Each returns (requests the tool reports, cpu seconds, extra dict).
    def wrk(self, path, conns):
        out, err, cpu, wall, rc = run_child(pinned(["wrk", "-t1", f"-c{conns}", f"-d{self.a.duration}s",
                                                   self.nginx.url + path]), self.a.duration + 30)
        m = re.search(r"(\d+) requests in", out)
        if not m:
            raise RuntimeError(f"wrk: {out}{err}")
        return int(m.group(1)), cpu, {}

    def h2load(self, path, conns):
        out, err, cpu, wall, rc = run_child(pinned(["h2load", "--h1", "-t1", f"-c{conns}", "-D",
                                                   str(self.a.duration), self.nginx.url + path]),
                                            self.a.duration + 30)
        m = re.search(r"requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded", out)
        if not m:
            raise RuntimeError(f"h2load: {out}{err}")
        return int(m.group(1)), cpu, {"succeeded": int(m.group(2))}

    def _h2load_h2(self, url, conns, streams):
        out, err, cpu, wall, rc = run_child(pinned(["h2load", "-t1", f"-c{conns}", f"-m{streams}", "-D",
                                                   str(self.a.duration), url]), self.a.duration + 30)
        m = re.search(r"requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded", out)
        if not m:
            raise RuntimeError(f"h2load: {out}{err}")
        return int(m.group(1)), cpu, {"succeeded": int(m.group(2))}

    def h2load_m1(self, path, conns):
        return self._h2load_h2(self.nginx.h2_url + path, conns, 1)

    def nghttpd_target(self):
        if self.nghttpd is None:
            self.nghttpd = Nghttpd(self.workdir)
        return self.nghttpd

    def h2load_nghttpd(self, path, conns, streams):
        return self._h2load_h2(self.nghttpd_target().h2_url + path, conns, streams)

    def ours_h2_nghttpd(self, path, conns, streams):
        return self._ours([self.nghttpd_target().h2_url + path, "--http2", "--streams", streams], conns)

    def h2load_m10(self, path, conns):
        return self._h2load_h2(self.nginx.h2_url + path, conns, 10)

    def ours_h2_1(self, path, conns):
        return self._ours([self.nginx.h2_url + path, "--http2", "--streams", "1"], conns)

    def ours_h2_10(self, path, conns):
        return self._ours([self.nginx.h2_url + path, "--http2", "--streams", "10"], conns)

    def ab(self, path, conns):
        # -t implies -n 50000; the -n after it lifts that cap.
        out, err, cpu, wall, rc = run_child(pinned(["ab", "-k", "-q", f"-c{conns}", "-t",
                                                   str(self.a.duration), "-n", "100000000",
                                                   self.nginx.url + path]), self.a.duration + 30)
        m = re.search(r"Complete requests:\s+(\d+)", out)
        if not m:
            raise RuntimeError(f"ab: {out}{err}")
        return int(m.group(1)), cpu, {}

    def locust(self, path, conns):
        prefix = self.workdir / "locust"
        out, err, cpu, wall, rc = run_child(pinned([
            "locust", "-f", ROOT / "bench" / "locustfile.py", "--headless", "-u", conns, "-r", conns,
            "-t", f"{self.a.duration}s", "--host", self.nginx.url, "--only-summary",
            "--csv", prefix, "--stop-timeout", "2", "--loglevel", "WARNING"]),
            self.a.duration + 60, cwd=self.workdir)
        rows = (prefix.parent / (prefix.name + "_stats.csv")).read_text().splitlines()
        header = rows[0].split(",")
        for row in rows[1:]:
            cols = row.split(",")
            if "Aggregated" in cols:
                return int(cols[header.index("Request Count")]), cpu, \
                    {"failures": int(cols[header.index("Failure Count")])}
        raise RuntimeError(f"locust: no Aggregated row: {rows} {err[-2000:]}")

    def _ours(self, args, conns):
        cmd = [self.runner, *args, "-u", conns, "-d", f"{self.a.duration}s", "--threads", "1",
               "--quiet", "--output", "json"]
        out, err, cpu, wall, rc = run_child(pinned(cmd), self.a.duration + 60)
        try:
            j = json.loads(out)
        except ValueError:
            raise RuntimeError(f"loads-runner: rc={rc} {out[-2000:]} {err[-2000:]}")
        t = j["total"]
        return t["requests"], cpu, {"hits": t["hits"], "errors": t["errors"], "failures": t["failures"],
                                    "histogram_count": t["latency"]["count"]}

    # Open model. Both take the rate; the run lasts --open-duration seconds.
    def wrk2(self, path, conns, rate):
        d = self.a.open_duration
        out, err, cpu, wall, rc = run_child(pinned([self.wrk2_bin, "-t1", f"-c{conns}", f"-d{d}s",
                                                   f"-R{rate}", "--latency", "-U", self.nginx.url + path]),
                                            d + 30)
        r = parse_wrk2(out)
        if r is None:
            raise RuntimeError(f"wrk2: rc={rc} {out[-2000:]}{err[-2000:]}")
        n = r.pop("requests")
        # Connection i starts its schedule i * 5 ms after the first (wrk2
        # staggers its connects), so R * d is never reached exactly.
        r["expected"] = rate * (d - 0.005 * (conns - 1) / 2)
        return n, cpu, r

    def ours_rate(self, path, conns, rate):
        why = self.rate_support()
        if why:
            raise RuntimeError(why)
        d = self.a.open_duration
        cmd = [self.runner, self.nginx.url + path, "--rate", rate_arg(rate), "-d", f"{d}s",
               "--max-users", conns, "--arrivals", self.a.arrivals, "--threads", "1",
               "--quiet", "--output", "json"]
        if self.a.arrival_window:
            cmd += ["--arrival-window", self.a.arrival_window]
        out, err, cpu, wall, rc = run_child(pinned(cmd), d + 60)
        try:
            t = json.loads(out)["total"]
            sched, service = t["latency_from_schedule"], t["latency"]
            ms = lambda h, k: h["percentiles_ns"][k] / 1e6
            extra = {k: t[k] for k in ("hits", "scheduled", "dropped", "late", "interrupted", "errors")}
            extra.update(p50_ms=ms(sched, "p50"), p90_ms=ms(sched, "p90"), p99_ms=ms(sched, "p99"),
                         p999_ms=ms(sched, "p99.9"), max_ms=ms(sched, "max"),
                         histogram_count=sched["count"],
                         service_p50_ms=ms(service, "p50"), service_p99_ms=ms(service, "p99"),
                         service_count=service["count"], expected=rate * d, rc=rc)
        except (ValueError, KeyError, TypeError) as e:
            raise RuntimeError(f"loads-runner --rate: rc={rc} ({e!r}) {out[-1500:]} {err[-1500:]}")
        return t.get("requests", t["hits"]), cpu, extra

    def ours_url(self, path, conns):
        return self._ours([self.nginx.url + path], conns)

    def ours_lib(self, path, conns):
        lib = self.build / "bench" / "libbench_get.so"
        return self._ours([f"{lib}:BenchGet.test_get", "--server-url", self.nginx.url], conns)

    def ours_cluster(self, path, conns, curve=False):
        """Runner -> broker -> one agent, all on CPU 1; CPU of all three.
        With curve, every connection uses CURVE keys (docs/security.md)."""
        if curve and self.curve_cluster is None:
            self.curve_cluster = Cluster(self.build, self.workdir, curve=True)
        if not curve and self.cluster is None:
            self.cluster = Cluster(self.build, self.workdir)
        c = self.curve_cluster if curve else self.cluster
        before = proc_cpu(c.agent.pid), proc_cpu(c.broker.pid)
        n, runner_cpu, extra = self._ours([self.nginx.url + path, "--agents", "1", "--broker",
                                           c.frontend, *c.runner_args], conns)
        agent_cpu = proc_cpu(c.agent.pid) - before[0]
        broker_cpu = proc_cpu(c.broker.pid) - before[1]
        extra.update(agent_cpu=agent_cpu, broker_cpu=broker_cpu, runner_cpu=runner_cpu)
        return n, agent_cpu + broker_cpu + runner_cpu, extra

    def ours_cluster_curve(self, path, conns):
        return self.ours_cluster(path, conns, curve=True)

    def close(self):
        for c in (self.cluster, self.curve_cluster, self.nghttpd):
            if c:
                c.stop()

    def server_for(self, method):
        """The target a variant's method loads: its requests() and CPU."""
        return self.nghttpd_target() if method in NGHTTPD_METHODS else self.nginx


class Cluster:
    def __init__(self, build, workdir, curve=False):
        ports = [free_port() for _ in range(3)]
        self.frontend = f"tcp://127.0.0.1:{ports[0]}"
        backend = f"tcp://127.0.0.1:{ports[1]}"
        broker_keys, agent_keys, self.runner_args = [], [], []
        if curve:
            # deploy/keys.sh's layout: a broker, one agent, one runner.
            keys = Path(workdir) / "curve-keys"
            shutil.rmtree(keys, ignore_errors=True)
            env = dict(os.environ, LOADS_BROKER=str(build / "broker" / "loads-broker"))
            subprocess.run(["bash", str(ROOT / "deploy" / "keys.sh"), str(keys), "1", "bench"], check=True,
                           env=env, capture_output=True)
            broker_keys = ["--curve-key", keys / "broker.key", "--allow-agents", keys / "agents",
                           "--allow-runners", keys / "runners"]
            agent_keys = ["--curve-key", keys / "agents" / "agent-1.key", "--broker-pub", keys / "broker.pub"]
            self.runner_args = ["--curve-key", str(keys / "runners" / "bench.key"),
                                "--broker-pub", str(keys / "broker.pub")]
        self.broker = subprocess.Popen(pinned([build / "broker" / "loads-broker", "--frontend", self.frontend,
                                               "--backend", backend, "--publisher",
                                               f"tcp://127.0.0.1:{ports[2]}", "--log-level", "warn",
                                               *broker_keys]),
                                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self._await(self.broker, "ready")
        self.agent = subprocess.Popen(pinned([build / "agent" / "daemon" / "loads-agent", "--broker", backend,
                                              "--threads", "1", "--id", "bench-agent", "--cache-dir",
                                              Path(workdir) / ("cache-curve" if curve else "cache"),
                                              "--log-level", "warn", *agent_keys]),
                                      stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                      preexec_fn=raise_nofile)
        self._await(self.agent, "registered")

    @staticmethod
    def _await(p, prefix):
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            line = p.stdout.readline().decode()
            if line.startswith(prefix):
                return
            if not line and p.poll() is not None:
                break
        raise SystemExit(f"{p.args}: no '{prefix}' line")

    def stop(self):
        for p in (self.agent, self.broker):
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()


VARIANTS = {
    # name: (tool method, path, connections, baseline for the ratio)
    "wrk": ("wrk", "/", None, "wrk"),
    "h2load --h1": ("h2load", "/", None, "wrk"),
    "ab -k": ("ab", "/", None, "wrk"),
    "locust FastHttpUser": ("locust", "/", None, "wrk"),
    "loads URL": ("ours_url", "/", None, "wrk"),
    "loads C++ GET+check": ("ours_lib", "/", None, "wrk"),
    "loads broker+1 agent": ("ours_cluster", "/", None, "wrk"),
    # The cost of CURVE: the same cluster with keys, against it in the same round.
    "loads broker+1 agent CURVE": ("ours_cluster_curve", "/", None, "loads broker+1 agent"),
    "wrk 16KiB": ("wrk", "/16k", None, "wrk 16KiB"),
    "loads URL 16KiB": ("ours_url", "/16k", None, "wrk 16KiB"),
    # HTTP/2 over h2c, each user (h2load client) with 1 or 10 streams in flight:
    # loads' ratio is to h2load's in the same variant.
    "h2load -m1": ("h2load_m1", "/", None, "h2load -m1"),
    "loads --http2 --streams 1": ("ours_h2_1", "/", None, "h2load -m1"),
    "h2load -m10": ("h2load_m10", "/", None, "h2load -m10"),
    "loads --http2 --streams 10": ("ours_h2_10", "/", None, "h2load -m10"),
    # The same against nghttpd (5th field: streams per connection).
    "h2load -m1 nghttpd": ("h2load_nghttpd", "/index.html", None, "h2load -m1 nghttpd", 1),
    "loads --http2 --streams 1 nghttpd": ("ours_h2_nghttpd", "/index.html", None, "h2load -m1 nghttpd", 1),
    "h2load -m10 nghttpd": ("h2load_nghttpd", "/index.html", None, "h2load -m10 nghttpd", 10),
    "loads --http2 --streams 10 nghttpd": ("ours_h2_nghttpd", "/index.html", None, "h2load -m10 nghttpd", 10),
    "wrk 500 conns": ("wrk", "/", 500, "wrk 500 conns"),
    "loads URL 500 conns": ("ours_url", "/", 500, "wrk 500 conns"),
    # Open model, (..., rate): a fixed arrival rate, latency from the schedule.
    "wrk2 R=10k": ("wrk2", "/", None, "wrk2 R=10k", 10000),
    "loads --rate 10k": ("ours_rate", "/", None, "wrk2 R=10k", 10000),
    "wrk2 R=40k": ("wrk2", "/", None, "wrk2 R=40k", 40000),
    "loads --rate 40k": ("ours_rate", "/", None, "wrk2 R=40k", 40000),
}
OPEN_METHODS = ("wrk2", "ours_rate")
NGHTTPD_METHODS = ("h2load_nghttpd", "ours_h2_nghttpd")


def is_open(name):
    return VARIANTS[name][0] in OPEN_METHODS


def measure_memory(args, nginx, users):
    """users concurrent virtual users, each with an open keep-alive
    connection (one hit per second each): the runner's RSS per user."""
    runner = Path(args.build) / "runner" / "loads-runner"
    before = nginx.requests()
    p = subprocess.Popen(pinned([runner, nginx.url + "/", "-u", users, "-d", "12s", "--sleep", "1",
                                 "--threads", "1", "--quiet", "--output", "json"]),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=raise_nofile)
    peak = 0
    deadline = time.monotonic() + 60
    time.sleep(1)
    while p.poll() is None and time.monotonic() < deadline:
        try:
            peak = max(peak, proc_rss_kib(p.pid))
        except FileNotFoundError:
            break
        time.sleep(0.25)
    out, err = p.communicate(timeout=60)
    j = json.loads(out)
    t = j["total"]
    return {"users": users, "peak_rss_kib": peak, "rss_per_user_kib": peak / users,
            "hits": t["hits"], "errors": t["errors"], "errors_by_kind": {k: v for k, v in t["errors_by_kind"].items() if v},
            "nginx_requests": nginx.requests() - before - 1}


def summarize(runs):
    out = {}
    for name, rs in runs.items():
        ok = [r for r in rs if "error" not in r]
        if not ok:
            out[name] = {"error": rs[-1].get("error", "no run")}
            continue
        rps = [r["requests"] / r["duration"] for r in ok]
        us = [r["cpu_s"] * 1e6 / r["requests"] for r in ok if r["requests"]]
        nginx_cpu = [r["nginx_cpu_share"] for r in ok]
        out[name] = {
            "rounds": len(ok),
            "rps_median": statistics.median(rps), "rps_min": min(rps), "rps_max": max(rps),
            "cpu_us_per_req_median": statistics.median(us), "cpu_us_per_req_min": min(us),
            "cpu_us_per_req_max": max(us),
            "nginx_cpu_share_median": statistics.median(nginx_cpu),
            "count_diff_max": None if any(r["nginx_requests"] is None for r in ok) else
            max(abs(r["nginx_requests"] - r["requests"]) for r in ok),
        }
        if is_open(name):
            for k in ("p50_ms", "p99_ms", "p999_ms", "max_ms", "service_p50_ms", "service_p99_ms"):
                vals = [r.get(k, float("nan")) for r in ok]
                out[name][k + "_median"] = statistics.median(vals)
                out[name][k + "_min"], out[name][k + "_max"] = min(vals), max(vals)
            out[name]["rate"] = VARIANTS[name][4]
            out[name]["achieved_share_median"] = statistics.median(r["requests"] / r["expected"] for r in ok)
            if VARIANTS[name][0] == "ours_rate":
                for k in ("dropped", "late", "interrupted", "errors"):
                    out[name][k + "_max"] = max(r[k] for r in ok)
                out[name]["histogram_equals_hits"] = all(r["histogram_count"] == r["hits"] for r in ok)
    for name, (_, _, _, base, *_) in VARIANTS.items():
        if name in out and base in out and "error" not in out[name] and "error" not in out[base]:
            # Ratio per round (same conditions), then the median of those.
            pairs = [(a, b) for a, b in zip(runs[name], runs[base]) if "error" not in a and "error" not in b]
            ratios = [(a["cpu_s"] / a["requests"]) / (b["cpu_s"] / b["requests"]) for a, b in pairs]
            out[name]["ratio_to_wrk_median"] = statistics.median(ratios)
            out[name]["baseline"] = base
            if is_open(name) and name != base:
                out[name]["cpu_ratio_per_round"] = ratios
                for k in ("p50_ms", "p99_ms"):
                    rs = [a[k] / b[k] if b[k] else float("inf") for a, b in pairs]
                    out[name][k.replace("_ms", "") + "_ratio_per_round"] = rs
                    out[name][k.replace("_ms", "") + "_ratio_median"] = statistics.median(rs)
    return out


def markdown(summary, meta, memory, runs):
    lines = [f"# bench/compare, {meta['date']}", "",
             f"nginx {meta['nginx']} (1 worker, CPU 0) on 127.0.0.1; each generator on CPU 1 with 1 thread; "
             f"{meta['duration']} s per run, {meta['rounds']} interleaved rounds, {meta['connections']} "
             f"keep-alive connections unless named; rows named nghttpd load nghttpd (1 thread, CPU 0) "
             f"instead of nginx. Medians [min–max].", "",
             "| generator | requests/s | CPU µs/request | × wrk (CPU/req) | server CPU | count vs server |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    bottleneck = []
    open_names = [n for n in summary if is_open(n)]
    for name, s in summary.items():
        if is_open(name):
            continue
        if "error" in s:
            lines.append(f"| {name} | failed: {s['error'][:80]} | | | | |")
            continue
        ratio = f"{s['ratio_to_wrk_median']:.2f}" if "ratio_to_wrk_median" in s else "—"
        if s.get("baseline") and s["baseline"] != "wrk" and name != s["baseline"]:
            ratio += f" (vs {s['baseline']})"
        lines.append(
            f"| {name} | {s['rps_median']:,.0f} [{s['rps_min']:,.0f}–{s['rps_max']:,.0f}] | "
            f"{s['cpu_us_per_req_median']:.2f} [{s['cpu_us_per_req_min']:.2f}–{s['cpu_us_per_req_max']:.2f}] | "
            f"{ratio} | {s['nginx_cpu_share_median'] * 100:.0f}% | "
            f"{'—' if s['count_diff_max'] is None else '±' + str(s['count_diff_max'])} |")
        if s["nginx_cpu_share_median"] > 0.9:
            bottleneck.append(name)
    lines.append("")
    if len(open_names) == len(summary):
        lines = lines[:1]
    elif bottleneck:
        lines.append("**The target was the bottleneck** (the server above 90% of CPU 0) for: "
                     + ", ".join(bottleneck) + ". Their requests/s measure the server, not the generator; "
                     "CPU µs per request measures the generator, but a generator that keeps up with a "
                     "saturated server spends its spare time on wake-ups and reads that find nothing.")
    else:
        lines.append("The server stayed below 90% of its core in every variant: the generators were the bottleneck.")
    if open_names:
        lines += open_markdown(summary, open_names, meta)
    others = [(r["cpu1_others_share"], r.get("cpu0_others_share", 0), n)
              for n, rs in runs.items() for r in rs if "cpu1_others_share" in r]
    if others:
        busy = sorted({n for o1, o0, n in others if max(o1, o0) > 0.05})
        pct = lambda xs: f"median {statistics.median(xs) * 100:.0f}%, max {max(xs) * 100:.0f}%"
        lines += ["", f"Other processes during the runs: on CPU 1 (the generators' core) "
                  f"{pct([o[0] for o in others])}; on CPU 0 (nginx's) {pct([o[1] for o in others])}"
                  + (f"; above 5% in runs of {', '.join(busy)}: those figures are suspect (the machine is shared)."
                     if busy else ".")]
    if memory:
        lines += ["", f"Memory: {memory['users']:,} concurrent users each holding a keep-alive connection "
                  f"(one hit per second each): peak RSS {memory['peak_rss_kib'] / 1024:.1f} MiB, "
                  f"**{memory['rss_per_user_kib']:.1f} KiB per user** (whole process RSS divided by users); "
                  f"{memory['hits']:,} hits, {memory['errors']} errors {memory['errors_by_kind'] or ''}."]
    return "\n".join(lines) + "\n"


def open_markdown(summary, names, meta):
    """The open-model table: wrk2 -R against loads --rate."""
    lines = ["", "## Open model: wrk2 -R against loads --rate", "",
             f"{meta['open_duration']} s per run ("
             + (f"wrk2 leaves its first ~10 s of calibration out of its histogram: its percentiles cover the "
                f"last ~{meta['open_duration'] - 10.25:.0f} s; loads' cover the whole run"
                if meta["open_duration"] > 10.25 else
                "too short for wrk2's ~10 s calibration: its histogram holds the whole run, startup included")
             + f"), {meta['connections']} connections / --max-users {meta['connections']}, "
             f"arrivals {meta['arrivals']} for loads (wrk2's are uniform per connection). Latency from each "
             "request's scheduled time (wrk2's corrected histogram, loads' total.latency_from_schedule; "
             "wrk2 waits for a send time on whole-millisecond timers rounded up, so its figures include up to "
             "~1 ms of its own timer delay). "
             "Medians [min–max]; × wrk2 = median of the per-round ratios.", "",
             "| generator | requests/s (of target) | CPU µs/request | × wrk2 CPU | p50 ms | × wrk2 | "
             "p99 ms | × wrk2 | p99.9 ms | nginx CPU | count vs nginx |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    notes = []
    for name in names:
        s = summary[name]
        if "error" in s:
            lines.append(f"| {name} | not run / failed: {s['error'][:120]} | | | | | | | | | |")
            continue
        ours = name != s.get("baseline", name)
        rx = lambda k: f"{s[k]:.2f}" if ours and k in s else "—"
        rng = lambda k: f"{s[k + '_median']:.3f} [{s[k + '_min']:.3f}–{s[k + '_max']:.3f}]"
        lines.append(
            f"| {name} | {s['rps_median']:,.0f} ({s['achieved_share_median'] * 100:.1f}%) | "
            f"{s['cpu_us_per_req_median']:.2f} [{s['cpu_us_per_req_min']:.2f}–{s['cpu_us_per_req_max']:.2f}] | "
            f"{rx('ratio_to_wrk_median')} | {rng('p50_ms')} | {rx('p50_ratio_median')} | {rng('p99_ms')} | "
            f"{rx('p99_ratio_median')} | {s['p999_ms_median']:.3f} | {s['nginx_cpu_share_median'] * 100:.0f}% | "
            f"±{s['count_diff_max']} |")
        notes.append(f"- {name}: service time (from the actual send; wrk2's -U histogram, loads' total.latency) "
                     f"p50 {s['service_p50_ms_median']:.3f} ms, p99 {s['service_p99_ms_median']:.3f} ms.")
        if ours and "cpu_ratio_per_round" in s:
            per = lambda k: ", ".join(f"{x:.2f}" for x in s[k])
            notes.append(f"- {name} / {s['baseline']} per round: CPU {per('cpu_ratio_per_round')}; "
                         f"p50 {per('p50_ratio_per_round')}; p99 {per('p99_ratio_per_round')}.")
        if s["achieved_share_median"] < 0.99:
            notes.append(f"- **{name} did not hold its rate** ({s['achieved_share_median'] * 100:.1f}% of it in the "
                         "median round): its latencies measure its backlog.")
        if "dropped_max" in s:
            notes.append(f"- {name}: dropped ≤ {s['dropped_max']}, late ≤ {s['late_max']}, interrupted ≤ "
                         f"{s['interrupted_max']}, errors ≤ {s['errors_max']} per run; histogram count = hits "
                         f"in every run: {'yes' if s['histogram_equals_hits'] else '**no**'}.")
    lines += [""] + notes
    t = summary.get("loads --rate 10k", {})
    if "cpu_ratio_per_round" in t:
        ok = lambda v, lim: "met" if v <= lim else "**not met**"
        lines += ["", "Targets at 10k/s: CPU/request ≤ 0.8× wrk2: "
                  f"{t['ratio_to_wrk_median']:.2f}× ({ok(t['ratio_to_wrk_median'], 0.8)}); p50 ≤ 1.10× wrk2: "
                  f"{t['p50_ratio_median']:.2f}× ({ok(t['p50_ratio_median'], 1.10)}); p99 ≤ 1.10× wrk2: "
                  f"{t['p99_ratio_median']:.2f}× ({ok(t['p99_ratio_median'], 1.10)})."]
    return lines


def main():
    if "--max-rate" in sys.argv[1:]:
        import max_rate  # same directory
        return max_rate.main([a for a in sys.argv[1:] if a != "--max-rate"])
    ap = argparse.ArgumentParser(description="loads against wrk, wrk2, h2load, ab and Locust "
                                             "(--max-rate: the highest rate each open-model tool holds)")
    ap.add_argument("--build", default=str(ROOT / "build"))
    ap.add_argument("--duration", type=int, default=None,
                    help="seconds per run (default 10; the open-model variants 20 unless given)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--connections", type=int, default=50)
    ap.add_argument("--only", default="", help="comma-separated generator names (default: all)")
    ap.add_argument("--memory-users", type=int, default=10000, help="0: skip the memory run")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results"))
    ap.add_argument("--open-duration", type=int, default=None,
                    help="seconds per open-model run (default: --duration if given, else 20; "
                         "wrk2 calibrates for its first ~10 s and leaves them out of its histogram)")
    ap.add_argument("--arrivals", default="uniform", choices=["uniform", "poisson"],
                    help="loads --rate arrivals (wrk2's are uniform)")
    ap.add_argument("--arrival-window", default="",
                    help="loads --rate --arrival-window (default: loads' own, 500us)")
    ap.add_argument("--wrk2", default="", help="a wrk2 binary to use instead of building one")
    ap.add_argument("--wrk2-tarball", default=str(ANCHORS / WRK2_TARBALL))
    ap.add_argument("--tools-dir", default="", help="cache for the wrk2 build (default /opt/loads/bench)")
    ap.add_argument("--quiet-wait", type=int, default=0,
                    help="before each run, wait up to this many seconds for other processes to leave CPU 1 "
                         "(a shared machine); 0: don't")
    args = ap.parse_args()
    args.open_duration = args.open_duration or args.duration or 20
    args.duration = args.duration or 10
    if os.cpu_count() < 2:
        raise SystemExit("needs two CPUs (nginx on CPU 0, generators on CPU 1)")

    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(VARIANTS)
    for n in names:
        if n not in VARIANTS:
            raise SystemExit(f"unknown generator {n!r}; known: {', '.join(VARIANTS)}")
    if any(is_open(n) for n in names) and args.open_duration < 15:
        log(f"note: {args.open_duration} s open-model runs: wrk2 calibrates for ~10.25 s, then resets its "
            "histogram; runs of 15-20 s give it a few seconds of steady state")
    if any(VARIANTS[n][0] == "wrk2" for n in names):
        args.wrk2_bin = Path(args.wrk2) if args.wrk2 else \
            build_wrk2(args.wrk2_tarball, args.tools_dir or default_tools_dir())
    skipped = {}
    if any(VARIANTS[n][0] == "ours_rate" for n in names):
        why = Tools(args, None, "/").rate_support()
        if why:
            log(f"loads --rate variants not run: {why}")
            skipped = {n: why for n in names if VARIANTS[n][0] == "ours_rate"}
            if len(skipped) == len(names):
                raise SystemExit(f"nothing to run: {why}")
    workdir = tempfile.mkdtemp(prefix="loads-bench-")
    nginx = Nginx(workdir)
    tools = Tools(args, nginx, workdir)
    runs = {n: [] for n in names}
    try:
        for rnd in range(args.rounds):
            for name in names:
                if name in skipped:
                    runs[name].append({"round": rnd + 1, "error": skipped[name]})
                    continue
                method, path, conns, _, *rate = VARIANTS[name]
                conns = conns or args.connections
                duration = args.open_duration if is_open(name) else args.duration
                try:
                    server = tools.server_for(method)
                    n0 = server.requests()
                    cpu0 = proc_cpu(server.worker)
                    busy0 = cpus_busy()
                    t0 = time.monotonic()
                    n, cpu, extra = getattr(tools, method)(path, conns, *rate)
                    wall = time.monotonic() - t0
                    # The status request itself is counted too (nghttpd counts nothing).
                    counted = None if n0 is None else server.requests() - n0 - 1
                    nginx_cpu = proc_cpu(server.worker) - cpu0
                    r = {"round": rnd + 1, "requests": n, "cpu_s": cpu, "duration": float(duration),
                         "wall_s": wall, "nginx_requests": counted, "nginx_cpu_share": nginx_cpu / duration,
                         **others_on_cpus(busy0, cpu, nginx_cpu, wall), **extra}
                    lat = f"  p50 {extra['p50_ms']:.3f} p99 {extra['p99_ms']:.3f} ms" if is_open(name) else ""
                    log(f"round {rnd + 1} {name:24s} {n / duration:10,.0f} req/s "
                        f"{cpu * 1e6 / max(n, 1):7.2f} CPU µs/req  server counted {counted} "
                        f"server CPU {r['nginx_cpu_share'] * 100:.0f}%{lat}  "
                        f"others on CPU 0/1 {r['cpu0_others_share'] * 100:.0f}%/{r['cpu1_others_share'] * 100:.0f}%")
                except Exception as e:  # one tool failing must not lose the others' figures
                    r = {"round": rnd + 1, "error": str(e)[:2000]}
                    log(f"round {rnd + 1} {name}: FAILED {e}")
                runs[name].append(r)
                if args.quiet_wait:
                    wait_quiet(args.quiet_wait)
                else:
                    time.sleep(1)
        # The memory run needs loads-runner: only when a loads variant ran.
        uses_loads = any(VARIANTS[n][0].startswith("ours") and n not in skipped for n in names)
        memory = measure_memory(args, nginx, args.memory_users) if args.memory_users and uses_loads else None
        if memory:
            log(f"memory: {memory}")
    finally:
        tools.close()
        nginx.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    meta = {"date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"), "duration": args.duration,
            "rounds": args.rounds, "connections": args.connections,
            "open_duration": args.open_duration, "arrivals": args.arrivals,
            "wrk2": str(getattr(args, "wrk2_bin", "") or ""),
            "nginx": subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr.strip(),
            "cpu": next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?"),
            "command": " ".join(sys.argv)}
    summary = summarize(runs)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "compare.json").write_text(json.dumps({"meta": meta, "summary": summary, "runs": runs,
                                                  "memory": memory}, indent=2))
    md = markdown(summary, meta, memory, runs)
    (out / "compare.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
