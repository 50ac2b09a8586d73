"""WebSocket and raw TCP in tests and in URL mode, against servers we did
not write (tests/support/peers.py) and against the demo target, whose own
counters must match ours."""
import pytest

from loads_procs import EXAMPLES, SOCKET_LIB, DemoTarget, Peers, run_runner


@pytest.fixture(scope="module")
def peers():
    p = Peers()
    yield p
    p.kill()


def run_case(name, server_url, *extra):
    r = run_runner(f"{SOCKET_LIB}:{name}", "--server-url", server_url, "-u", "2", "-c", "3",
                   "--output", "json", *extra, timeout=60)
    t = r.json["total"]
    assert (r.rc, t["successes"], t["hits"]) == (0, 6, 6), (name, r.stderr, t.get("messages"))
    return t


@pytest.mark.parametrize("case", ["test_text", "test_binary", "test_large", "test_many_sockets",
                                  "test_server_close", "test_refused", "test_callback",
                                  "test_timeout"])
def test_websocket_interop(peers, case):
    t = run_case("Ws." + case, peers.ws)
    if case != "test_refused":
        assert t["ws"]["opened"] >= 6
    if case == "test_large":
        assert t["ws"]["bytes_sent"] == 6 * 2**20
        assert t["ws"]["bytes_received"] == 6 * 2**20
    if case == "test_many_sockets":
        assert t["ws"]["opened"] == 60 and t["ws"]["messages_received"] == 60


@pytest.mark.parametrize("case", ["test_split_delimiter", "test_partial_reads",
                                  "test_peer_closes_early", "test_timeout", "test_echo"])
def test_tcp(peers, case):
    t = run_case("Tcp." + case, peers.tcp)
    assert t["tcp"]["opened"] == 6


def test_ws_url_mode_counters_match_the_target(target):
    ws = target.url.replace("http://", "ws://") + "/ws"
    r = run_runner(ws, "-u", "5", "-c", "10", "--body", "ping", "--expect", "ping",
                   "--output", "json", timeout=60)
    assert r.rc == 0, r.stderr
    t = r.json["total"]
    seen = target.stats()
    assert t["hits"] == 50 and t["successes"] == 50
    assert t["ws"]["opened"] == 5 == seen["ws_connections"]
    assert t["ws"]["messages_sent"] == 50 == seen["ws_messages_received"]
    assert t["ws"]["bytes_sent"] == 200 == seen["ws_bytes_received"]
    assert t["ws"]["messages_received"] == 50 == seen["ws_messages_sent"]
    # The handshakes have their own row, outside the total (the exchanges).
    assert t["names"]["WS connect /ws"]["count"] == 5 and t["latency"]["count"] == 50
    # And the Loads summary shows the same real figures, and says so.
    r = run_runner(ws, "-u", "2", "-c", "3", timeout=60)
    assert "Opened web sockets: 2" in r.stdout
    assert "Bytes received via web sockets: 24" in r.stdout
    assert "(WS connect rows time WebSocket handshakes: not in the latency above" in r.stdout


def test_tcp_url_mode_counts_questions(target):
    r = run_runner(f"tcp://{target.tcp}", "-u", "3", "-c", "4", "--body", "What is your quest?",
                   "--until", ".", "--expect", "To seek the Holy Grail.", "--output", "json",
                   timeout=60)
    assert r.rc == 0, r.stderr
    t = r.json["total"]
    assert t["hits"] == 12 and t["successes"] == 12
    seen = target.stats()
    assert t["tcp"]["opened"] == 3 == seen["tcp_connections"]
    assert seen["tcp_questions"] == 12


def test_wrong_expect_is_a_failure(target):
    r = run_runner(f"tcp://{target.tcp}", "-c", "2", "--body", "What is your name?", "--until", ".",
                   "--expect", "Arthur.", "--output", "json", timeout=60)
    assert r.rc == 1
    assert r.json["total"]["failures"] == 2


def test_launcelot_example_cycles(target):
    r = run_runner(f"{EXAMPLES}/launcelot/liblauncelot.so:TestLauncelot.test_dialog",
                   "--server-url", f"tcp://{target.tcp}", "--config",
                   f"{EXAMPLES}/launcelot/launcelot.ini", "-u", "1:2:3", "-d", "1s",
                   "--output", "json", timeout=60)
    assert r.rc == 0, r.stderr
    j = r.json
    assert [c["users"] for c in j["cycles"]] == [1, 2, 3]
    hits = j["total"]["hits"]
    assert hits > 0 and j["total"]["successes"] == hits
    assert target.stats()["tcp_questions"] == 10 * hits
    assert j["total"]["names"]["launcelot.question"]["count"] == 10 * hits


@pytest.mark.parametrize("m", [10, 100])
def test_chat_fanout_receives_every_copy(m):
    b = DemoTarget("--no-tcp")
    a = DemoTarget("--no-tcp", "--peer", b.url.replace("http://", "ws://"))
    try:
        nodes = f"{a.url.replace('http://', 'ws://')},{b.url.replace('http://', 'ws://')}"
        r = run_runner(f"{EXAMPLES}/chat_fanout/libchat_fanout.so:ChatFanout.test_m{m}",
                       "--server-url", nodes, "-u", "1", "-c", "2", "--output", "json", timeout=60)
        assert r.rc == 0, r.stderr
        t = r.json["total"]
        # s = 3 pushers on node A, one listener on each of n = 2 nodes.
        assert t["ws"]["messages_sent"] == 2 * m
        assert t["ws"]["messages_received"] == 2 * m * (3 + 2)
        assert r.json["total"]["names"][f"fanout.m={m}"]["count"] == 2
    finally:
        a.kill()
        b.kill()


def test_bots_talk_through_the_shared_space(target):
    ws = target.url.replace("http://", "ws://")
    r = run_runner(f"{EXAMPLES}/bots/libbots.so:Bots.test_play", "--server-url", ws,
                   "-u", "200", "-c", "5", "--output", "json", timeout=120)
    assert r.rc == 0, r.stderr
    t = r.json["total"]
    assert t["hits"] == 1000 and t["successes"] == 1000
    assert target.stats()["ws_connections"] == 200
    assert r.json["total"]["names"]["bot.meet"]["count"] == 1000


def test_seed_examples_run_on_agents(tmp_path):
    """The three seed scenarios shipped to two agents as libraries they have
    never seen, against real targets: each agent runs the whole plan."""
    from loads_procs import Cluster
    b = DemoTarget("--no-tcp")
    a = DemoTarget("--peer", b.url.replace("http://", "ws://"))
    c = Cluster(2, tmp_path)
    try:
        common = ("--agents", "2", "--broker", c.broker.frontend, "--output", "json")
        r = run_runner(f"{EXAMPLES}/launcelot/liblauncelot.so:TestLauncelot.test_dialog",
                       "--server-url", f"tcp://{a.tcp}", "-u", "1:2", "-c", "3", *common, timeout=60)
        assert r.rc == 0, r.stderr
        assert r.json["total"]["hits"] == 2 * 9
        assert a.stats()["tcp_questions"] == 10 * 2 * 9

        nodes = f"{a.url.replace('http://', 'ws://')},{b.url.replace('http://', 'ws://')}"
        r = run_runner(f"{EXAMPLES}/chat_fanout/libchat_fanout.so:ChatFanout.test_m10",
                       "--server-url", nodes, "-u", "1", "-c", "2", *common, timeout=60)
        assert r.rc == 0, r.stderr
        t = r.json["total"]
        assert t["hits"] == 4 and t["successes"] == 4
        # Both agents' users share the room, but each counts only its own tags.
        assert t["ws"]["messages_sent"] == 4 * 10
        assert t["ws"]["messages_received"] >= 4 * 10 * (3 + 2)

        a.reset()
        r = run_runner(f"{EXAMPLES}/bots/libbots.so:Bots.test_play", "--server-url",
                       a.url.replace("http://", "ws://"), "-u", "50", "-c", "2", *common, timeout=60)
        assert r.rc == 0, r.stderr
        assert r.json["total"]["hits"] == 200 and r.json["total"]["successes"] == 200
        assert a.stats()["ws_connections"] == 100
    finally:
        c.kill()
        a.kill()
        b.kill()


@pytest.mark.parametrize("case", ["test_close_midstream", "test_close_midstream_callback"])
def test_ws_close_keeps_messages_sent_before_the_close_reply(case):
    """Issue 15: a user closes while the server streams. Every message the
    server sent before it answered our close frame is received and counted
    (queued for receive() or given to on_message), none dropped by the close
    handshake. The server prints how many it sent on each connection."""
    p = Peers()  # its own server: only these 6 connections stream
    try:
        t = run_case("Ws." + case, p.ws)
        done = p.wait_for(lambda l: sum(x.startswith("stream sent ") for x in p.lines) == 6,
                          timeout=30)
        assert done
        sent = [l.split()[2:] for l in p.lines if l.startswith("stream sent ")]
        # Each stream ended on our close frame, mid-stream, not at the cap.
        assert all(why == "closed" for _, why in sent), sent
        total = sum(int(n) for n, _ in sent)
        assert total > 6 * 20, sent
        assert t["ws"]["messages_received"] == total, (t["ws"], sent)
        assert t["ws"]["closed"] == 6
    finally:
        p.kill()


def test_ws_close_returns_when_the_peer_drops_the_connection(peers):
    """close() waits for the peer's close frame (above); a peer that drops
    the connection instead ends the wait at once, not after --timeout."""
    ws = peers.tcp.replace("tcp://", "ws://")
    t = run_case("Ws.test_close_peer_drops", ws, "--timeout", "30s")
    assert t["ws"]["messages_received"] == 6 * 3
