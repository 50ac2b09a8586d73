// The loads dashboard's page: one WebSocket to the server that served it,
// {"type":"full"} first, then {"type":"update"} messages; everything drawn
// here comes from the server's merged histograms (no percentile is averaged).
"use strict";
(function () {
  const state = { runs: new Map(), order: [], cluster: null, selected: null, pinned: false };
  const $ = (id) => document.getElementById(id);
  const hasPlot = typeof window.uPlot === "function";
  let ws = null, dirty = false, charts = null, chartRun = null, chartPoints = -1;

  // ---------------------------------------------------------------- formatting
  function ms(ns) {
    if (ns === null || ns === undefined) return "–";
    const v = ns / 1e6;
    return v < 10 ? v.toFixed(2) + " ms" : v < 1000 ? v.toFixed(1) + " ms" : (v / 1000).toFixed(2) + " s";
  }
  function num(n) { return n === null || n === undefined ? "–" : Number(n).toLocaleString("en-US"); }
  function rate(n) { return n === null || n === undefined ? "–" : n >= 100 ? Math.round(n).toLocaleString("en-US") : n.toFixed(1); }
  function ago(msTime, now) {
    if (!msTime) return "–";
    const s = Math.max(0, (now - msTime) / 1000);
    return s < 60 ? s.toFixed(1) + " s ago" : Math.round(s / 60) + " min ago";
  }
  function clock(msTime) { return msTime ? new Date(msTime).toLocaleTimeString() : "–"; }
  function td(text, cls) { const c = document.createElement("td"); c.textContent = text; if (cls) c.className = cls; return c; }
  function fill(tbody, rows) {
    const frag = document.createDocumentFragment();
    for (const cells of rows) {
      const tr = document.createElement("tr");
      for (const c of cells) tr.appendChild(c instanceof Node ? c : td(String(c)));
      frag.appendChild(tr);
    }
    tbody.replaceChildren(frag);
  }

  // ---------------------------------------------------------------- the feed
  function apply(msg) {
    if (msg.type === "full") {
      state.runs.clear();
      for (const r of msg.runs) state.runs.set(r.id, r);
    } else if (msg.type === "update") {
      for (const r of msg.runs) {
        const old = state.runs.get(r.id);
        const have = old ? old.points.length : 0;
        if (r.points_from > have) { askFull(); return; }  // we missed something
        if (old) r.points = old.points.slice(0, r.points_from).concat(r.points);
        state.runs.set(r.id, r);
      }
    } else {
      return;
    }
    state.cluster = msg.cluster;
    state.order = msg.cluster.run_ids.filter((id) => state.runs.has(id));
    for (const id of Array.from(state.runs.keys())) if (!state.order.includes(id)) state.runs.delete(id);
    if (!state.pinned || !state.runs.has(state.selected)) state.selected = state.order.length ? state.order[state.order.length - 1] : null;
    dirty = true;
  }
  function askFull() { if (ws && ws.readyState === WebSocket.OPEN) ws.send("full"); }
  function connect() {
    ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws");
    ws.onopen = () => { $("conn").textContent = "live"; $("conn").className = "conn up"; };
    ws.onmessage = (ev) => { try { apply(JSON.parse(ev.data)); } catch (e) { console.warn("bad message from the dashboard", e); } };
    ws.onclose = () => {
      $("conn").textContent = "disconnected, retrying…"; $("conn").className = "conn down";
      setTimeout(connect, 1000);
    };
    ws.onerror = () => {};  // onclose follows
  }

  // ---------------------------------------------------------------- charts
  function makeCharts() {
    if (!hasPlot) {
      for (const id of ["chart-rate", "chart-lat", "chart-users"]) $(id).textContent = "Charts need uPlot (web/node_modules; run bash .ci/setup before building).";
      return null;
    }
    const width = () => Math.max(300, $("chart-rate").clientWidth || 460);
    const axes = (label) => [{ label: "s" }, { label, size: 60 }];
    const mk = (el, label, series) => new uPlot({ width: width(), height: 220, scales: { x: { time: false } }, axes: axes(label),
      series: [{ label: "t (s)" }].concat(series), legend: { live: true } }, [[]].concat(series.map(() => [])), $(el));
    const c = {
      rate: mk("chart-rate", "/s", [{ label: "requests/s", stroke: "#3b5bdb", width: 2 }, { label: "hits/s", stroke: "#2b8a3e", width: 1 },
        { label: "errors+failures/s", stroke: "#c62828", width: 1 }]),
      lat: mk("chart-lat", "ms", [{ label: "p50", stroke: "#2b8a3e", width: 2 }, { label: "p95", stroke: "#f08c00", width: 2 },
        { label: "p99", stroke: "#c62828", width: 2 }]),
      users: mk("chart-users", "users", [{ label: "alive", stroke: "#495057", width: 2 }, { label: "busy", stroke: "#3b5bdb", width: 2 }]),
    };
    window.addEventListener("resize", () => { for (const u of Object.values(c)) u.setSize({ width: width(), height: 220 }); });
    return c;
  }
  function drawCharts(run) {
    if (!charts) return;
    if (chartRun === run.id && chartPoints === run.points.length && run.state === "finished") return;
    const p = run.points, t = p.map((x) => x[0]);
    charts.rate.setData([t, p.map((x) => x[1]), p.map((x) => x[2]), p.map((x) => x[3])]);
    charts.lat.setData([t, p.map((x) => x[4] / 1e6), p.map((x) => x[5] / 1e6), p.map((x) => x[6] / 1e6)]);
    charts.users.setData([t, p.map((x) => x[7]), p.map((x) => x[8])]);
    chartRun = run.id; chartPoints = p.length;
  }
  function drawHistogram(run) {
    const cv = $("histogram"), dpr = window.devicePixelRatio || 1;
    const w = cv.clientWidth || 600, h = cv.clientHeight || 220;
    if (cv.width !== Math.round(w * dpr)) { cv.width = Math.round(w * dpr); cv.height = Math.round(h * dpr); }
    const g = cv.getContext("2d");
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, h);
    const bars = run ? run.histogram : [];
    g.fillStyle = "#687086"; g.font = "11px system-ui, sans-serif";
    if (!bars.length) { g.fillText("no samples yet", 10, 20); return; }
    const lo = Math.log10(Math.max(1, bars[0][0])), hi = Math.log10(Math.max(bars[bars.length - 1][1] + 1, 10));
    const span = Math.max(hi - lo, 0.5), left = 40, bottom = h - 20, top = 10, right = w - 10;
    const x = (v) => left + (Math.log10(Math.max(1, v)) - lo) / span * (right - left);
    const max = Math.max(...bars.map((b) => b[2]));
    g.fillStyle = "#3b5bdb";
    for (const [a, b, c] of bars) {
      const x0 = x(a), x1 = Math.max(x(b + 1), x0 + 1), y = bottom - (c / max) * (bottom - top);
      g.fillRect(x0, y, x1 - x0 - 0.5, bottom - y);
    }
    g.fillStyle = "#687086"; g.strokeStyle = "#e2e4ea";
    for (let e = Math.floor(lo); e <= Math.ceil(hi); e++) {
      for (const m of [1, 2, 5]) {
        const v = m * Math.pow(10, e), lv = Math.log10(v);
        if (lv < lo || lv > lo + span) continue;
        const xv = x(v);
        g.beginPath(); g.moveTo(xv, top); g.lineTo(xv, bottom); g.stroke();
        const label = v >= 1e9 ? v / 1e9 + " s" : v >= 1e6 ? v / 1e6 + " ms" : v >= 1e3 ? v / 1e3 + " µs" : v + " ns";
        g.fillText(label, xv - 12, h - 5);
      }
    }
    g.fillText(num(max), 2, top + 8);
  }

  // ---------------------------------------------------------------- the page
  function render() {
    dirty = false;
    const c = state.cluster;
    if (c) $("source").textContent = c.source;
    const nav = $("runs");
    const buttons = state.order.slice().reverse().map((id) => {
      const r = state.runs.get(id), b = document.createElement("button");
      b.textContent = id + (r.test ? " · " + r.test : "");
      b.className = (id === state.selected ? "sel " : "") + (r.state === "running" ? "running" : "");
      b.onclick = () => { state.selected = id; state.pinned = id !== state.order[state.order.length - 1]; dirty = true; };
      return b;
    });
    nav.replaceChildren(...buttons);

    const run = state.selected ? state.runs.get(state.selected) : null;
    renderCluster(c, run);
    if (!run) { drawHistogram(null); return; }
    const t = run.totals, last = run.points.length ? run.points[run.points.length - 1] : null;
    const done = run.points.filter((p, i) => i < run.points.length - 1 || run.state === "finished");
    const cur = run.state === "running" ? (done.length > 1 ? done[done.length - 2] : last) : null;
    $("run-title").textContent = "Run " + run.id + (run.test ? " — " + run.test : "");
    $("run-sub").textContent = [run.state === "running" ? "running" : "finished",
      "started " + clock(run.started_ms), run.elapsed_s.toFixed(1) + " s",
      run.agents.length ? run.agents.length + " agent(s): " + run.agents.join(", ") : "",
      run.joined_late ? "dashboard joined mid-run: figures before it are in the totals only once the run ends" : "",
      run.missed_snapshots ? run.missed_snapshots + " snapshots missed" : ""].filter(Boolean).join(" · ");
    let frac = null;
    if (run.state === "finished") frac = 1;
    else if (run.hits_total) frac = run.hits_done / run.hits_total;
    else if (run.duration_total_s) frac = run.elapsed_s / run.duration_total_s;
    $("progress-bar").style.width = frac === null ? "0" : Math.min(100, frac * 100).toFixed(1) + "%";
    const sum = $("summary");
    if (run.state === "finished") {
      sum.hidden = false;
      const bad = run.error || run.incomplete || t.errors || t.failures;
      sum.className = bad ? "bad" : "";
      const avg = run.elapsed_s > 0 ? t.hits / run.elapsed_s : 0;
      sum.textContent = "Summary: " + num(t.hits) + " hits in " + run.elapsed_s.toFixed(2) + " s (" + rate(avg) + "/s), " +
        num(t.successes) + " successes, " + num(t.failures) + " failures, " + num(t.errors) + " errors" +
        (run.stopped ? " · stopped" : "") + (run.incomplete ? " · incomplete" : "") + (run.error ? " · " + run.error : "");
    } else {
      sum.hidden = true;
    }
    $("hits").textContent = num(run.state === "finished" ? t.hits : Math.max(run.hits_done, t.hits));
    $("rps").textContent = cur ? rate(cur[1]) : run.elapsed_s > 0 ? rate(t.requests / run.elapsed_s) : "–";
    $("hps").textContent = cur ? rate(cur[2]) : run.elapsed_s > 0 ? rate(t.hits / run.elapsed_s) : "–";
    $("p50").textContent = ms(run.latency.p50);
    $("p95").textContent = ms(run.latency.p95);
    $("p99").textContent = ms(run.latency.p99);
    $("errors").textContent = num(t.errors);
    $("failures").textContent = num(t.failures);
    $("users").textContent = run.state === "running" ? num(run.users_busy) + " / " + num(run.users) : "–";
    $("dropped").textContent = num(t.dropped) + " / " + num(t.late);

    const latRow = (name, l) => l ? [name, num(l.count), ms(l.min), ms(l.p50), ms(l.p90), ms(l.p95), ms(l.p99), ms(l.p999), ms(l.max)] : null;
    fill($("latency").tBodies[0], [latRow("service time", run.latency), latRow("from schedule", run.latency_from_schedule)].filter(Boolean));
    fill($("kinds").tBodies[0], Object.entries(run.errors_by_kind).map(([k, n]) => [k, num(n)]));
    fill($("messages").tBodies[0], run.messages.map(([m, n]) => [m, num(n)]));
    fill($("names").tBodies[0], run.labels.map((l) => [l.name, num(l.count), num(l.errors), ms(l.p50), ms(l.p95), ms(l.p99), ms(l.max)]));
    const ev = $("events"), items = run.events.map((e) => { const li = document.createElement("li"); li.textContent = e; return li; });
    ev.replaceChildren(...items);
    if (!charts && hasPlot !== null) charts = makeCharts() || false;
    drawCharts(run);
    drawHistogram(run);
  }

  function renderCluster(c, run) {
    if (!c) return;
    const rows = [];
    // Each agent's own figures in the shown run (from the broker's snapshots).
    const figures = new Map(((run && run.agent_figures) || []).map((f) => [f.id, f]));
    if (!c.cluster) {
      rows.push(["local", "this process", run && run.state === "running" ? "busy" : "idle", run ? run.id : "",
        run ? num(run.totals.hits) : "–", run ? num(run.totals.errors) : "–", run ? num(run.totals.failures) : "–", "now"]);
    }
    for (const a of c.agents) {
      const own = figures.get(a.id);
      rows.push([a.id, a.host || "–", td(a.state, "state-" + a.state), a.run || "",
        own ? num(own.hits) : td("–", "na"), own ? num(own.errors) : td("–", "na"),
        own ? num(own.failures) : td("–", "na"), ago(a.last_seen_ms, c.now_ms)]);
    }
    fill($("agents").tBodies[0], rows);
    $("agents-note").textContent = c.cluster
      ? "Hits, errors and failures: each agent's own, over the whole run shown" + (run ? " (" + run.id + ")" : "") +
        ", from the broker's snapshots (– for an agent not in it). State and last seen come from the cluster and run events" +
        (c.status_ok ? " and the broker's STATUS replies." : "; start the dashboard with --broker for the broker's own view.")
      : "A local run: one process, no agents.";
    const counts = c.counts || {};
    fill($("cluster").tBodies[0], [
      ["agents idle / preparing / busy", [counts.idle, counts.preparing, counts.busy].map(num).join(" / ")],
      ["agents lost (now)", num(counts.lost)],
      ["agent-lost events", num(c.lost_events)],
      ["registrations seen", num(c.registrations)],
      ["stream messages: snapshots / events / cluster", [c.messages.snapshot, c.messages.event, c.messages.cluster].map(num).join(" / ")],
      ["undecodable messages", num(c.messages.bad) + (c.last_bad ? " (" + c.last_bad + ")" : "")],
    ]);
  }

  function frame() { if (dirty) { try { render(); } catch (e) { console.warn("render failed", e); } } requestAnimationFrame(frame); }
  connect();
  requestAnimationFrame(frame);
  window.__loadsDashboard = state;  // for tests and curious users
})();
