// Browser driver for the Go browser tests (internal/browsertest): launches Debian's Chromium
// through playwright-core and runs commands it reads from stdin, one JSON object a line,
// answering each with one JSON line on stdout:
//
//   {"id":1,"op":"page","url":"http://127.0.0.1:P/"}   new context + page, navigate
//   {"id":2,"op":"goto","url":"..."}                   navigate the current page (storage kept)
//   {"id":3,"op":"eval","expr":"..."}                   evaluate an expression (awaited)
//   {"id":4,"op":"offline","value":true}                context.setOffline
//   {"id":5,"op":"log"}                                 console lines and what went on the wire
//   {"id":6,"op":"quit"}
//
// Answers: {"id":1,"ok":true,"value":...} or {"id":1,"ok":false,"error":"..."}. Every command
// is bounded by "timeout" ms (default 30000). SOCKHOP_CHROMIUM names the browser binary.
// playwright-core gives the browser a fresh --user-data-dir under TMPDIR (the Go test points
// TMPDIR at its temp dir) and removes it on exit.
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

const exe = process.env.SOCKHOP_CHROMIUM;
if (!exe) {
  console.error('run.mjs: set SOCKHOP_CHROMIUM');
  process.exit(2);
}

const args = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
// Each "page" command makes a new incognito-like context, so storage (the remembered
// transport) never leaks between cases.
const browser = await chromium.launch({ executablePath: exe, args, headless: true });
let context = null;
let page = null;
const log = [];
const note = (s) => {
  log.push(`${new Date().toISOString().slice(11, 23)} ${s}`);
  if (log.length > 2000) log.splice(0, log.length - 2000);
};

async function newPage(url) {
  if (context) await context.close().catch(() => {});
  context = await browser.newContext();
  page = await context.newPage();
  page.on('console', (m) => note(`console.${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => note(`pageerror: ${e.message}`));
  page.on('websocket', (ws) => {
    note(`ws open ${ws.url()}`);
    ws.on('framesent', (f) => note(`ws > ${String(f.payload).slice(0, 200)}`));
    ws.on('framereceived', (f) => note(`ws < ${String(f.payload).slice(0, 200)}`));
    ws.on('socketerror', (e) => note(`ws error ${e}`));
    ws.on('close', () => note(`ws close ${ws.url()}`));
  });
  page.on('request', (r) => note(`http > ${r.method()} ${r.url()}`));
  page.on('requestfailed', (r) => note(`http x ${r.url()} ${r.failure()?.errorText}`));
  page.on('response', (r) => note(`http < ${r.status()} ${r.url()}`));
  await page.goto(url, { waitUntil: 'load' });
  return true;
}

async function run(cmd) {
  switch (cmd.op) {
    case 'page':
      return newPage(cmd.url);
    case 'goto':
      await page.goto(cmd.url, { waitUntil: 'load' });
      return true;
    case 'eval':
      return page.evaluate(cmd.expr);
    case 'offline':
      await context.setOffline(!!cmd.value);
      return true;
    case 'log':
      return log.slice();
    case 'quit':
      return true;
    default:
      throw new Error('unknown op ' + cmd.op);
  }
}

const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');
const rl = createInterface({ input: process.stdin });
let chain = Promise.resolve();
let quitting = false;

async function quit(code) {
  if (quitting) return;
  quitting = true;
  await browser.close().catch(() => {});
  process.exit(code);
}

rl.on('line', (line) => {
  chain = chain.then(async () => {
    let cmd;
    try {
      cmd = JSON.parse(line);
    } catch {
      return out({ ok: false, error: 'bad command' });
    }
    let timer;
    try {
      const value = await Promise.race([
        run(cmd),
        new Promise((_, rej) => (timer = setTimeout(() => rej(new Error(`timeout after ${cmd.timeout || 30000} ms`)), cmd.timeout || 30000))),
      ]);
      out({ id: cmd.id, ok: true, value: value === undefined ? null : value });
    } catch (e) {
      out({ id: cmd.id, ok: false, error: String((e && e.message) || e) });
    } finally {
      clearTimeout(timer);
    }
    if (cmd.op === 'quit') await quit(0);
  });
});
rl.on('close', () => chain.then(() => quit(0)));
out({ id: 0, ok: true, value: 'ready' });
