"""deploy/supervisord.conf run by the real supervisord: one broker and five
agents, ports and paths rewritten for this machine and this test."""
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from loads_procs import BUILD, Broker, free_port, request, run_runner

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


@pytest.mark.skipif(shutil.which("supervisord") is None, reason="supervisor is not installed")
def test_supervisord_cluster_runs_6000_hits(tmp_path, target):
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
