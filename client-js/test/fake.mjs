// A fake transport and server for the node unit tests: each transport attempt is recorded;
// a test decides per attempt whether it opens, welcomes, stalls or closes.
import { afterEach } from 'node:test';
import { Client } from './.build/internal.mjs';

// Every client a world made is closed after its test, passed or failed: a failed test
// must not leave a client reconnecting, which would keep node running to the file's timeout.
const clients = new Set();
afterEach(() => {
  for (const c of clients) c.close();
  clients.clear();
});

export const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));

/** until polls cond every 2 ms, for at most ms (generous: the machine may be loaded). */
export async function until(cond, ms = 5000) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('until: timed out');
    await tick(2);
  }
}

/**
 * withFetch runs fn with globalThis.fetch answering each POST from answer(url, n, init), n
 * counting the requests to that path: a Response as is, a string as a 200 with it as body,
 * null as a 204. fn gets the calls made so far: { url, headers }.
 */
export async function withFetch(answer, fn) {
  const real = globalThis.fetch;
  const calls = [];
  globalThis.fetch = async (url, init) => {
    calls.push({ url: String(url), headers: init.headers });
    const path = (u) => String(u).split('?')[0];
    const r = await answer(String(url), calls.filter((c) => path(c.url) === path(url)).length, init);
    return r instanceof Response ? r : new Response(r, { status: r === null ? 204 : 200 });
  };
  try {
    await fn(calls);
  } finally {
    globalThis.fetch = real;
  }
}

/**
 * Fake is one transport connection. `plan` decides how it behaves:
 *   'ok'      open, and welcome the hello
 *   'refuse'  close with 1006 at once (upgrade refused)
 *   'stall'   open, never answer
 *   fn(fake)  the test drives it
 */
export class Fake {
  constructor(name, h, plan, welcome, opts) {
    this.name = name;
    this.h = h;
    this.opts = opts; // the TransportOptions the client dialled with (resume, node)
    this.sent = []; // messages the client sent, parsed
    this.closed = false;
    this.last = null;
    this.max = 65536;
    this.welcome = welcome;
    setTimeout(() => {
      if (this.closed) return;
      if (plan === 'refuse') return this.h.close(1006, 'refused');
      if (plan === 'stall') return this.h.open();
      if (plan === 'ok') {
        this.onHello = () => this.server({ t: 'welcome', sid: 's1', token: 'x', ping: 25000, pong: 20000, max: 65536, resumed: false, ...this.welcome });
        return this.h.open();
      }
      plan(this);
    });
  }
  send(msgs) {
    for (const m of msgs) {
      const v = JSON.parse(m);
      this.sent.push(v);
      if (this.onMsg) this.onMsg(v);
      if (v.t === 'hello' && this.onHello) setTimeout(() => this.onHello());
    }
  }
  setMax(n) {
    this.max = n;
  }
  close(last) {
    this.closed = true;
    this.last = last ? last.map((m) => JSON.parse(m)) : null;
    return [];
  }
  /** server delivers messages to the client as one frame. */
  server(...msgs) {
    if (!this.closed) {
      this.h.alive();
      this.h.frame(msgs.map((m) => (typeof m === 'string' ? m : JSON.stringify(m))).join('\n'));
    }
  }
  /** drop ends the transport from the server side. */
  drop(code = 1006, reason = '') {
    if (!this.closed) {
      this.closed = true;
      this.h.close(code, reason);
    }
  }
  events() {
    return this.sent.filter((m) => m.t === 'ev');
  }
}

/**
 * world builds a Client whose transports are fakes. plans maps a transport name to a list of
 * plans, one per attempt (the last one repeats).
 */
export function world(plans, opts = {}) {
  const attempts = [];
  const count = {};
  const factories = {};
  for (const name of ['websocket', 'xhr-streaming', 'xhr-polling']) {
    factories[name] = (base, h, o) => {
      const list = plans[name] || ['refuse'];
      const i = count[name] = (count[name] ?? -1) + 1;
      const f = new Fake(name, h, list[Math.min(i, list.length - 1)], opts.welcome, o);
      attempts.push(f);
      return f;
    };
  }
  const log = [];
  const c = new Client('http://test/rt', { openTimeout: 60, backoffMin: 20, backoffMax: 80, rememberTransport: 0, ...opts, factories });
  clients.add(c);
  for (const ev of ['connect', 'disconnect', 'reconnecting', 'transport', 'error']) c.on(ev, (...a) => log.push([ev, ...a]));
  return { c, attempts, log, cur: () => attempts[attempts.length - 1] };
}

/**
 * SockJSServer answers the real SockJS transports (src/sockjs.ts) through a fake
 * globalThis.fetch: a new SockJS session opens ('o'), a hello is welcomed (resumed when it
 * asks for the last session id), and a receiving request waits for frames. refuse() makes the
 * next receiving request or xhr_send fail with an HTTP status, as the Go server refuses them.
 * With node set, it is one node of several (PROTOCOL.md §7, "Many nodes"): every answer
 * carries X-Sockhop-Node and every welcome names the node.
 */
export class SockJSServer {
  constructor(node) {
    this.node = node;
    this.reqs = []; // the last path element of each request: xhr, xhr_streaming or xhr_send
    this.urls = []; // each request's URL
    this.hellos = []; // { transport: 'xhr' | 'xhr_streaming', resume, auth, server }
    this.sid = null;
    // SockJS session id -> { path, open, q, wake }: the <server> segment does not name the
    // session, as in sockjs-go.
    this.sessions = new Map();
    this.refusal = null;
    this.real = globalThis.fetch;
    globalThis.fetch = (url, init) => this.fetch(String(url), init);
  }
  /** stop gives globalThis.fetch back. */
  stop() {
    globalThis.fetch = this.real;
  }
  /** refuse answers the next request of kind on ('receive' or 'send') with status. */
  refuse(status, on, headers = {}) {
    this.refusal = { status, on, headers };
    this.wakeAll();
  }
  /** close ends every open receiving request with the SockJS frame c[code,reason]. */
  close(code, reason) {
    for (const s of this.sessions.values()) s.q.push('c' + JSON.stringify([code, reason]));
    this.wakeAll();
  }
  wakeAll() {
    for (const s of this.sessions.values()) if (s.wake) s.wake();
  }
  async fetch(url, init) {
    const [kind, key, server] = url.split('?')[0].split('/').reverse();
    this.reqs.push(kind);
    this.urls.push(url);
    let s = this.sessions.get(key);
    if (!s) this.sessions.set(key, (s = { path: kind, open: false, q: [], wake: null }));
    const r = await this.answer(s, kind, server, init);
    if (this.node) r.headers.set('X-Sockhop-Node', this.node);
    return r;
  }
  async answer(s, kind, server, init) {
    if (kind === 'xhr_send') {
      const r = this.take('send');
      if (r) return r;
      for (const m of JSON.parse(init.body)[0].split('\n')) this.recv(s, JSON.parse(m), server);
      return new Response(null, { status: 204 });
    }
    for (;;) {
      const r = this.take('receive');
      if (r) return r;
      if (!s.open) return (s.open = true), new Response('o\n');
      if (s.q.length) {
        const frames = s.q.splice(0);
        const c = frames.find((f) => f[0] === 'c');
        return new Response(c ? c + '\n' : 'a' + JSON.stringify(frames) + '\n');
      }
      await new Promise((res, rej) => {
        s.wake = res;
        init.signal?.addEventListener('abort', () => rej(new Error('aborted')));
      });
      s.wake = null;
    }
  }
  take(on) {
    const r = this.refusal;
    if (!r || r.on !== on) return null;
    this.refusal = null;
    return new Response('refused', { status: r.status, headers: r.headers });
  }
  recv(s, m, server) {
    if (m.t !== 'hello') return;
    this.hellos.push({ transport: s.path, resume: m.resume, auth: m.auth, server });
    const resumed = !!m.resume && m.resume.sid === this.sid;
    if (!resumed) this.sid = 'S' + (this.hellos.length);
    const node = this.node ? { node: this.node } : {};
    s.q.push(JSON.stringify({ t: 'welcome', sid: this.sid, token: 't', ping: 25000, pong: 20000, max: 65536, resumed, r: 0, ...node }));
    if (s.wake) s.wake();
  }
}

/** memStore is an in-memory sessionStorage. */
function memStore() {
  const m = new Map();
  return { getItem: (k) => (m.has(k) ? m.get(k) : null), setItem: (k, v) => m.set(k, String(v)), removeItem: (k) => m.delete(k) };
}

/** withPage runs fn with a fake window (pagehide, pageshow) and sessionStorage. */
export async function withPage(fn) {
  const saved = { window: globalThis.window, sessionStorage: globalThis.sessionStorage };
  globalThis.window = new EventTarget();
  globalThis.sessionStorage = memStore();
  try {
    await fn();
  } finally {
    globalThis.window = saved.window;
    globalThis.sessionStorage = saved.sessionStorage;
  }
}
