"""WebSocket callbacks (issue 12; loads.hpp, WsOptions::on_message): send()
from inside on_message is queued and written by the engine (an echo
ping-pong driven by the callback alone, counts exact), a socket destroyed
while the server pushes never calls its callback again, and what a callback
throws (or a wait it tries) ends the hit in the user's next call on the
socket. Against tests/support/peers.py."""
import pytest

from loads_procs import SOCKET_LIB, Peers, run_runner

ROUNDS = 50  # WsCallbacks::kRounds


@pytest.fixture(scope="module")
def peers():
    p = Peers()
    yield p
    p.kill()


def run_case(name, peers, *extra):
    r = run_runner(f"{SOCKET_LIB}:WsCallbacks.{name}", "--server-url", peers.ws, "-u", "2", "-c", "3",
                   "--output", "json", *extra, timeout=60)
    assert r.rc in (0, 1), r.stderr
    return r, r.json["total"]


def test_send_from_on_message_ping_pong(peers):
    r, t = run_case("test_echo_from_callback", peers)
    assert (r.rc, t["hits"], t["successes"]) == (0, 6, 6), t.get("messages")
    # Per hit: "0" from the user, then one send per echo up to ROUNDS.
    assert t["ws"]["messages_sent"] == 6 * (ROUNDS + 1)
    assert t["ws"]["messages_received"] == 6 * (ROUNDS + 1)
    assert "messages" not in t or not t["messages"], t["messages"]


def test_destroyed_socket_never_calls_back(peers):
    r, t = run_case("test_destroy_while_pushing", peers)
    assert (r.rc, t["hits"], t["successes"]) == (0, 6, 6), t.get("messages")
    assert t["ws"]["opened"] == 30


@pytest.mark.parametrize("case,kind,message", [
    ("test_callback_throws_int", "error", "exception: threw int 42"),
    ("test_callback_fails_check", "failure", 'failure: echo: expected "y", got "x"'),
    ("test_callback_waits", "error",
     "exception: std::logic_error: a WebSocket on_message callback cannot wait (request, sleep, receive, "
     "close, connect): it runs on the socket's reader; send() from it is queued"),
])
def test_what_a_callback_throws_ends_the_hit(peers, case, kind, message):
    r, t = run_case(case, peers)
    assert r.rc == 1
    assert t["hits"] == 6 and t["successes"] == 0
    if kind == "error":
        assert t["errors"] == 6 and t["errors_by_kind"]["exception"] == 6
    else:
        assert t["failures"] == 6 and t["errors"] == 0
    assert t["messages"] == {message: 6}, t["messages"]
