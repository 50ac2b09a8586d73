"""bench/max_rate.py: the highest arrival rate loads (--rate) and wrk2 (-R)
each hold on one core against nginx.

    bash bench/compare --max-rate                    # installs, builds, then this
    /usr/bin/python3 bench/max_rate.py --build /work/build-bench --tools loads,wrk2

Same setup as bench/compare's open-model variants: nginx with one worker on
CPU 0, the generator pinned to CPU 1 with one thread and 50 connections
(--max-users 50). For each tool the rate steps up (--start, --step) until a
run does not hold, then bisects between the last rate held and the first
missed down to --resolution. The two tools take turns, one run each, so they
see the same machine.

A rate is held when:
  loads  every arrival became a hit and every hit is in the histogram
         (total.dropped == 0, total.interrupted == 0, no errors,
         latency_from_schedule.count == hits), hits reach 99% of rate x
         duration, at most --late-max of the hits started late (> 1 ms after
         their schedule), and p99 from the schedule is at most --max-p99-ms;
  wrk2   it completed at least 99% of the requests -R asks for in -d (its
         connections start 5 ms apart, which the expected count allows for),
         no socket errors or non-2xx, and its p99 (latency from the schedule,
         after its ~10 s calibration) is at most --max-p99-ms.

A single run per rate: a slow stretch of the shared machine can fail a rate
that holds in a quiet one, so the report lists every run (CPU share of the
generator and of nginx included: when nginx is at ~100% of its core, the
target, not the generator, set the limit). The machine is shared: a miss
while other processes took more than --busy (10%) of CPU 1, or of nginx's
CPU 0, is run again (--retries, 2), and every run shows those shares. The
machine also has slower and faster stretches with nobody else on it: with
--confirm N a miss is run up to N more times and the rate counts as held if
any run held it.
"""
import argparse
import datetime
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import compare  # noqa: E402  (same directory)
from compare import ANCHORS, ROOT, WRK2_TARBALL, Nginx, Tools, build_wrk2, cpus_busy, default_tools_dir, \
    log, others_on_cpus, proc_cpu, rate_arg, wait_quiet  # noqa: E402

METHODS = {"loads": "ours_rate", "wrk2": "wrk2"}


def parse_rate(text):
    t = text.strip().lower()
    return int(float(t[:-1]) * 1000) if t.endswith("k") else int(t)


def judge(tool, rate, duration, n, extra, args):
    """Reasons the run did not hold the rate ([] when it did)."""
    why = []
    if tool == "loads":
        for k in ("dropped", "interrupted", "errors"):
            if extra[k]:
                why.append(f"{k} {extra[k]}")
        if extra["histogram_count"] != extra["hits"]:
            why.append(f"histogram {extra['histogram_count']} != hits {extra['hits']}")
        if extra["hits"] < 0.99 * extra["expected"]:
            why.append(f"hits {extra['hits']} < 99% of {extra['expected']:.0f}")
        if extra["late"] > args.late_max * max(extra["hits"], 1):
            why.append(f"late {extra['late']} ({extra['late'] / max(extra['hits'], 1):.1%})")
    else:
        if n < 0.99 * extra["expected"]:
            why.append(f"{n} requests, {1 - n / extra['expected']:.1%} short of -R")
        if extra["socket_errors"] or extra["non_2xx"]:
            why.append(f"socket errors {extra['socket_errors']}, non-2xx {extra['non_2xx']}")
    if extra["p99_ms"] > args.max_p99_ms:
        why.append(f"p99 {extra['p99_ms']:.2f} ms > {args.max_p99_ms} ms")
    return why


def markdown(results, meta):
    lines = [f"# bench/max_rate, {meta['date']}", "",
             f"nginx {meta['nginx']} (1 worker, CPU 0); generator on CPU 1, 1 thread, {meta['connections']} "
             f"connections (--max-users {meta['connections']}), {meta['duration']} s per run, one run per rate; "
             f"loads arrivals {meta['arrivals']}. Held = see bench/max_rate.py (loads: nothing dropped or "
             f"interrupted, every hit in the histogram, late ≤ {meta['late_max']:.1%}; wrk2: ≥ 99% of -R; "
             f"both: p99 from the schedule ≤ {meta['max_p99_ms']} ms).", "",
             "| tool | highest rate held | first rate missed |", "| --- | ---: | ---: |"]
    for tool, r in results["best"].items():
        held = f"{r['held']:,}/s" if r["held"] else "none"
        missed = f"{r['missed']:,}/s" if r["missed"] else f"none up to {meta['limit']:,}/s"
        lines.append(f"| {tool} | **{held}** | {missed} |")
    lines += ["", "Every run:", "",
              "| tool | rate | requests/s | generator CPU | CPU µs/request | p50 ms | p99 ms | nginx CPU | "
              "others on CPU 0/1 | held | why not |",
              "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |"]
    for r in results["runs"]:
        if "error" in r:
            lines.append(f"| {r['tool']} | {r['rate']:,} | failed: {r['error'][:100]} | | | | | | | no | |")
            continue
        lines.append(f"| {r['tool']} | {r['rate']:,} | {r['requests'] / r['duration']:,.0f} | "
                     f"{r['cpu_s'] / r['duration'] * 100:.0f}% | {r['cpu_s'] * 1e6 / max(r['requests'], 1):.2f} | "
                     f"{r['p50_ms']:.3f} | {r['p99_ms']:.3f} | {r['nginx_cpu_share'] * 100:.0f}% | "
                     f"{r['cpu0_others_share'] * 100:.0f}%/{r['cpu1_others_share'] * 100:.0f}% | "
                     f"{'yes' if r['held'] else 'no'} | {'; '.join(r['why'])} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description="highest rate loads --rate and wrk2 -R hold on one core")
    ap.add_argument("--build", default=str(ROOT / "build"))
    ap.add_argument("--tools", default="loads,wrk2", help="comma-separated: loads, wrk2")
    ap.add_argument("--duration", type=int, default=15,
                    help="seconds per run (wrk2's histogram leaves out its first ~10.25 s)")
    ap.add_argument("--start", default="10k")
    ap.add_argument("--step", default="10k")
    ap.add_argument("--limit", default="150k", help="highest rate tried")
    ap.add_argument("--resolution", default="2k", help="bisection stops when the bracket is this narrow")
    ap.add_argument("--connections", type=int, default=50)
    ap.add_argument("--arrivals", default="uniform", choices=["uniform", "poisson"])
    ap.add_argument("--arrival-window", default="",
                    help="loads --rate --arrival-window (default: loads' own, 500us); a hit started more "
                         "than 1 ms after its schedule is late whatever the window")
    ap.add_argument("--max-p99-ms", type=float, default=10.0,
                    help="p99 from the schedule above this = latency exploded (loopback p99 is well under 1 ms)")
    ap.add_argument("--late-max", type=float, default=0.01, help="share of loads' hits allowed to start late")
    ap.add_argument("--busy", type=float, default=0.10,
                    help="a miss while other processes took more than this share of CPU 1 or CPU 0 is retried")
    ap.add_argument("--retries", type=int, default=2)
    ap.add_argument("--quiet-wait", type=int, default=0,
                    help="before each run, wait up to this many seconds for other processes to leave CPU 0 and 1")
    ap.add_argument("--confirm", type=int, default=0,
                    help="run a miss up to this many more times; the rate is held if any run holds it")
    ap.add_argument("--wrk2", default="", help="a wrk2 binary to use instead of building one")
    ap.add_argument("--wrk2-tarball", default=str(ANCHORS / WRK2_TARBALL))
    ap.add_argument("--tools-dir", default="")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results"))
    args = ap.parse_args(argv)
    if os.cpu_count() < 2:
        raise SystemExit("needs two CPUs (nginx on CPU 0, the generator on CPU 1)")
    tools_wanted = [t.strip() for t in args.tools.split(",") if t.strip()]
    for t in tools_wanted:
        if t not in METHODS:
            raise SystemExit(f"unknown tool {t!r}; known: {', '.join(METHODS)}")
    start, step, limit, resolution = map(parse_rate, (args.start, args.step, args.limit, args.resolution))
    # Tools reads these names (bench/compare's options).
    args.open_duration = args.duration
    if "wrk2" in tools_wanted:
        args.wrk2_bin = Path(args.wrk2) if args.wrk2 else \
            build_wrk2(args.wrk2_tarball, args.tools_dir or default_tools_dir())
    if "loads" in tools_wanted:
        why = Tools(args, None, "/").rate_support()
        if why:
            log(f"loads not measured: {why}")
            tools_wanted.remove("loads")
            if not tools_wanted:
                raise SystemExit(f"nothing to run: {why}")

    # Per tool: highest rate held, lowest rate missed, next rate to try.
    state = {t: {"held": 0, "missed": 0, "next": start} for t in tools_wanted}

    def advance(st, rate, held):
        if held:
            st["held"] = max(st["held"], rate)
        else:
            st["missed"] = min(st["missed"], rate) if st["missed"] else rate
        if not st["missed"]:
            nxt = rate + step
            st["next"] = nxt if nxt <= limit else None
        elif st["missed"] - st["held"] <= resolution:
            st["next"] = None
        else:  # bisect, on a 1k grid
            st["next"] = max(st["held"] + 1000, (st["held"] + st["missed"]) // 2 // 1000 * 1000)
            if st["next"] >= st["missed"]:
                st["next"] = None

    workdir = tempfile.mkdtemp(prefix="loads-maxrate-")
    nginx = Nginx(workdir)
    tools = Tools(args, nginx, workdir)
    runs = []
    try:
        while any(st["next"] for st in state.values()):
            for tool in tools_wanted:
                st = state[tool]
                rate = st["next"]
                if not rate:
                    continue
                if args.quiet_wait:
                    wait_quiet(args.quiet_wait)
                n0, cpu0, busy0 = nginx.requests(), proc_cpu(nginx.worker), cpus_busy()
                r = {"tool": tool, "rate": rate, "duration": float(args.duration)}
                t0 = time.monotonic()
                try:
                    n, cpu, extra = getattr(tools, METHODS[tool])("/", args.connections, rate)
                    nginx_cpu = proc_cpu(nginx.worker) - cpu0
                    r.update(requests=n, cpu_s=cpu, nginx_requests=nginx.requests() - n0 - 1,
                             nginx_cpu_share=nginx_cpu / args.duration,
                             **others_on_cpus(busy0, cpu, nginx_cpu, time.monotonic() - t0), **extra)
                    others = max(r["cpu1_others_share"], r["cpu0_others_share"])
                    r["why"] = judge(tool, rate, args.duration, n, extra, args)
                    r["held"] = not r["why"]
                    log(f"{tool:5s} {rate_arg(rate):>6s}/s: {n / args.duration:9,.0f} req/s, generator CPU "
                        f"{cpu / args.duration * 100:3.0f}%, p50 {extra['p50_ms']:.3f} p99 {extra['p99_ms']:.3f} ms, "
                        f"nginx CPU {r['nginx_cpu_share'] * 100:.0f}%, others on CPU 0/1 "
                        f"{r['cpu0_others_share'] * 100:.0f}%/{r['cpu1_others_share'] * 100:.0f}%: "
                        f"{'held' if r['held'] else 'missed (' + '; '.join(r['why']) + ')'}")
                except Exception as e:  # a crash at a rate is a miss, with its reason
                    r.update(error=str(e)[:2000], held=False, why=[str(e)[:200]])
                    log(f"{tool:5s} {rate_arg(rate):>6s}/s: FAILED {e}")
                runs.append(r)
                # A miss while other processes took CPU 1 (or nginx's CPU 0)
                # says little about the tool: the same rate again, up to
                # --retries times.
                if not r["held"] and r.get("error") is None and others > args.busy:
                    st["retried"] = st.get("retried", 0) + 1
                    if st["retried"] <= args.retries:
                        r["why"].append(f"others took {others:.0%} of a core: retried")
                        log(f"      others took {others:.0%} of a core: trying {rate_arg(rate)} again")
                        time.sleep(5)
                        continue
                # --confirm: a miss on a quiet machine is run again; the rate
                # is held if any of its runs held it.
                if not r["held"] and r.get("error") is None:
                    st["confirmed"] = st.get("confirmed", 0) + 1
                    if st["confirmed"] <= args.confirm:
                        r["why"].append("run again (--confirm)")
                        log(f"      confirming the miss at {rate_arg(rate)} (--confirm {args.confirm})")
                        time.sleep(1)
                        continue
                st["retried"] = st["confirmed"] = 0
                advance(st, rate, r["held"])
                time.sleep(1)
    finally:
        tools.close()
        nginx.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    meta = {"date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"), "duration": args.duration,
            "connections": args.connections, "arrivals": args.arrivals, "late_max": args.late_max,
            "max_p99_ms": args.max_p99_ms, "limit": limit, "start": start, "step": step,
            "resolution": resolution, "wrk2": str(getattr(args, "wrk2_bin", "") or ""),
            "nginx": compare.subprocess.run(["nginx", "-v"], capture_output=True,
                                            text=True).stderr.strip().replace("nginx version: ", ""),
            "command": " ".join(sys.argv)}
    results = {"meta": meta, "best": {t: {"held": st["held"], "missed": st["missed"]} for t, st in state.items()},
               "runs": runs}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "max_rate.json").write_text(json.dumps(results, indent=2))
    md = markdown(results, meta)
    (out / "max_rate.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
