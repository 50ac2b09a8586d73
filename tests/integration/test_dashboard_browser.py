"""loads-dashboard in a real browser: Debian's chromium, headless, driven by
playwright-core from web/node_modules (both installed by .ci/setup), opens the
page during a cluster run of a broker and two agents against the demo target.
The page's hit count rises while the run goes and equals the runner's summary
at the end, the per-agent rows name both agents (from the stream alone: no
--broker), and the page logs no console errors. The screenshot is kept in
build/test-artefacts/dashboard.png."""
import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path

from loads_procs import BUILD, RUNNER, Cluster, DashboardProc, Proc

ROOT = Path(__file__).resolve().parents[2]
NODE_MODULES = ROOT / "web" / "node_modules"
SCRIPT = Path(__file__).resolve().parent / "dashboard_browser.cjs"


def events(proc, timeout):
    """The browser driver's JSON lines, as they come, for up to timeout s."""
    deadline = time.monotonic() + timeout
    buf = b""
    while time.monotonic() < deadline:
        r, _, _ = select.select([proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
        if not r:
            return
        chunk = os.read(proc.stdout.fileno(), 65536)
        if not chunk:
            return
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            yield json.loads(line)


def test_the_page_follows_a_cluster_run(tmp_path, target):
    node = shutil.which("node")
    assert node, "node is missing: run `bash .ci/setup`"
    assert (NODE_MODULES / "playwright-core").is_dir(), "web/node_modules is missing: run `bash .ci/setup` (npm ci)"
    assert Path(os.environ.get("CHROMIUM", "/usr/bin/chromium")).exists(), "chromium is missing: run `bash .ci/setup`"
    artefacts = BUILD / "test-artefacts"
    artefacts.mkdir(exist_ok=True)
    shot = artefacts / "dashboard.png"
    docs_shot = os.environ.get("LOADS_DOCS_SCREENSHOT", "")

    cluster = Cluster(2, tmp_path)
    dash = browser = runner = None
    try:
        dash = DashboardProc(cluster.broker, frontend=False)
        env = dict(os.environ, NODE_PATH=str(NODE_MODULES))
        browser = subprocess.Popen([node, str(SCRIPT), dash.url + "/", str(shot)] + ([docs_shot] if docs_shot else []),
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                                   start_new_session=True)
        first = next(events(browser, 60), None)
        assert first and first["event"] == "ready", (first, browser.stderr.read1(4000) if first is None else "")
        assert first["uplot"], "uPlot did not load in the page"

        runner = subprocess.Popen([str(RUNNER), target.url + "/delay?ms=2", "-u", "6",
                                   "-d", "5s", "--agents", "2", "--broker", cluster.broker.frontend,
                                   "--output", "json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        seen = []
        for ev in events(browser, 60):
            assert ev["event"] == "hits", ev
            if runner.poll() is not None:
                break
            seen.append(ev["value"])
        out, err = runner.communicate(timeout=60)
        assert runner.returncode == 0, err
        summary = json.loads(out)["total"]

        browser.stdin.write((json.dumps({"final": summary["hits"]}) + "\n").encode())
        browser.stdin.flush()
        final = next((e for e in events(browser, 60) if e["event"] == "final"), None)
        assert final, "no final reading from the browser"

        # The count rose while the run went: several distinct readings between 0 and the end.
        during = sorted(set(v for v in seen if 0 < v < summary["hits"]))
        assert len(during) >= 3, seen
        assert seen == sorted(seen), "the page's hit count went backwards"
        assert not final["timedOut"], final
        assert final["hits"] == summary["hits"], (final, summary["hits"])
        agents = {row[0]: row for row in final["agents"]}
        assert {"a0", "a1"} <= set(agents), final["agents"]
        # Each agent's row shows its own hits (columns: agent, host, state,
        # run, hits, errors, failures, last seen): both worked, and they add up.
        own = [int(agents[a][4].replace(",", "")) for a in ("a0", "a1")]
        assert all(h > 0 for h in own) and sum(own) == summary["hits"], (final["agents"], summary["hits"])
        assert final["names"] == ["GET /delay"], final["names"]
        assert final["charts"] == 3 and final["points"] >= 4, final
        assert final["errors"] == [], final["errors"]
        assert shot.stat().st_size > 10_000
    finally:
        for p in (browser, runner):
            if p and p.poll() is None:
                p.kill()
                p.wait(timeout=10)
        if dash:
            dash.kill()
        cluster.kill()
