"""URL mode and redirects (docs/protocol.md, client.follow_redirects): with
--follow-redirects a hit follows the chain as a test session does, each hop
a request counted in the row of its own URL, up to max_redirects (10, what
loads-runner sends); without, a 302 is the hit's answer. Counts are checked
against what the demo target served (/redirect/N: N 302s, then /)."""
import pytest

from loads_procs import run_runner


def run(target, path, *args, timeout=60):
    r = run_runner(target.url + path, "--output", "json", *args, timeout=timeout)
    return r, r.json["total"]


def assert_chain(total, stats, hits, n):
    """`hits` hits along /redirect/n -> ... -> /redirect/1 -> /, all whole."""
    assert total["hits"] == hits and total["successes"] == hits, total
    assert total["requests"] == hits * (n + 1)
    assert total["request_errors"] == 0
    assert total["status_codes"] == {"302": hits * n, "200": hits}
    assert total["latency"]["count"] == hits * (n + 1)
    names = total["names"]
    for k in range(1, n + 1):
        assert names[f"GET /redirect/{k}"]["count"] == hits, names
    assert names["GET /"]["count"] == hits
    assert len(names) == n + 1, names
    # What the target served: each hit ended once on /, after n redirects.
    assert stats["http_root"] == hits
    assert stats["http_redirects"] == hits * n
    assert stats["http_requests"] == hits * (n + 1)


def test_follow_redirects_locally(target):
    r, total = run(target, "/redirect/3", "--follow-redirects", "-u", "4", "-c", "5")
    assert r.rc == 0, r.stderr
    assert_chain(total, target.stats(), 20, 3)


def test_without_the_flag_a_302_is_the_answer(target):
    # The CLI's default: redirects are not followed in URL mode.
    r, total = run(target, "/redirect/2", "-u", "3", "-c", "4")
    assert r.rc == 0, r.stderr
    assert total["hits"] == 12 and total["successes"] == 12
    assert total["requests"] == 12
    assert total["status_codes"] == {"302": 12}
    assert list(total["names"]) == ["GET /redirect/2"]
    s = target.stats()
    assert s["http_root"] == 0 and s["http_redirects"] == 12 and s["http_requests"] == 12


def test_the_limit_is_max_redirects(target):
    # Ten hops followed: a whole hit.
    r, total = run(target, "/redirect/10", "--follow-redirects", "-u", "2", "-c", "3")
    assert r.rc == 0, r.stderr
    assert_chain(total, target.stats(), 6, 10)
    target.reset()
    # One more: each hit is an error of kind protocol once the eleventh 302
    # is in, counted like the others; / is never asked for.
    r, total = run(target, "/redirect/11", "--follow-redirects", "-u", "2", "-c", "3")
    assert r.rc == 1, r.stderr
    assert total["hits"] == 6 and total["errors"] == 6 and total["successes"] == 0
    assert total["errors_by_kind"]["protocol"] == 6, total["errors_by_kind"]
    assert total["requests"] == 6 * 11 and total["status_codes"] == {"302": 66}
    assert "GET /" not in total["names"]
    msg = f"too many redirects (more than 10) from {target.url}/redirect/1"
    assert any(msg in m for m in total["messages"]), total["messages"]
    s = target.stats()
    assert s["http_root"] == 0 and s["http_redirects"] == 66 and s["http_requests"] == 66


def test_post_goes_on_as_get_after_a_302(target):
    r, total = run(target, "/redirect/1", "--follow-redirects", "-m", "POST", "--body", "x",
                   "--expect", "Hello", "-u", "2", "-c", "3")
    assert r.rc == 0, r.stderr
    assert total["hits"] == 6 and total["successes"] == 6
    names = total["names"]
    assert names["POST /redirect/1"]["count"] == 6 and names["GET /"]["count"] == 6, names
    assert total["status_codes"] == {"302": 6, "200": 6}
    assert target.stats()["http_root"] == 6


def test_the_last_response_decides(target):
    # /redirect/1 lands on /, whose body has no "nope": a failure per hit.
    r, total = run(target, "/redirect/1", "--follow-redirects", "--expect", "nope", "-u", "1", "-c", "3")
    assert r.rc == 1
    assert total["hits"] == 3 and total["failures"] == 3
    assert total["status_codes"] == {"302": 3, "200": 3}


@pytest.mark.parametrize("flag", [True, False])
def test_on_two_agents(cluster2, srv, flag):
    srv.reset()
    extra = ("--follow-redirects",) if flag else ()
    r, total = run(srv, "/redirect/2", *extra, "-u", "5", "-c", "4", "--agents", "2",
                   "--broker", cluster2.broker.frontend, timeout=120)
    assert r.rc == 0, r.stderr
    if flag:
        assert_chain(total, srv.stats(), 40, 2)
    else:
        assert total["hits"] == 40 and total["status_codes"] == {"302": 40}
        s = srv.stats()
        assert s["http_root"] == 0 and s["http_requests"] == 40
    cluster2.broker.wait_agents(2, timeout=10)
