"""HTTP/1.1 on the wire, against a scripted server on loopback: how a plain
connection's answer is read (agent/src/http1_connection.cpp, read_response
and read_more). No answer is ever missed or cut: one that arrives in pieces,
one larger than the read buffer, one already whole in the socket when the
first read takes part of it, many short ones on kept connections, and a
connection the server closed while it was idle (the client retries once on
a fresh connection, at once, not after its timeout)."""
import socket
import threading
import time

import pytest

from loads_procs import run_runner

BODY_16 = b"0123456789abcdef"


class Server:
    """A keep-alive HTTP/1.1 server, one thread per connection, whose way
    of answering is a function (sock, request_number) -> None."""

    def __init__(self, answer):
        self.answer = answer
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.requests = 0
        self.connections = 0
        self.lock = threading.Lock()
        self.done = threading.Event()
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while not self.done.is_set():
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
            threading.Thread(target=self.serve, args=(c,), daemon=True).start()

    def serve(self, c):
        buf = b""
        try:
            while True:
                while b"\r\n\r\n" not in buf:
                    data = c.recv(65536)
                    if not data:
                        return
                    buf += data
                _, buf = buf.split(b"\r\n\r\n", 1)
                with self.lock:
                    self.requests += 1
                    n = self.requests
                if self.answer(c, n) is False:
                    return
        except OSError:
            pass
        finally:
            c.close()

    def close(self):
        self.done.set()
        self.sock.close()


@pytest.fixture
def server(request):
    s = Server(request.param)
    yield s
    s.close()


def head(length, extra=b""):
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n" % (length, extra)


def in_pieces(c, n):
    # Status line, each header and the body in separate sends, 20 ms apart.
    for piece in (b"HTTP/1.1 200 OK\r\n", b"Content-Length: 16\r\n", b"\r\n", BODY_16[:7], BODY_16[7:]):
        c.sendall(piece)
        time.sleep(0.02)


BIG = 300 * 1024


def big(c, n):
    # Larger than the client's 64 KiB read buffer: several reads, some of
    # which fill the buffer (the socket then still holds bytes).
    c.sendall(head(BIG) + b"x" * BIG)


def medium(c, n):
    # 3 KiB in one send: all of it is in the client's socket before it
    # reads, and its first read on a new connection takes 512 bytes. The
    # rest brings no new readiness event: the client must read on, not wait.
    c.sendall(head(3072) + b"y" * 3072)


def at_once(c, n):
    c.sendall(head(16) + BODY_16)


def idle_close(c, n):
    # Answers as a keep-alive server would, then closes the connection
    # 100 ms later, while the client is idle (its think time is 300 ms):
    # the client learns it only when it next writes.
    c.sendall(head(16) + BODY_16)
    time.sleep(0.1)
    return False


def run(server, *args):
    r = run_runner(server.url + "/", "--output", "json", "--timeout", "5s", *args, timeout=120)
    assert r.rc == 0, r.stderr
    return r, r.json["total"]


@pytest.mark.parametrize("server", [in_pieces], indirect=True)
def test_an_answer_in_pieces_is_read_whole(server):
    r, t = run(server, "-u", "3", "-c", "5")
    assert t["hits"] == 15 and t["successes"] == 15 and t["errors"] == 0, t
    assert t["bytes_received"] == 15 * len(head(16) + BODY_16)
    assert server.requests == 15
    # Five pieces 20 ms apart: each hit takes ~80 ms, far from the timeout.
    assert t["latency"]["percentiles_ns"]["max"] < 2e9, t["latency"]


@pytest.mark.parametrize("server", [big], indirect=True)
def test_an_answer_larger_than_the_buffer_is_read_whole(server):
    r, t = run(server, "-u", "4", "-c", "25")
    assert t["hits"] == 100 and t["successes"] == 100 and t["errors"] == 0, t
    assert t["bytes_received"] == 100 * (len(head(BIG)) + BIG)
    assert server.requests == 100 and server.connections == 4
    assert t["latency"]["percentiles_ns"]["max"] < 2e9, t["latency"]


@pytest.mark.parametrize("server", [medium], indirect=True)
def test_an_answer_already_there_is_read_on_without_waiting(server):
    r, t = run(server, "-u", "4", "-c", "3")
    assert t["hits"] == 12 and t["successes"] == 12 and t["errors"] == 0, t
    assert t["bytes_received"] == 12 * (len(head(3072)) + 3072)
    assert server.requests == 12 and server.connections == 4
    assert t["latency"]["percentiles_ns"]["max"] < 2e9, t["latency"]


@pytest.mark.parametrize("server", [at_once], indirect=True)
def test_many_quick_answers_on_kept_connections(server):
    r, t = run(server, "-u", "8", "-c", "500")
    assert t["hits"] == 4000 and t["successes"] == 4000 and t["errors"] == 0, t
    assert server.requests == 4000 and server.connections == 8
    assert t["latency"]["percentiles_ns"]["max"] < 2e9, t["latency"]


@pytest.mark.parametrize("server", [idle_close], indirect=True)
def test_a_connection_closed_while_idle_is_replaced_at_once(server):
    r, t = run(server, "-u", "2", "-c", "6", "--sleep", "300ms")
    assert t["hits"] == 12 and t["successes"] == 12 and t["errors"] == 0, t
    # Every hit after a user's first found its connection closed: a retry
    # on a new one, and each hit's time is far below the 5 s timeout.
    assert server.connections == 12 and server.requests == 12
    assert t["latency"]["percentiles_ns"]["max"] < 1e9, t["latency"]
    # 6 hits x 300 ms of think time per user, and no timeout waited out.
    assert r.elapsed < 30
