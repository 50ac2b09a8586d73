"""HTTP/2 (issue 14) against real servers: nghttpd (nghttp2-server) and nginx
with http2, over cleartext with prior knowledge (h2c) and over TLS with ALPN.
loads' counts must equal what the servers logged; --streams N must really
put N requests in flight on one connection (nghttpd's frame log shows N
HEADERS received before the first response); errors come by kind."""
import json
import os
import re
import socket
import struct
import subprocess
import threading
import time
from pathlib import Path

import pytest

from loads_procs import CASES_LIB, RUNNER, DemoTarget, Proc, free_port, require_tool

require_tool("nghttpd", "nghttp2-server")
require_tool("nginx", "nginx")
require_tool("openssl", "openssl")


def runner(*args, trust=None, timeout=60):
    env = dict(os.environ)
    env.pop("SSL_CERT_DIR", None)
    env.pop("SSL_CERT_FILE", None)
    if trust:
        env["SSL_CERT_FILE"] = str(trust)
    p = subprocess.run([str(RUNNER), *map(str, args), "--output", "json", "-q"], capture_output=True, text=True,
                       timeout=timeout, env=env)
    return p.returncode, json.loads(p.stdout) if p.stdout.strip() else None, p.stderr


def nonzero(counts):
    return {k: v for k, v in counts.items() if v}


def wait_port(port, proc=None, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"server exited: {proc.args} (its logs are in the test's tmp dir)")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listens on {port}")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    d = tmp_path_factory.mktemp("h2")
    www = d / "www"
    www.mkdir()
    (www / "index.html").write_text("hello over h2\n")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True, timeout=60)
    os.chmod(d, 0o755)
    return {"dir": d, "www": www, "cert": cert, "key": key}


class Nghttpd:
    """nghttpd -v: its frame log is how we count what it received."""

    def __init__(self, site, tls):
        self.port = free_port()
        self.log = open(site["dir"] / f"nghttpd-{self.port}.log", "w+")
        args = ["nghttpd", "-v", "-a", "127.0.0.1", "-d", str(site["www"]), str(self.port)]
        args += [str(site["key"]), str(site["cert"])] if tls else ["--no-tls"]
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)
        wait_port(self.port, self.proc)

    def text(self):
        self.log.flush()
        return Path(self.log.name).read_text()

    def requests(self):
        """[(connection id, stream id)] of every request HEADERS received."""
        return [(int(c), int(s)) for c, s in re.findall(r"\[id=(\d+)\] \[[ 0-9.]+\] recv HEADERS frame <[^>]*stream_id=(\d+)>",
                                                         self.text())]

    def in_flight_before_first_answer(self):
        """Per connection: request HEADERS received before the first response HEADERS was sent."""
        seen, answered = {}, set()
        for c, what in re.findall(r"\[id=(\d+)\] \[[ 0-9.]+\] (recv|send) HEADERS frame", self.text()):
            if what == "send":
                answered.add(c)
            elif c not in answered:
                seen[c] = seen.get(c, 0) + 1
        return seen

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.log.close()


def settle(count, predicate, timeout=5.0):
    """Servers log after they answer: wait (bounded) for the log to catch up."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not predicate(count()):
        time.sleep(0.05)
    return count()


@pytest.fixture
def h2c(site):
    s = Nghttpd(site, tls=False)
    yield s
    s.stop()


@pytest.fixture
def h2tls(site):
    s = Nghttpd(site, tls=True)
    yield s
    s.stop()


NGINX_CONF = """
user root;
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/nginx-error.log warn;
events {{ worker_connections 256; }}
http {{
    log_format fmt '$server_port $connection $connection_requests $server_protocol $status $request_method $uri';
    access_log {dir}/access.log fmt;
    client_body_temp_path {dir}/tmp; proxy_temp_path {dir}/tmp; fastcgi_temp_path {dir}/tmp;
    uwsgi_temp_path {dir}/tmp; scgi_temp_path {dir}/tmp;
    keepalive_requests 100000;
    server {{
        listen 127.0.0.1:{tls} ssl http2;
        listen 127.0.0.1:{h2c} http2;
        listen 127.0.0.1:{h1tls} ssl;
        listen 127.0.0.1:{h1};
        ssl_certificate {cert};
        ssl_certificate_key {key};
        root {www};
        location /teapot {{ return 418; }}
        location /hop {{ return 302 /index.html; }}
    }}
}}
"""


@pytest.fixture(scope="module")
def nginx(site):
    d = site["dir"] / "nginx"
    (d / "tmp").mkdir(parents=True)
    ports = {"tls": free_port(), "h2c": free_port(), "h1tls": free_port(), "h1": free_port()}
    conf = d / "nginx.conf"
    conf.write_text(NGINX_CONF.format(dir=d, cert=site["cert"], key=site["key"], www=site["www"], **ports))
    p = subprocess.Popen(["nginx", "-c", str(conf), "-p", str(d)], stdout=subprocess.DEVNULL,
                         stderr=open(d / "stderr.log", "w"))
    for port in ports.values():
        wait_port(port, p)
    ports["log"] = d / "access.log"
    yield ports
    p.terminate()
    p.wait(timeout=10)


def nginx_lines(nginx, port):
    if not nginx["log"].exists():
        return []
    return [l.split() for l in nginx["log"].read_text().splitlines() if l.split()[0] == str(port)]


def test_h2c_prior_knowledge_counts_equal_nghttpd(h2c):
    rc, j, err = runner(f"http://127.0.0.1:{h2c.port}/index.html", "--http2", "-u", "3", "-c", "7",
                        "--expect", "hello over h2")
    assert rc == 0, err
    t = j["total"]
    assert t["hits"] == 21 and t["successes"] == 21 and t["requests"] == 21, t
    assert nonzero(t["status_codes"]) == {"200": 21}
    reqs = settle(h2c.requests, lambda r: len(r) >= 21)
    assert len(reqs) == 21, reqs
    assert len({c for c, _ in reqs}) == 3, reqs  # one connection per user, kept alive
    assert max(s for _, s in reqs) == 13  # 7 requests on a connection: streams 1, 3, ..., 13


def test_streams_are_concurrent_on_one_connection(h2c):
    rc, j, err = runner(f"http://127.0.0.1:{h2c.port}/index.html", "--http2", "--streams", "10",
                        "-u", "2", "-c", "5")
    assert rc == 0, err
    t = j["total"]
    assert t["hits"] == 10 and t["successes"] == 10, t
    assert t["requests"] == 100, t
    assert nonzero(t["status_codes"]) == {"200": 100}
    reqs = settle(h2c.requests, lambda r: len(r) >= 100)
    assert len(reqs) == 100
    assert len({c for c, _ in reqs}) == 2
    # Each connection had all 10 streams of its first hit open at once.
    assert sorted(h2c.in_flight_before_first_answer().values()) == [10, 10], h2c.in_flight_before_first_answer()


def test_header_fields_are_lower_case_without_connection_fields(h2c):
    """HTTP/2 wants lower-case names and no HTTP/1.1 connection fields: the
    header block is built from the same request HTTP/1.1 serialises."""
    rc, j, err = runner(f"http://127.0.0.1:{h2c.port}/index.html", "--http2", "-u", "1", "-c", "1",
                        "-H", "X-Trace-Id: abc123", "-H", "Connection: keep-alive", "-H", "Keep-Alive: 5")
    assert rc == 0, err
    text = settle(h2c.text, lambda t: "recv HEADERS" in t)
    assert "recv (stream_id=1) x-trace-id: abc123" in text, text
    assert "user-agent: loads/" in text and ":authority: 127.0.0.1:" in text, text
    assert not re.search(r"recv \(stream_id=1\) (connection|keep-alive|host):", text, re.I), text


def test_h2_over_tls_with_alpn(h2tls, site):
    rc, j, err = runner(f"https://localhost:{h2tls.port}/index.html", "--http2", "--streams", "4",
                        "-u", "2", "-c", "3", "--expect", "hello", trust=site["cert"])
    assert rc == 0, err
    t = j["total"]
    assert t["requests"] == 24 and t["successes"] == 6, t
    assert len(settle(h2tls.requests, lambda r: len(r) >= 24)) == 24


def test_h2_over_tls_untrusted_is_a_tls_error(h2tls):
    rc, j, err = runner(f"https://localhost:{h2tls.port}/index.html", "--http2", "-u", "1", "-c", "2")
    assert nonzero(j["total"]["errors_by_kind"]) == {"tls": 2}, j["total"]
    assert h2tls.requests() == []


def test_nginx_h2_tls_and_h2c_counts_equal_access_log(nginx, site):
    for port, scheme, extra in ((nginx["tls"], "https", ("--streams", "10")), (nginx["h2c"], "http", ())):
        rc, j, err = runner(f"{scheme}://localhost:{port}/index.html", "--http2", *extra, "-u", "4", "-c", "5",
                            trust=site["cert"])
        assert rc == 0, err
        t = j["total"]
        want = 4 * 5 * (10 if extra else 1)
        assert t["requests"] == want and t["errors"] == 0, t
        lines = settle(lambda: nginx_lines(nginx, port), lambda l: len(l) >= want)
        assert len(lines) == want, lines[:3]
        assert {l[3] for l in lines} == {"HTTP/2.0"}
        assert {l[4] for l in lines} == {"200"}
        assert len({l[1] for l in lines}) == 4  # a connection per user


def test_streams_follow_redirects_each(nginx):
    # --follow-redirects with --streams: each stream follows its own 302, the
    # hops of a hit together on one connection; every hop counted.
    port = nginx["h2c"]
    before = len(nginx_lines(nginx, port))  # the log is the module's: other tests' lines first
    rc, j, err = runner(f"http://127.0.0.1:{port}/hop", "--http2", "--streams", "5", "--follow-redirects",
                        "-u", "2", "-c", "3")
    assert rc == 0, err
    t = j["total"]
    assert t["hits"] == 6 and t["successes"] == 6, t
    assert t["requests"] == 60 and nonzero(t["status_codes"]) == {"302": 30, "200": 30}, t
    assert t["names"]["GET /hop"]["count"] == 30 and t["names"]["GET /index.html"]["count"] == 30
    lines = settle(lambda: nginx_lines(nginx, port)[before:], lambda l: len(l) >= 60)
    assert sorted((l[4], l[6]) for l in lines) == [("200", "/index.html")] * 30 + [("302", "/hop")] * 30
    assert {l[3] for l in lines} == {"HTTP/2.0"} and len({l[1] for l in lines}) == 2


def test_nginx_4xx_is_a_failure_over_h2(nginx):
    rc, j, err = runner(f"http://127.0.0.1:{nginx['h2c']}/teapot", "--http2", "-u", "1", "-c", "3")
    t = j["total"]
    assert t["failures"] == 3 and nonzero(t["status_codes"]) == {"418": 3}, t


def test_https_falls_back_to_http11_when_the_server_picks_it(nginx, site):
    port = nginx["h1tls"]
    rc, j, err = runner(f"https://localhost:{port}/index.html", "--http2", "-u", "2", "-c", "4", trust=site["cert"])
    assert rc == 0, err
    assert j["total"]["successes"] == 8
    lines = settle(lambda: nginx_lines(nginx, port), lambda l: len(l) >= 8)
    assert len(lines) == 8 and {l[3] for l in lines} == {"HTTP/1.1"}
    assert len({l[1] for l in lines}) == 2  # the ALPN connection itself carries HTTP/1.1


def test_session_http2_from_a_test_library(h2c):
    rc, j, err = runner(f"{CASES_LIB}:Http2.test_get", "--param", f"url=http://127.0.0.1:{h2c.port}/index.html",
                        "--param", "expect=hello over h2", "-u", "2", "-c", "3")
    assert rc == 0, err
    assert j["total"]["successes"] == 6, j["total"]
    assert len(settle(h2c.requests, lambda r: len(r) >= 6)) == 6


def test_parallel_requests_from_one_user_share_a_connection(h2c):
    rc, j, err = runner(f"{CASES_LIB}:Http2.test_parallel", "--param", f"url=http://127.0.0.1:{h2c.port}/index.html",
                        "--param", "expect=hello over h2", "--param", "n=8", "-u", "2", "-c", "2")
    assert rc == 0, err
    t = j["total"]
    assert t["successes"] == 4 and t["requests"] == 32, t
    reqs = settle(h2c.requests, lambda r: len(r) >= 32)
    assert len(reqs) == 32 and len({c for c, _ in reqs}) == 2, reqs
    assert sorted(h2c.in_flight_before_first_answer().values()) == [8, 8], h2c.in_flight_before_first_answer()


def test_connection_refused_is_a_connect_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))  # bound, never listening: refused
        port = s.getsockname()[1]
        rc, j, err = runner(f"http://127.0.0.1:{port}/", "--http2", "--streams", "3", "-u", "1", "-c", "2")
    t = j["total"]
    assert t["hits"] == 2 and nonzero(t["errors_by_kind"]) == {"connect": 2}, t


def test_http11_server_answering_the_preface_is_an_h2_protocol_error(nginx):
    """nginx's HTTP/1.1 listener answers the preface with a 400 page, which
    is no SETTINGS frame: a connection error, never a response."""
    rc, j, err = runner(f"http://127.0.0.1:{nginx['h1']}/index.html", "--http2", "-u", "1", "-c", "2")
    t = j["total"]
    assert t["hits"] == 2 and t["requests"] == 0, t
    assert nonzero(t["errors_by_kind"]) == {"h2-protocol": 2}, t


def test_a_server_closing_on_the_preface_is_a_reset():
    demo = DemoTarget()
    try:
        rc, j, err = runner(f"{demo.url}/", "--http2", "-u", "1", "-c", "2")
        t = j["total"]
        assert t["hits"] == 2 and nonzero(t["errors_by_kind"]) == {"reset": 2}, t
    finally:
        demo.kill()


# --- a raw HTTP/2 peer that refuses or resets streams, or says GOAWAY -------

def frame(kind, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


class RawH2:
    """Answers every request HEADERS with RST_STREAM `code`, or with GOAWAY
    (last stream 0) when code is None. Counts the HEADERS it got."""

    def __init__(self, code):
        self.code, self.headers = code, 0
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.conn, args=(c,), daemon=True).start()

    def conn(self, c):
        with c:
            buf = b""
            try:
                c.sendall(frame(4, 0, 0))  # SETTINGS
                while True:
                    data = c.recv(65536)
                    if not data:
                        return
                    buf += data
                    if buf.startswith(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"):
                        buf = buf[24:]
                    while len(buf) >= 9:
                        n = int.from_bytes(buf[:3], "big")
                        if len(buf) < 9 + n:
                            break
                        kind, flags, stream = buf[3], buf[4], int.from_bytes(buf[5:9], "big") & 0x7FFFFFFF
                        buf = buf[9 + n:]
                        if kind == 4 and not flags & 1:
                            c.sendall(frame(4, 1, 0))  # SETTINGS ack
                        elif kind == 1:
                            self.headers += 1
                            if self.code is None:
                                c.sendall(frame(7, 0, 0, struct.pack(">II", 0, 0)))
                            else:
                                c.sendall(frame(3, 0, stream, struct.pack(">I", self.code)))
            except OSError:
                return

    def close(self):
        self.sock.close()


@pytest.mark.parametrize("code,kind", [(7, "h2-refused"), (2, "h2-reset"), (1, "h2-protocol")])
def test_rst_stream_errors_by_kind(code, kind):
    peer = RawH2(code)
    try:
        rc, j, err = runner(f"http://127.0.0.1:{peer.port}/", "--http2", "--streams", "2", "-u", "1", "-c", "3")
        t = j["total"]
        assert t["hits"] == 3 and t["requests"] == 0 and t["request_errors"] == 6, t
        assert nonzero(t["errors_by_kind"]) == {kind: 3}, t
    finally:
        peer.close()


def test_goaway_refuses_the_streams_above_its_last_id():
    peer = RawH2(None)
    try:
        rc, j, err = runner(f"http://127.0.0.1:{peer.port}/", "--http2", "-u", "1", "-c", "2")
        t = j["total"]
        assert nonzero(t["errors_by_kind"]) == {"h2-refused": 2}, t
    finally:
        peer.close()
