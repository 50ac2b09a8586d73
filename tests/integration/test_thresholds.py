"""Thresholds for CI (--threshold, --abort-on-fail), with the real runner,
the real demo target, and a real broker and agents.

Exit codes: 0 every threshold passed, 3 one failed, 2 bad threshold text
(before anything runs: the target counts no request), 1 a run that cannot
be judged. The summary prints a line per threshold with its measured value,
and the JSON's `thresholds` array carries the same verdicts, whose measured
values must be the report's own figures."""
import json

import pytest

from loads_procs import WEBSITE_LIB, Cluster, run_runner


def summary_lines(text):
    return [l for l in text.splitlines() if l.startswith(("  \u2713 ", "  \u2717 "))]


def verdicts(j):
    return {t["expression"]: t for t in j["thresholds"]}


def test_passing_thresholds_exit_0_with_the_measured_values(target, tmp_path):
    out = tmp_path / "r.json"
    r = run_runner(target.url + "/", "-u", "2", "-c", "10",
                   "--threshold", "p95<5s", "--threshold", "errors<1%", "--threshold", "rps>1",
                   "--threshold", "GET /:p99<5s", "--threshold", "hits==20", "--threshold", "service_max<5s",
                   "--output", "json", "--output-file", out)
    assert r.rc == 0, (r.stdout, r.stderr)
    j = json.loads(out.read_text())
    t = j["total"]
    v = verdicts(j)
    assert list(v) == ["p95<5s", "errors<1%", "rps>1", "GET /:p99<5s", "hits==20", "service_max<5s"]
    assert all(x["ok"] for x in v.values()), v
    assert j["exit_code"] == 0
    # The measured values are the report's own figures.
    assert v["p95<5s"]["measured"] == t["latency"]["percentiles_ns"]["p95"]
    assert v["p95<5s"]["limit"] == 5e9 and v["p95<5s"]["unit"] == "ns" and v["p95<5s"]["name"] is None
    assert v["errors<1%"]["measured"] == 0 and v["errors<1%"]["unit"] == "%"
    assert v["rps>1"]["measured"] == pytest.approx(j["rps"]) and v["rps>1"]["unit"] == "1/s"
    assert v["GET /:p99<5s"]["name"] == "GET /" and v["GET /:p99<5s"]["metric"] == "p99"
    assert v["GET /:p99<5s"]["measured"] == t["names"]["GET /"]["latency"]["percentiles_ns"]["p99"]
    assert v["hits==20"]["measured"] == 20 == t["hits"] and v["hits==20"]["operator"] == "=="
    assert v["service_max<5s"]["measured"] == t["latency"]["max_ns"]
    # The summary (stdout) has a line per threshold, with the value.
    lines = summary_lines(r.stdout)
    assert len(lines) == 6, r.stdout
    assert all(l.startswith("  \u2713 ") for l in lines), lines
    assert "Thresholds: 6 of 6 passed" in r.stdout
    assert "  \u2713 hits==20  hits = 20" in lines


def test_a_failing_threshold_exits_3_and_says_which(target):
    # /status/500 always errors: 10 hits, 10 errors.
    r = run_runner(target.url + "/status/500", "-u", "2", "-c", "5",
                   "--threshold", "errors<1%", "--threshold", "p99<5s")
    assert r.rc == 3, (r.stdout, r.stderr)
    lines = summary_lines(r.stdout)
    assert "  \u2717 errors<1%  errors = 100.00% (10 of 10 hits)" in lines, lines
    assert any(l.startswith("  \u2713 p99<5s  p99 = ") for l in lines), lines
    assert "Thresholds: 1 of 2 passed" in r.stdout

    r = run_runner(target.url + "/status/500", "-u", "2", "-c", "5", "--threshold", "errors<1%",
                   "--output", "json")
    assert r.rc == 3
    j = r.json
    assert j["exit_code"] == 3
    [t] = j["thresholds"]
    assert t == {"expression": "errors<1%", "metric": "errors", "name": None, "operator": "<", "limit": 1,
                 "unit": "%", "measured": 100, "ok": False, "aborted": False}


def test_thresholds_judge_errors_as_k6_does(target):
    """With thresholds, errors fail the run only through a threshold: 10
    errors pass errors<=10 (exit 0), and fail errors<10 (exit 3); without a
    threshold the same run exits 1."""
    args = [target.url + "/status/500", "-u", "2", "-c", "5", "--output", "json"]
    assert run_runner(*args).rc == 1
    r = run_runner(*args, "--threshold", "errors<=10")
    assert r.rc == 0 and r.json["total"]["errors"] == 10 and r.json["thresholds"][0]["ok"], r.stderr
    r = run_runner(*args, "--threshold", "errors<10")
    assert r.rc == 3 and r.json["thresholds"][0]["measured"] == 10


BAD = [
    ("p95", "no comparison"),
    ("latency<200ms", 'unknown metric "latency"'),
    ("p95<200", "needs a time unit"),
    ("p95<2 parsecs", "unknown time unit"),
    ("errors<1%%", "unknown suffix"),
    ("rps>10%", "only errors and failures take a percentage"),
    ("p95=200ms", "use =="),
    ("GET /cart:p99<50ms", 'no request of this run is named "GET /cart"'),
]


@pytest.mark.parametrize("text,why", BAD)
def test_bad_threshold_text_is_a_usage_error_before_anything_runs(target, text, why):
    r = run_runner(target.url + "/", "-u", "2", "-c", "5", "--threshold", "p95<1s", "--threshold", text)
    assert r.rc == 2, (text, r.stdout, r.stderr)
    assert why in r.stderr and text in r.stderr, r.stderr
    assert r.stdout == ""
    assert target.stats()["http_requests"] == 0


def test_abort_on_fail_needs_a_threshold(target):
    r = run_runner(target.url + "/", "--abort-on-fail")
    assert r.rc == 2 and "--abort-on-fail goes with --threshold" in r.stderr
    assert target.stats()["http_requests"] == 0


def test_a_library_name_that_never_appeared_fails_and_says_so(target):
    r = run_runner(f"{WEBSITE_LIB}:WebSite.test_home", "--server-url", target.url, "-u", "2", "-c", "3",
                   "--threshold", "GET /:p99<5s", "--threshold", "GET /nope:p99<50ms")
    assert r.rc == 3, (r.stdout, r.stderr)
    lines = summary_lines(r.stdout)
    assert any(l.startswith("  \u2713 GET /:p99<5s  GET /:p99 = ") for l in lines), lines
    assert '  \u2717 GET /nope:p99<50ms  not measured: no request named "GET /nope" appeared' in lines, lines


def test_abort_on_fail_stops_a_run_early(target):
    # 4 users x 250,000 hits planned; errors<50 is lost after 50 errors.
    r = run_runner(target.url + "/status/500", "-u", "4", "-c", "250000", "--interval", "100ms",
                   "--threshold", "errors<50", "--threshold", "p95<5s", "--abort-on-fail",
                   "--output", "json", timeout=60)
    assert r.rc == 3, r.stderr
    j = r.json
    t = j["total"]
    assert j["stopped"] is True
    assert t["errors"] >= 50
    assert t["hits"] + t["interrupted"] < 100_000, t["hits"]  # a tenth of the plan at most
    v = verdicts(j)
    assert v["errors<50"]["aborted"] is True and v["errors<50"]["ok"] is False
    assert v["p95<5s"]["aborted"] is False
    assert "stopping: errors<50 can no longer pass" in r.stderr
    # The target saw what the report says was sent, not the plan.
    assert target.stats()["http_requests"] <= t["hits"] + t["interrupted"]


def test_abort_on_fail_in_the_open_model(target):
    # 200/s for 30 s would be 6000 arrivals.
    r = run_runner(target.url + "/status/500", "--rate", "200", "-d", "30s", "--interval", "100ms",
                   "--threshold", "errors<20", "--abort-on-fail", timeout=60)
    assert r.rc == 3, r.stderr
    assert "Stopped by --abort-on-fail: errors<20 could no longer pass after" in r.stdout
    scheduled = int(next(l for l in r.stdout.splitlines() if l.startswith("Scheduled: ")).split()[1])
    assert scheduled < 1000, scheduled
    assert r.elapsed < 20


def test_abort_on_fail_leaves_a_passing_run_alone(target):
    r = run_runner(target.url + "/", "-u", "2", "-c", "50", "--interval", "100ms",
                   "--threshold", "errors<5", "--abort-on-fail", "--output", "json")
    assert r.rc == 0, r.stderr
    assert r.json["total"]["hits"] == 100 and r.json["stopped"] is False


@pytest.mark.parametrize("kind", ["ini", "toml"])
def test_thresholds_from_a_config_file(target, tmp_path, kind):
    cfg = tmp_path / f"ci.{kind}"
    if kind == "ini":
        cfg.write_text('hits = 5\nthreshold = "p95<5s" "GET /:errors<1%" "hits==5"\n')
    else:
        cfg.write_text('hits = 5\nthreshold = ["p95<5s", "GET /:errors<1%", "hits==5"]\n')
    r = run_runner(target.url + "/", "--config", cfg, "--output", "json")
    assert r.rc == 0, r.stderr
    assert [t["expression"] for t in r.json["thresholds"]] == ["p95<5s", "GET /:errors<1%", "hits==5"]
    assert all(t["ok"] for t in r.json["thresholds"])
    # Flags replace the file's list (command-line flags win).
    r = run_runner(target.url + "/", "--config", cfg, "--threshold", "hits==4", "--output", "json")
    assert r.rc == 3 and [t["expression"] for t in r.json["thresholds"]] == ["hits==4"]
    # A failing one from the file gives 3, and a bad one 2.
    cfg.write_text(cfg.read_text().replace("hits==5", "hits==6"))
    assert run_runner(target.url + "/", "--config", cfg).rc == 3
    cfg.write_text(cfg.read_text().replace("hits==6", "hats==6"))
    r = run_runner(target.url + "/", "--config", cfg)
    assert r.rc == 2 and 'unknown metric "hats"' in r.stderr


def test_a_cluster_run_is_judged_on_the_merged_results(tmp_path, target):
    c = Cluster(2, tmp_path)
    try:
        r = run_runner(target.url + "/", "-u", "2", "-c", "10", "--agents", "2", "--broker", c.broker.frontend,
                       "--threshold", "hits==40", "--threshold", "p99<5s", "--threshold", "GET /:count==40",
                       "--output", "json", timeout=60)
        assert r.rc == 0, r.stderr
        v = verdicts(r.json)
        assert v["hits==40"]["measured"] == 40 and v["GET /:count==40"]["measured"] == 40  # both agents'
        assert v["p99<5s"]["measured"] == r.json["total"]["latency"]["percentiles_ns"]["p99"]

        r = run_runner(target.url + "/", "-u", "2", "-c", "10", "--agents", "2", "--broker", c.broker.frontend,
                       "--threshold", "hits==20", timeout=60)
        assert r.rc == 3, r.stderr
        assert "  \u2717 hits==20  hits = 40" in summary_lines(r.stdout)

        # --abort-on-fail on the broker's live stream: 2 agents x 4 users for 30 s.
        c.broker.wait_agents(2)
        r = run_runner(target.url + "/status/500", "-u", "4", "-d", "30s", "--agents", "2",
                       "--broker", c.broker.frontend, "--interval", "200ms",
                       "--threshold", "errors<100", "--abort-on-fail", "--output", "json", timeout=60)
        assert r.rc == 3, r.stderr
        j = r.json
        assert j["stopped"] is True and j["duration_s"] < 15, j["duration_s"]
        assert j["thresholds"][0]["aborted"] is True and j["total"]["errors"] >= 100
        assert "stopping: errors<100 can no longer pass" in r.stderr
    finally:
        c.kill()


def test_abort_on_fail_says_when_no_threshold_can_fail_early(target):
    r = run_runner(target.url + "/", "-u", "2", "-c", "5", "--threshold", "p95<5s", "--threshold", "errors<1%",
                   "--abort-on-fail", "--output", "json")
    assert r.rc == 0, r.stderr
    assert "none of these thresholds can fail before the end" in r.stderr
    assert r.json["total"]["hits"] == 10
