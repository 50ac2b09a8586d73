"""The HTML report, as a person sees it: a real run against the demo target
with --report and --output json, then Debian's chromium (headless, driven by
playwright-core from web/'s lockfile through tests/support/open_page.mjs)
opens the page from file:// with the network off. The page must show the
JSON's totals, draw its charts, log no error and try no request; the same for
`loads-runner report run.json -o` and `--compare`. Bad input is exit 2.

Screenshots are kept under $LOADS_BUILD_DIR/test-artifacts/html_report/."""
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from loads_procs import BUILD, CASES_LIB, RUNNER, Cluster, run_runner

ROOT = Path(__file__).resolve().parents[2]
OPEN_PAGE = ROOT / "tests" / "support" / "open_page.mjs"
ARTIFACTS = BUILD / "test-artifacts" / "html_report"
CHARTS = {"throughput", "latency", "errors", "users", "histogram"}


def tools():
    node = shutil.which("node")
    missing = [what for what, ok in [
        ("node", node),
        ("/usr/bin/chromium", Path("/usr/bin/chromium").exists()),
        ("web/node_modules/playwright-core", (ROOT / "web" / "node_modules" / "playwright-core").is_dir()),
    ] if not ok]
    # Never a silent skip: the setup installs all of these.
    assert not missing, f"missing {missing}: run `bash .ci/setup`"
    return node


def open_page(html, name):
    """What chromium shows of `html` (tests/support/open_page.mjs's JSON)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / f"{name}.png"
    p = subprocess.run([tools(), str(OPEN_PAGE), Path(html).resolve().as_uri(), str(shot)],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-3000:]
    page = json.loads(p.stdout)
    assert page["ready"], "the report's script did not finish"
    assert page["console_errors"] == [], page["console_errors"]
    assert page["page_errors"] == [], page["page_errors"]
    assert page["network"] == [], f"the page tried the network: {page['network']}"
    assert shot.stat().st_size > 10_000
    return page


def count(text):
    return int(text.replace(",", ""))


def ms_close(shown, ns):
    """'3.752 ms' shows ns within its rounding."""
    m = re.fullmatch(r"([0-9]+)\.([0-9]+) ms", shown)
    assert m, shown
    value = float(shown[:-3])
    return abs(value - ns / 1e6) <= 0.5 * 10 ** -len(m.group(2)) + 1e-9


def main_latency(j, stats):
    return stats["latency_from_schedule"] if j["plan"]["model"] == "open" else stats["latency"]


def check_totals(page, j):
    t, m = j["total"], page["metrics"]
    for k in ("hits", "successes", "failures", "errors", "requests"):
        assert count(m[k]) == t[k], (k, m[k], t[k])
    lat = main_latency(j, t)["percentiles_ns"]
    for q in ("p50", "p95", "p99"):
        assert ms_close(m[q], lat[q]), (q, m[q], lat[q])
    # One row per cycle with its hits; one per request name with its count.
    assert [count(r[2]) for r in page["cycles"]] == [c["hits"] for c in j["cycles"]]
    assert {r[0]: count(r[1]) for r in page["names"]} == {n: v["count"] for n, v in t["names"].items()}


def check_charts(page, expected=CHARTS):
    charts = {c["chart"]: c for c in page["charts"]}
    assert expected <= set(charts), charts
    for name in expected:
        c = charts[name]
        assert c["canvas"] and c["width"] > 100 and c["height"] > 100, c
        assert c["canvas_width"] > 100 and c["canvas_height"] > 100, c
        assert c["colored"] > 100, f"chart {name} drew no series: {c}"


def run_with_report(tmp_path, url, *plan, name="run"):
    html, js = tmp_path / f"{name}.html", tmp_path / f"{name}.json"
    r = run_runner(url, *plan, "-q", "--output", "json", "--output-file", js, "--report", html)
    assert r.rc in (0, 1, 3), r.stderr
    j = json.loads(js.read_text())
    assert html.stat().st_size > 50_000
    return html, js, j


def test_local_run_report_shows_the_json(target, tmp_path):
    html, js, j = run_with_report(tmp_path, target.url + "/", "-u", "2:4", "-d", "1500ms", "--interval", "250ms")
    assert j["exit_code"] == 0 and j["total"]["hits"] > 0 and len(j["series"]) >= 4
    page = open_page(html, "local")
    check_totals(page, j)
    check_charts(page)
    assert page["metrics"]["exit_code"].startswith("exit 0")
    assert "Plan and environment" in page["sections"] and "Over time" in page["sections"]
    assert page["kv"]["Agent hosts"] == "the runner host (local run)" and j["agent_hosts"] == []
    # The same page from the saved JSON.
    again = tmp_path / "again.html"
    r = run_runner("report", js, "-o", again)
    assert r.rc == 0, r.stderr
    page2 = open_page(again, "from-json")
    check_totals(page2, j)
    check_charts(page2)


def test_open_model_report(target, tmp_path):
    html, _, j = run_with_report(tmp_path, target.url + "/", "--rate", "300", "-d", "1s")
    page = open_page(html, "open")
    check_totals(page, j)  # p50/p95/p99 from schedule in the open model
    check_charts(page, CHARTS | {"histogram_schedule"})
    assert count(page["metrics"]["scheduled"]) == j["total"]["scheduled"]


def test_errors_by_kind_with_messages(target, tmp_path):
    html, _, j = run_with_report(tmp_path, target.url + "/status/503", "-u", "1", "-c", "7")
    assert j["exit_code"] == 1 and j["total"]["errors"] == 7
    page = open_page(html, "errors")
    check_totals(page, j)
    assert page["metrics"]["exit_code"].startswith("exit 1")
    assert ["status", "7"] in page["errors"]


def test_cluster_run_report(target, tmp_path):
    c = Cluster(2, tmp_path)
    try:
        html, _, j = run_with_report(tmp_path, target.url + "/", "-u", "2", "-c", "20", "--agents", "2",
                                     "--broker", c.broker.frontend)
    finally:
        c.kill()
    assert j["total"]["hits"] == 80 and sorted(j["agent_ids"]) == ["a0", "a1"]
    page = open_page(html, "cluster")
    check_totals(page, j)
    # The environment says where each agent ran.
    import socket
    hosts = page["kv"]["Agent hosts"]
    for a in j["agent_hosts"]:
        assert f"{a['id']} on {socket.gethostname()} (pid {a['pid']}, " in hosts, hosts
    assert count(page["metrics"]["hits"]) == 80


def test_custom_metrics_and_ws_connect_notes_are_shown(target, tmp_path):
    html, _, j = run_with_report(tmp_path, f"{CASES_LIB}:Metrics.test_shop", "--server-url", target.url,
                                 "-u", "2", "-c", "4", name="metrics")
    page = open_page(html, "metrics")
    check_totals(page, j)
    rows = {r[0]: r for r in page["custom"]}
    assert set(rows) == set(j["total"]["metrics"]) == {"cart_items", "depth", "even", "index"}
    assert rows["cart_items"][1:3] == ["counter", "8"] and rows["cart_items"][3].startswith("total 24 (")
    assert rows["depth"][3] == "last %d, min 0, max 3" % j["total"]["metrics"]["depth"]["last"]
    assert rows["even"][3] == "50.00% (4 of 8)"
    assert rows["index"][3].startswith("mean 2.5, p50 ") and rows["index"][3].endswith(", min 1, max 4")
    assert "Custom metrics" in page["sections"]


def test_thresholds_verdicts_are_shown(target, tmp_path):
    html, js, j = run_with_report(tmp_path, target.url + "/", "-u", "1", "-c", "20",
                                  "--threshold", "p95<10s", "--threshold", "hits>=20",
                                  "--threshold", "rps>1e9")
    assert j["exit_code"] == 3 and [t["ok"] for t in j["thresholds"]] == [True, True, False]
    page = open_page(html, "thresholds")
    assert page["metrics"]["exit_code"].startswith("exit 3")
    assert page["metrics"]["thresholds"].startswith("1 of 3 failed")
    rows = page["thresholds"]
    assert [r[0] for r in rows] == ["p95<10s", "hits>=20", "rps>1e9"]
    assert [r[3] for r in rows] == ["✓ pass", "✓ pass", "✗ fail"]
    assert ms_close(rows[0][1], j["thresholds"][0]["measured"])
    assert rows[1][1] == "20" and rows[1][2] == ">= 20"
    # A JSON without thresholds (older reports) has no such section.
    del j["thresholds"]
    older = tmp_path / "older.json"
    older.write_text(json.dumps(j))
    out = tmp_path / "older.html"
    assert run_runner("report", older, "-o", out).rc == 0
    page = open_page(out, "no-thresholds")
    assert "Thresholds" not in page["sections"] and page["thresholds"] == []


def test_compare_marks_changes_beyond_the_noise(target, tmp_path):
    plan = ["-u", "2", "-c", "100"]
    _, fast, _ = run_with_report(tmp_path, target.url + "/delay?ms=1", *plan, name="fast")
    _, slow, _ = run_with_report(tmp_path, target.url + "/delay?ms=30", *plan, name="slow")
    # Slower than its base: p50 and hits/s changed far beyond 5%, per cycle and per name.
    out = tmp_path / "diff.html"
    r = run_runner("report", slow, "--compare", fast, "-o", out)
    assert r.rc == 0, r.stderr
    page = open_page(out, "compare")
    assert "Compared with the base run" in page["sections"]
    d = {(x["table"], x["row"], x["metric"]): x for x in page["deltas"]}
    for key in [("compare-cycles", "1", "p50"), ("compare-names", "GET /delay", "p50"),
                ("compare-total", "total", "p50")]:
        assert d[key]["significant"] and d[key]["text"].startswith("▼ +"), d[key]
    assert d[("compare-cycles", "1", "rps")]["significant"] and d[("compare-cycles", "1", "rps")]["text"].startswith("▼ -")
    # A run compared with itself: every delta 0 and none marked.
    same = tmp_path / "same.html"
    r = run_runner("report", slow, "--compare", slow, "-o", same)
    assert r.rc == 0, r.stderr
    page = open_page(same, "compare-same")
    assert page["deltas"] and all(not x["significant"] and x["text"].startswith("+0.0%") for x in page["deltas"])


@pytest.mark.parametrize("content,message", [
    (None, "cannot read"),
    ("garbage{", "is not JSON"),
    ("[1, 2]", "not a loads JSON report"),
    ('{"total": {}}', "not a loads JSON report"),
])
def test_bad_input_is_a_clear_error(tmp_path, content, message):
    src = tmp_path / "in.json"
    if content is not None:
        src.write_text(content)
    out = tmp_path / "out.html"
    r = run_runner("report", src, "-o", out)
    assert r.rc == 2, (r.rc, r.stderr)
    assert message in r.stderr and str(src) in r.stderr, r.stderr
    assert not out.exists()


def test_bad_base_is_a_clear_error(target, tmp_path):
    _, good, _ = run_with_report(tmp_path, target.url + "/", "-u", "1", "-c", "3")
    bad = tmp_path / "base.json"
    bad.write_text('{"total": {"hits": -1}')
    out = tmp_path / "diff.html"
    r = run_runner("report", good, "--compare", bad, "-o", out)
    assert r.rc == 2 and f"{bad} is not JSON" in r.stderr, r.stderr
    assert not out.exists()


def test_usage_errors():
    r = run_runner("report")
    assert r.rc == 2 and "json" in r.stderr.lower()
    r = run_runner("report", "x.json")
    assert r.rc == 2 and "--output" in r.stderr
