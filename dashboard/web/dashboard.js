// The loads dashboard's page: one WebSocket to the server that served it,
// {"type":"full"} first, then {"type":"update"} messages; everything drawn
// here comes from the server's merged histograms (no percentile is averaged).
"use strict";
(function () {
  const state = { runs: new Map(), order: [], cluster: null, selected: null, pinned: false };
  const $ = (id) => document.getElementById(id);
  const hasPlot = typeof window.uPlot === "function";
  let ws = null, dirty = false, charts = null, chartsShow = null, histShows = null, histSize = { w: 0, h: 0 };

  // ---------------------------------------------------------------- formatting
  function ms(ns) {
    if (ns === null || ns === undefined) return "–";
    const v = ns / 1e6;
    return v < 10 ? v.toFixed(2) + " ms" : v < 1000 ? v.toFixed(1) + " ms" : (v / 1000).toFixed(2) + " s";
  }
  // One formatter for every number: toLocaleString makes one per call, which
  // for a table of a thousand request names is most of an update's time.
  const grouped = new Intl.NumberFormat("en-US");
  function num(n) { return n === null || n === undefined ? "–" : grouped.format(Number(n)); }
  function rate(n) { return n === null || n === undefined ? "–" : n >= 100 ? grouped.format(Math.round(n)) : n.toFixed(1); }
  function ago(msTime, now) {
    if (!msTime) return "–";
    const s = Math.max(0, (now - msTime) / 1000);
    return s < 60 ? s.toFixed(1) + " s ago" : Math.round(s / 60) + " min ago";
  }
  function clock(msTime) { return msTime ? new Date(msTime).toLocaleTimeString() : "–"; }
  // A table cell with a class: {text, cls}; a plain cell is a string.
  function cell(text, cls) { return { text, cls }; }
  // Brings tbody to these rows in place: a cell is written only when its
  // text or class changed, rows are added or removed only at the end. A
  // table of a thousand request names then costs a comparison per cell an
  // update, not a thousand new rows, and a row under the pointer stays the
  // same element (a click across an update is not lost).
  function fill(tbody, rows) {
    const trs = tbody.rows;
    for (let i = 0; i < rows.length; i++) {
      const tr = trs[i] || tbody.appendChild(document.createElement("tr"));
      const cells = rows[i];
      for (let j = 0; j < cells.length; j++) {
        const c = cells[j], text = typeof c === "object" && c !== null ? String(c.text) : String(c);
        const cls = typeof c === "object" && c !== null ? c.cls || "" : "";
        const td = tr.cells[j] || tr.appendChild(document.createElement("td"));
        if (td.textContent !== text) td.textContent = text;
        if (td.className !== cls) td.className = cls;
      }
      while (tr.cells.length > cells.length) tr.lastElementChild.remove();
    }
    while (trs.length > rows.length) tbody.lastElementChild.remove();
  }
  // The same for a list of elements made by make(), each shown by show(el, item).
  function fillList(parent, items, make, show) {
    const kids = parent.children;
    for (let i = 0; i < items.length; i++) show(kids[i] || parent.appendChild(make()), items[i]);
    while (kids.length > items.length) parent.lastElementChild.remove();
  }
  function setText(el, text) { if (el.textContent !== text) el.textContent = text; }
  // A long table (a thousand request names, a thousand agents) draws its
  // first kShown rows that match its filter box; the note says how many more
  // there are. The page stays cheap to update and to lay out however many.
  const kShown = 100;
  function fillCapped(what, items, key, toRow) {
    const f = $(what + "-filter").value.trim().toLowerCase();
    const match = f ? items.filter((x) => key(x).toLowerCase().includes(f)) : items;
    fill($(what).tBodies[0], match.slice(0, kShown).map(toRow));
    const noun = what === "names" ? "names" : "agents";
    setText($(what + "-count"), match.length > kShown
      ? "Showing " + kShown + " of " + num(match.length) + " " + noun + (f ? " matching" : "") + ": the filter finds the others."
      : f ? num(match.length) + " of " + num(items.length) + " " + noun + " match." : "");
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
        if (old) {  // the points kept, then the new ones (in place: no copy of the hour per update)
          const pts = old.points;
          pts.length = r.points_from;
          for (const p of r.points) pts.push(p);
          r.points = pts;
        }
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
    window.addEventListener("resize", () => {
      for (const u of Object.values(c)) u.setSize({ width: width(), height: 220 });
    });
    return c;
  }
  function drawCharts(run) {
    // Every update brings a new object for a run that changed: the same
    // object means the same figures, nothing to draw.
    if (!charts || chartsShow === run) return;
    chartsShow = run;
    const p = run.points, t = p.map((x) => x[0]), msOf = (v) => (v === null ? null : v / 1e6);  // null: no sample in that span
    charts.rate.setData([t, p.map((x) => x[1]), p.map((x) => x[2]), p.map((x) => x[3])]);
    charts.lat.setData([t, p.map((x) => msOf(x[4])), p.map((x) => msOf(x[5])), p.map((x) => msOf(x[6]))]);
    charts.users.setData([t, p.map((x) => x[7]), p.map((x) => x[8])]);
    const span = run.point_span_s || 1;
    setText($("lat-caption"), span > 1
      ? "Latency percentiles over time (ms; a point covers " + span + " s and shows the highest of its seconds' percentiles, each from that second's merged histogram)"
      : "Latency percentiles over time (ms, merged histogram of each second)");
  }
  function drawHistogram(run) {
    if (histShows === run && run) return;  // the same figures (see drawCharts)
    histShows = run;
    // The canvas's size comes from a ResizeObserver: reading clientWidth here
    // would force a layout of the page in the middle of each update.
    const cv = $("histogram"), dpr = window.devicePixelRatio || 1;
    const w = histSize.w || 600, h = histSize.h || 220;
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
    if (c) setText($("source"), c.source);
    fillList($("runs"), state.order.slice().reverse(), () => {
      const b = document.createElement("button");
      b.onclick = () => {
        const id = b.dataset.run;
        state.selected = id; state.pinned = id !== state.order[state.order.length - 1]; dirty = true;
      };
      return b;
    }, (b, id) => {
      const r = state.runs.get(id), cls = (id === state.selected ? "sel " : "") + (r.state === "running" ? "running" : "");
      if (b.dataset.run !== id) b.dataset.run = id;
      setText(b, id + (r.test ? " · " + r.test : ""));
      if (b.className !== cls) b.className = cls;
    });

    const run = state.selected ? state.runs.get(state.selected) : null;
    renderCluster(c, run);
    if (!run) { drawHistogram(null); return; }
    // While running, the last point is the open second and the one before it
    // may be partial: the rates shown are those of the last whole second.
    const t = run.totals, n = run.points.length, last = n ? run.points[n - 1] : null;
    const cur = run.state === "running" ? (n > 2 ? run.points[n - 3] : last) : null;
    setText($("run-title"), "Run " + run.id + (run.test ? " — " + run.test : ""));
    setText($("run-sub"), [run.state === "running" ? "running" : "finished",
      "started " + clock(run.started_ms), run.elapsed_s.toFixed(1) + " s",
      run.agents.length ? run.agents.length + " agent(s): " + run.agents.join(", ") : "",
      run.joined_late ? "dashboard joined mid-run: figures before it are in the totals only once the run ends" : "",
      run.missed_snapshots ? run.missed_snapshots + " snapshots missed" : ""].filter(Boolean).join(" · "));
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
      setText(sum, "Summary: " + num(t.hits) + " hits in " + run.elapsed_s.toFixed(2) + " s (" + rate(avg) + "/s), " +
        num(t.successes) + " successes, " + num(t.failures) + " failures, " + num(t.errors) + " errors" +
        (run.stopped ? " · stopped" : "") + (run.incomplete ? " · incomplete" : "") + (run.error ? " · " + run.error : ""));
    } else {
      sum.hidden = true;
    }
    setText($("hits"), num(run.state === "finished" ? t.hits : Math.max(run.hits_done, t.hits)));
    setText($("rps"), cur ? rate(cur[1]) : run.elapsed_s > 0 ? rate(t.requests / run.elapsed_s) : "–");
    setText($("hps"), cur ? rate(cur[2]) : run.elapsed_s > 0 ? rate(t.hits / run.elapsed_s) : "–");
    setText($("p50"), ms(run.latency.p50));
    setText($("p95"), ms(run.latency.p95));
    setText($("p99"), ms(run.latency.p99));
    setText($("errors"), num(t.errors));
    setText($("failures"), num(t.failures));
    setText($("users"), run.state === "running" ? num(run.users_busy) + " / " + num(run.users) : "–");
    setText($("dropped"), num(t.dropped) + " / " + num(t.late));

    const latRow = (name, l) => l ? [name, num(l.count), ms(l.min), ms(l.p50), ms(l.p90), ms(l.p95), ms(l.p99), ms(l.p999), ms(l.max)] : null;
    fill($("latency").tBodies[0], [latRow("service time", run.latency), latRow("from schedule", run.latency_from_schedule)].filter(Boolean));
    fill($("kinds").tBodies[0], Object.entries(run.errors_by_kind).map(([k, n]) => [k, num(n)]));
    fill($("messages").tBodies[0], run.messages.map(([m, n]) => [m, num(n)]));
    // The busiest names first.
    const names = run.labels.slice().sort((a, b) => b.count - a.count || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    fillCapped("names", names, (l) => l.name,
      (l) => [l.name, num(l.count), num(l.errors), ms(l.p50), ms(l.p95), ms(l.p99), ms(l.max)]);
    fillList($("events"), run.events, () => document.createElement("li"), setText);
    if (!charts && hasPlot !== null) state.charts = charts = makeCharts() || false;
    drawCharts(run);
    drawHistogram(run);
  }

  function renderCluster(c, run) {
    if (!c) return;
    // Each agent's own figures in the shown run (from the broker's snapshots).
    const figures = new Map(((run && run.agent_figures) || []).map((f) => [f.id, f]));
    const rows = [];
    if (!c.cluster) {
      rows.push({ key: "local", row: ["local", "this process", run && run.state === "running" ? "busy" : "idle", run ? run.id : "",
        run ? num(run.totals.hits) : "–", run ? num(run.totals.errors) : "–", run ? num(run.totals.failures) : "–", "now"] });
    }
    // The agents of the run shown first, then the others.
    const agents = c.agents.filter((a) => figures.has(a.id)).concat(c.agents.filter((a) => !figures.has(a.id)));
    for (const a of agents) {
      const own = figures.get(a.id);
      rows.push({ key: a.id + " " + (a.host || ""), row: [a.id, a.host || "–", cell(a.state, "state-" + a.state), a.run || "",
        own ? num(own.hits) : cell("–", "na"), own ? num(own.errors) : cell("–", "na"),
        own ? num(own.failures) : cell("–", "na"), ago(a.last_seen_ms, c.now_ms)] });
    }
    fillCapped("agents", rows, (r) => r.key, (r) => r.row);
    setText($("agents-note"), c.cluster
      ? "Hits, errors and failures: each agent's own, over the whole run shown" + (run ? " (" + run.id + ")" : "") +
        ", from the broker's snapshots (– for an agent not in it). State and last seen come from the cluster and run events" +
        (c.status_ok ? " and the broker's STATUS replies." : "; start the dashboard with --broker for the broker's own view.")
      : "A local run: one process, no agents.");
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
  for (const id of ["names-filter", "agents-filter"]) $(id).addEventListener("input", () => { dirty = true; });
  if (window.ResizeObserver) {
    new ResizeObserver((entries) => {
      const r = entries[entries.length - 1].contentRect;
      histSize = { w: r.width, h: r.height }; histShows = null; dirty = true;
    }).observe($("histogram"));
  }
  requestAnimationFrame(frame);
  window.__loadsDashboard = state;  // for tests and curious users
})();
