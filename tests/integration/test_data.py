"""Test data (--data NAME=FILE): rows reach the test locally and on agents,
each user gets its own row across the whole cluster, wrap and stop do what
they say, and a bad file is a usage error before anything runs. The demo
target's shop counts the logins, so the rows used are the server's word."""
import json
import os

import pytest

from loads_procs import CASES_LIB, Cluster, run_runner

BROWSE = f"{CASES_LIB}:DataUsers.test_browse"


def shop(target):
    import urllib.request
    with urllib.request.urlopen(target.url + "/stats/shop", timeout=5) as r:
        return json.loads(r.read())


def users_csv(tmp_path, n, name="users.csv"):
    p = tmp_path / name
    # A quoted header and a quoted, comma-holding extra column: RFC 4180 on the way.
    lines = ['"user",password,"note"'] + [f'u{i},pw-u{i},"row {i}, with a comma"' for i in range(n)]
    p.write_text("\r\n".join(lines) + "\r\n")
    return p


def test_each_user_logs_in_with_its_own_row_locally(target, tmp_path):
    csv = users_csv(tmp_path, 30)
    r = run_runner(BROWSE, "--server-url", target.url, "-u", "4:6", "-c", "3", "--data", f"users={csv}",
                   "--output", "json", "--threads", "2")
    assert r.rc == 0, r.stderr
    assert r.json["total"]["hits"] == 30 and r.json["total"]["successes"] == 30
    # Users 0..9 over the two cycles: rows 0..9, each once.
    assert shop(target)["logins"] == {f"u{i}": 1 for i in range(10)}
    assert shop(target)["product_views"] == 30
    assert r.json["plan"]["data"] == {"users": str(csv)} and r.json["plan"]["data_exhausted"] == "wrap"
    assert r.json["total"]["users_out_of_data"] == 0


def test_rows_are_unique_over_three_agents(target, tmp_path):
    csv = users_csv(tmp_path, 40)
    c = Cluster(3, tmp_path)
    try:
        r = run_runner(BROWSE, "--server-url", target.url, "-u", "4:6", "-c", "2", "--data", f"users={csv}",
                       "--agents", "3", "--broker", c.broker.frontend, "--output", "json", timeout=120)
        assert r.rc == 0, r.stderr
        # 3 agents x (4 + 6) users: ids 0..29 over the run, each logs in once.
        assert shop(target)["logins"] == {f"u{i}": 1 for i in range(30)}
        assert r.json["total"]["hits"] == 60 == shop(target)["product_views"]
        # Each agent cached the file under its hash, as it does the library.
        cached = sorted(p.name for p in tmp_path.glob("cache-*/*.csv"))
        assert len(cached) == 3 and len(set(cached)) == 1, cached
        import hashlib
        assert cached[0] == hashlib.sha256(csv.read_bytes()).hexdigest() + ".csv"
    finally:
        c.kill()


def test_stop_leaves_users_without_a_row_out_on_a_cluster(target, tmp_path):
    csv = users_csv(tmp_path, 25)
    c = Cluster(3, tmp_path)
    try:
        r = run_runner(BROWSE, "--server-url", target.url, "-u", "10", "-c", "2", "--data", f"users={csv}",
                       "--data-exhausted", "stop", "--agents", "3", "--broker", c.broker.frontend,
                       "--output", "json", "--output-file", tmp_path / "run.json", timeout=120)
        assert r.rc == 0, r.stderr
        j = json.loads((tmp_path / "run.json").read_text())
        assert shop(target)["logins"] == {f"u{i}": 1 for i in range(25)}
        assert j["total"]["users_out_of_data"] == 5
        assert j["total"]["hits"] == 50 and j["total"]["errors"] == 0 and j["total"]["failures"] == 0
        assert j["total"]["skipped"] == 10  # 5 users x 2 hits: hits + skipped is the plan's 60
        assert "Out of data: 5 users" in r.stdout
        assert any("out of data" in m and "\"users\" has 25 rows" in m for m in j["total"]["messages"]), \
            j["total"]["messages"]
    finally:
        c.kill()


def test_wrap_reuses_rows_in_order(target, tmp_path):
    csv = users_csv(tmp_path, 7)
    r = run_runner(BROWSE, "--server-url", target.url, "-u", "10", "-c", "1", "--data", f"users={csv}",
                   "--output", "json")
    assert r.rc == 0, r.stderr
    # Users 7, 8, 9 wrap to rows 0, 1, 2.
    assert shop(target)["logins"] == {**{f"u{i}": 1 for i in range(7)}, "u0": 2, "u1": 2, "u2": 2}


def test_stop_in_a_hit_and_in_the_open_model(target, tmp_path):
    csv = users_csv(tmp_path, 3)
    # Closed: the row asked in each hit; users 3 and 4 stop at their first.
    r = run_runner(f"{CASES_LIB}:DataPerHit.test_row", "--server-url", target.url, "-u", "5", "-c", "4",
                   "--data", f"users={csv}", "--data-exhausted", "stop", "--output", "json")
    assert r.rc == 0, r.stderr
    t = r.json["total"]
    assert t["hits"] == 12 and t["users_out_of_data"] == 2 and t["interrupted"] == 0 and t["skipped"] == 8
    assert {n: v["count"] for n, v in t["names"].items()} == {"row u0": 4, "row u1": 4, "row u2": 4}

    # Open, on 30 ms answers at 200/s (about 6 users busy): the pool stops
    # growing at the first user without a row; every arrival is still
    # accounted for (a hit, or dropped after waiting --timeout for a user).
    target.reset()
    r = run_runner(f"{CASES_LIB}:DataPerHit.test_row_slow", "--server-url", target.url, "--rate", "200", "-d", "1s",
                   "--max-users", "50", "--timeout", "200ms", "--data", f"users={csv}", "--data-exhausted", "stop",
                   "--output", "json", "--threads", "1")
    t = r.json["total"]
    assert t["scheduled"] == 200 == t["hits"] + t["dropped"] + t["interrupted"], t
    assert set(t["names"]) <= {"row u0", "row u1", "row u2"} and t["names"], t["names"]
    assert t["users_out_of_data"] >= 1 and t["dropped"] > 0
    assert t["hits"] == target.stats()["http_requests"]


def test_jsonl_rows_and_config_file(target, tmp_path):
    (tmp_path / "items.jsonl").write_text('{"sku": "A1", "n": 1}\n\n{"sku": "C3", "n": 2.5}\n{"n": null, "sku": "E5"}\n')
    csv = users_csv(tmp_path, 5)
    ini = tmp_path / "run.ini"
    ini.write_text(f'data = "users={csv}" "items={tmp_path / "items.jsonl"}"\ndata-exhausted = stop\n')
    r = run_runner(f"{CASES_LIB}:DataUsers.test_items", "--server-url", target.url, "-u", "2", "-c", "6",
                   "--config", ini, "--output", "json")
    assert r.rc == 0, r.stderr
    assert r.json["total"]["successes"] == 12
    assert r.json["plan"]["data_exhausted"] == "stop" and set(r.json["plan"]["data"]) == {"users", "items"}
    names = {n: v["count"] for n, v in r.json["total"]["names"].items()}
    assert names == {"POST /login": 2, "GET /products/A1": 4, "GET /products/C3": 4, "GET /products/E5": 4}, names


def test_a_test_asking_for_a_set_the_run_lacks_is_an_error_saying_so(target, tmp_path):
    csv = users_csv(tmp_path, 2)
    r = run_runner(f"{CASES_LIB}:DataUsers.test_no_such_set", "--server-url", target.url, "-u", "1", "-c", "1",
                   "--data", f"users={csv}", "--output", "json")
    assert r.rc == 1
    msgs = r.json["total"]["messages"]
    assert any('no data set "nope" in this run' in m and "the run has: users" in m for m in msgs), msgs


BAD = [
    ("missing", None, "no such file"),
    ("ragged.csv", "user,password\nu0,pw-u0\nu1\n", "line 3: 1 field, the header has 2"),
    ("quote.csv", 'user,password\nu0,"pw\n', "line 2: a quoted field is never closed"),
    ("headeronly.csv", "user,password\n", "no rows"),
    ("bad.jsonl", '{"user": "u0"}\n{"user": \n', "line 2: not JSON"),
    ("keys.jsonl", '{"user": "u0"}\n{"name": "u1"}\n', 'line 2: no key "user"'),
    ("users.txt", "user\nu0\n", "unknown format"),
]


@pytest.mark.parametrize("name,text,why", BAD, ids=[b[0] for b in BAD])
def test_a_bad_data_file_is_a_usage_error_before_anything_runs(target, tmp_path, name, text, why):
    path = tmp_path / name
    if text is not None:
        path.write_text(text)
    r = run_runner(BROWSE, "--server-url", target.url, "-u", "1", "-c", "1", "--data", f"users={path}")
    assert r.rc == 2, (r.rc, r.stderr)
    assert f"--data users={path}: " in r.stderr and why in r.stderr, r.stderr
    assert r.stdout == ""
    assert target.stats()["http_requests"] == 0


def test_bad_data_options_are_usage_errors(target, tmp_path):
    csv = users_csv(tmp_path, 2)
    big = tmp_path / "big.csv"
    big.write_text("user\nu0\n")
    os.truncate(big, 64 * 1024 * 1024 + 1)  # sparse: nothing big is written
    cases = [
        (["--data", "users"], "expected NAME=FILE"),
        (["--data", f"={csv}"], "expected NAME=FILE"),
        (["--data", f"us ers={csv}"], "a data set name is"),
        (["--data", f"users={csv}", "--data", f"users={csv}"], '"users" is given twice'),
        (["--data", f"users={big}"], "too large"),
        (["--data-exhausted", "never"], "--data-exhausted"),
    ]
    for extra, why in cases:
        r = run_runner(BROWSE, "--server-url", target.url, "-u", "1", "-c", "1", *extra)
        assert r.rc == 2 and why in r.stderr, (extra, r.rc, r.stderr)
    r = run_runner(target.url + "/", "-u", "1", "-c", "1", "--data", f"users={csv}")
    assert r.rc == 2 and "--data goes with a test library" in r.stderr, r.stderr
    assert target.stats()["http_requests"] == 0
