// The one browser driver of sockhop's Go tests (package internal/browser starts it): launches
// Debian's Chromium through the playwright-core of client-js/node_modules (no browser is ever
// downloaded) and runs commands read from stdin, one JSON object a line, answering each with
// one JSON line on stdout. Pages are named; each has its own browser context (storage,
// cookies), so nothing leaks between them.
//
//   {"id":1,"op":"open","page":"a","url":"...","width":1280,"height":720,"mobile":false}
//   {"id":2,"op":"goto","page":"a","url":"..."}       navigate (storage kept)
//   {"id":3,"op":"eval","page":"a","expr":"..."}      evaluate an expression (awaited)
//   {"id":4,"op":"wait","page":"a","expr":"..."}      poll expr until it is truthy
//   {"id":5,"op":"fill","page":"a","selector":"#x","value":"text"}
//   {"id":6,"op":"press","page":"a","selector":"#x","value":"Enter"}
//   {"id":7,"op":"click","page":"a","selector":"#x"}
//   {"id":8,"op":"shot","page":"a","path":"/tmp/x.png","full":false}
//   {"id":9,"op":"viewport","page":"a","width":390,"height":844}
//   {"id":10,"op":"offline","page":"a","value":true}  context.setOffline
//   {"id":11,"op":"log","page":"a"}                   console, page errors, what went on the wire
//   {"id":12,"op":"close","page":"a"}
//   {"id":13,"op":"quit"}
//
// Answers: {"id":1,"ok":true,"value":...} or {"id":1,"ok":false,"error":"..."}; first an
// unasked {"id":0,"ok":true,"value":"ready"}. Every command is bounded by "timeout" ms
// (default 30000). Env: SOCKHOP_CHROMIUM (the browser binary), SOCKHOP_CLIENTJS (the
// client-js directory, whose node_modules has playwright-core). Extra Chromium flags come as
// arguments. playwright-core makes a fresh --user-data-dir under TMPDIR (the Go side points
// it at a temp dir of the test) and removes it on exit.
import { createInterface } from 'node:readline';
import { createRequire } from 'node:module';
import path from 'node:path';

const exe = process.env.SOCKHOP_CHROMIUM;
const clientJS = process.env.SOCKHOP_CLIENTJS;
if (!exe || !clientJS) {
  console.error('driver.mjs: set SOCKHOP_CHROMIUM and SOCKHOP_CLIENTJS');
  process.exit(2);
}
const require = createRequire(path.join(clientJS, 'package.json'));
const { chromium } = require('playwright-core');

const browser = await chromium.launch({
  executablePath: exe,
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ...process.argv.slice(2)],
});
const pages = new Map(); // name -> {context, page, log}
const t0 = Date.now();

function watch(page, log) {
  const note = (s) => {
    log.push(`+${Date.now() - t0}ms ${s}`);
    if (log.length > 2000) log.splice(0, log.length - 2000);
  };
  page.on('console', (m) => note(`console.${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => note(`pageerror: ${e.message}`));
  page.on('websocket', (ws) => {
    note(`ws open ${ws.url()}`);
    ws.on('framesent', (f) => note(`ws > ${String(f.payload).slice(0, 200)}`));
    ws.on('framereceived', (f) => note(`ws < ${String(f.payload).slice(0, 200)}`));
    ws.on('socketerror', (e) => note(`ws error ${ws.url()} ${e}`));
    ws.on('close', () => note(`ws close ${ws.url()}`));
  });
  page.on('request', (r) => note(`http > ${r.method()} ${r.url()}`));
  page.on('requestfailed', (r) => note(`http x ${r.method()} ${r.url()} ${r.failure()?.errorText}`));
  page.on('response', (r) => note(`http < ${r.status()} ${r.request().method()} ${r.url()}`));
}

async function closePage(name) {
  const p = pages.get(name);
  pages.delete(name);
  if (p) await p.context.close().catch(() => {});
}

async function open(cmd) {
  await closePage(cmd.page);
  const width = cmd.width || 1280;
  const height = cmd.height || 720;
  const context = await browser.newContext({
    viewport: { width, height },
    ...(cmd.mobile ? { deviceScaleFactor: 2, isMobile: true, hasTouch: true } : {}),
  });
  const page = await context.newPage();
  const log = [];
  watch(page, log);
  pages.set(cmd.page, { context, page, log });
  if (cmd.url) await page.goto(cmd.url, { waitUntil: 'load', timeout: 0 });
  return true;
}

function pg(cmd) {
  const p = pages.get(cmd.page);
  if (!p) throw new Error('no page ' + cmd.page);
  return p;
}

// wait polls with evaluate (CDP), not waitForFunction: a page whose CSP forbids eval (the
// connectivity doctor's) cannot run waitForFunction's predicate.
async function wait(cmd, ms) {
  const { page } = pg(cmd);
  const end = Date.now() + ms;
  while (!(await page.evaluate(cmd.expr))) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${cmd.expr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
}

async function run(cmd, ms) {
  switch (cmd.op) {
    case 'open': return open(cmd);
    case 'goto': await pg(cmd).page.goto(cmd.url, { waitUntil: 'load', timeout: 0 }); return true;
    case 'eval': return pg(cmd).page.evaluate(cmd.expr);
    case 'wait': return wait(cmd, ms - 100);
    case 'fill': await pg(cmd).page.fill(cmd.selector, cmd.value, { timeout: 0 }); return true;
    case 'press': await pg(cmd).page.press(cmd.selector, cmd.value, { timeout: 0 }); return true;
    case 'click': await pg(cmd).page.click(cmd.selector, { timeout: 0 }); return true;
    case 'shot': await pg(cmd).page.screenshot({ path: cmd.path, fullPage: !!cmd.full }); return cmd.path;
    case 'viewport': await pg(cmd).page.setViewportSize({ width: cmd.width, height: cmd.height }); return true;
    case 'offline': await pg(cmd).context.setOffline(!!cmd.value); return true;
    case 'log': return pg(cmd).log.slice();
    case 'close': await closePage(cmd.page); return true;
    case 'closetab': { // as a user closes a tab: unload handlers (pagehide) run
      const p = pg(cmd);
      pages.delete(cmd.page);
      await p.page.close({ runBeforeUnload: true });
      await p.page.waitForEvent('close', { timeout: 10000 }).catch(() => {});
      await p.context.close().catch(() => {});
      return true;
    }
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
    const ms = cmd.timeout || 30000;
    let timer;
    try {
      const value = await Promise.race([run(cmd, ms), new Promise((_, rej) => {
        timer = setTimeout(() => rej(new Error(`timeout after ${ms} ms`)), ms);
      })]);
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
