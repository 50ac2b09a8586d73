"""The realistic example (issue 15): examples/shop logs in with per-user CSV
rows, fills a JSON cart, mixes weighted browse/buy tasks, counts with custom
counters and checks out in a group. Locally and on 3 agents, the report's
counts, the data rows used (each exactly once) and the custom metrics equal
the shop's own counts."""
import json
import urllib.request
from pathlib import Path

from loads_procs import EXAMPLES, Cluster, run_runner

ROOT = Path(__file__).resolve().parents[2]
SHOP = f"{EXAMPLES}/shop/libshop.so:Shop"
USERS = ROOT / "examples" / "shop" / "users.csv"


def shop_counts(target):
    with urllib.request.urlopen(target.url + "/stats/shop", timeout=5) as r:
        return json.loads(r.read())


def check_against_the_shop(j, shop, users, hits_per_user, qty):
    t = j["total"]
    hits = users * hits_per_user
    assert t["hits"] == t["successes"] == hits, (t["messages"], t["errors"], t["failures"])
    # Weighted tasks: 3 browse for 1 buy, exactly (the hits per user are a multiple of 4).
    tasks = {n: x["count"] for n, x in t["tasks"].items()}
    assert tasks == {"Shop.browse": hits * 3 // 4, "Shop.buy": hits // 4}, tasks
    # Each shopper's row went to one user only, and each logged in and out once.
    assert shop["logins"] == {f"shopper{i:02d}": 1 for i in range(1, users + 1)}, shop["logins"]
    assert shop["logouts"] == users and shop["login_failures"] == 0
    # The custom metrics equal what the shop counted.
    m = t["metrics"]
    assert m["logins"]["total"] == users
    assert m["cart_items"]["total"] == shop["cart_items"] == tasks["Shop.buy"] * 3 * qty
    assert m["orders"]["total"] == shop["orders"] == tasks["Shop.buy"]
    assert shop["order_items"] == shop["cart_items"]
    assert m["order_total"]["count"] == shop["orders"]
    # Requests: every product page and catalogue the test asked for.
    names = t["names"]
    assert names["GET /products"]["count"] + sum(
        x["count"] for n, x in names.items() if n.startswith("GET /products/")) == shop["product_views"]
    assert sum(x["count"] for n, x in names.items() if n.startswith("GET /products/")) == sum(shop["views"].values())
    assert names["POST /cart"]["count"] == shop["cart_adds"]
    assert names["group checkout"]["count"] == tasks["Shop.buy"] and names["group checkout"]["errors"] == 0


def test_shop_locally(target):
    r = run_runner(SHOP, "--server-url", target.url, "--data", f"users={USERS}", "--data-exhausted", "stop",
                   "-u", "10", "-c", "8", "--output", "json",
                   "--threshold", "cart_items:count==120", "--threshold", "group checkout:p95<5s")
    assert r.rc == 0, (r.stdout[-2000:], r.stderr)
    check_against_the_shop(r.json, shop_counts(target), users=10, hits_per_user=8, qty=2)


def test_shop_on_three_agents(target, tmp_path):
    c = Cluster(3, tmp_path)
    try:
        r = run_runner(SHOP, "--server-url", target.url, "--data", f"users={USERS}", "--data-exhausted", "stop",
                       "-u", "10", "-c", "4", "--param", "qty=3", "--agents", "3", "--broker", c.broker.frontend,
                       "--output", "json", timeout=90)
    finally:
        c.kill()
    assert r.rc == 0, (r.stdout[-2000:], r.stderr)
    assert r.json["agents"] == 3
    check_against_the_shop(r.json, shop_counts(target), users=30, hits_per_user=4, qty=3)


def test_shop_runs_out_of_shoppers_and_says_so(target):
    # 50 users for 40 rows under --data-exhausted stop: 10 users stop, named in the summary.
    r = run_runner(SHOP, "--server-url", target.url, "--data", f"users={USERS}", "--data-exhausted", "stop",
                   "-u", "50", "-c", "4", "--output", "json")
    t = r.json["total"]
    assert t["users_out_of_data"] == 10 and t["skipped"] == 40, t
    assert t["hits"] == 160 and t["successes"] == 160
    assert len(shop_counts(target)["logins"]) == 40
