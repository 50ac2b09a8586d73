// Debian's chromium, headless, through playwright-core (web/node_modules,
// on NODE_PATH): one page of 1280x900 and the errors it logs (console
// errors, uncaught exceptions, failed requests). For the dashboard's browser
// tests (tests/integration/dashboard_*.cjs).
"use strict";
const { chromium } = require("playwright-core");

async function openPage() {
  const args = process.getuid && process.getuid() === 0 ? ["--no-sandbox"] : [];  // chromium refuses root otherwise
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium", headless: true, args });
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 }, deviceScaleFactor: 1 });
  const errors = [];
  page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("requestfailed", (r) => errors.push("request failed: " + r.url() + " " + (r.failure() || {}).errorText));
  return { browser, page, errors };
}

module.exports = { openPage };
