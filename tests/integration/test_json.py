"""JSON bodies in tests (r.json(), post_json, put_json; issue 15) against the
demo target's shop, a JSON API that counts what it did, locally and on two
agents: the test's checks hold and the shop's counts are the test's."""
import json
import urllib.request

from loads_procs import CASES_LIB, Cluster, run_runner


def shop(target):
    with urllib.request.urlopen(target.url + "/stats/shop", timeout=5) as r:
        return json.loads(r.read())


def run_json(target, method, *args):
    return run_runner(f"{CASES_LIB}:Json.{method}", "--server-url", target.url, *args, "--output", "json")


def test_a_json_cart_locally(target):
    # 3 users log in with a JSON body, add two loaves per hit (4 hits) and
    # check the JSON reply's items and total, then log out (on_stop).
    r = run_json(target, "test_cart", "-u", "3", "-c", "4")
    assert r.rc == 0, (r.stderr, r.json["total"]["messages"])
    t = r.json["total"]
    assert t["hits"] == t["successes"] == 12
    s = shop(target)
    assert s["logins"] == {"json0": 1, "json1": 1, "json2": 1}
    assert s["cart_adds"] == 12 and s["cart_items"] == 24 and s["logouts"] == 3


def test_a_json_cart_on_two_agents(target, tmp_path):
    c = Cluster(2, tmp_path)
    try:
        r = run_json(target, "test_cart", "-u", "2", "-c", "5", "--agents", "2", "--broker", c.broker.frontend)
    finally:
        c.kill()
    assert r.rc == 0, (r.stderr, r.json["total"]["messages"])
    assert r.json["total"]["successes"] == 20
    s = shop(target)
    assert len(s["logins"]) == 4 and set(s["logins"].values()) == {1}  # user ids unique across agents
    assert s["cart_items"] == 40 and s["logouts"] == 4


def test_what_put_json_sends_comes_back_equal(target):
    # Nested objects, arrays, unicode, booleans and null survive the round
    # trip; post_json sets Content-Type unless the test gave its own.
    r = run_json(target, "test_echo", "-u", "2", "-c", "3")
    assert r.rc == 0, r.json["total"]["messages"]
    assert r.json["total"]["successes"] == 6


def test_a_body_that_is_not_json_is_a_failure_saying_where(target):
    r = run_json(target, "test_not_json", "-u", "1", "-c", "2")
    assert r.rc == 1
    t = r.json["total"]
    assert t["failures"] == 2 and t["errors"] == 0
    (msg, n), = t["messages"].items()
    assert n == 2
    assert msg.startswith(f"failure: response of {target.url}/ (HTTP 200) is not JSON: "), msg
    assert "at byte 0 of" in msg, msg


def test_json_read_wrongly_is_an_error_of_kind_exception(target):
    r = run_json(target, "test_missing_key", "-u", "1", "-c", "2")
    assert r.rc == 1
    t = r.json["total"]
    assert t["errors"] == 2 and t["errors_by_kind"]["exception"] == 2 and t["failures"] == 0
