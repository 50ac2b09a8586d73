// Drives Debian's chromium (headless) with playwright-core from web/node_modules
// for test_dashboard_hour.py: opens the dashboard with the page's work
// measured from the inside, then answers one JSON command per stdin line
// with one JSON line on stdout.
//   node dashboard_hour.cjs URL
// stdout: {"event":"ready"} once the page's WebSocket is up, then a reply per command:
//   {"op":"perf"}            what was measured since the previous "perf" (and resets it):
//                            updates (each WebSocket message: bytes, ms to handle it, ms until
//                            the page's next animation frame has run), gaps between animation
//                            frames, long tasks (> 50 ms on the main thread), interactions
//                            (Event Timing entries of clicks)
//   {"op":"heap"}            the page's JS heap after a garbage collection (bytes)
//   {"op":"view"}            what the page holds and shows: the selected run, its points, each
//                            chart's data and x range, figures, agents, summary
//   {"op":"click","run":ID}  clicks that run's button like a person; ms until the page shows it
//   {"op":"type","input":SEL,"text":T,"table":SEL,"first":[...]}
//                            types T into a filter box like a person; ms until the table's
//                            first cells are exactly `first`
//   {"op":"reload"}          loads the page again; ms until it shows the whole selected run
//   {"op":"shot","path":P}   a screenshot of the viewport
//   {"op":"close"}           closes the browser and exits
// Whatever happens, the process ends within 10 minutes.
"use strict";
const path = require("path");
const { openPage } = require(path.join(__dirname, "../support/chromium_page.cjs"));
const readline = require("readline");

const out = (o) => process.stdout.write(JSON.stringify(o) + "\n");
setTimeout(() => { out({ event: "crash", error: "gave up after 10 minutes" }); process.exit(3); }, 600000).unref();

// Runs in the page before its own scripts: watches every WebSocket message
// until the page's next animation frame, the frames, long tasks and clicks.
function instrument() {
  const perf = { updates: [], frames: [], longtasks: [], interactions: [] };
  window.__perf = perf;
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    set onmessage(fn) {
      super.onmessage = (ev) => {
        const t0 = performance.now();
        fn.call(this, ev);
        const t1 = performance.now();
        // The page renders in its animation-frame callback, registered in
        // the previous frame: this one, registered now, runs after it.
        requestAnimationFrame(() => {
          perf.updates.push({ bytes: ev.data.length, handle_ms: t1 - t0, to_frame_ms: performance.now() - t0 });
        });
      };
    }
    get onmessage() { return super.onmessage; }
  };
  let last = 0;
  const tick = (t) => { if (last) perf.frames.push(t - last); last = t; requestAnimationFrame(tick); };
  requestAnimationFrame(tick);
  new PerformanceObserver((l) => { for (const e of l.getEntries()) perf.longtasks.push(e.duration); })
    .observe({ type: "longtask", buffered: true });
  new PerformanceObserver((l) => {
    for (const e of l.getEntries())
      perf.interactions.push({ name: e.name, duration: e.duration, delay: e.processingStart - e.startTime,
                               processing: e.processingEnd - e.processingStart });
  }).observe({ type: "event", buffered: true, durationThreshold: 16 });
}

// What the page holds and shows.
function view() {
  const s = window.__loadsDashboard, run = s.selected ? s.runs.get(s.selected) : null;
  const charts = Object.entries(s.charts || {}).map(([name, u]) => ({
    name, points: u.data[0].length, series: u.data.length,
    x_min: u.scales.x.min, x_max: u.scales.x.max, first_t: u.data[0][0], last_t: u.data[0][u.data[0].length - 1],
    width: u.width,
  }));
  const text = (id) => document.getElementById(id).textContent;
  return {
    runs: s.order.slice(), selected: s.selected, state: run ? run.state : null,
    points: run ? run.points.length : 0,
    first_t: run && run.points.length ? run.points[0][0] : null,
    last_t: run && run.points.length ? run.points[run.points.length - 1][0] : null,
    point_span_s: run ? run.point_span_s : null,
    charts, title: text("run-title"), hits: Number(text("hits").replace(/[^0-9]/g, "") || 0),
    summary: document.getElementById("summary").hidden ? "" : text("summary"),
    agents: Array.from(document.querySelectorAll("#agents tbody tr")).map((tr) => Array.from(tr.cells).map((c) => c.textContent)),
    names: Array.from(document.querySelectorAll("#names tbody tr")).map((tr) => Array.from(tr.cells).map((c) => c.textContent)),
    names_count: text("names-count"), agents_count: text("agents-count"),
  };
}

(async () => {
  const [url] = process.argv.slice(2);
  const { browser, page, errors } = await openPage();
  await page.addInitScript(instrument);
  const cdp = await page.context().newCDPSession(page);
  await page.goto(url, { timeout: 15000 });
  await page.waitForSelector("#conn.up", { timeout: 15000 });
  out({ event: "ready", uplot: await page.evaluate(() => typeof window.uPlot === "function") });

  const shows = (id) => page.waitForFunction((want) => {
    const s = window.__loadsDashboard;
    return s.selected === want && document.getElementById("run-title").textContent.includes(want);
  }, id, { timeout: 30000, polling: "raf" });

  const ops = {
    perf: () => page.evaluate(() => {
      const p = window.__perf, copy = JSON.parse(JSON.stringify(p));
      p.updates.length = 0; p.frames.length = 0; p.longtasks.length = 0; p.interactions.length = 0;
      return copy;
    }),
    heap: async () => {
      await cdp.send("HeapProfiler.collectGarbage");
      const h = await cdp.send("Runtime.getHeapUsage");
      return { used: h.usedSize, total: h.totalSize };
    },
    view: () => page.evaluate(view),
    click: async (cmd) => {
      const t0 = Date.now();
      await page.click(`#runs button[data-run="${cmd.run}"]`, { timeout: 10000 });
      await shows(cmd.run);
      return { ms: Date.now() - t0 };
    },
    type: async (cmd) => {
      const t0 = Date.now();
      await page.fill(cmd.input, cmd.text, { timeout: 10000 });
      const shown = (table) => Array.from(document.querySelectorAll(table + " tbody tr")).map((r) => r.cells[0].textContent);
      try {
        await page.waitForFunction(([table, first, shownSrc]) => {
          const rows = eval(shownSrc)(table);
          return rows.length === first.length && rows.every((r, i) => r === first[i]);
        }, [cmd.table, cmd.first, shown.toString()], { timeout: 30000, polling: "raf" });
      } catch (e) {
        throw new Error(e.message + "; the table shows " + JSON.stringify((await page.evaluate(shown, cmd.table)).slice(0, 8)));
      }
      return { ms: Date.now() - t0 };
    },
    reload: async () => {
      const t0 = Date.now();
      await page.reload({ timeout: 30000 });
      await page.waitForFunction(() => {
        const s = window.__loadsDashboard, run = s && s.selected ? s.runs.get(s.selected) : null;
        return run && s.charts && s.charts.rate && s.charts.rate.data[0].length === run.points.length &&
          document.getElementById("run-title").textContent.includes(run.id);
      }, null, { timeout: 30000, polling: "raf" });
      return { ms: Date.now() - t0 };
    },
    shot: async (cmd) => { await page.evaluate(() => window.scrollTo(0, 0)); await page.screenshot({ path: cmd.path }); return {}; },
  };

  const rl = readline.createInterface({ input: process.stdin });
  for await (const line of rl) {
    const cmd = JSON.parse(line);
    if (cmd.op === "close") break;
    try {
      out({ op: cmd.op, errors: errors.slice(), ...(await ops[cmd.op](cmd)) });
    } catch (e) {
      out({ op: cmd.op, failed: String(e && e.stack || e), errors: errors.slice() });
    }
  }
  await browser.close();
  process.exit(0);
})().catch((e) => { out({ event: "crash", error: String(e && e.stack || e) }); process.exit(1); });
