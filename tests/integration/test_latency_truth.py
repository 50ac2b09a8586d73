"""loads' latency percentiles against the truth.

The demo target's GET /dist waits a delay drawn from a stated distribution
and records, for every response, the handling time it measured itself
(steady_clock, from the request parsed to the response handed to the socket;
GET /stats/dist). The client's latency for a request starts before the
server's clock and ends after it, so loads' percentiles can never be below
the server's exact percentiles of the same requests, and should be above
them only by the histogram's bucket (< 0.8%) and the loopback and client
overhead: within 1% + 0.3 ms. Delays are several milliseconds so that the
overhead fits; concurrency stays moderate (10 users per process), and ctest
runs this file alone. A machine whose CPUs are saturated by other work delays
wakeups by more than 0.3 ms (any client then fails the bound; wrk does too),
so a failure prints the CPU pressure.

Causality (never below the truth) must hold in every run. The closeness bound
gets up to ATTEMPTS runs and must hold in one of them: a systematic error
(a wrong bucket, an averaged percentile, a clock started late or stopped
early) fails every run the same way, while a burst of other work on a shared
machine (CI once ran this at a CPU pressure of 16%: p99 +1.5 ms, +4.7%, with
p50 and p90 within 1.5%) fails one run and not the next.
"""
import json
import math
import urllib.error
import urllib.request

import pytest

from loads_procs import Cluster, run_runner

QUANTILES = [("p50", 0.50), ("p90", 0.90), ("p99", 0.99)]
REL, ABS_NS = 0.01, 300_000  # reported <= truth * (1 + REL) + ABS_NS
# The max is one sample: a single delay of the client's thread (preempted by
# another process, a page fault) moves it by that whole delay, while it moves a
# percentile only when many samples shift. It keeps the exact causality check
# (never below the truth) but gets one scheduling delay on a shared machine
# as its budget: it once read 71.1 ms against the server's 61.7 ms on a quiet
# 2-core machine, with p50..p99 all within 1%.
MAX_ABS_NS = 15_000_000
ATTEMPTS = 3

# 9000 hits in both modes (10 users x 900 hits locally, 10 x 300 on each of
# 3 agents): at p99 one rank is ~0.06 ms of this distribution, and the few
# requests that an overhead outlier moves across it shift it by little. With
# 3000 hits a rank is ~0.17 ms and 3 or 4 such crossings (a bad draw, 1 run in
# 8 on a quiet machine here) exceed the budget.
USERS, LOCAL_HITS, AGENT_HITS = 10, 900, 300
# 5 ms + an exponential of mean 5 ms: p50 ~8.5 ms, p90 ~16.5, p99 ~28, max
# ~45; the tail is smooth and its top sparse. Not a flat distribution: its
# p99 and max sit at a hard edge, where the server's top samples are only the
# timer's stragglers, so a client's order statistics there follow its few
# overhead outliers instead of its mean overhead.
DIST = "/dist?kind=exp&mean_ms=5&min_ms=5"


def get(url, timeout=10):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read()


def truth_us(target):
    status, body = get(target.url + "/stats/dist")
    assert status == 200
    return json.loads(body)


def exact(sorted_us, q):
    """The server's sample of rank ceil(q * n) (as loads ranks), in ns."""
    n = len(sorted_us)
    rank = min(max(math.ceil(q * n), 1), n)
    return sorted_us[rank - 1] * 1000


def cpu_pressure():
    """The machine's CPU pressure, said with a failure: the budget is for a
    noisy machine, not for one where every wakeup waits for a CPU."""
    try:
        with open("/proc/pressure/cpu") as f:
            return "cpu pressure: " + f.readline().strip()
    except OSError:
        return "cpu pressure: unknown"


def check_against_truth(report, target, hits, label):
    """Checks one run: counts and causality are asserted; returns the rows
    that are further above the truth than the budget, and the table."""
    t = report["total"]
    assert t["hits"] == hits and t["successes"] == hits, t
    assert t["latency"]["count"] == hits
    truth = sorted(truth_us(target))
    # Every hit loads counted is a response the target wrote, and no more.
    assert len(truth) == hits
    assert target.stats()["http_requests"] == hits  # /stats/dist is not counted

    reported = t["latency"]["percentiles_ns"]
    rows = [(name, exact(truth, q), reported[name]) for name, q in QUANTILES]
    rows.append(("max", truth[-1] * 1000, reported["max"]))
    table = "\n".join(
        f"  {label} {name:>4}: truth {tr / 1e6:9.3f} ms  loads {got / 1e6:9.3f} ms  "
        f"({(got - tr) / 1e3:+8.1f} us, {100.0 * (got - tr) / tr:+6.2f}%)"
        for name, tr, got in rows) + f"\n  ({cpu_pressure()})"
    print("\n" + table)
    below = [name for name, tr, got in rows if got < tr]
    assert not below, f"reported below the truth (impossible by causality): {below}\n{table}"
    far = [name for name, tr, got in rows if got > tr * (1 + REL) + (MAX_ABS_NS if name == "max" else ABS_NS)]
    return far, table


def check_runs(run_once, target, hits, label):
    """Runs up to ATTEMPTS times until one run is within the budget."""
    tables = []
    for attempt in range(1, ATTEMPTS + 1):
        target.reset()
        far, table = check_against_truth(run_once(), target, hits, f"{label} #{attempt}")
        if not far:
            return
        tables.append(f"{table}\n  above the budget: {far}")
    pytest.fail(f"reported more than 1% + 0.3 ms (max: 1% + 15 ms) above the truth in "
                f"all {ATTEMPTS} runs:\n" + "\n".join(tables))


def test_dist_endpoint_draws_and_records(target):
    # A fixed delay (uniform on one point) is waited, answered and recorded.
    status, body = get(target.url + "/dist?kind=uniform&min_ms=3&max_ms=3")
    assert status == 200 and body == b"waited 3000 us\n"
    for path in ["/dist?kind=exp&mean_ms=0.5&min_ms=1", "/dist?kind=lognormal&median_ms=1&sigma=0.3"]:
        status, _ = get(target.url + path)
        assert status == 200
    for bad in ["/dist", "/dist?kind=nope", "/dist?kind=uniform&min_ms=2",
                "/dist?kind=uniform&min_ms=3&max_ms=2", "/dist?kind=exp&mean_ms=x"]:
        with pytest.raises(urllib.error.HTTPError) as e:
            get(target.url + bad)
        assert e.value.code == 400, bad
    records = truth_us(target)
    assert len(records) == 3 + 5  # every /dist response written, 400s too
    assert records[0] >= 3000
    assert records[1] >= 1000  # exp: min_ms=1
    assert target.stats()["http_requests"] == 8
    target.reset()
    assert truth_us(target) == []
    assert target.stats()["http_requests"] == 0


def test_local_percentiles_are_true(target):
    def run_once():
        r = run_runner(target.url + DIST, "-u", USERS, "-c", LOCAL_HITS, "--output", "json",
                       timeout=180)
        assert r.rc == 0, r.stderr
        return r.json
    check_runs(run_once, target, USERS * LOCAL_HITS, "local")


def test_three_agents_percentiles_are_true(tmp_path, target):
    c = Cluster(3, tmp_path)
    try:
        def run_once():
            r = run_runner(target.url + DIST, "-u", USERS, "-c", AGENT_HITS, "--agents", 3,
                           "--broker", c.broker.frontend, "--output", "json", timeout=180)
            assert r.rc == 0, r.stderr
            return r.json
        # Each agent runs the whole plan: three times the hits, and the
        # percentiles come from the merged histogram.
        check_runs(run_once, target, 3 * USERS * AGENT_HITS, "3 agents")
    finally:
        c.kill()
