"""bench/compare: loads against wrk, h2load, ab and Locust, side by side.

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

Everything is on loopback and every run is bounded in time.
"""
import argparse
import datetime
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


def proc_rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


# --------------------------------------------------------------------- nginx

class Nginx:
    def __init__(self, workdir):
        self.dir = Path(workdir) / "nginx"
        (self.dir / "html").mkdir(parents=True, exist_ok=True)
        (self.dir / "html" / "16k").write_bytes(b"x" * 16384)
        self.port = free_port()
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

    def ours_url(self, path, conns):
        return self._ours([self.nginx.url + path], conns)

    def ours_lib(self, path, conns):
        lib = self.build / "bench" / "libbench_get.so"
        return self._ours([f"{lib}:BenchGet.test_get", "--server-url", self.nginx.url], conns)

    def ours_cluster(self, path, conns):
        """Runner -> broker -> one agent, all on CPU 1; CPU of all three."""
        if self.cluster is None:
            self.cluster = Cluster(self.build, self.workdir)
        c = self.cluster
        before = proc_cpu(c.agent.pid), proc_cpu(c.broker.pid)
        n, runner_cpu, extra = self._ours([self.nginx.url + path, "--agents", "1", "--broker",
                                           c.frontend], conns)
        agent_cpu = proc_cpu(c.agent.pid) - before[0]
        broker_cpu = proc_cpu(c.broker.pid) - before[1]
        extra.update(agent_cpu=agent_cpu, broker_cpu=broker_cpu, runner_cpu=runner_cpu)
        return n, agent_cpu + broker_cpu + runner_cpu, extra

    def close(self):
        if self.cluster:
            self.cluster.stop()


class Cluster:
    def __init__(self, build, workdir):
        ports = [free_port() for _ in range(3)]
        self.frontend = f"tcp://127.0.0.1:{ports[0]}"
        backend = f"tcp://127.0.0.1:{ports[1]}"
        self.broker = subprocess.Popen(pinned([build / "broker" / "loads-broker", "--frontend", self.frontend,
                                               "--backend", backend, "--publisher",
                                               f"tcp://127.0.0.1:{ports[2]}", "--log-level", "warn"]),
                                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self._await(self.broker, "ready")
        self.agent = subprocess.Popen(pinned([build / "agent" / "daemon" / "loads-agent", "--broker", backend,
                                              "--threads", "1", "--id", "bench-agent", "--cache-dir",
                                              Path(workdir) / "cache", "--log-level", "warn"]),
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
    "wrk 16KiB": ("wrk", "/16k", None, "wrk 16KiB"),
    "loads URL 16KiB": ("ours_url", "/16k", None, "wrk 16KiB"),
    "wrk 500 conns": ("wrk", "/", 500, "wrk 500 conns"),
    "loads URL 500 conns": ("ours_url", "/", 500, "wrk 500 conns"),
}


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
            "count_diff_max": max(abs(r["nginx_requests"] - r["requests"]) for r in ok),
        }
    for name, (_, _, _, base) in VARIANTS.items():
        if name in out and base in out and "error" not in out[name] and "error" not in out[base]:
            # Ratio per round (same conditions), then the median of those.
            pairs = [(a, b) for a, b in zip(runs[name], runs[base]) if "error" not in a and "error" not in b]
            ratios = [(a["cpu_s"] / a["requests"]) / (b["cpu_s"] / b["requests"]) for a, b in pairs]
            out[name]["ratio_to_wrk_median"] = statistics.median(ratios)
            out[name]["baseline"] = base
    return out


def markdown(summary, meta, memory):
    lines = [f"# bench/compare, {meta['date']}", "",
             f"nginx {meta['nginx']} (1 worker, CPU 0) on 127.0.0.1; each generator on CPU 1 with 1 thread; "
             f"{meta['duration']} s per run, {meta['rounds']} interleaved rounds, {meta['connections']} "
             f"keep-alive connections unless named. Medians [min–max].", "",
             "| generator | requests/s | CPU µs/request | × wrk (CPU/req) | nginx CPU | count vs nginx |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    bottleneck = []
    for name, s in summary.items():
        if "error" in s:
            lines.append(f"| {name} | failed: {s['error'][:80]} | | | | |")
            continue
        ratio = f"{s['ratio_to_wrk_median']:.2f}" if "ratio_to_wrk_median" in s else "—"
        if s.get("baseline") and s["baseline"] != "wrk" and name != s["baseline"]:
            ratio += f" (vs {s['baseline']})"
        lines.append(
            f"| {name} | {s['rps_median']:,.0f} [{s['rps_min']:,.0f}–{s['rps_max']:,.0f}] | "
            f"{s['cpu_us_per_req_median']:.2f} [{s['cpu_us_per_req_min']:.2f}–{s['cpu_us_per_req_max']:.2f}] | "
            f"{ratio} | {s['nginx_cpu_share_median'] * 100:.0f}% | ±{s['count_diff_max']} |")
        if s["nginx_cpu_share_median"] > 0.9:
            bottleneck.append(name)
    lines.append("")
    if bottleneck:
        lines.append("**The target was the bottleneck** (nginx's worker above 90% of CPU 0) for: "
                     + ", ".join(bottleneck) + ". Their requests/s measure nginx, not the generator; "
                     "CPU µs per request still measures the generator.")
    else:
        lines.append("nginx stayed below 90% of its core in every variant: the generators were the bottleneck.")
    if memory:
        lines += ["", f"Memory: {memory['users']:,} concurrent users each holding a keep-alive connection "
                  f"(one hit per second each): peak RSS {memory['peak_rss_kib'] / 1024:.1f} MiB, "
                  f"**{memory['rss_per_user_kib']:.1f} KiB per user** (whole process RSS divided by users); "
                  f"{memory['hits']:,} hits, {memory['errors']} errors {memory['errors_by_kind'] or ''}."]
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description="loads against wrk, h2load, ab and Locust")
    ap.add_argument("--build", default=str(ROOT / "build"))
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--connections", type=int, default=50)
    ap.add_argument("--only", default="", help="comma-separated generator names (default: all)")
    ap.add_argument("--memory-users", type=int, default=10000, help="0: skip the memory run")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results"))
    args = ap.parse_args()
    if os.cpu_count() < 2:
        raise SystemExit("needs two CPUs (nginx on CPU 0, generators on CPU 1)")

    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(VARIANTS)
    for n in names:
        if n not in VARIANTS:
            raise SystemExit(f"unknown generator {n!r}; known: {', '.join(VARIANTS)}")
    workdir = tempfile.mkdtemp(prefix="loads-bench-")
    nginx = Nginx(workdir)
    tools = Tools(args, nginx, workdir)
    runs = {n: [] for n in names}
    try:
        for rnd in range(args.rounds):
            for name in names:
                method, path, conns, _ = VARIANTS[name]
                conns = conns or args.connections
                n0 = nginx.requests()
                cpu0 = proc_cpu(nginx.worker)
                t0 = time.monotonic()
                try:
                    n, cpu, extra = getattr(tools, method)(path, conns)
                    wall = time.monotonic() - t0
                    counted = nginx.requests() - n0 - 1
                    r = {"round": rnd + 1, "requests": n, "cpu_s": cpu, "duration": float(args.duration),
                         "wall_s": wall, "nginx_requests": counted,
                         "nginx_cpu_share": (proc_cpu(nginx.worker) - cpu0) / args.duration, **extra}
                    log(f"round {rnd + 1} {name:24s} {n / args.duration:10,.0f} req/s "
                        f"{cpu * 1e6 / max(n, 1):7.2f} CPU µs/req  nginx counted {counted} "
                        f"nginx CPU {r['nginx_cpu_share'] * 100:.0f}%")
                except Exception as e:  # one tool failing must not lose the others' figures
                    r = {"round": rnd + 1, "error": str(e)[:2000]}
                    log(f"round {rnd + 1} {name}: FAILED {e}")
                runs[name].append(r)
                time.sleep(1)
        memory = measure_memory(args, nginx, args.memory_users) if args.memory_users else None
        if memory:
            log(f"memory: {memory}")
    finally:
        tools.close()
        nginx.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    meta = {"date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"), "duration": args.duration,
            "rounds": args.rounds, "connections": args.connections,
            "nginx": subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr.strip(),
            "cpu": next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?"),
            "command": " ".join(sys.argv)}
    summary = summarize(runs)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "compare.json").write_text(json.dumps({"meta": meta, "summary": summary, "runs": runs,
                                                  "memory": memory}, indent=2))
    md = markdown(summary, meta, memory)
    (out / "compare.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
