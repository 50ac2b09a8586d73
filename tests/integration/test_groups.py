"""Groups (issue 15): group("name", fn) is timed as a whole under the row
"group name"; the requests inside keep their rows and the total histogram,
which the group's time does not enter (nothing counted twice)."""
from loads_procs import CASES_LIB, Cluster, run_runner


def check_groups(j, hits):
    t = j["total"]
    names = t["names"]
    browse, pay = names["group browse"], names["group pay"]
    assert browse["count"] == hits and browse["errors"] == 0
    assert pay["count"] == hits and pay["errors"] == hits // 2
    assert t["failures"] == hits // 2 and t["successes"] == hits - hits // 2
    # The total holds the 3 requests of each hit, not the groups.
    assert t["requests"] == 3 * hits and t["latency"]["count"] == 3 * hits
    assert names["GET /products/A1"]["count"] == names["GET /delay"]["count"] == hits
    # A group lasts at least as long as the request inside it: pay waits 5 ms.
    assert pay["latency"]["count"] == hits and pay["latency"]["min_ns"] >= 5_000_000, pay["latency"]


def test_groups_locally(target):
    r = run_runner(f"{CASES_LIB}:Groups.test_checkout", "--server-url", target.url, "-u", "2", "-c", "4",
                   "--output", "json")
    assert r.rc == 1  # the failing pay checks
    check_groups(r.json, 8)
    # The text summary says which rows are outside the total.
    text = run_runner(f"{CASES_LIB}:Groups.test_checkout", "--server-url", target.url, "-c", "2", "-q")
    assert "(group rows time a test's group() as a whole: not in the latency above; their requests are)" in text.stdout


def test_groups_on_two_agents(target, tmp_path):
    c = Cluster(2, tmp_path)
    try:
        r = run_runner(f"{CASES_LIB}:Groups.test_checkout", "--server-url", target.url, "-u", "2", "-c", "4",
                       "--agents", "2", "--broker", c.broker.frontend, "--output", "json")
    finally:
        c.kill()
    assert r.rc == 1
    check_groups(r.json, 16)
