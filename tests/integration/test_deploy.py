"""deploy/supervisord.conf run by the real supervisord: one broker and five
agents, ports and paths rewritten for this machine and this test."""
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from loads_procs import BUILD, Broker, free_port, request, require_tool, run_runner

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def test_supervisord_cluster_runs_6000_hits(tmp_path, target):
    require_tool("supervisord", "supervisor")
    ports = {7780: free_port(), 7781: free_port(), 7782: free_port()}
    conf = (DEPLOY / "supervisord.conf").read_text()
    conf = conf.replace("/usr/local/bin/loads-broker", str(BUILD / "broker" / "loads-broker"))
    conf = conf.replace("/usr/local/bin/loads-agent", str(BUILD / "agent" / "daemon" / "loads-agent"))
    for default, port in ports.items():
        conf = conf.replace(f"127.0.0.1:{default}", f"127.0.0.1:{port}")
    conf = conf.replace("/tmp/loads-", f"{tmp_path}/loads-")
    # Agents keep their library cache in the test's directory.
    conf = conf.replace("[supervisord]", f"[supervisord]\nenvironment=XDG_CACHE_HOME=\"{tmp_path}\"")
    path = tmp_path / "supervisord.conf"
    path.write_text(conf)
    frontend = f"tcp://127.0.0.1:{ports[7780]}"

    subprocess.run(["supervisord", "-c", str(path)], check=True, timeout=30)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                _, status = request(frontend, "STATUS", timeout=1)
                idle = [a for a in status["agents"] if a["state"] == "idle"]
                if len(idle) == 5:
                    break
            except AssertionError:
                pass
            assert time.monotonic() < deadline, "supervisord did not bring up 1 broker + 5 agents"
            time.sleep(0.1)
        # supervisord says RUNNING once a program has stayed up for startsecs.
        while True:
            out = subprocess.run(["supervisorctl", "-c", str(path), "status"], capture_output=True,
                                 text=True, timeout=30).stdout
            if out.count("RUNNING") == 6:
                break
            assert time.monotonic() < deadline, out
            time.sleep(0.2)

        r = run_runner(target.url + "/", "-u", "10:20:30", "-c", "20", "--agents", "5",
                       "--broker", frontend, "--output", "json", timeout=120)
        assert r.rc == 0, r.stderr
        assert r.json["total"]["hits"] == 6000
        assert target.stats()["http_requests"] == 6000
    finally:
        subprocess.run(["supervisorctl", "-c", str(path), "shutdown"], capture_output=True, timeout=60)
        pid_file = tmp_path / "loads-supervisord.pid"
        deadline = time.monotonic() + 20
        while pid_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)


def test_supervisord_curve_cluster_with_the_keygen_step(tmp_path, target):
    require_tool("supervisord", "supervisor")
    """deploy/keys.sh makes the keys, deploy/supervisord-curve.conf runs the
    broker with CURVE and five agents with theirs; a runner with its key
    runs, one without is refused."""
    keys = tmp_path / "keys"
    env = dict(os.environ, LOADS_BROKER=str(BUILD / "broker" / "loads-broker"))
    subprocess.run(["bash", str(DEPLOY / "keys.sh"), str(keys), "5", "ci"], check=True, env=env, timeout=60,
                   capture_output=True)
    assert sorted(p.name for p in (keys / "agents").iterdir()) == sorted(
        [f"agent-{i}.{x}" for i in range(1, 6) for x in ("key", "pub")])
    ports = {7780: free_port(), 7781: free_port(), 7782: free_port()}
    conf = (DEPLOY / "supervisord-curve.conf").read_text()
    conf = conf.replace("/usr/local/bin/loads-broker", str(BUILD / "broker" / "loads-broker"))
    conf = conf.replace("/usr/local/bin/loads-agent", str(BUILD / "agent" / "daemon" / "loads-agent"))
    conf = conf.replace("/etc/loads/keys", str(keys))
    for default, port in ports.items():
        # The test keeps to loopback: the broker's 0.0.0.0 becomes 127.0.0.1.
        conf = conf.replace(f"0.0.0.0:{default}", f"127.0.0.1:{port}").replace(f"127.0.0.1:{default}",
                                                                                f"127.0.0.1:{port}")
    conf = conf.replace("/tmp/loads-", f"{tmp_path}/loads-")
    conf = conf.replace("[supervisord]", f"[supervisord]\nenvironment=XDG_CACHE_HOME=\"{tmp_path}\"")
    path = tmp_path / "supervisord.conf"
    path.write_text(conf)
    frontend = f"tcp://127.0.0.1:{ports[7780]}"
    curve = ["--curve-key", keys / "runners" / "ci.key", "--broker-pub", keys / "broker.pub"]

    subprocess.run(["supervisord", "-c", str(path)], check=True, timeout=30)
    try:
        deadline = time.monotonic() + 30
        while True:
            r = run_runner("--check-cluster", "--broker", frontend, "--broker-timeout", "1s", *curve)
            if r.rc == 0 and r.stdout.count(" idle  key agent-") == 5:
                break
            assert time.monotonic() < deadline, (r.stdout, r.stderr)
            time.sleep(0.2)
        assert "CURVE on" in r.stdout
        r = run_runner(target.url + "/", "-u", "10", "-c", "20", "--agents", "5", "--broker", frontend, *curve,
                       "--output", "json", timeout=120)
        assert r.rc == 0, r.stderr
        assert r.json["total"]["hits"] == 1000 == target.stats()["http_requests"]
        r = run_runner(target.url + "/", "-c", "1", "--agents", "1", "--broker", frontend, "--broker-timeout", "2s")
        assert r.rc == 2 and "requires CURVE" in r.stderr, r.stderr
    finally:
        subprocess.run(["supervisorctl", "-c", str(path), "shutdown"], capture_output=True, timeout=60)
        pid_file = tmp_path / "loads-supervisord.pid"
        deadline = time.monotonic() + 20
        while pid_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)


def test_systemd_units_verify(tmp_path):
    """deploy/systemd's units as systemd 252 reads them (systemd-analyze
    verify: directives, specifiers such as %d for the key credential,
    executables), with the binaries of this build."""
    require_tool("systemd-analyze", "systemd")
    units = []
    for unit in (DEPLOY / "systemd").iterdir():
        text = unit.read_text()
        text = text.replace("/usr/local/bin/loads-broker", str(BUILD / "broker" / "loads-broker"))
        text = text.replace("/usr/local/bin/loads-agent", str(BUILD / "agent" / "daemon" / "loads-agent"))
        name = unit.name.replace("@.service", "@1.service")
        (tmp_path / name).write_text(text)
        units.append(str(tmp_path / name))
    assert len(units) == 2
    text = (DEPLOY / "systemd" / "loads-broker.service").read_text()
    assert "--curve-key %d/broker.key" in text and "ExecReload=/bin/kill -HUP $MAINPID" in text
    assert "DynamicUser=yes" in text and "NoNewPrivileges=yes" in text and "ProtectSystem=strict" in text
    p = subprocess.run(["systemd-analyze", "verify", "--man=no", *units], capture_output=True, text=True,
                       timeout=60, cwd=tmp_path)
    assert p.returncode == 0 and p.stderr.strip() == "", p.stderr
