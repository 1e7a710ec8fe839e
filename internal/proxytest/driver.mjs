// Browser driver of the proxy tests: launches Debian's Chromium through the playwright-core
// of client-js/node_modules (no browser is ever downloaded), runs the steps of one job on one
// page and prints one JSON line: {ok, results, error, log}.
//
// The job is the JSON in argv[2]:
//   {"chromium": "/usr/bin/chromium", "args": ["--extra-flag"], "steps": [
//     {"op": "goto", "url": "http://...", "timeout": 15000},
//     {"op": "wait", "expr": "window.x", "timeout": 30000},
//     {"op": "eval", "expr": "..."},              (awaited; its value goes to results)
//     {"op": "shot", "path": "/tmp/a.png"},       (full page)
//     {"op": "viewport", "width": 390, "height": 844},
//     {"op": "sleep", "ms": 1000}]}
import { createRequire } from 'node:module';
import path from 'node:path';

const job = JSON.parse(process.argv[2]);
const require = createRequire(path.join(process.env.SOCKHOP_CLIENTJS, 'package.json'));
const { chromium } = require('playwright-core');

const log = [];
const stamp = Date.now();
const note = (s) => log.push(`+${Date.now() - stamp}ms ${s}`);
const out = { ok: false, results: [], error: null, log };
let browser;
try {
  browser = await chromium.launch({
    executablePath: job.chromium,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      ...(job.args || [])],
  });
  const context = await browser.newContext({ viewport: { width: job.width || 1100, height: job.height || 900 } });
  const page = await context.newPage();
  page.on('console', (m) => note(`console.${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => note(`pageerror: ${e.message}`));
  page.on('requestfailed', (r) => note(`requestfailed: ${r.method()} ${r.url()} ${r.failure()?.errorText}`));
  page.on('response', (r) => { if (r.status() >= 400) note(`response ${r.status()}: ${r.request().method()} ${r.url()}`); });
  page.on('websocket', (ws) => {
    note(`websocket open: ${ws.url()}`);
    ws.on('socketerror', (e) => note(`websocket error: ${ws.url()} ${e}`));
    ws.on('close', () => note(`websocket closed: ${ws.url()}`));
  });
  for (const s of job.steps) {
    switch (s.op) {
      case 'goto':
        await page.goto(s.url, { timeout: s.timeout || 15000 });
        out.results.push(null);
        break;
      case 'wait': {
        // Polled with evaluate (CDP), not waitForFunction: the doctor's CSP forbids the
        // eval that waitForFunction needs.
        const end = Date.now() + (s.timeout || 30000);
        while (!(await page.evaluate(s.expr))) {
          if (Date.now() > end) throw new Error(`timed out after ${s.timeout || 30000}ms waiting for ${s.expr}`);
          await new Promise((r) => setTimeout(r, 50));
        }
        out.results.push(null);
        break;
      }
      case 'eval':
        out.results.push(await page.evaluate(s.expr));
        break;
      case 'shot':
        await page.screenshot({ path: s.path, fullPage: true });
        out.results.push(s.path);
        break;
      case 'viewport':
        await page.setViewportSize({ width: s.width, height: s.height });
        out.results.push(null);
        break;
      case 'sleep':
        await new Promise((r) => setTimeout(r, s.ms));
        out.results.push(null);
        break;
      default:
        throw new Error(`unknown op ${s.op}`);
    }
  }
  out.ok = true;
} catch (e) {
  out.error = String(e && e.stack || e);
} finally {
  if (browser) await browser.close().catch(() => {});
}
process.stdout.write(JSON.stringify(out) + '\n');
