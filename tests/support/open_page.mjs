// Opens a page in Debian's chromium (headless, driven by playwright-core from
// web/node_modules, pinned by web/package-lock.json) with the network off,
// and prints what a person would see as one JSON object on stdout: the
// figures marked data-metric, the charts' canvases and sizes, the compare
// tables' deltas, console errors, page errors and any request that tried to
// leave the file. Keeps a screenshot. Used by tests/integration/test_html_report.py.
//
//   node tests/support/open_page.mjs URL SCREENSHOT.png [--viewport]
//   (--viewport: the first 1200x900 pixels instead of the whole page)
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const webDir = process.env.LOADS_WEB_DIR || path.resolve(here, '../../web');
const require = createRequire(path.join(webDir, 'package.json'));
const { chromium } = require('playwright-core');

const [url, screenshot, mode] = process.argv.slice(2);
if (!url || !screenshot) {
  console.error('usage: node open_page.mjs URL SCREENSHOT.png');
  process.exit(2);
}
const executablePath = process.env.LOADS_CHROMIUM || '/usr/bin/chromium';
// Bounded: whatever happens, this process ends within 90 s.
setTimeout(() => { console.error('open_page: gave up after 90 s'); process.exit(3); }, 90000).unref();

const args = ['--host-resolver-rules=MAP * ~NOTFOUND'];
if (process.getuid && process.getuid() === 0) args.push('--no-sandbox');  // Chromium refuses root otherwise
const browser = await chromium.launch({ executablePath, headless: true, args, timeout: 30000 });
try {
  const context = await browser.newContext({ offline: true, viewport: { width: 1200, height: 900 } });
  const out = { console_errors: [], page_errors: [], network: [] };
  await context.route('**/*', (route) => {
    const u = route.request().url();
    if (u.startsWith('file:') || u.startsWith('data:')) return route.continue();
    out.network.push(u);
    return route.abort();
  });
  const page = await context.newPage();
  page.on('console', (m) => { if (m.type() === 'error') out.console_errors.push(m.text()); });
  page.on('pageerror', (e) => out.page_errors.push(String(e)));
  await page.goto(url, { waitUntil: 'load', timeout: 30000 });
  await page.waitForSelector('body[data-ready="1"]', { timeout: 15000 }).catch(() => {});
  Object.assign(out, await page.evaluate(() => {
    const text = (e) => e.textContent.trim();
    const metrics = {};
    document.querySelectorAll('[data-metric]').forEach((e) => { metrics[e.dataset.metric] = text(e); });
    const charts = [...document.querySelectorAll('[data-chart]')].map((e) => {
      const c = e.querySelector('canvas');
      const r = c ? c.getBoundingClientRect() : null;
      // Pixels of a saturated colour: the series (grid, axes and text are grey or black).
      let colored = 0;
      if (c && c.width && c.height) {
        const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        for (let i = 0; i < px.length; i += 4)
          if (px[i + 3] > 200 && Math.max(px[i], px[i + 1], px[i + 2]) - Math.min(px[i], px[i + 1], px[i + 2]) > 80) colored++;
      }
      return { chart: e.dataset.chart, canvas: !!c, width: r ? r.width : 0, height: r ? r.height : 0,
               canvas_width: c ? c.width : 0, canvas_height: c ? c.height : 0, colored };
    });
    const deltas = [...document.querySelectorAll('[data-delta]')].map((e) => {
      const tr = e.closest('tr');
      return { table: e.closest('table').id, row: tr.dataset.compareName || tr.dataset.compareCycle || tr.dataset.compare,
               metric: e.dataset.delta, text: text(e), significant: e.dataset.significant === '1' };
    });
    const rows = (id) => [...document.querySelectorAll(`#${id} tbody tr`)].map((tr) => [...tr.cells].map(text));
    return { ready: document.body.dataset.ready === '1', title: document.title, metrics, charts, deltas,
             cycles: rows('cycles-table'), names: rows('names-table'), errors: rows('errors-table'), custom: rows('metrics-table'),
             thresholds: rows('thresholds-table'), sections: [...document.querySelectorAll('h2')].map(text),
             // The plan's and the environment's key-value rows.
             kv: Object.fromEntries([...document.querySelectorAll('table.kv tr')]
               .map((tr) => [...tr.cells].map(text)).filter((r) => r.length === 2)) };
  }));
  await page.screenshot({ path: screenshot, fullPage: mode !== '--viewport' });
  process.stdout.write(JSON.stringify(out) + '\n');
} finally {
  await browser.close();
}
