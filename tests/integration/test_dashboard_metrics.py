"""loads-dashboard's /metrics, scraped by a real Prometheus (Debian's
`prometheus`, installed by .ci/setup) during a cluster run of a broker and two
agents against the demo target: at the end, Prometheus' own figures for
loads_requests_total and the latency histogram's count equal the runner's
summary, and `promtool check metrics` accepts the exposition."""
import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from loads_procs import BUILD, RUNNER, Cluster, DashboardProc, free_port, Proc, run_runner

GRAFANA = Path(__file__).resolve().parents[2] / "deploy" / "grafana"
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"


def get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read().decode()


def wait_until(what, fn, timeout):
    """Polls fn() (a readiness check, not a sleep in place of one) until it
    returns something true; fails with `what` after timeout seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = fn()
            if last:
                return last
        except (OSError, ValueError, KeyError) as e:
            last = e
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {timeout}s (last: {last!r})")


class Prometheus(Proc):
    def __init__(self, tmp_path, target):
        self.port = free_port()
        cfg = tmp_path / "prometheus.yml"
        cfg.write_text(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
            "scrape_configs:\n  - job_name: loads\n    metrics_path: /metrics\n"
            f"    static_configs:\n      - targets: ['{target}']\n")
        super().__init__([PROMETHEUS, f"--config.file={cfg}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                          f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"])
        self.url = f"http://127.0.0.1:{self.port}"
        wait_until("prometheus ready", lambda: get(self.url + "/-/ready")[0] == 200, 30)

    def query(self, q):
        _, body = get(self.url + "/api/v1/query?" + urllib.parse.urlencode({"query": q}))
        j = json.loads(body)
        assert j["status"] == "success", j
        return j["data"]["result"]

    def value(self, q):
        r = self.query(q)
        return float(r[0]["value"][1]) if r else None


def test_prometheus_scrapes_the_run_and_agrees_with_the_summary(tmp_path, target):
    assert shutil.which("prometheus") and shutil.which("promtool"), \
        "prometheus and promtool are missing: run `bash .ci/setup` (apt package prometheus)"
    cluster = Cluster(2, tmp_path)
    dash = prom = None
    try:
        dash = DashboardProc(cluster.broker)
        prom = Prometheus(tmp_path, dash.address)
        # Prometheus' first scrape comes a few seconds after it starts: wait
        # for it (up == 1) so that it also scrapes while the run goes.
        wait_until("first scrape", lambda: prom.value('up{job="loads"}') == 1.0, 30)

        r = run_runner(target.url + "/", "-u", "4", "-d", "4s", "--agents", "2",
                       "--broker", cluster.broker.frontend, "--output", "json", timeout=60)
        assert r.rc == 0, r.stderr
        total = r.json["total"]
        assert total["hits"] > 0 and total["requests"] == total["hits"]

        # The dashboard has the run's summary...
        def dash_finished():
            runs = json.loads(get(f"http://{dash.address}/api/state")[1])["runs"]
            return runs if runs and runs[-1]["state"] == "finished" else None
        runs = wait_until("the dashboard's summary", dash_finished, 15)
        run_id = runs[-1]["id"]
        assert runs[-1]["totals"]["requests"] == total["requests"]
        # Each agent's own hits (the broker's per-agent snapshot figures): both
        # agents worked, and their hits add up to the runner's total.
        figures = {f["id"]: f for f in runs[-1]["agent_figures"]}
        assert set(figures) == {"a0", "a1"}, figures
        assert all(f["hits"] > 0 for f in figures.values()), figures
        assert sum(f["hits"] for f in figures.values()) == total["hits"], (figures, total["hits"])
        assert sum(f["errors"] for f in figures.values()) == total["errors"], figures

        # ... and Prometheus, scraping every second, ends with the same figures.
        sel = f'{{job="loads",run="{run_id}"}}'
        wait_until("loads_requests_total in Prometheus equal to the summary",
                   lambda: prom.value(f"loads_requests_total{sel}") == total["requests"], 20)
        wait_until("the latency histogram's count in Prometheus equal to the summary",
                   lambda: prom.value(f"loads_latency_seconds_count{sel}") == total["latency"]["count"], 20)
        assert prom.value(f"loads_hits_total{sel}") == total["hits"]
        assert prom.value(f'loads_latency_seconds_bucket{{job="loads",run="{run_id}",le="+Inf"}}') == \
            total["latency"]["count"]
        # Scraped while the run went, not only after: a sample with the run
        # running, and one with fewer requests than at the end.
        running = prom.query(f"max_over_time(loads_run_running{sel}[5m])")
        assert running and float(running[0]["value"][1]) == 1.0, running
        lowest = prom.value(f"min_over_time(loads_requests_total{sel}[5m])")
        assert lowest is not None and lowest < total["requests"], lowest
        # Both agents were seen.
        up = {s["metric"]["agent"] for s in prom.query('loads_agent_up{job="loads"} == 1')}
        assert up == {"a0", "a1"}, up
        assert sum(prom.value(f'loads_agent_hits_total{{job="loads",run="{run_id}",agent="{a}"}}')
                   for a in ("a0", "a1")) == total["hits"]

        # promtool accepts the exposition as it is served.
        _, text = get(f"http://{dash.address}/metrics")
        check = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True,
                               text=True, timeout=30)
        assert check.returncode == 0, check.stdout + check.stderr
        assert 'loads_latency_seconds_bucket{run="%s",le="+Inf"}' % run_id in text

        # deploy/grafana: the scrape config is valid, and every query of the
        # Grafana dashboard is accepted by this Prometheus and finds data.
        check = subprocess.run([PROMTOOL, "check", "config", str(GRAFANA / "prometheus.yml")],
                               capture_output=True, text=True, timeout=30)
        assert check.returncode == 0, check.stdout + check.stderr
        board = json.loads((GRAFANA / "loads-dashboard.json").read_text())
        exprs = [t["expr"] for p in board["panels"] for t in p["targets"]]
        assert len(exprs) >= 10
        found = 0
        for e in exprs:
            q = e.replace("$run", ".*").replace("$__rate_interval", "5m")
            found += bool(prom.query(q))
        assert found >= len(exprs) - 2, f"only {found} of {len(exprs)} Grafana queries found data"
    finally:
        for p in (prom, dash):
            if p:
                p.kill()
        cluster.kill()


def test_a_dashboard_started_mid_run_shows_it_and_its_summary(tmp_path, target):
    cluster = Cluster(2, tmp_path)
    dash = runner = None
    try:
        runner = subprocess.Popen([str(RUNNER), target.url + "/delay?ms=1", "-u", "4", "-d", "4s", "--agents", "2",
                                   "--broker", cluster.broker.frontend, "--output", "json"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        # The run is going: the broker says so.
        wait_until("the run running", lambda: any(r["state"] == "running" for r in cluster.broker.status()["runs"]), 20)
        dash = DashboardProc(cluster.broker)

        def seen_running():
            runs = json.loads(get(f"{dash.url}/api/state")[1])["runs"]
            return runs if runs and runs[-1]["state"] == "running" and runs[-1]["hits_done"] > 0 else None
        runs = wait_until("the run on the dashboard", seen_running, 15)
        assert runs[-1]["joined_late"] is True
        # Its "started" event was missed; the broker's STATUS names its agents.
        wait_until("the run's agents from STATUS", lambda: sorted(
            json.loads(get(f"{dash.url}/api/state")[1])["runs"][-1]["agents"]) == ["a0", "a1"], 10)
        out, err = runner.communicate(timeout=60)
        assert runner.returncode == 0, err
        total = json.loads(out)["total"]

        def finished():
            runs = json.loads(get(f"{dash.url}/api/state")[1])["runs"]
            return runs if runs[-1]["state"] == "finished" else None
        run = wait_until("the summary on the dashboard", finished, 15)[-1]
        # Totals from the summary, not from the part of the stream it saw.
        assert run["totals"]["hits"] == total["hits"]
        assert run["latency"]["count"] == total["latency"]["count"]
        assert sorted(run["agents"]) == ["a0", "a1"]
        _, text = get(f"{dash.url}/metrics")
        assert 'loads_hits_total{run="%s"} %d' % (run["id"], total["hits"]) in text
    finally:
        if runner and runner.poll() is None:
            runner.kill()
            runner.wait(timeout=10)
        if dash:
            dash.kill()
        cluster.kill()
