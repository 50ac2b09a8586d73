"""https://, wss:// and TLS over raw TCP against Python's ssl servers
(tests/support/peers.py --tls), with a certificate made for the test:
verified when the runner trusts it, a `tls` error when it does not, and
accepted with -k/--insecure."""
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from loads_procs import RUNNER, SOCKET_LIB, Proc, require_tool

PEERS = Path(__file__).resolve().parents[1] / "support" / "peers.py"

require_tool("openssl", "openssl")  # every test here makes its certificates with it


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True,
                   timeout=60)
    p = Proc(["/usr/bin/python3", PEERS, "--tls", cert, key])
    p.wait_for(lambda l: l == "ready")
    eps = {l.split()[1]: l.split()[2] for l in p.lines if l.startswith("listening ")}
    eps["cert"] = str(cert)
    eps["proc"] = p
    yield eps
    p.kill()


def nonzero(counts):
    return {k: v for k, v in counts.items() if v}


def runner(*args, trust=None):
    env = dict(os.environ)
    env.pop("SSL_CERT_FILE", None)
    env.pop("SSL_CERT_DIR", None)
    if trust:
        env["SSL_CERT_FILE"] = trust  # OpenSSL's default verify paths honour it
    p = subprocess.run([str(RUNNER), *map(str, args), "--output", "json"], capture_output=True,
                       text=True, timeout=60, env=env)
    import json
    return p.returncode, json.loads(p.stdout) if p.stdout.strip() else None, p.stderr


def test_https_verified_with_a_trusted_certificate(tls):
    rc, j, err = runner(f"https://{tls['https']}/", "-u", "2", "-c", "5", trust=tls["cert"])
    assert rc == 0, err
    assert j["total"]["successes"] == 10
    assert nonzero(j["total"]["status_codes"]) == {"200": 10}


def test_https_untrusted_certificate_is_a_tls_error(tls):
    rc, j, err = runner(f"https://{tls['https']}/", "-u", "1", "-c", "3")
    assert rc == 1
    assert j["total"]["errors"] == 3
    assert nonzero(j["total"]["errors_by_kind"]) == {"tls": 3}


def test_insecure_accepts_an_untrusted_certificate(tls):
    rc, j, err = runner(f"https://{tls['https']}/", "-u", "1", "-c", "3", "-k")
    assert rc == 0, err
    assert j["total"]["successes"] == 3


def test_wss_echo(tls):
    rc, j, err = runner(f"wss://{tls['wss']}/echo", "-u", "2", "-c", "4", "--expect", "ping",
                        trust=tls["cert"])
    assert rc == 0, err
    assert j["total"]["successes"] == 8
    assert j["total"]["ws"]["opened"] == 2


def test_wss_close_keeps_messages_sent_before_the_close_reply(tls):
    """test_sockets' close-mid-stream case over TLS (the close handshake's
    teardown is TLS's): what the server sent before its close reply all
    arrives. Only this test uses /stream on this server."""
    p = tls["proc"]
    rc, j, err = runner(f"{SOCKET_LIB}:Ws.test_close_midstream", "--server-url", f"wss://{tls['wss']}",
                        "-u", "2", "-c", "3", trust=tls["cert"])
    assert rc == 0, (err, j and j["total"]["messages"])
    assert j["total"]["successes"] == 6
    p.wait_for(lambda l: sum(x.startswith("stream sent ") for x in p.lines) == 6, timeout=30)
    sent = [l.split()[2:] for l in p.lines if l.startswith("stream sent ")]
    assert all(why == "closed" for _, why in sent), sent
    total = sum(int(n) for n, _ in sent)
    assert total > 6 * 20, sent
    assert j["total"]["ws"]["messages_received"] == total, (j["total"]["ws"], sent)


def test_wss_untrusted_is_a_tls_error(tls):
    rc, j, err = runner(f"wss://{tls['wss']}/echo", "-u", "1", "-c", "2")
    assert rc == 1
    assert nonzero(j["total"]["errors_by_kind"]) == {"tls": 2}


def test_tcp_over_tls(tls):
    rc, j, err = runner(f"{SOCKET_LIB}:Tls.test_tcp_echo", "--server-url", f"tcp://{tls['tcps']}",
                        "-u", "2", "-c", "3", trust=tls["cert"])
    assert rc == 0, (err, j and j["total"]["messages"])
    assert j["total"]["successes"] == 6
    assert j["total"]["tcp"]["opened"] == 6


def test_sni_is_the_host_name_and_never_an_address(tls):
    """HTTPS, WSS and TLS over TCP send the URL's host name as SNI and check
    the certificate against it; an address literal is not sent (RFC 6066)."""
    p = tls["proc"]

    def sends_sni(action, expected):
        # Lines of earlier tests' handshakes may still be arriving: wait for
        # the expected one rather than take the first.
        before = len(p.lines)
        action()
        p.wait_for(lambda l: f"sni {expected}" in p.lines[before:], timeout=10)

    def by_name(url, *args):
        def run():
            rc, j, err = runner(url, *args, "-u", "1", "-c", "2", trust=tls["cert"])
            assert rc == 0, (err, j and j["total"]["messages"])
            assert j["total"]["successes"] == 2
        return run

    https_port = tls["https"].rsplit(":", 1)[1]
    wss_port = tls["wss"].rsplit(":", 1)[1]
    tcps_port = tls["tcps"].rsplit(":", 1)[1]
    sends_sni(by_name(f"https://localhost:{https_port}/"), "localhost")
    sends_sni(by_name(f"wss://localhost:{wss_port}/echo", "--expect", "ping"), "localhost")
    sends_sni(by_name(f"{SOCKET_LIB}:Tls.test_tcp_echo", "--server-url", f"tcp://localhost:{tcps_port}"), "localhost")
    # By address: no SNI (the server reads lines in handshake order: a None
    # after the last localhost), and never the address itself.
    by_name(f"https://{tls['https']}/")()
    last_name = max(i for i, x in enumerate(p.lines) if x == "sni localhost")
    p.wait_for(lambda l: "sni None" in p.lines[last_name:], timeout=10)
    assert not [x for x in p.lines if x.startswith("sni 127.")], p.lines
