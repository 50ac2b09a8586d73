"""Issue 16: what an agent accepts and what anyone connected can read.

- A SUBMIT whose library is a shared object but not a loads test library
  (sent as an attacker would: the runner's own SUBMIT, captured, with its
  library swapped) is refused at PREPARE with the reason, its constructor
  never runs, and the agent's cache no longer holds it.
- A library over the agent's --max-library-size is refused.
- An agent whose --cache-dir group/others can write (or that is a symbolic
  link) refuses to start.
- STATUS, --check-cluster and the PUB stream show a run's URL without its
  query values; headers and bodies never travel on them.
"""
import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

import msgpack
import zmq

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))

from loads_procs import (AGENT, CASES_LIB, RUNNER, Agent, Broker, Cluster, Proc,  # noqa: E402
                         run_runner)


def build_marker_library(tmp_path, marker):
    """A plain shared object whose constructor creates `marker`."""
    src = tmp_path / "evil.c"
    src.write_text('#include <stdio.h>\n'
                   '__attribute__((constructor)) static void run_me(void) {\n'
                   f'    FILE* f = fopen("{marker}", "w");\n'
                   '    if (f) { fputs("constructor ran\\n", f); fclose(f); }\n'
                   '}\n'
                   'int not_loads(void) { return 42; }\n')
    lib = tmp_path / "evil.so"
    subprocess.run(["cc", "-shared", "-fPIC", "-o", str(lib), str(src)], check=True, timeout=60)
    return lib


def raw_status(frontend):
    """The broker's STATUS reply as it came (its body's bytes)."""
    s = zmq.Context.instance().socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    s.connect(frontend)
    try:
        s.send_multipart([b"STATUS", msgpack.packb({"v": 2})])
        assert s.poll(10000), "no STATUS reply"
        cmd, body = s.recv_multipart()
        assert cmd == b"STATUS"
        return body
    finally:
        s.close()


def captured_submit(frontend):
    """The SUBMIT body the runner sends for a real library test, caught by a
    ROUTER of ours that answers its STATUS with the real broker's (we answer
    the SUBMIT with ERROR so the runner ends)."""
    status = raw_status(frontend)
    ctx = zmq.Context.instance()
    router = ctx.socket(zmq.ROUTER)
    router.setsockopt(zmq.LINGER, 0)
    port = router.bind_to_random_port("tcp://127.0.0.1")
    runner = subprocess.Popen([str(RUNNER), f"{CASES_LIB}:Json.test_echo", "-u", "1", "-c", "1",
                               "--agents", "1", "--broker", f"tcp://127.0.0.1:{port}"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert time.monotonic() < deadline, "the runner sent no SUBMIT"
            if not router.poll(1000):
                continue
            frames = router.recv_multipart()
            if frames[1] == b"STATUS":
                router.send_multipart([frames[0], b"STATUS", status])
            if frames[1] == b"SUBMIT":
                break
        router.send_multipart([frames[0], b"ERROR",
                               msgpack.packb({"v": 2, "code": "bad-run", "message": "captured by a test"})])
        runner.wait(timeout=30)
        return msgpack.unpackb(frames[2], raw=False, strict_map_key=False)
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait(timeout=10)
        router.close()


def submit_raw(frontend, body, timeout=30):
    """Sends SUBMIT as a bare client would; returns the RUN_FINISHED summary."""
    ctx = zmq.Context.instance()
    s = ctx.socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    s.connect(frontend)
    try:
        s.send_multipart([b"SUBMIT", msgpack.packb(body, use_bin_type=True)])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not s.poll(500):
                continue
            cmd, raw = s.recv_multipart()
            msg = msgpack.unpackb(raw, raw=False, strict_map_key=False)
            if cmd == b"RUN_FINISHED":
                return msg["summary"]
            assert cmd in (b"SUBMITTED", b"HEARTBEAT", b"EVENT"), (cmd, msg)
        raise AssertionError("no RUN_FINISHED")
    finally:
        s.close()


def with_library(body, name, data):
    body = dict(body)
    body["library"] = {"name": name, "sha256": hashlib.sha256(data).hexdigest(), "bytes": data}
    return body


def test_a_shared_object_that_is_not_a_loads_library_never_runs(tmp_path):
    marker = tmp_path / "constructor-ran"
    evil = build_marker_library(tmp_path, marker)
    # The check is not fooled by a compiler that failed: the file is an ELF .so.
    assert evil.read_bytes()[:4] == b"\x7fELF"
    cache = tmp_path / "cache-0"
    c = Cluster(1, tmp_path)
    try:
        body = captured_submit(c.broker.frontend)
        summary = submit_raw(c.broker.frontend, with_library(body, "evil.so", evil.read_bytes()))
        assert not marker.exists(), marker.read_text()
        assert "library evil.so is not a loads test library: it exports no loads_registry_v1" in summary["error"], summary
        # The agent wrote it to its cache, checked it, and removed it.
        assert list(cache.glob("*.so")) == [], list(cache.iterdir())
        # The agent lives on and takes the real library in the same way.
        assert c.agents[0].p.poll() is None
        c.broker.wait_agents(1)
        good = submit_raw(c.broker.frontend, body)
        assert good["error"] == "", good
        assert len(list(cache.glob("*.so"))) == 1
    finally:
        c.kill()
    # Locally the runner says the same before any dlopen.
    r = run_runner(f"{evil}:A.b", "-u", "1", "-c", "1", timeout=30)
    assert r.rc == 2
    assert f"library {evil} is not a loads test library: it exports no loads_registry_v1" in r.stderr, r.stderr
    assert not marker.exists()


def test_garbage_and_truncated_libraries_are_refused(tmp_path):
    real = Path(CASES_LIB).read_bytes()
    c = Cluster(1, tmp_path)
    try:
        body = captured_submit(c.broker.frontend)
        for name, data, why in [("junk.so", os.urandom(5000), "not an ELF file"),
                                ("cut.so", real[: len(real) // 2], "truncated"),
                                ("script.so", b"#!/bin/sh\nid > /tmp/pwned\n", "not an ELF file")]:
            summary = submit_raw(c.broker.frontend, with_library(body, name, data))
            assert f"library {name} is not a loads test library: " in summary["error"], summary
            assert why in summary["error"], summary
            c.broker.wait_agents(1)
        assert c.agents[0].p.poll() is None
    finally:
        c.kill()


def test_a_library_over_max_library_size_is_refused(tmp_path):
    broker = Broker()
    cache = tmp_path / "cache"
    agent = Agent(broker.backend, "small", "--max-library-size", "1000", cache_dir=str(cache))
    try:
        body = captured_submit(broker.frontend)
        broker.wait_agents(1)
        summary = submit_raw(broker.frontend, body)
        size = len(body["library"]["bytes"])
        assert f"library libtestcases.so is {size} bytes" in summary["error"], summary
        assert "over this agent's --max-library-size of 1000 bytes" in summary["error"], summary
        assert list(cache.glob("*.so")) == []
    finally:
        agent.kill()
        broker.kill()


def run_agent_expecting_refusal(*args):
    p = subprocess.run([str(AGENT), "--broker", "tcp://127.0.0.1:1", *map(str, args)],
                       capture_output=True, text=True, timeout=30)
    return p


def test_an_agent_refuses_a_cache_dir_others_can_write(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)
    p = run_agent_expecting_refusal("--cache-dir", shared)
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert f"cache directory {shared}: group or others can write it (mode 0777)" in p.stderr, p.stderr
    assert "registered" not in p.stdout

    group = tmp_path / "group"
    group.mkdir()
    os.chmod(group, 0o770)
    p = run_agent_expecting_refusal("--cache-dir", group)
    assert p.returncode == 2 and "mode 0770" in p.stderr, p.stderr

    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    link = tmp_path / "link"
    link.symlink_to(real)
    p = run_agent_expecting_refusal("--cache-dir", link)
    assert p.returncode == 2 and "is a symbolic link" in p.stderr, p.stderr

    # Another user's (we can make one when we are root, as CI is).
    if os.geteuid() == 0:
        theirs = tmp_path / "theirs"
        theirs.mkdir(mode=0o700)
        os.chown(theirs, 65534, 65534)
        p = run_agent_expecting_refusal("--cache-dir", theirs)
        assert p.returncode == 2 and "it is owned by uid 65534, not by this agent's user (uid 0)" in p.stderr, p.stderr

    # One it creates itself is 0700, and it starts with it.
    fresh = tmp_path / "fresh" / "cache"
    broker = Broker()
    try:
        agent = Agent(broker.backend, "fresh", cache_dir=str(fresh))
        assert (fresh.stat().st_mode & 0o777) == 0o700
        agent.kill()
    finally:
        broker.kill()


def test_status_and_pub_show_urls_redacted(tmp_path, target):
    token, header, body_secret = "tok3nS3cr3t", "hdrS3cr3t", "b0dyS3cr3t"
    broker = Broker()
    ctx = zmq.Context.instance()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.connect(broker.publisher)
    agents, runner = [], None
    try:
        # The subscription is live once it sees an event published after it:
        # an agent's registration (another agent if it joined too late).
        while True:
            assert len(agents) < 5, "no cluster event on PUB"
            agents.append(Agent(broker.backend, f"a{len(agents)}", cache_dir=str(tmp_path / f"c{len(agents)}")))
            if sub.poll(2000) and sub.recv_multipart()[0] == b"cluster":
                break
        broker.wait_agents(len(agents))
        url = target.url + f"/echo?user=bob&token={token}"
        runner = Proc([RUNNER, url, "-u", "1", "-d", "3s", "--sleep", "0.05", "-m", "POST",
                       "--body", body_secret, "-H", f"X-Api-Key: {header}", "--agents", "1",
                       "--broker", broker.frontend, "--interval", "200ms", "--output", "json"])
        deadline = time.monotonic() + 15
        while not any(r["state"] == "running" for r in broker.status()["runs"]):
            assert time.monotonic() < deadline, broker.status()
            time.sleep(0.05)
        status = broker.status()
        assert status["runs"][0]["test"] == target.url + "/echo?user=REDACTED&token=REDACTED", status
        r = run_runner("--check-cluster", "--broker", broker.frontend, timeout=15)
        assert r.rc == 0, r.stderr
        assert "/echo?user=REDACTED&token=REDACTED" in r.stdout, r.stdout
        for secret in (token, header, body_secret):
            assert secret not in r.stdout
            assert secret not in str(status)
        # Everything on PUB until the run's "finished" event.
        raw = []
        finished = False
        deadline = time.monotonic() + 30
        while not finished:
            assert time.monotonic() < deadline, "no finished event on PUB"
            if not sub.poll(500):
                continue
            topic, payload = sub.recv_multipart()
            raw.append(payload)
            if topic.endswith(b".event") and msgpack.unpackb(payload, raw=False,
                                                             strict_map_key=False)["event"] == "finished":
                ev = msgpack.unpackb(payload, raw=False, strict_map_key=False)
                assert ev["summary"]["test"] == target.url + "/echo?user=REDACTED&token=REDACTED", ev
                finished = True
        assert len(raw) >= 3  # snapshots and the end
        for payload in raw:
            for secret in (token, header, body_secret):
                assert secret.encode() not in payload
        runner.p.wait(timeout=30)
        assert runner.p.returncode == 0, runner.stderr_text()
    finally:
        sub.close()
        if runner:
            runner.kill()
        for a in agents:
            a.kill()
        broker.kill()


def test_a_run_may_ask_to_show_its_url(target):
    """--show-url: STATUS (and so --check-cluster) shows the URL as typed."""
    broker = Broker()
    agent, runner = None, None
    try:
        agent = Agent(broker.backend, "a0")
        url = target.url + "/echo?user=bob&token=visible"
        runner = Proc([RUNNER, url, "-u", "1", "-d", "3s", "--sleep", "0.05", "--agents", "1", "--show-url",
                       "--broker", broker.frontend, "--output", "json"])
        deadline = time.monotonic() + 15
        while not any(r["state"] == "running" for r in broker.status()["runs"]):
            assert time.monotonic() < deadline, broker.status()
            time.sleep(0.05)
        assert broker.status()["runs"][0]["test"] == url
        r = run_runner("--check-cluster", "--broker", broker.frontend, timeout=15)
        assert url in r.stdout, r.stdout
        runner.p.wait(timeout=30)
    finally:
        for p in (runner, agent):
            if p:
                p.kill()
        broker.kill()
