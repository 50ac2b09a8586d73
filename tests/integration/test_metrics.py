"""Custom metrics (issue 15): counters, gauges, rates and trends declared by
a test, merged exactly over users, threads and agents, shown in the summary
and the JSON report, and judged by thresholds."""
import json
import urllib.request
from pathlib import Path

from loads_procs import CASES_LIB, Cluster, Proc, run_runner

SUBSCRIBER = Path(__file__).resolve().parents[2] / "examples" / "subscriber" / "loads_subscribe.py"

SHOP = f"{CASES_LIB}:Metrics.test_shop"


def check_metrics(m, users, hits_per_user):
    hits = users * hits_per_user
    assert m["cart_items"]["kind"] == "counter"
    assert m["cart_items"]["count"] == hits and m["cart_items"]["total"] == 3 * hits
    assert m["depth"]["kind"] == "gauge" and m["depth"]["count"] == hits
    assert m["depth"]["min"] == 0 and m["depth"]["max"] == hits_per_user - 1
    assert 0 <= m["depth"]["last"] <= hits_per_user - 1
    even = (hits_per_user + 1) // 2 * users
    assert m["even"]["kind"] == "rate" and m["even"]["true"] == even and m["even"]["count"] == hits
    assert abs(m["even"]["rate"] - even / hits) < 1e-12
    idx = m["index"]
    assert idx["kind"] == "trend" and idx["count"] == hits
    assert idx["min"] == 1 and idx["max"] == hits_per_user
    assert idx["total"] == users * hits_per_user * (hits_per_user + 1) // 2
    assert idx["percentiles"]["p50"] >= (hits_per_user + 1) // 2
    assert sum(c for _, c in idx["buckets"]) == hits


def test_metrics_locally(target):
    r = run_runner(SHOP, "--server-url", target.url, "-u", "3", "-c", "5", "--output", "json",
                   "--threshold", "cart_items:count==45", "--threshold", "even:rate>=0.6",
                   "--threshold", "index:p50<=3.1", "--threshold", "depth:max==4")
    assert r.rc == 0, (r.stdout, r.stderr)
    j = r.json
    check_metrics(j["total"]["metrics"], 3, 5)
    assert [t["ok"] for t in j["thresholds"]] == [True] * 4
    # Each cycle has its own figures.
    assert j["cycles"][0]["metrics"]["cart_items"]["total"] == 45


def test_metrics_on_two_agents_equal_the_sum_of_their_parts(target, tmp_path):
    c = Cluster(2, tmp_path)
    try:
        # The broker's PUB stream carries them too (the Python subscriber,
        # written from docs/protocol.md).
        sub = Proc(["/usr/bin/python3", SUBSCRIBER, "--publisher", c.broker.publisher, "--timeout", "60", "--ready"])
        sub.wait_for(lambda l: l.startswith("subscribed"))
        r = run_runner(SHOP, "--server-url", target.url, "-u", "3", "-c", "5", "--agents", "2",
                       "--broker", c.broker.frontend, "--output", "json", "--threshold", "cart_items:count==90")
        sub.wait_for(lambda l: l.strip().startswith("metric index "), timeout=20)  # the last, by name
        sub.p.wait(timeout=10)
    finally:
        c.kill()
    assert r.rc == 0, (r.stdout, r.stderr)
    check_metrics(r.json["total"]["metrics"], 6, 5)
    lines = [l.strip() for l in sub.lines]
    assert "metric cart_items counter count=30 total=90" in lines, sub.lines
    assert "metric even rate count=30 rate=0.6000 (18 of 30)" in lines, sub.lines
    assert any(l.startswith("metric index trend count=30 mean=3 ") and l.endswith(" max=5") for l in lines), sub.lines
    with urllib.request.urlopen(target.url + "/stats/shop", timeout=5) as resp:
        assert json.loads(resp.read())["views"]["A1"] == 30


def test_summary_table_and_failing_threshold(target):
    r = run_runner(SHOP, "--server-url", target.url, "-u", "2", "-c", "4", "-q",
                   "--threshold", "cart_items:count>24", "--threshold", "index:p95<100")
    assert r.rc == 3, (r.stdout, r.stderr)
    out = r.stdout
    assert "Custom metrics:" in out
    rows = {line.split()[0]: line.split() for line in out.split("Custom metrics:")[1].splitlines()[2:6]}
    assert rows["cart_items"][1:4] == ["counter", "8", "total"] and rows["cart_items"][4] == "24"
    assert rows["depth"][1:3] == ["gauge", "8"] and "min 0  max 3" in out
    assert rows["even"][1:4] == ["rate", "8", "50.00%"] and "(4 of 8)" in out
    assert rows["index"][1:3] == ["trend", "8"] and "mean 2.5" in out
    assert "\u2717 cart_items:count>24  cart_items:count = 24" in out
    assert "\u2713 index:p95<100" in out


def test_misused_metrics_are_errors_that_say_why(target):
    r = run_runner(f"{CASES_LIB}:Metrics.test_wrong_kind", "--server-url", target.url, "-c", "2", "--output", "json")
    assert r.rc == 1
    t = r.json["total"]
    assert t["errors"] == 2 and t["errors_by_kind"]["exception"] == 2
    why = " ".join(t["messages"])
    assert 'custom metric "x": already used as a counter, cannot be used as a trend' in why, why
    assert t["metrics"]["x"]["total"] == 2  # the counter's values are kept
    r = run_runner(f"{CASES_LIB}:Metrics.test_negative", "--server-url", target.url, "-c", "1", "--output", "json")
    assert r.rc == 1
    assert "a counter takes values >= 0" in " ".join(r.json["total"]["messages"])
    assert "neg" not in r.json["total"]["metrics"]
    # A threshold on a metric the run never fed fails, saying so.
    r = run_runner(f"{CASES_LIB}:Metrics.test_negative", "--server-url", target.url, "-c", "1", "-q",
                   "--threshold", "nothing:p95<5")
    assert r.rc == 3 and 'no custom metric named "nothing" got a value' in r.stdout, r.stdout
