"""Weighted tasks: LIBRARY.so:Class (declared weights) and
LIBRARY.so:A.x:3,A.y:1 (the run's weights), locally and on three agents.
Each task of tests/support/test_cases.cpp views its own product, so the demo
target's views by SKU are the server's count of each task."""
import json
import urllib.request

from loads_procs import CASES_LIB, Cluster, run_runner


def views(target):
    with urllib.request.urlopen(target.url + "/stats/shop", timeout=5) as r:
        return json.loads(r.read())["views"]


def tasks_of(report):
    return {n: t["count"] for n, t in report["total"]["tasks"].items()}


def test_declared_weights_locally(target):
    # Mix: LOADS_TASK(Mix, a, 3), LOADS_TASK(Mix, b, 1); 8 hits a user, a
    # multiple of W = 4, so the counts are the weights exactly.
    r = run_runner(f"{CASES_LIB}:Mix", "--server-url", target.url, "-u", "4", "-c", "8", "--output", "json")
    assert r.rc == 0, r.stderr
    j = r.json
    assert tasks_of(j) == {"Mix.a": 24, "Mix.b": 8}
    assert views(target) == {"A1": 24, "B2": 8}
    assert [(t["name"], t["weight"]) for t in j["plan"]["tasks"]] == [("Mix.a", 3), ("Mix.b", 1)]
    assert all(t["think_min_s"] is None for t in j["plan"]["tasks"])
    for name, t in j["total"]["tasks"].items():
        assert t["failures"] == t["errors"] == 0 and t["duration"]["count"] == t["count"], name
    # Cycles carry their own rows; they add up to the total's.
    assert tasks_of({"total": j["cycles"][0]}) == tasks_of(j)


def test_run_weights_two_classes_and_the_summary(target):
    # Mix.b:1, Other (c and failing, 1 each), Mix.a:2: W = 5, two classes, so
    # each user has two test instances and Other's on_start runs once a user.
    r = run_runner(f"{CASES_LIB}:Mix.b:1,Other,Mix.a:2", "--server-url", target.url, "-u", "3", "-c", "10")
    assert r.rc == 1  # Other.failing fails on purpose
    assert views(target) == {"A1": 12, "B2": 6, "C3": 6}
    out = r.stdout
    assert "Tasks: Mix.b x1, Other.c x1, Other.failing x1, Mix.a x2 (each hit picks one by weight)" in out
    rows = {line.split()[0]: line.split() for line in out.split("Per task:")[1].splitlines()[2:6]}
    assert rows["Mix.a"][1:4] == ["12", "40.0%", "40.0%"], rows
    assert rows["Other.failing"][1:6] == ["6", "20.0%", "20.0%", "6", "0"], rows
    assert "Failures: 6" in out
    with urllib.request.urlopen(target.url + "/stats/shop", timeout=5) as resp:
        assert json.loads(resp.read())["product_views"] == 12 + 6 + 6 + 3  # + Other.on_start's list, once a user


def test_counts_within_one_per_user_when_hits_are_not_a_multiple(target):
    # W = 4 (a a b a); 10 users of one hit start at positions 0..9: 8 a, 2 b.
    r = run_runner(f"{CASES_LIB}:Mix", "--server-url", target.url, "-u", "10", "-c", "1", "--output", "json")
    assert r.rc == 0, r.stderr
    assert tasks_of(r.json) == {"Mix.a": 8, "Mix.b": 2} and views(target) == {"A1": 8, "B2": 2}


def test_three_agents_mix_by_weight(target, tmp_path):
    c = Cluster(3, tmp_path)
    try:
        r = run_runner(f"{CASES_LIB}:Mix.a:3,Mix.b:1", "--server-url", target.url, "-u", "5", "-c", "4",
                       "--agents", "3", "--broker", c.broker.frontend, "--output", "json", timeout=120)
        assert r.rc == 0, r.stderr
        assert tasks_of(r.json) == {"Mix.a": 45, "Mix.b": 15}
        assert views(target) == {"A1": 45, "B2": 15}
        assert r.json["total"]["hits"] == 60
    finally:
        c.kill()


def test_a_tasks_think_time_replaces_sleep(target):
    # a b a b a b for one user: 200 ms after each of the first two a's (none
    # after the last hit), none after b: at least 0.4 s, though --sleep is 0.
    r = run_runner(f"{CASES_LIB}:Mix.a:1@200ms,Mix.b:1", "--server-url", target.url, "-u", "1", "-c", "5",
                   "--output", "json")
    assert r.rc == 0, r.stderr
    assert tasks_of(r.json) == {"Mix.a": 3, "Mix.b": 2}
    assert 0.4 <= r.json["duration_s"] < 5, r.json["duration_s"]
    assert r.json["plan"]["tasks"][0]["think_min_s"] == r.json["plan"]["tasks"][0]["think_max_s"] == 0.2
    quick = run_runner(f"{CASES_LIB}:Mix.a:1,Mix.b:1", "--server-url", target.url, "-u", "1", "-c", "5",
                       "--output", "json")
    # Without the think time the same five hits take well under the 0.4 s
    # it adds (0.15 s seen on a loaded machine; comparing with the first
    # run's own duration failed there by a millisecond).
    assert quick.json["duration_s"] < 0.4, quick.json["duration_s"]


def test_the_open_model_mixes_tasks_too(target):
    r = run_runner(f"{CASES_LIB}:Mix", "--server-url", target.url, "--rate", "100", "-d", "1s", "--output", "json")
    assert r.rc == 0, r.stderr
    t = tasks_of(r.json)
    assert sum(t.values()) == r.json["total"]["hits"] == 100
    assert views(target) == {"A1": t["Mix.a"], "B2": t["Mix.b"]}
    assert 60 <= t["Mix.a"] <= 90, t  # 75 ideally; pool users start their walks at their ids


def test_bad_task_selections_are_usage_errors(target):
    cases = [
        ("Mix.zz", 'no test "Mix.zz"'),
        ("Nope", 'no class "Nope"'),
        ("Mix.a:0", "whole number from 1 to 10000"),
        ("Mix.a:lots", "whole number from 1 to 10000"),
        ("Mix.a,Mix.a:2", 'task "Mix.a" is named twice'),
        ("Mix:2", "a whole class takes its tests' declared weights"),
        ("Mix.a,", "an empty test name"),
        ("Mix.a@never", "think time"),
    ]
    for selection, why in cases:
        r = run_runner(f"{CASES_LIB}:{selection}", "--server-url", target.url, "-u", "1", "-c", "1")
        assert r.rc == 2 and why in r.stderr, (selection, r.rc, r.stderr)
    r = run_runner(f"{CASES_LIB}:Mix.a@1s,Mix.b", "--server-url", target.url, "--rate", "10", "-d", "1s")
    assert r.rc == 2 and "goes with the closed model" in r.stderr, r.stderr
    assert target.stats()["http_requests"] == 0


def test_list_shows_declared_weights():
    r = run_runner(CASES_LIB, "--list")
    assert r.rc == 0
    lines = r.stdout.split()
    assert "Mix.a:3" in lines and "Mix.b:1" in lines and "Other.c" in lines
