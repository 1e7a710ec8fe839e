// Browser driver of the examples' browser tests: launches Debian's Chromium through
// playwright-core (resolved from client-js/node_modules; no browser is ever downloaded) and
// runs commands read from stdin, one JSON object a line, answering each with a JSON line:
//
//   {"id":1,"op":"open","page":"a","url":"...","width":1280,"height":800}  new context + page
//   {"id":2,"op":"eval","page":"a","expr":"..."}        evaluate (awaited)
//   {"id":3,"op":"wait","page":"a","expr":"..."}        wait until expr is truthy
//   {"id":4,"op":"fill","page":"a","selector":"#x","text":"..."}
//   {"id":5,"op":"press","page":"a","selector":"#x","key":"Enter"}
//   {"id":6,"op":"click","page":"a","selector":"#x"}
//   {"id":7,"op":"shot","page":"a","path":"/tmp/x.png"}
//   {"id":8,"op":"log","page":"a"}                      console lines and page errors
//
// Env: SOCKHOP_CHROMIUM (the browser), SOCKHOP_CLIENTJS (client-js directory).
import { createInterface } from 'node:readline';
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(path.join(process.env.SOCKHOP_CLIENTJS, 'package.json'));
const { chromium } = require('playwright-core');

const browser = await chromium.launch({
  executablePath: process.env.SOCKHOP_CHROMIUM,
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const pages = new Map(); // name -> {context, page, log}

async function open(cmd) {
  const old = pages.get(cmd.page);
  if (old) await old.context.close().catch(() => {});
  const mobile = (cmd.width || 1280) < 600;
  const context = await browser.newContext({
    viewport: { width: cmd.width || 1280, height: cmd.height || 800 },
    deviceScaleFactor: mobile ? 2 : 1, isMobile: mobile, hasTouch: mobile,
  });
  const page = await context.newPage();
  const log = [];
  page.on('console', (m) => log.push(`console.${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => log.push(`pageerror: ${e.message}`));
  page.on('requestfailed', (r) => log.push(`failed: ${r.url()} ${r.failure()?.errorText}`));
  pages.set(cmd.page, { context, page, log });
  await page.goto(cmd.url, { waitUntil: 'load' });
  return true;
}

function pg(cmd) {
  const p = pages.get(cmd.page);
  if (!p) throw new Error('no page ' + cmd.page);
  return p;
}

async function run(cmd) {
  switch (cmd.op) {
    case 'open': return open(cmd);
    case 'eval': return pg(cmd).page.evaluate(cmd.expr);
    case 'wait':
      await pg(cmd).page.waitForFunction(cmd.expr, null, { timeout: cmd.timeout || 15000, polling: 50 });
      return true;
    case 'fill': await pg(cmd).page.fill(cmd.selector, cmd.text); return true;
    case 'press': await pg(cmd).page.press(cmd.selector, cmd.key); return true;
    case 'click': await pg(cmd).page.click(cmd.selector); return true;
    case 'shot': await pg(cmd).page.screenshot({ path: cmd.path, fullPage: !!cmd.full }); return true;
    case 'close': {
      const p = pages.get(cmd.page);
      if (p) await p.context.close().catch(() => {});
      pages.delete(cmd.page);
      return true;
    }
    case 'log': return pg(cmd).log.slice(-200);
    case 'quit': return true;
    default: throw new Error('unknown op ' + cmd.op);
  }
}

const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');
let chain = Promise.resolve();
let quitting = false;
async function quit() {
  if (quitting) return;
  quitting = true;
  await browser.close().catch(() => {});
  process.exit(0);
}
const rl = createInterface({ input: process.stdin });
rl.on('line', (line) => {
  chain = chain.then(async () => {
    let cmd;
    try { cmd = JSON.parse(line); } catch { return out({ ok: false, error: 'bad command' }); }
    let timer;
    const ms = (cmd.timeout || 15000) + 5000;
    try {
      const value = await Promise.race([run(cmd), new Promise((_, rej) => { timer = setTimeout(() => rej(new Error(`timeout after ${ms} ms`)), ms); })]);
      out({ id: cmd.id, ok: true, value: value === undefined ? null : value });
    } catch (e) {
      out({ id: cmd.id, ok: false, error: String((e && e.message) || e) });
    } finally {
      clearTimeout(timer);
    }
    if (cmd.op === 'quit') await quit();
  });
});
rl.on('close', () => chain.then(quit));
out({ id: 0, ok: true, value: 'ready' });
