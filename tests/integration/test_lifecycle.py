"""The per-user lifecycle of a test library (loads.hpp, TestCase; README
"Lifecycle"), locally and on a cluster of a real broker and two agents, against
the demo target: a failing on_start counts one hit and skips the rest
(`Skipped: N`), on_stop runs once per user that started, and whatever is
thrown (std::exception, an int, a string literal, a failed check) is named in
the summary, from agents too.

The test classes (tests/support/test_cases.cpp) log in with a GET named
"login" in on_start and out with a GET named "logout" in on_stop, so the
per-name rows count both, and the target's request count checks them."""
import json

import pytest

from loads_procs import CASES_LIB, run_runner

AGENTS = 2  # the cluster2 fixture


def run(mode, cluster_or_none, srv, tmp_path, test, *plan):
    """Runs TEST with PLAN; returns (exit code, summary text, JSON report, copies)
    where copies is how many times the plan ran (1 locally, AGENTS on the cluster)."""
    srv.reset()
    out = tmp_path / "report.json"
    args = [f"{CASES_LIB}:{test}", "--server-url", srv.url, *plan, "--output", "json", "--output-file", out]
    copies = 1
    if mode == "cluster":
        cluster_or_none.broker.wait_agents(AGENTS)  # idle again after the previous run
        args += ["--agents", AGENTS, "--broker", cluster_or_none.broker.frontend]
        copies = AGENTS
    r = run_runner(*args, timeout=60)
    assert r.rc in (0, 1), r.stderr
    return r.rc, r.stdout, json.loads(out.read_text()), copies


@pytest.fixture(params=["local", "cluster"])
def mode(request):
    return request.param


def where(mode, request):
    return request.getfixturevalue("cluster2") if mode == "cluster" else None


FAILED_STARTS = [
    ("StartThrows", "on_start: exception: std::runtime_error: login refused", "exception"),
    ("StartThrowsInt", "on_start: exception: threw int 42", "exception"),
    ("StartThrowsText", 'on_start: exception: threw const char* "no login today"', "exception"),
    ("StartFailsCheck", "on_start: failure: login page says no", None),
]


@pytest.mark.parametrize("test,message,kind", FAILED_STARTS, ids=[f[0] for f in FAILED_STARTS])
def test_failing_on_start_skips_the_rest_and_still_runs_on_stop(mode, request, srv, tmp_path, test, message, kind):
    rc, text, j, n = run(mode, where(mode, request), srv, tmp_path, f"{test}.test_get", "-u", "2", "-c", "3")
    t = j["total"]
    users = 2 * n
    assert rc == 1
    # One hit per user (the one it was about to make), ended by on_start's
    # exception; its two other hits skipped: hits + skipped = the plan's 6 per copy.
    assert t["hits"] == users
    assert t["skipped"] == 2 * users
    assert t["start_failures"] == users
    if kind:
        assert t["errors"] == users and t["errors_by_kind"][kind] == users and t["failures"] == 0
    else:
        assert t["failures"] == users and t["errors"] == 0
    assert t["messages"] == {message: users}, t["messages"]
    # on_start logged in and on_stop logged out, once per user; no hit made a request.
    assert t["names"]["login"]["count"] == users
    assert t["names"]["logout"]["count"] == users
    assert "GET /" not in t["names"]
    assert srv.stats()["http_requests"] == 2 * users
    assert f"\nSkipped: {2 * users}\n" in text
    assert f"Users that could not start: {users}" in text
    assert message in text


def test_failing_hits_keep_the_user_and_on_stop_runs(mode, request, srv, tmp_path):
    rc, text, j, n = run(mode, where(mode, request), srv, tmp_path, "HitThrowsInt.test_get", "-u", "2", "-c", "3")
    t = j["total"]
    assert rc == 1
    assert t["hits"] == 6 * n and t["errors"] == 6 * n and t["errors_by_kind"]["exception"] == 6 * n
    assert t["skipped"] == 0 and t["start_failures"] == 0
    assert t["messages"] == {"exception: threw int 42": 6 * n}
    assert t["names"]["login"]["count"] == 2 * n
    assert t["names"]["logout"]["count"] == 2 * n
    assert t["names"]["GET /"]["count"] == 6 * n
    assert srv.stats()["http_requests"] == (2 + 6 + 2) * n
    assert "\nSkipped: 0\n" in text
    assert "exception: threw int 42" in text


def test_each_cycle_starts_its_users_afresh(mode, request, srv, tmp_path):
    # on_start fails in the first cycle only: the second cycle's users start anew.
    rc, text, j, n = run(mode, where(mode, request), srv, tmp_path, "StartFailsFirstCycle.test_get",
                         "-u", "2:2", "-c", "3")
    first, second = j["cycles"]
    assert rc == 1
    assert first["hits"] == 2 * n and first["errors"] == 2 * n and first["skipped"] == 4 * n
    assert second["hits"] == 6 * n and second["successes"] == 6 * n and second["skipped"] == 0
    assert j["total"]["skipped"] == 4 * n
    assert j["total"]["names"]["login"]["count"] == 4 * n
    assert j["total"]["names"]["logout"]["count"] == 4 * n
    assert f"\nSkipped: {4 * n}\n" in text


def test_a_throwing_constructor_is_a_failed_start_without_on_stop(mode, request, srv, tmp_path):
    rc, text, j, n = run(mode, where(mode, request), srv, tmp_path, "CtorThrows.test_get", "-u", "2", "-c", "3")
    t = j["total"]
    assert rc == 1
    assert t["hits"] == 2 * n and t["errors_by_kind"]["exception"] == 2 * n
    assert t["skipped"] == 4 * n and t["start_failures"] == 2 * n
    assert t["messages"] == {"on_start: exception: std::logic_error: bad fixture": 2 * n}
    assert srv.stats()["http_requests"] == 0
    assert "std::logic_error: bad fixture" in text


def test_duration_mode_users_sit_out_their_cycle(srv, tmp_path):
    # With -d there is no count of hits to skip: the user made its one
    # errored hit and sat out the cycle.
    rc, text, j, _ = run("local", None, srv, tmp_path, "StartThrows.test_get", "-u", "3", "-d", "300ms")
    t = j["total"]
    assert rc == 1
    assert t["hits"] == 3 and t["errors"] == 3 and t["skipped"] == 0 and t["start_failures"] == 3
    assert t["names"]["logout"]["count"] == 3
    assert "\nSkipped: 0\n" in text and "Users that could not start: 3" in text


ODD = "exception: threw oddities::NotAnException (not derived from std::exception)"


@pytest.mark.parametrize("test,message", [
    ("OddThrows.test_custom", ODD),
    ("OddThrows.test_int", "exception: threw int 42"),
])
def test_anything_thrown_from_a_task_is_an_error(mode, request, srv, tmp_path, test, message):
    """Issue 12: a type not derived from std::exception (or an int) thrown by a
    task is an error of kind `exception` naming it; every hit still runs."""
    rc, text, j, n = run(mode, where(mode, request), srv, tmp_path, test, "-u", "2", "-c", "5")
    t = j["total"]
    assert rc == 1
    assert t["hits"] == 10 * n and t["errors"] == 10 * n and t["errors_by_kind"]["exception"] == 10 * n
    assert t["messages"] == {message: 10 * n}
    assert srv.stats()["http_requests"] == 10 * n
    assert message in text


def test_a_group_body_throwing_anything_is_an_error(srv, tmp_path):
    rc, text, j, _ = run("local", None, srv, tmp_path, "OddThrows.test_group", "-u", "2", "-c", "5")
    t = j["total"]
    assert rc == 1
    assert t["hits"] == 10 and t["errors"] == 10 and t["errors_by_kind"]["exception"] == 10
    assert t["messages"] == {ODD: 10}
    assert t["names"]["group odd"]["count"] == 10 and t["names"]["group odd"]["errors"] == 10
    assert srv.stats()["http_requests"] == 10


def test_on_stop_throwing_anything_is_noted_and_the_run_ends(mode, request, srv, tmp_path):
    rc, text, j, n = run(mode, where(mode, request), srv, tmp_path, "OddThrows.test_ok", "-u", "3", "-c", "2",
                         "--param", "on_stop=throw")
    t = j["total"]
    assert rc == 0  # the hits succeeded; on_stop's exception is reported, not a hit
    assert t["hits"] == 6 * n and t["successes"] == 6 * n
    assert t["messages"] == {"on_stop: " + ODD: 3 * n}
    assert ("on_stop: " + ODD) in text
