"""loads-runner --dashboard: the dashboard's page, WebSocket and /metrics for
a local run (no broker), fed from the engine's observer. A WebSocket client
connected during the run sees the hit count rise and, as the last thing
before the runner exits, the run finished with the summary's totals."""
import asyncio
import json
import subprocess
import time
import urllib.request

import websockets

from loads_procs import RUNNER


def test_runner_serves_the_dashboard_for_a_local_run(target):
    # Port 0: the OS picks the port, and the runner says which before its run starts.
    runner = subprocess.Popen([str(RUNNER), target.url + "/delay?ms=1", "-u", "4", "-d", "3s",
                               "--dashboard", "127.0.0.1:0", "--output", "json"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = runner.stderr.readline()  # bounded: the runner prints it at once (or exits, closing stderr)
        assert first.startswith("loads-runner: dashboard on http://127.0.0.1:"), first
        addr = first.split("http://")[1].strip().rstrip("/")
        assert not addr.endswith(":0"), addr

        async def follow():
            ws = await websockets.connect(f"ws://{addr}/ws", open_timeout=5, max_size=None)
            messages, metrics = [], None
            try:
                while True:
                    try:
                        raw = await asyncio.wait_for(ws.recv(), 30)
                    except websockets.ConnectionClosed:
                        break
                    m = json.loads(raw)
                    messages.append(m)
                    if metrics is None and any(r["state"] == "running" and r["totals"]["hits"] > 0 for r in m["runs"]):
                        with urllib.request.urlopen(f"http://{addr}/metrics", timeout=5) as r:
                            metrics = r.read().decode()
            finally:
                await ws.close()
            return messages, metrics

        messages, metrics = asyncio.run(follow())
        out, err = runner.communicate(timeout=60)
        assert runner.returncode == 0, err
        total = json.loads(out)["total"]

        assert messages[0]["type"] == "full" and messages[0]["cluster"]["cluster"] is False
        running = [r["totals"]["hits"] for m in messages for r in m["runs"] if r["state"] == "running"]
        assert len(set(running)) >= 3 and running == sorted(running), running
        last = messages[-1]["runs"][-1]
        assert last["state"] == "finished", last["state"]
        assert last["totals"]["hits"] == total["hits"] and last["latency"]["count"] == total["latency"]["count"]
        assert last["labels"][0]["name"] == "GET /delay"
        run_id = last["id"]
        assert metrics and f'loads_hits_total{{run="{run_id}"}}' in metrics
        assert f'loads_run_running{{run="{run_id}"}} 1' in metrics
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait(timeout=10)


def test_dashboard_is_for_local_runs_and_a_bad_address_is_a_usage_error(target):
    r = subprocess.run([str(RUNNER), target.url + "/", "--dashboard", "127.0.0.1:1", "--agents", "2"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "loads-dashboard --publisher" in r.stderr
    r = subprocess.run([str(RUNNER), target.url + "/", "--dashboard", "nowhere:80"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "--dashboard" in r.stderr and "not an IP address" in r.stderr
