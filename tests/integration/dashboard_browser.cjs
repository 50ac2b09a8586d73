// Drives Debian's chromium (headless) with playwright-core from web/node_modules
// for test_dashboard_browser.py: opens the dashboard, prints one JSON line per
// observation on stdout, and takes commands on stdin.
//   node dashboard_browser.cjs URL SCREENSHOT.png
// stdout: {"event":"ready"} once the page's WebSocket is up, then
//         {"event":"hits","value":N} every 200 ms,
//         {"event":"final",...} after the command {"final":HITS} (HITS shown and
//         the summary visible, or a timeout), then it exits.
"use strict";
const path = require("path");
const { openPage } = require(path.join(__dirname, "../support/chromium_page.cjs"));
const readline = require("readline");

const out = (o) => process.stdout.write(JSON.stringify(o) + "\n");

(async () => {
  const [url, shot, docsShot] = process.argv.slice(2);
  const { browser, page, errors } = await openPage();
  await page.goto(url, { timeout: 15000 });
  await page.waitForSelector("#conn.up", { timeout: 15000 });
  out({ event: "ready", uplot: await page.evaluate(() => typeof window.uPlot === "function") });

  const hits = () => page.evaluate(() => Number(document.getElementById("hits").textContent.replace(/[^0-9]/g, "") || 0));
  let polling = true;
  (async () => {
    while (polling) {
      try { out({ event: "hits", value: await hits() }); } catch (e) { /* page busy */ }
      await new Promise((r) => setTimeout(r, 200));
    }
  })();

  const rl = readline.createInterface({ input: process.stdin });
  rl.on("line", async (line) => {
    const cmd = JSON.parse(line);
    if (cmd.final === undefined) return;
    polling = false;
    let timedOut = false;
    try {
      await page.waitForFunction((n) => {
        const shown = Number(document.getElementById("hits").textContent.replace(/[^0-9]/g, ""));
        return shown === n && !document.getElementById("summary").hidden;
      }, cmd.final, { timeout: 20000, polling: 100 });
    } catch (e) { timedOut = true; }
    const result = await page.evaluate(() => ({
      hits: Number(document.getElementById("hits").textContent.replace(/[^0-9]/g, "")),
      summary: document.getElementById("summary").textContent,
      agents: Array.from(document.querySelectorAll("#agents tbody tr")).map((tr) => Array.from(tr.cells).map((c) => c.textContent)),
      names: Array.from(document.querySelectorAll("#names tbody tr td:first-child")).map((c) => c.textContent),
      p99: document.getElementById("p99").textContent,
      charts: document.querySelectorAll(".uplot").length,
      points: (() => { const s = window.__loadsDashboard; const r = s.runs.get(s.selected); return r ? r.points.length : 0; })(),
    }));
    await page.screenshot({ path: shot, fullPage: true });
    if (docsShot) await page.screenshot({ path: docsShot, clip: { x: 0, y: 0, width: 1280, height: 900 } });
    out({ event: "final", timedOut, errors, ...result });
    await browser.close();
    process.exit(0);
  });
})().catch((e) => { out({ event: "crash", error: String(e && e.stack || e) }); process.exit(1); });
