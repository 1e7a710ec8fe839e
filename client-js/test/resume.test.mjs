// Session resume (PROTOCOL.md §6) against a fake server that models the Go server's side:
// it numbers counted messages (ev, ack) both ways, keeps what it sent, answers a hello with
// resume by replaying exactly what the client lacks, and can lose messages in flight both
// ways (a transport cut mid-stream).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { world, until, tick } from './fake.mjs';
import { sockjs, retryAfter, Held } from './.build/internal.mjs';

const counted = (m) => m.t === 'ev' || m.t === 'ack';

/** Srv is one fake server; plan() is the transport plan that connects to it. */
class Srv {
  constructor() {
    this.n = 0;
    this.sessions = 0;
    this.alive = false; // whether the session can resume
    this.cur = null; // the transport serving the session
    this.hellos = [];
    this.got = []; // counted messages received, over all sessions
    this.pongs = [];
    this.holdReplies = false; // do not answer requests
    this.black = false; // messages both ways are lost on the current transport
    this.refuse = 0; // hellos to refuse with 1013, as the server's connect-rate limit does
  }
  plan = (f) => {
    f.onMsg = (v) => this.recv(f, v);
    f.h.open();
  };
  recv(f, v) {
    if (v.t === 'hello') {
      this.hellos.push(v);
      return setTimeout(() => this.hello(f, v));
    }
    if (f !== this.cur || f.closed || this.black) return;
    if (v.t === 'pong') return this.pongs.push(v.r ?? 0);
    if (!counted(v)) return;
    this.in++;
    this.got.push(v);
    if (v.t === 'ev' && v.id && !this.holdReplies) this.emit({ t: 'ack', id: v.id, d: v.d });
  }
  hello(f, h) {
    if (f.closed) return;
    if (this.refuse > 0) {
      this.refuse--;
      f.server({ t: 'close', code: 1013, reason: 'connecting too often from your address', retry: 20 });
      return f.drop(1013, 'connecting too often from your address');
    }
    const r = h.resume;
    if (this.cur && this.cur !== f) this.cur.drop(4002, 'replaced by a newer connection');
    this.cur = f;
    if (r && this.alive && r.sid === this.sid && r.token === this.token && r.seq <= this.out.length) {
      this.token = 'tok' + ++this.n;
      f.server({ t: 'welcome', sid: this.sid, token: this.token, ping: 25000, pong: 20000, max: 65536, resumed: true, r: this.in }, ...this.out.slice(r.seq));
      return;
    }
    this.sessions++;
    this.sid = 'S' + this.sessions;
    this.token = 'tok' + ++this.n;
    this.alive = true;
    this.in = 0;
    this.out = [];
    f.server({ t: 'welcome', sid: this.sid, token: this.token, ping: 25000, pong: 20000, max: 65536, resumed: false });
  }
  /** emit sends a counted message (lost on the wire while black). */
  emit(m) {
    this.out.push(m);
    if (this.cur && !this.black) this.cur.server(m);
  }
  /** cut ends the current transport without a close message. */
  cut() {
    const f = this.cur;
    this.cur = null;
    this.black = false;
    f.drop(1006, 'cut');
  }
}

test('Held numbers what was sent from 1 and forgets what the server acknowledged', () => {
  const h = new Held();
  assert.deepEqual([h.sent, h.covers(0), h.covers(1)], [0, true, false]);
  h.add(['a', 'b']);
  h.add(['c']);
  assert.deepEqual([h.sent, h.length, h.covers(3), h.covers(4)], [3, 3, true, false]);
  h.ack(2);
  assert.deepEqual([h.all(), h.covers(1), h.covers(2), h.sent], [['c'], false, true, 3]);
  h.ack(1); // an old count changes nothing
  h.ack('x');
  assert.deepEqual(h.all(), ['c']);
  h.ack(99); // more than was sent: all of it
  assert.deepEqual([h.all(), h.sent, h.covers(3)], [[], 3, true]);
});

// The fake server answers a hello at once; the world's 60 ms open timeout gave up a first
// connect on a loaded CI machine (its retry then took the hello index a test expected).
function setup(opts) {
  const srv = new Srv();
  const w = world({ websocket: [srv.plan] }, { transports: ['websocket'], backoffMin: 10, backoffMax: 20, openTimeout: 2000, ...opts });
  const got = [];
  w.c.on('n', (d) => got.push(d));
  return { srv, w, got };
}

test('resume after a drop replays exactly the missing messages both ways', async () => {
  const { srv, w, got } = setup();
  await until(() => w.c.state === 'connected');
  for (let i = 1; i <= 10; i++) srv.emit({ t: 'ev', n: 'n', d: i });
  for (let i = 1; i <= 5; i++) w.c.emit('c', i);
  await until(() => srv.got.length === 5);

  // In flight when the connection dies: lost both ways.
  srv.black = true;
  for (let i = 11; i <= 15; i++) srv.emit({ t: 'ev', n: 'n', d: i });
  for (let i = 6; i <= 8; i++) w.c.emit('c', i);
  await tick();
  srv.cut();
  assert.equal(w.c.state, 'disconnected');
  w.c.emit('c', 9); // queued while offline
  const token = srv.token;

  await until(() => w.c.state === 'connected');
  await until(() => srv.got.length === 9);
  assert.deepEqual(srv.hellos[1].resume, { sid: 'S1', token, seq: 10 });
  assert.deepEqual(got, Array.from({ length: 15 }, (_, i) => i + 1), 'each server message once, in order');
  assert.deepEqual(srv.got.map((m) => m.d), [1, 2, 3, 4, 5, 6, 7, 8, 9], 'each client message once, in order');
  assert.equal(srv.sessions, 1);
  assert.deepEqual(w.log.filter((e) => e[0] === 'connect'), [['connect', { resumed: false }], ['connect', { resumed: true }]]);

  // Live traffic after the resume, then another resume uses the rotated token.
  srv.emit({ t: 'ev', n: 'n', d: 16 });
  w.c.emit('c', 10);
  await until(() => srv.got.length === 10);
  const token2 = srv.token;
  assert.notEqual(token2, token);
  srv.cut();
  await until(() => srv.hellos.length === 3 && w.c.state === 'connected');
  assert.deepEqual(srv.hellos[2].resume, { sid: 'S1', token: token2, seq: 16 });
  srv.emit({ t: 'ev', n: 'n', d: 17 });
  await until(() => got.length === 17);
  assert.deepEqual(got.slice(14), [15, 16, 17]);
  w.c.close();
});

test('a resumed welcome carrying the missed messages in the same frame', async () => {
  const { srv, w, got } = setup();
  await until(() => w.c.state === 'connected');
  srv.black = true;
  for (let i = 1; i <= 3; i++) srv.emit({ t: 'ev', n: 'n', d: i });
  srv.cut();
  await until(() => got.length === 3);
  assert.deepEqual(got, [1, 2, 3]);
  w.c.close();
});

test('the received count is acknowledged every 32 messages, and when idle', async () => {
  const { srv, w } = setup();
  await until(() => w.c.state === 'connected');
  for (let i = 1; i <= 70; i++) srv.emit({ t: 'ev', n: 'n', d: i }); // one frame each
  assert.deepEqual(srv.pongs, [32, 64]);
  await until(() => srv.pongs.length === 3, 3000);
  assert.equal(srv.pongs[2], 70);
  // A batch of 40 in one frame is reported at once.
  srv.cur.server(...Array.from({ length: 40 }, (_, i) => ({ t: 'ev', n: 'n', d: i })));
  assert.equal(srv.pongs[3], 110);
  // Pings are answered with the count too.
  srv.cur.server({ t: 'ping' });
  assert.equal(srv.pongs[4], 110);
  w.c.close();
});

test('acknowledged messages are forgotten; a resume sends only the rest', async () => {
  const { srv, w } = setup();
  await until(() => w.c.state === 'connected');
  for (let i = 1; i <= 6; i++) w.c.emit('c', i);
  await until(() => srv.got.length === 6);
  assert.equal(w.c.held.length, 6);
  srv.cur.server({ t: 'pong', r: 4 });
  assert.equal(w.c.held.length, 2);
  srv.cur.server({ t: 'ping', r: 6 });
  assert.equal(w.c.held.length, 0);
  srv.black = true;
  w.c.emit('c', 7);
  await tick();
  assert.equal(w.c.held.length, 1);
  srv.cut();
  await until(() => srv.got.length === 7);
  assert.deepEqual(srv.got.map((m) => m.d), [1, 2, 3, 4, 5, 6, 7]);
  w.c.close();
});

test('resumed:false: resume-failed event, sent acks fail, the offline queue goes to the new session', async () => {
  const { srv, w, got } = setup();
  const failed = [];
  w.c.on('resume-failed', () => failed.push(w.c.id));
  await until(() => w.c.state === 'connected');
  srv.holdReplies = true;
  const sent = w.c.emitWithAck('slow', 1);
  w.c.emit('c', 'old');
  await until(() => srv.got.length === 2);
  srv.alive = false; // the grace expired
  srv.holdReplies = false;
  srv.cut();
  const queued = w.c.emitWithAck('echo', 'queued');
  w.c.emit('c', 'queued-too');
  await assert.rejects(sent, { code: 'resume_failed' });
  assert.equal(await queued, 'queued');
  assert.equal(w.c.id, 'S2');
  assert.deepEqual(failed, ['S2']);
  assert.equal(srv.hellos[1].resume.sid, 'S1');
  await until(() => srv.got.length === 4);
  assert.deepEqual(srv.got.slice(2).map((m) => m.d), ['queued', 'queued-too'], 'only the queue goes to the new session');
  assert.deepEqual(w.log.filter((e) => e[0] === 'connect').at(-1), ['connect', { resumed: false }]);
  // The new session counts from 1 again: a later resume asks for it.
  srv.emit({ t: 'ev', n: 'n', d: 'new' });
  const token = srv.token;
  srv.cut();
  await until(() => srv.hellos.length === 3 && w.c.state === 'connected');
  assert.deepEqual(srv.hellos[2].resume, { sid: 'S2', token, seq: 2 }); // the ack of 'queued', then 'new'
  assert.deepEqual(got, ['new']);
  w.c.close();
});

test('a connection refused before its welcome (1013, retry hint) leaves the session to resume', async () => {
  const { srv, w } = setup();
  await until(() => w.c.state === 'connected');
  srv.holdReplies = true;
  const sent = w.c.emitWithAck('slow', 1);
  await until(() => srv.got.length === 1);
  srv.refuse = 1;
  srv.cut();
  await until(() => srv.hellos.length === 3 && w.c.state === 'connected');
  assert.equal(srv.hellos[1].resume.sid, 'S1');
  assert.equal(srv.hellos[2].resume.sid, 'S1', 'the refused resume is tried again');
  assert.equal(srv.sessions, 1);
  srv.emit({ t: 'ack', id: srv.got[0].id, d: 'late' });
  assert.equal(await sent, 'late', 'the pending ack survived the refusal');
  w.c.close();
});

test('emitWithAck across a resume gets exactly one reply', async () => {
  const { srv, w } = setup();
  await until(() => w.c.state === 'connected');
  const results = [];
  // The reply is lost in flight: the resume replays it.
  srv.black = false;
  const orig = srv.emit.bind(srv);
  srv.emit = (m) => {
    if (m.t === 'ack') srv.black = true;
    orig(m);
  };
  const a = w.c.emitWithAck('echo', 'a').then((v) => results.push(v));
  await until(() => srv.out.length === 1);
  srv.emit = orig;
  srv.cut();
  // The request is lost in flight: the resume sends it again.
  await until(() => w.c.state === 'connected');
  srv.black = true;
  const b = w.c.emitWithAck('echo', 'b').then((v) => results.push(v));
  await tick();
  srv.cut();
  await Promise.all([a, b]);
  await tick(20);
  assert.deepEqual(results, ['a', 'b']);
  assert.deepEqual(srv.got.filter((m) => m.t === 'ev').map((m) => m.d), ['a', 'b'], 'each request reached the server once');
  w.c.close();
});

test('a server request answered across a resume: the reply reaches the server once', async () => {
  const { srv, w } = setup();
  let release;
  w.c.on('ask', () => new Promise((r) => (release = r)));
  await until(() => w.c.state === 'connected');
  srv.emit({ t: 'ev', n: 'ask', id: 7, d: 1 });
  srv.cut();
  release(42); // answered while disconnected: queued
  await until(() => w.c.state === 'connected');
  await until(() => srv.got.length === 1);
  await tick(20);
  assert.deepEqual(srv.got, [{ t: 'ack', id: 7, d: 42 }]);
  w.c.close();
});

test('a close message from the server ends the session: no resume, sent acks fail with closed', async () => {
  const { srv, w } = setup();
  await until(() => w.c.state === 'connected');
  srv.holdReplies = true;
  const p = w.c.emitWithAck('slow', 1);
  await until(() => srv.got.length === 1);
  srv.cur.server({ t: 'close', code: 1011, reason: 'internal error' });
  srv.cur.drop(1011, 'internal error');
  await assert.rejects(p, { code: 'closed' });
  await until(() => w.c.state === 'connected');
  assert.equal(srv.hellos[1].resume, undefined);
  assert.equal(srv.sessions, 2);
  w.c.close();
});

test('a resumed welcome the client cannot continue starts a new session', async () => {
  const { srv, w } = setup();
  await until(() => w.c.state === 'connected');
  for (let i = 1; i <= 3; i++) w.c.emit('c', i);
  await until(() => srv.got.length === 3);
  srv.cur.server({ t: 'pong', r: 3 }); // the client forgets 1..3
  srv.in = 1; // ...but the server claims it only had 1
  srv.cut();
  await until(() => srv.sessions === 2 && w.c.state === 'connected');
  assert.equal(w.c.id, 'S2');
  assert.ok(w.log.some((e) => e[0] === 'connect' && e[1].resumed === false));
  w.c.close();
});

test('pending acks survive a drop; they fail only on timeout', async () => {
  const { srv, w } = setup({ ackTimeout: 80 });
  await until(() => w.c.state === 'connected');
  srv.holdReplies = true;
  const p = w.c.emitWithAck('slow', 1);
  let settled = false;
  p.catch(() => {}).finally(() => (settled = true));
  await tick();
  srv.cut();
  await tick(30);
  assert.equal(settled, false, 'not rejected by the drop');
  await assert.rejects(p, { code: 'timeout' });
  w.c.close();
});

// ---- SockJS: the server lost the SockJS session --------------------------------------

/** withFetch runs fn with globalThis.fetch answering each POST from answers(url, n). */
async function withFetch(answers, fn) {
  const real = globalThis.fetch;
  const calls = [];
  globalThis.fetch = async (url, init) => {
    calls.push(url);
    const path = (u) => String(u).split('?')[0]; // requests are numbered (?p=, ?s=)
    const body = await answers(url, calls.filter((u) => path(u) === path(url)).length, init);
    if (body instanceof Response) return body;
    return new Response(body, { status: body === null ? 204 : 200 });
  };
  try {
    await fn(calls);
  } finally {
    globalThis.fetch = real;
  }
}

for (const [name, path, stream] of [
  ['xhr-polling', 'xhr', false],
  ['xhr-streaming', 'xhr_streaming', true],
]) {
  test(`${name}: a second open frame means the session is lost`, async () => {
    let hang;
    await withFetch(
      (url, n) => {
        if (url.split('?')[0].endsWith('/xhr_send')) return null;
        if (n === 1) return 'o\n';
        if (n === 2) return 'a["{\\"t\\":\\"ping\\"}"]\n';
        if (n === 3) return 'o\n';
        return new Promise((r) => (hang = r));
      },
      async () => {
        const ev = [];
        sockjs(name, path, stream, 'http://x/rt', { open: () => ev.push('open'), frame: (f) => ev.push(f), alive() {}, close: (c, r) => ev.push([c, r]) }, { withCredentials: false });
        await until(() => ev.length === 3);
        assert.deepEqual(ev, ['open', '{"t":"ping"}', [1006, 'sockjs session lost']]);
      },
    );
    if (hang) hang('');
  });
}

for (const [name, path, stream] of [
  ['xhr-polling', 'xhr', false],
  ['xhr-streaming', 'xhr_streaming', true],
]) {
  test(`${name}: a 429 with Retry-After closes with 1013 and the wait asked for`, async () => {
    await withFetch(
      () => new Response('sockhop: connecting too fast', { status: 429, headers: { 'Retry-After': '7' } }),
      async () => {
        const ev = [];
        sockjs(name, path, stream, 'http://x/rt', { open: () => ev.push('open'), frame: (f) => ev.push(f), alive() {}, close: (...a) => ev.push(a) }, { withCredentials: false });
        await until(() => ev.length === 1);
        assert.deepEqual(ev, [[1013, 'http 429', 'wait', 7000]]);
      },
    );
  });
}

test('a failure without Retry-After that is no refusal of the server is a failed transport', async () => {
  await withFetch(
    () => new Response('bad gateway', { status: 502 }),
    async () => {
      const ev = [];
      sockjs('xhr-polling', 'xhr', false, 'http://x/rt', { open: () => ev.push('open'), frame: (f) => ev.push(f), alive() {}, close: (...a) => ev.push(a) }, { withCredentials: false });
      await until(() => ev.length === 1);
      assert.deepEqual(ev, [[1006, 'http 502', undefined, undefined]]);
    },
  );
});

test('retryAfter reads seconds and HTTP dates, bounded', () => {
  const now = Date.parse('2026-11-23T10:00:00Z');
  assert.equal(retryAfter('7', now), 7000);
  assert.equal(retryAfter(' 0 ', now), 0);
  assert.equal(retryAfter('Mon, 23 Nov 2026 10:00:30 GMT', now), 30000);
  assert.equal(retryAfter('Mon, 23 Nov 2026 09:00:00 GMT', now), 0);
  assert.equal(retryAfter('999999', now), 3600000);
  assert.equal(retryAfter('soon', now), undefined);
  assert.equal(retryAfter('-5', now), undefined);
  assert.equal(retryAfter(null, now), undefined);
});

test('xhr-polling: a poll answered with nothing means the session is lost', async () => {
  await withFetch(
    (url, n) => (url.split('?')[0].endsWith('/xhr_send') ? null : n === 1 ? 'o\n' : n === 2 ? 'h\n' : '\n'),
    async () => {
      const ev = [];
      sockjs('xhr-polling', 'xhr', false, 'http://x/rt', { open: () => ev.push('open'), frame: (f) => ev.push(f), alive() {}, close: (c, r) => ev.push([c, r]) }, { withCredentials: false });
      await until(() => ev.length === 2);
      assert.deepEqual(ev, ['open', [1006, 'sockjs session lost']]);
    },
  );
});
