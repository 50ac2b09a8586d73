"""A cluster across hosts of its own (issue 16): broker, agents, runner and
target each in a network namespace with its own address, joined by a bridge
(tests/support/netns.py; created here and removed afterwards, no traffic
leaves them). With CURVE the run works and nothing of it crosses the wire in
clear; with --insecure the same run shows its URL to a sniffer; peers
without an allowed key are refused; an agent's --allow keeps its users away
from other hosts."""
import json
import subprocess

import pytest

from pathlib import Path

from loads_procs import AGENT, BROKER, CASES_LIB, DEMO, RUNNER, key_file

SUBSCRIBER = Path(__file__).resolve().parents[2] / "examples" / "subscriber" / "loads_subscribe.py"
from netns import Net, Sniffer

SECRET = "only-in-the-test-9f3a"  # in the run's URL: what the sniffer looks for


@pytest.fixture
def net():
    n = Net("broker", "agents", "runner", "target", "other")
    try:
        yield n
    finally:
        n.close()


@pytest.fixture
def keys(tmp_path):
    for d in ("agents", "runners", "others"):
        (tmp_path / d).mkdir()
    k = {}
    for name, d in [("broker", ""), ("a0", "agents"), ("a1", "agents"), ("a2", "agents"), ("r0", "runners"),
                    ("x0", "others")]:
        p = subprocess.run([str(BROKER), "keygen", name, "--dir", str(tmp_path / d)], capture_output=True,
                           text=True, timeout=10)
        assert p.returncode == 0, p.stderr
        k[name] = (tmp_path / d / f"{name}.key", tmp_path / d / f"{name}.pub")
    k["dir"] = tmp_path
    return k


def start_broker(net, *extra):
    a = net.addr["broker"]
    b = net.proc("broker", [BROKER, "--frontend", f"tcp://{a}:7780", "--backend", f"tcp://{a}:7781",
                            "--publisher", f"tcp://{a}:7782", "--heartbeat", "200ms", "--liveness", "1500ms", *extra])
    b.wait_for(lambda l: l == "ready")
    return b


def start_target(net):
    t = net.proc("target", [DEMO, "--host", net.addr["target"], "--http-port", "8080", "--no-tcp"])
    t.wait_for(lambda l: l == "ready")
    return t


def target_requests(net):
    p = net.run("runner", ["/usr/bin/python3", "-c",
                           f"import urllib.request;print(urllib.request.urlopen('http://{net.addr['target']}:8080/stats',"
                           f" timeout=5).read().decode())"])
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)["http_requests"]


def curve(keys, name):
    return ["--curve-key", keys[name][0], "--broker-pub", keys["broker"][1]]


def start_agents(net, names, extra_of):
    agents = []
    for n in names:
        a = net.proc("agents", [AGENT, "--broker", f"tcp://{net.addr['broker']}:7781", "--id", n, "--threads", "1",
                                "--allow", f"{net.addr['target']}:8080", *extra_of(n)])
        agents.append(a)
    for a in agents:
        a.wait_for(lambda l: l.startswith("registered "))
    return agents


def run(net, *args, timeout=90):
    return net.run("runner", [RUNNER, *args], timeout=timeout)


def test_a_curve_cluster_across_hosts_runs_and_hides_its_traffic(net, keys, tmp_path):
    d = keys["dir"]
    target = start_target(net)
    broker = start_broker(net, "--curve-key", keys["broker"][0], "--allow-agents", d / "agents",
                          "--allow-runners", d / "runners")
    procs = [target, broker]
    try:
        procs += start_agents(net, ["a0", "a1", "a2"], lambda n: curve(keys, n))
        sniffer = Sniffer(net, "broker", tmp_path / "curve.pcap")
        url = f"http://{net.addr['target']}:8080/delay?ms=0&secret={SECRET}&token=hunter2"
        r = run(net, url, "-u", "2", "-c", "5", "--agents", "3", "--broker", f"tcp://{net.addr['broker']}:7780",
                *curve(keys, "r0"), "--output", "json")
        seen = sniffer.stop()
        j = json.loads(r.stdout)
        assert r.returncode == 0, (j["total"]["messages"], j["events"], j.get("error"), r.stderr)
        hits = j["total"]["hits"]
        assert hits == 30 == target_requests(net) - 0
        # The sniffer saw the run's traffic, but none of it in clear.
        assert len(seen) > 10_000
        assert SECRET.encode() not in seen and b"hunter2" not in seen and b"SUBMIT" not in seen
        assert key_file(keys["r0"][0])["secret-key"].encode() not in seen

        # Peers without an allowed key, from their own hosts: refused, nothing runs.
        r = run(net, url, "-c", "1", "--agents", "1", "--broker", f"tcp://{net.addr['broker']}:7780",
                "--broker-timeout", "3s")
        assert r.returncode == 2 and "requires CURVE" in r.stderr, r.stderr
        x = net.proc("other", [AGENT, "--broker", f"tcp://{net.addr['broker']}:7781", "--id", "x0",
                               *curve(keys, "x0")])
        procs.append(x)
        import time
        deadline = time.monotonic() + 15
        while "refused this peer's key" not in x.stderr_text():
            assert time.monotonic() < deadline, x.stderr_text()
            time.sleep(0.05)
        # A subscriber without a key, from another host: refused, says why.
        sub = net.run("other", ["/usr/bin/python3", SUBSCRIBER, "--publisher", f"tcp://{net.addr['broker']}:7782",
                                "--timeout", "5"], timeout=30)
        assert sub.returncode == 1 and "requires CURVE" in sub.stderr, sub.stderr
        assert target_requests(net) == 30
        st = run(net, "--check-cluster", "--broker", f"tcp://{net.addr['broker']}:7780", *curve(keys, "r0"))
        assert st.returncode == 0 and "key a2" in st.stdout and "backend 3/" in st.stdout, st.stdout
        assert "x0" not in st.stdout.split("Agents:")[1]
    finally:
        for p in procs:
            p.kill()


def test_without_curve_a_sniffer_reads_the_run(net, tmp_path):
    target = start_target(net)
    # Not loopback: refused without keys, unless --insecure.
    a = net.addr["broker"]
    p = net.run("broker", [BROKER, "--frontend", f"tcp://{a}:7780"], timeout=10)
    assert p.returncode == 2 and "without CURVE" in p.stderr, p.stderr
    broker = start_broker(net, "--insecure")
    procs = [target, broker]
    try:
        procs += start_agents(net, ["a0"], lambda n: [])
        sniffer = Sniffer(net, "broker", tmp_path / "clear.pcap")
        url = f"http://{net.addr['target']}:8080/delay?ms=0&secret={SECRET}"
        r = run(net, url, "-c", "3", "--agents", "1", "--broker", f"tcp://{net.addr['broker']}:7780",
                "--output", "json")
        seen = sniffer.stop()
        assert r.returncode == 0, r.stderr
        assert SECRET.encode() in seen and b"SUBMIT" in seen
    finally:
        for p in procs:
            p.kill()


def test_an_agent_keeps_its_users_inside_its_allow_list(net, tmp_path):
    target = start_target(net)
    other = net.proc("other", [DEMO, "--host", net.addr["other"], "--http-port", "8080", "--no-tcp"])
    other.wait_for(lambda l: l == "ready")
    broker = start_broker(net, "--insecure")
    procs = [target, other, broker]
    try:
        procs += start_agents(net, ["a0"], lambda n: [])
        # The run's URL is another host: refused before it starts, with the reason.
        r = run(net, f"http://{net.addr['other']}:8080/", "-c", "3", "--agents", "1",
                "--broker", f"tcp://{net.addr['broker']}:7780")
        assert r.returncode != 0 and "--allow" in r.stderr + r.stdout, (r.stdout, r.stderr)
        p = net.run("runner", ["/usr/bin/python3", "-c",
                               f"import urllib.request;print(urllib.request.urlopen('http://{net.addr['other']}:8080/stats',"
                               f" timeout=5).read().decode())"])
        assert json.loads(p.stdout)["http_requests"] == 0
        # A test library that connects to the other host itself: every
        # connection refused before it is made (kind forbidden), and no packet
        # reaches that host (a sniffer on its link sees none from the agents).
        sniffer = Sniffer(net, "other", tmp_path / "other.pcap")
        r = run(net, f"{CASES_LIB}:Outside.test_http", "--server-url", f"http://{net.addr['target']}:8080",
                "--param", f"url=http://{net.addr['other']}:8080/", "-c", "4", "--agents", "1",
                "--broker", f"tcp://{net.addr['broker']}:7780", "--output", "json")
        seen = sniffer.stop()
        t = json.loads(r.stdout)["total"]
        assert t["hits"] == 4 and t["errors_by_kind"]["forbidden"] == 4, t
        assert sniffer.ipv4_from(net.addr["agents"]) == [], "a packet from the agents' host reached the other host"
        assert len(sniffer.frames) >= 0 and seen is not None
    finally:
        for p in procs:
            p.kill()
