"""What an agent agrees to do (issue 16): loads-agent --allow, --max-users
and --max-duration, with real processes on loopback only (127.0.0.0/8: the
"outside" addresses are other loopback addresses, never another network)."""
import subprocess

import pytest

from loads_procs import AGENT, CASES_LIB, Cluster, run_runner


def port_of(target):
    return int(target.http.rsplit(":", 1)[1])


def cluster_run(c, *args, timeout=60):
    return run_runner(*args, "--agents", str(len(c.agents)), "--broker", c.broker.frontend,
                      timeout=timeout)


@pytest.mark.parametrize("allow", ["127.0.0.2", "port-range"])
def test_a_url_outside_the_allow_list_is_refused_before_anything_runs(tmp_path, target, allow):
    port = port_of(target)
    if allow == "port-range":
        low = port + 1 if port < 65000 else 1
        allow = f"127.0.0.1:{low}-{low + 10}"
    c = Cluster(2, tmp_path, agent_args=("--allow", allow))
    try:
        r = cluster_run(c, target.url + "/", "-u", "2", "-c", "5", "--output", "json")
        out = r.stdout + r.stderr
        assert r.rc != 0, out
        assert "rejected" in out, out
        assert f"{target.url}/ is outside this agent's --allow ({allow})" in out, out
        s = target.stats()
        # Not a request, and one connection: this very /stats request's.
        assert s["http_requests"] == 0 and s["http_connections"] == 1, s
        # The agents are idle again and take a run they may do.
        c.broker.wait_agents(2, timeout=5)
    finally:
        c.kill()


def test_server_url_outside_the_allow_list_is_refused(tmp_path, target):
    c = Cluster(1, tmp_path, agent_args=("--allow", "127.0.0.2"))
    try:
        r = cluster_run(c, f"{CASES_LIB}:Cases.test_failing_check", "--server-url", target.url)
        out = r.stdout + r.stderr
        assert r.rc != 0, out
        assert f"--server-url {target.url} is outside this agent's --allow (127.0.0.2)" in out, out
        assert target.stats()["http_requests"] == 0
    finally:
        c.kill()


def forbidden_run(c, test, *params):
    args = []
    for p in params:
        args += ["--param", p]
    r = cluster_run(c, f"{CASES_LIB}:Outside.{test}", "-u", "2", "-c", "3", *args, "--output", "json")
    assert r.stdout, r.stderr
    return r.json["total"]


def test_connections_a_library_opens_outside_the_list_are_forbidden(tmp_path, target):
    c = Cluster(2, tmp_path, agent_args=("--allow", "127.0.0.2,127.0.0.3"))
    try:
        host, tcp_port = target.tcp.rsplit(":", 1)
        cases = [("test_http", [f"url={target.url}/"]),
                 ("test_tcp", [f"host={host}", f"port={tcp_port}"]),
                 ("test_ws", [f"ws=ws://{target.http}/ws"]),
                 # A name that resolves to an address outside the list.
                 ("test_http", [f"url=http://localhost:{port_of(target)}/"])]
        for test, params in cases:
            t = forbidden_run(c, test, *params)
            # 2 agents x 2 users x 3 hits, every one refused before connecting.
            assert t["hits"] == 12, (test, t)
            assert t["errors"] == 12, (test, t)
            assert t["errors_by_kind"]["forbidden"] == 12, (test, t)
            assert t["successes"] == 0
        s = target.stats()
        assert s["http_requests"] == 0 and s["http_connections"] == 1, s  # this /stats request's
        assert s["tcp_connections"] == 0 and s["ws_connections"] == 0
    finally:
        c.kill()


def test_an_allowed_run_passes_and_counts_match_the_target(tmp_path, target):
    c = Cluster(2, tmp_path, agent_args=("--allow", f"127.0.0.2, 127.0.0.1:{port_of(target)}"))
    try:
        r = cluster_run(c, target.url + "/", "-u", "3", "-c", "4", "--output", "json")
        assert r.rc == 0, r.stderr
        assert r.json["total"]["hits"] == 24
        assert r.json["total"]["successes"] == 24
        assert target.stats()["http_requests"] == 24
        # A library's own connections to the allowed port go through too.
        t = forbidden_run(c, "test_http", f"url={target.url}/")
        assert t["hits"] == 12 and t["successes"] == 12 and t["errors"] == 0
        assert target.stats()["http_requests"] == 36
    finally:
        c.kill()


def test_max_users_refuses_bigger_runs(tmp_path, target):
    c = Cluster(2, tmp_path, agent_args=("--max-users", "5"))
    try:
        r = cluster_run(c, target.url + "/", "-u", "3:6", "-c", "2")
        out = r.stdout + r.stderr
        assert r.rc != 0, out
        assert "cycle 2 asks for 6 users, more than this agent's --max-users 5" in out, out
        # Open model: each agent's share of the pool is checked.
        r = cluster_run(c, target.url + "/", "--rate", "10", "-d", "1s", "--max-users", "12")
        out = r.stdout + r.stderr
        assert r.rc != 0, out
        assert "more than this agent's --max-users 5" in out, out
        assert target.stats()["http_requests"] == 0
        # Within the limit the run goes.
        r = cluster_run(c, target.url + "/", "-u", "5", "-c", "2", "--output", "json")
        assert r.rc == 0, r.stderr
        assert r.json["total"]["hits"] == 20
        assert target.stats()["http_requests"] == 20
    finally:
        c.kill()


def test_max_duration_refuses_long_plans_and_stops_counted_runs(tmp_path, target):
    c = Cluster(1, tmp_path, agent_args=("--max-duration", "1s"))
    try:
        r = cluster_run(c, target.url + "/", "-d", "2s")
        out = r.stdout + r.stderr
        assert r.rc != 0, out
        assert "the plan lasts 2.00 s, longer than this agent's --max-duration 1.00 s" in out, out
        assert target.stats()["http_requests"] == 0
        # Counted hits have no length up front: the agent stops them at 1s.
        r = cluster_run(c, target.url + "/delay?ms=50", "-u", "1", "-c", "1000", "--output", "json", timeout=60)
        j = r.json
        t = j["total"]
        # About 1 s of 50 ms hits (about 20), far from the 1000 asked.
        assert 0 < t["hits"] < 100, t
        assert r.rc == 1  # the run was stopped
        assert r.elapsed < 15
        # The hit cut short (interrupted, not a hit) may or may not have reached the target.
        assert t["hits"] <= target.stats()["http_requests"] <= t["hits"] + t["interrupted"]
    finally:
        c.kill()


@pytest.mark.parametrize("args,expected", [
    (["--allow", "10.0.0.0/33"], "bad prefix length"),
    (["--allow", "127.0.0.1:0"], "bad port"),
    (["--allow", "127.0.0.1,bad name"], "neither an IP address"),
    (["--max-duration", "soon"], "--max-duration"),
])
def test_bad_limits_are_a_clear_error(args, expected):
    p = subprocess.run([str(AGENT), "--broker", "tcp://127.0.0.1:1", *args], capture_output=True,
                       text=True, timeout=10)
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert expected in p.stderr, p.stderr
