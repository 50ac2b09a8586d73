"""docs/report.md against real reports, both ways.

The document describes each object of the JSON report in a `### Name`
section with one table whose header starts `| key | type |` (docs/report.md
section 1). This test reads those tables, runs loads-runner for real against
the demo target (a closed run in count mode, a closed run in duration mode,
an open run), and checks that every key of every object in the reports is
documented with the right type and presence, that every documented key is in
the reports, and the invariants the document promises (section 10)."""
import math
import re
from pathlib import Path

import pytest

from loads_procs import CASES_LIB, Cluster, run_runner

DOC = Path(__file__).resolve().parents[2] / "docs" / "report.md"

# The runs, and which `present` values apply to each (docs/report.md section 1).
# Each run has thresholds (passing ones), so the Threshold object is met. The
# library run mixes weighted tasks, so the per-task objects are met too.
NAME = "GET /"
LIB_NAME = "GET /products/A1"
THRESHOLDS = ["--threshold", "p99<30s", "--threshold", f"{NAME}:errors==0"]
LIB_THRESHOLDS = ["--threshold", "p99<30s", "--threshold", f"{LIB_NAME}:errors==0"]
RUNS = {
    "closed": (["-u", "2", "-c", "5", *THRESHOLDS], {"always", "closed", "count mode"}),
    "closed-duration": (["-u", "2", "-d", "500ms", *THRESHOLDS], {"always", "closed"}),
    "open": (["--rate", "200", "-d", "1s", *THRESHOLDS], {"always", "open"}),
    "library": (["-u", "2", "-c", "4", *LIB_THRESHOLDS], {"always", "closed", "count mode"}),
}
# The objects met by each run (every documented one must be met by some run),
# and those only a library run can meet.
SEEN = {}
LIBRARY_ONLY = {"Task", "PlanTask", "Metric", "MetricPercentiles"}
CLUSTER_ONLY = {"AgentHost"}
PRESENT_WORDS = {"always", "open", "closed", "count mode"}
QUANTILES = [("p50", 0.50), ("p90", 0.90), ("p95", 0.95), ("p99", 0.99), ("p99.9", 0.999)]
COUNTERS = ["hits", "successes", "failures", "errors", "interrupted", "scheduled", "dropped", "late",
            "users_out_of_data", "requests", "request_errors", "bytes_sent", "bytes_received"]
SERIES_COUNTERS = ["hits", "successes", "errors", "failures", "requests", "scheduled", "dropped", "late",
                   "interrupted"]


# --- the document ----------------------------------------------------------

def cells(line):
    return [c.strip() for c in line.strip().strip("|").split("|")]


def parse_doc(text):
    """{object: {"keys": {key: (type, present)}, "includes": [object]}}."""
    schema = {}
    current = None
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        m = re.match(r"^### ([A-Z][A-Za-z]*)\s*$", line)
        if m:
            current = m.group(1)
        elif line.startswith("#"):
            current = None
        if line.startswith("|") and cells(line)[:2] == ["key", "type"]:
            header = cells(line)
            assert header == ["key", "type", "unit", "present", "meaning"], header
            assert current, f"docs/report.md line {i + 1}: a key table outside a ### Object section"
            assert current not in schema, f"docs/report.md: two tables for {current}"
            obj = schema[current] = {"keys": {}, "includes": []}
            i += 2  # the header and the --- line
            while i < len(lines) and lines[i].startswith("|"):
                row = cells(lines[i])
                assert len(row) == 5, f"docs/report.md line {i + 1}: {len(row)} cells"
                key, typ, _unit, present, _meaning = row
                assert present in PRESENT_WORDS, f"docs/report.md line {i + 1}: present {present!r}"
                inc = re.fullmatch(r"\*every key of \[([A-Za-z]+)\]\(#[a-z]+\)\*", key)
                k = re.fullmatch(r"`([^`]+)`", key)
                if inc:
                    obj["includes"].append(inc.group(1))
                else:
                    assert k, f"docs/report.md line {i + 1}: first cell {key!r} is not a `key`"
                    assert k.group(1) not in obj["keys"], f"{current}.{k.group(1)} documented twice"
                    obj["keys"][k.group(1)] = (typ, present)
                i += 1
            continue
        i += 1
    return schema


def keys_of(schema, name):
    """Every documented key of an object, its includes' keys too."""
    out = {}
    for inc in schema[name]["includes"]:
        out.update(keys_of(schema, inc))
    out.update(schema[name]["keys"])
    return out


def split_top(s):
    """'uint, [a, b]' -> ['uint', '[a, b]']."""
    parts, depth, cur = [], 0, ""
    for ch in s:
        if ch == "," and depth == 0:
            parts.append(cur.strip())
            cur = ""
            continue
        depth += ch == "["
        depth -= ch == "]"
        cur += ch
    parts.append(cur.strip())
    return parts


def referenced_types(t):
    t = t.rstrip("?")
    if t.startswith("map str → "):
        return referenced_types(t[len("map str → "):])
    if t.startswith("[") and t.endswith("]"):
        return [r for p in split_top(t[1:-1]) for r in referenced_types(p)]
    return [] if t in ("str", "bool", "uint", "float") else [t]


@pytest.fixture(scope="module")
def schema():
    return parse_doc(DOC.read_text())


def test_the_doc_tables_parse_and_hang_together(schema):
    assert "Report" in schema
    # Every type named exists, and every object is reachable from the top.
    reachable, todo = set(), ["Report"]
    while todo:
        name = todo.pop()
        if name in reachable:
            continue
        assert name in schema, f"docs/report.md names an undocumented object {name}"
        reachable.add(name)
        todo += schema[name]["includes"]
        for typ, _ in schema[name]["keys"].values():
            todo += referenced_types(typ)
    assert reachable == set(schema), f"objects no key leads to: {set(schema) - reachable}"


# --- walking a report against the schema ------------------------------------

class Walk:
    def __init__(self, schema, present):
        self.schema, self.present = schema, present
        self.undocumented, self.missing, self.bad = [], [], []
        self.seen = set()
        self.histograms = []  # (path, histogram)

    def value(self, v, t, path):
        if t.endswith("?"):
            if v is None:
                return
            t = t[:-1]
        if t == "str":
            ok = isinstance(v, str)
        elif t == "bool":
            ok = isinstance(v, bool)
        elif t == "uint":
            ok = isinstance(v, int) and not isinstance(v, bool) and v >= 0
        elif t == "float":
            ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        elif t.startswith("map str → "):
            ok = isinstance(v, dict)
            if ok:
                for k, x in v.items():
                    self.value(x, t[len("map str → "):], f"{path}[{k!r}]")
        elif t.startswith("[") and t.endswith("]"):
            parts = split_top(t[1:-1])
            ok = isinstance(v, list)
            if ok and len(parts) == 1:
                for n, x in enumerate(v):
                    self.value(x, parts[0], f"{path}[{n}]")
            elif ok:
                ok = len(v) == len(parts)
                if ok:
                    for n, (x, p) in enumerate(zip(v, parts)):
                        self.value(x, p, f"{path}[{n}]")
        else:
            ok = isinstance(v, dict)
            if ok:
                self.obj(v, t, path)
        if not ok:
            self.bad.append(f"{path} = {v!r} is not {t}")

    def obj(self, v, name, path):
        self.seen.add(name)
        if name == "Histogram":
            self.histograms.append((path, v))
        documented = keys_of(self.schema, name)
        expected = {k for k, (_, present) in documented.items() if present in self.present}
        for k in sorted(set(v) - expected):
            self.undocumented.append(f"{path}.{k}" + (" (documented for another model or mode)"
                                                      if k in documented else ""))
        for k in sorted(expected - set(v)):
            self.missing.append(f"{path}.{k} ({name})")
        for k in sorted(expected & set(v)):
            self.value(v[k], documented[k][0], f"{path}.{k}")


# --- the invariants of docs/report.md section 10 ----------------------------

def bucket_high(i):
    """docs/protocol.md section 7."""
    if i < 256:
        return i
    j = i - 256
    e = 8 + j // 128
    low = (j % 128 + 128) << (e - 7)
    return low + (1 << (e - 7)) - 1


def percentile(h, q):
    if h["count"] == 0:
        return 0
    rank = min(max(math.ceil(q * h["count"]), 1), h["count"])
    seen = 0
    for i, c in h["buckets"]:
        seen += c
        if seen >= rank:
            return min(max(bucket_high(i), h["min_ns"]), h["max_ns"])
    raise AssertionError("the buckets hold fewer values than count")


def check_histogram(path, h):
    idx = [i for i, _ in h["buckets"]]
    assert idx == sorted(set(idx)), f"{path}: bucket indexes not strictly increasing"
    assert all(c > 0 for _, c in h["buckets"]), f"{path}: a zero count"
    assert sum(c for _, c in h["buckets"]) == h["count"], f"{path}: bucket counts do not sum to count"
    p = h["percentiles_ns"]
    for name, q in QUANTILES:
        assert p[name] == percentile(h, q), (path, name, p[name], percentile(h, q))
    assert p["max"] == h["max_ns"], path
    if h["count"]:
        chain = [h["min_ns"]] + [p[n] for n, _ in QUANTILES] + [p["max"]]
        assert chain == sorted(chain), (path, chain)
        assert math.isclose(h["mean_ns"], h["sum_ns"] / h["count"], rel_tol=1e-9), path
        # The lowest and highest buckets are min's and max's.
        assert bucket_high(idx[0]) >= h["min_ns"] and bucket_high(idx[-1]) >= h["max_ns"], path
    else:
        assert h["buckets"] == [] and h["min_ns"] == h["max_ns"] == h["sum_ns"] == 0, path
        assert all(v == 0 for v in p.values()) and h["mean_ns"] == 0, path


def merged_buckets(hs):
    out = {}
    for h in hs:
        for i, c in h["buckets"]:
            out[i] = out.get(i, 0) + c
    return sorted([i, c] for i, c in out.items())


def check_stats(path, s, open_model):
    assert s["hits"] == s["successes"] + s["failures"] + s["errors"], path
    assert sum(s["errors_by_kind"].values()) == s["errors"], path
    assert sum(s["status_codes"].values()) == s["requests"], path
    if open_model:
        assert s["scheduled"] == s["hits"] + s["dropped"] + s["interrupted"], (path, s)
        assert s["late"] <= s["hits"], path
        assert s["latency_from_schedule"]["count"] == s["hits"], path
    else:
        assert s["scheduled"] == s["dropped"] == s["late"] == 0, path
        assert s["latency_from_schedule"]["count"] == 0, path
    if s["tasks"]:  # a weighted-task run: every hit ran one task
        for k in ("hits", "failures", "errors"):
            assert sum(x["count" if k == "hits" else k] for x in s["tasks"].values()) == s[k], (path, k)
        assert all(x["duration"]["count"] == x["count"] for x in s["tasks"].values()), path
    names = s["names"].values()
    assert all(n["count"] >= 1 and n["latency"]["count"] <= n["count"] for n in names), path
    assert merged_buckets(n["latency"] for n in names) == s["latency"]["buckets"], path


def expected_exit_code(r):
    """docs/report.md section 9."""
    t = r["total"]
    if any(not x["ok"] for x in r["thresholds"]):
        return 3
    if r["thresholds"]:
        aborted = any(x["aborted"] for x in r["thresholds"])
        return 1 if t["hits"] == 0 or r["incomplete"] or (r["stopped"] and not aborted) else 0
    bad = (t["hits"] == 0 or t["failures"] or t["errors"] or t["interrupted"] or t["dropped"]
           or r["stopped"] or r["incomplete"])
    return 1 if bad else 0


# --- the runs ----------------------------------------------------------------

@pytest.mark.parametrize("kind", list(RUNS))
def test_a_real_report_matches_the_doc(target, schema, kind):
    args, present = RUNS[kind]
    test = f"{CASES_LIB}:Mix" if kind == "library" else target.url + "/"
    server = ["--server-url", target.url] if kind == "library" else []
    name = LIB_NAME if kind == "library" else NAME
    r = run_runner(test, *server, *args, "--output", "json")
    assert r.stdout.count("\n") == 1, "the report is one line, alone on stdout"
    j = r.json

    # (a) every key in the report is documented, (b) every documented key is
    # in the report, each with its documented type.
    w = Walk(schema, present)
    w.obj(j, "Report", "$")
    assert not w.undocumented, f"in the {kind} report but not in docs/report.md: {w.undocumented}"
    assert not w.missing, f"in docs/report.md but not in the {kind} report: {w.missing}"
    assert not w.bad, f"{kind} report, types differ from docs/report.md: {w.bad}"
    assert j["cycles"] and j["series"] and j["total"]["names"]
    SEEN[kind] = w.seen

    # The figures the runs must give.
    open_model = kind == "open"
    t = j["total"]
    assert j["plan"]["model"] == ("open" if open_model else "closed")
    assert t["hits"] > 0 and t["successes"] == t["hits"], t
    if kind == "closed":
        assert t["hits"] == 10 and [c["hits"] for c in j["cycles"]] == [10]
    if kind == "library":
        assert t["hits"] == 8 and {n: x["count"] for n, x in t["tasks"].items()} == {"Mix.a": 6, "Mix.b": 2}
        assert t["metrics"]["product bytes"]["count"] == 8  # Mix's trend
    else:
        assert t["tasks"] == {} and j["plan"]["tasks"] == [] and t["metrics"] == {}
    if open_model:
        assert t["scheduled"] == 200, t["scheduled"]  # 1 s at 200/s, uniform
        assert [c["rate"] for c in j["cycles"]] == [200] and 1 <= j["cycles"][0]["users"] <= 1000  # the pool's peak
    for pc in j["plan"]["cycles"]:
        assert (pc["duration_s"] is None) == (kind in ("closed", "library")), pc
    assert j["agents"] == 0 and j["incomplete"] is False and j["events"] == []

    # The thresholds' measured values are the report's figures (section 9).
    th = {x["expression"]: x for x in j["thresholds"]}
    headline = t["latency_from_schedule" if open_model else "latency"]
    assert th["p99<30s"]["measured"] == headline["percentiles_ns"]["p99"] and th["p99<30s"]["ok"], th
    assert th[f"{name}:errors==0"]["measured"] == t["names"][name]["errors"] == 0, th

    # Invariants.
    assert j["exit_code"] == expected_exit_code(j) == r.rc == 0, (r.rc, r.stderr)
    assert math.isclose(j["rps"], t["hits"] / j["duration_s"], rel_tol=1e-9)
    check_stats("$.total", t, open_model)
    for n, c in enumerate(j["cycles"]):
        check_stats(f"$.cycles[{n}]", c, open_model)
        assert c["cycle"] == n + 1
    for k in COUNTERS:
        assert t[k] == sum(c[k] for c in j["cycles"]), k
    for h in ("latency", "latency_from_schedule"):
        assert t[h]["buckets"] == merged_buckets(c[h] for c in j["cycles"]), h
    assert len(w.histograms) >= 3
    for path, h in w.histograms:
        check_histogram(path, h)

    rows = j["series"]
    assert rows[0]["start_s"] == 0
    for n, row in enumerate(rows):
        assert row["end_s"] > row["start_s"], row
        if n:
            assert row["start_s"] == rows[n - 1]["end_s"], (rows[n - 1], row)
        assert row["hits"] == row["successes"] + row["failures"] + row["errors"], row
        for name in ("latency_ns", "latency_from_schedule_ns"):
            p = row[name]
            chain = [p[q] for q, _ in QUANTILES] + [p["max"]]
            assert chain == sorted(chain), (n, name, p)
            assert (p["count"] == 0) == (p["max"] == 0), (n, name, p)
    # Users are gauges: a row with hits had users, even the cycle's last row,
    # whose own gauge is taken once they have ended (docs/report.md SeriesRow),
    # once the cycle has shown a gauge at all (a run shorter than one delta
    # shows none).
    shown = set()
    for row in rows:
        if row["hits"] and row["cycle"] in shown:
            assert row["users"] >= 1, row
        if row["users"]:
            shown.add(row["cycle"])
    # Each row's percentiles are its own histogram's: their maxima and counts
    # add up to the run's, and a run of one row has the run's percentiles.
    for name, h in (("latency_ns", "latency"), ("latency_from_schedule_ns", "latency_from_schedule")):
        assert max(row[name]["max"] for row in rows) == t[h]["max_ns"], name
        if len(rows) == 1:
            assert rows[0][name] == {**t[h]["percentiles_ns"], "count": t[h]["count"]}, name
    for k in SERIES_COUNTERS:  # locally the rows hold every delta
        assert sum(row[k] for row in rows) == t[k], k
    assert sum(row["latency_ns"]["count"] for row in rows) == t["latency"]["count"]
    assert sum(row["latency_from_schedule_ns"]["count"] for row in rows) == t["latency_from_schedule"]["count"]


def test_a_cluster_report_matches_the_doc(target, schema, tmp_path):
    """A run on two agents: its keys and types are the doc's too, and the
    environment says where each agent ran (host, pid, threads, version)."""
    import socket
    c = Cluster(2, tmp_path)
    try:
        r = run_runner(target.url + "/", "-u", "2", "-c", "5", "--agents", "2", "--broker", c.broker.frontend,
                       *THRESHOLDS, "--output", "json")
        pids = {f"a{i}": a.p.pid for i, a in enumerate(c.agents)}
    finally:
        c.kill()
    assert r.rc == 0, r.stderr
    j = r.json
    w = Walk(schema, {"always", "closed", "count mode"})
    w.obj(j, "Report", "$")
    assert not w.undocumented and not w.missing and not w.bad, (w.undocumented, w.missing, w.bad)
    SEEN["cluster"] = w.seen
    assert j["agents"] == 2 and j["total"]["hits"] == 20
    assert [a["id"] for a in j["agent_hosts"]] == j["agent_ids"] and sorted(j["agent_ids"]) == ["a0", "a1"]
    for a in j["agent_hosts"]:
        assert a["host"] == socket.gethostname() and a["pid"] == pids[a["id"]], a
        assert a["threads"] >= 1 and a["version"], a


def test_every_documented_object_was_met(schema):
    """After the runs: every object the doc describes was met by one of
    them, so none was checked vacuously."""
    assert set(SEEN) == set(RUNS) | {"cluster"}, "run the whole file: the runs fill SEEN"
    seen = set().union(*SEEN.values())
    assert seen == set(schema), set(schema) - seen
    for kind in ("closed", "closed-duration", "open"):  # local URL runs meet all but these
        assert set(schema) - SEEN[kind] <= LIBRARY_ONLY | CLUSTER_ONLY, (kind, set(schema) - SEEN[kind])


def test_the_doc_snippet_merges_two_reports(target):
    """docs/report.md section 11's Python, run on two real reports."""
    text = DOC.read_text()
    code = re.search(r"## 11\..*?```python\n(.*?)```", text, re.S).group(1)
    funcs = code.split("\na = json.load")[0]  # the functions, not the file reading
    ns = {}
    exec(funcs, ns)
    reports = [run_runner(target.url + "/", "-u", "2", "-c", str(n), "--output", "json").json
               for n in (20, 30)]
    a, b = (r["total"]["latency"] for r in reports)
    for h in (a, b):
        assert ns["percentile"](h, 0.99) == h["percentiles_ns"]["p99"]
    m = ns["merge"](a, b)
    assert m["count"] == 100 == sum(c for _, c in m["buckets"])
    assert m["min_ns"] == min(a["min_ns"], b["min_ns"]) and m["max_ns"] == max(a["max_ns"], b["max_ns"])
    assert m["buckets"] == merged_buckets([a, b])
    # A mixture's percentile lies between its parts' (a bucket never splits).
    p99 = ns["percentile"](m, 0.99)
    assert min(a["percentiles_ns"]["p99"], b["percentiles_ns"]["p99"]) <= p99 <= m["max_ns"]
    # The snippet's bucket_high agrees with docs/protocol.md section 7's index(x):
    # every x is at most its bucket's highest value, by less than 1/128.
    for x in [0, 1, 255, 256, 257, 300, 511, 512, 1000, 12345, 999_999, 10**9, 2**40 + 7, 3_600_000_000_000]:
        hi = ns["bucket_high"](index(x))
        assert x <= hi and (hi - x) * 128 < max(x, 1), (x, hi)
        assert index(hi) == index(x) and index(hi + 1) == index(x) + 1, x


def index(x):
    """docs/protocol.md section 7, as written there."""
    if x < 256:
        return x
    e = x.bit_length() - 1
    return 256 + (e - 8) * 128 + (x >> (e - 7)) - 128
