import { test } from 'node:test';
import assert from 'node:assert/strict';
import { world, until, tick } from './fake.mjs';
import { isTerminal, recall, remember, forget } from './.build/internal.mjs';

test('websocket first: connect on welcome', async () => {
  const w = world({ websocket: ['ok'] });
  await until(() => w.c.state === 'connected');
  assert.equal(w.c.transport, 'websocket');
  assert.equal(w.c.id, 's1');
  assert.deepEqual(w.attempts[0].sent[0], { t: 'hello', v: 1, bin: 1 });
  assert.deepEqual(w.log, [['transport', 'websocket'], ['connect', { resumed: false }]]);
  w.c.close();
  assert.deepEqual(w.attempts[0].last, [{ t: 'close', code: 1000 }]);
  assert.equal(w.c.state, 'closed');
});

test('ladder: refused upgrade falls to xhr-streaming at once', async () => {
  const w = world({ websocket: ['refuse'], 'xhr-streaming': ['ok'] });
  const t0 = Date.now();
  await until(() => w.c.state === 'connected');
  assert.ok(Date.now() - t0 < 50, 'no open timeout paid');
  assert.equal(w.c.transport, 'xhr-streaming');
  assert.deepEqual(w.attempts.map((a) => a.name), ['websocket', 'xhr-streaming']);
  w.c.close();
});

test('ladder: a stalled upgrade costs the open timeout, then the next transport', async () => {
  const w = world({ websocket: ['stall'], 'xhr-streaming': ['stall'], 'xhr-polling': ['ok'] }, { openTimeout: 40 });
  const t0 = Date.now();
  await until(() => w.c.state === 'connected');
  const took = Date.now() - t0;
  assert.ok(took >= 75, `took ${took}`);
  assert.equal(w.c.transport, 'xhr-polling');
  assert.ok(w.attempts[0].closed && w.attempts[1].closed, 'stalled attempts are closed');
  assert.deepEqual(w.attempts[0].sent, [{ t: 'hello', v: 1, bin: 1 }]);
  w.c.close();
});

test('transports option restricts and orders the ladder', async () => {
  const w = world({ websocket: ['ok'], 'xhr-streaming': ['refuse'], 'xhr-polling': ['ok'] }, { transports: ['xhr-streaming', 'xhr-polling'] });
  await until(() => w.c.state === 'connected');
  assert.deepEqual(w.attempts.map((a) => a.name), ['xhr-streaming', 'xhr-polling']);
  w.c.close();
});

test('all transports failing: backoff, then the ladder from the top again', async () => {
  const w = world({ websocket: ['refuse', 'refuse', 'ok'], 'xhr-streaming': ['refuse'], 'xhr-polling': ['refuse'] });
  await until(() => w.c.state === 'connected');
  const rec = w.log.filter((e) => e[0] === 'reconnecting');
  assert.equal(rec.length, 2);
  assert.deepEqual(rec.map((e) => e[1]), [1, 2]);
  assert.ok(rec[0][2] >= 0 && rec[0][2] < 20 && rec[1][2] < 40, JSON.stringify(rec));
  assert.deepEqual(w.attempts.map((a) => a.name).slice(0, 4), ['websocket', 'xhr-streaming', 'xhr-polling', 'websocket']);
  w.c.close();
});

test('a dropped connection reconnects and emits disconnect then reconnecting', async () => {
  const w = world({ websocket: ['ok'] });
  await until(() => w.c.state === 'connected');
  w.cur().drop(1006, 'gone');
  assert.equal(w.c.state, 'disconnected');
  await until(() => w.attempts.length === 2 && w.c.state === 'connected');
  const names = w.log.map((e) => e[0]);
  assert.deepEqual(names, ['transport', 'connect', 'disconnect', 'reconnecting', 'connect']);
  assert.deepEqual(w.log[2][1], { code: 1006, reason: 'gone', reconnect: true });
  w.c.close();
});

test('going away honours the retry hint', async () => {
  const w = world({ websocket: ['ok'] });
  await until(() => w.c.state === 'connected');
  w.cur().server({ t: 'close', code: 1001, reason: 'shutdown', retry: 30 });
  w.cur().drop(1001, 'shutdown');
  const rec = w.log.find((e) => e[0] === 'reconnecting');
  assert.deepEqual(rec, ['reconnecting', 1, 30]);
  await until(() => w.c.state === 'connected');
  w.c.close();
});

test('an HTTP refusal with Retry-After waits as asked, without walking the ladder', async () => {
  const refuse = (f) => f.h.close(1013, 'http 429', 'wait', 40);
  const w = world({ websocket: [refuse, 'ok'], 'xhr-streaming': ['ok'] });
  await until(() => w.c.state === 'connected');
  assert.deepEqual(w.attempts.map((a) => a.name), ['websocket', 'websocket']);
  assert.deepEqual(w.log.find((e) => e[0] === 'reconnecting'), ['reconnecting', 1, 40]);
  w.c.close();
});

test('terminal close codes stop; others reconnect', async () => {
  for (const code of [1000, 1002, 1003, 1007, 1008, 1009, 4500, 4501, 4503, 4999]) assert.ok(isTerminal(code), code);
  for (const code of [1001, 1006, 1011, 1013, 3000, 4000, 4001, 4499]) assert.ok(!isTerminal(code), code);
  const w = world({ websocket: ['ok'] });
  await until(() => w.c.state === 'connected');
  w.cur().server({ t: 'close', code: 1008, reason: 'policy' });
  w.cur().drop(1008, 'policy');
  assert.equal(w.c.state, 'closed');
  await tick(50);
  assert.equal(w.attempts.length, 1);
  assert.deepEqual(w.log.at(-1), ['disconnect', { code: 1008, reason: 'policy', reconnect: false }]);
  assert.throws(() => w.c.emit('x'), { code: 'closed' });
});

test('a connect hook rejection before welcome stops with an error event', async () => {
  const w = world({
    websocket: [
      (f) => {
        f.onHello = () => {
          f.server({ t: 'close', code: 4503, reason: 'rejected', e: { code: 'banned', message: 'go away' } });
          f.drop(4503, 'rejected');
        };
        f.h.open();
      },
    ],
  });
  await until(() => w.c.state === 'closed');
  const e = w.log.find((x) => x[0] === 'error');
  assert.equal(e[1].code, 'banned');
  assert.equal(e[1].message, 'go away');
  assert.equal(w.attempts.length, 1, 'no fallback: the server spoke');
});

test('events both ways, acks and error acks', async () => {
  const w = world({ websocket: ['ok'] });
  const got = [];
  w.c.on('chat', (d) => got.push(d));
  await until(() => w.c.state === 'connected');
  const f = w.cur();
  w.c.emit('chat', { text: 'hi' });
  w.c.emit('nodata');
  await tick();
  assert.deepEqual(f.events(), [{ t: 'ev', n: 'chat', d: { text: 'hi' } }, { t: 'ev', n: 'nodata' }]);
  f.server({ t: 'ev', n: 'chat', d: 1 }, { t: 'ev', n: 'chat' });
  assert.deepEqual(got, [1, null]);

  const p = w.c.emitWithAck('echo', 'x');
  const q = w.c.emitWithAck('boom', 1);
  await tick();
  const [a, b] = f.events().slice(2);
  assert.equal(a.n, 'echo');
  assert.ok(a.id > 0 && b.id > 0 && a.id !== b.id);
  f.server({ t: 'ack', id: b.id, e: { code: 'bad_request', message: 'nope' } }, { t: 'ack', id: a.id, d: 'x' });
  assert.equal(await p, 'x');
  await assert.rejects(q, (e) => e.code === 'bad_request' && e.message === 'nope');
  f.server({ t: 'ack', id: 999, d: 'late' }); // ignored
  w.c.close();
});

test('emitWithAck times out with code timeout', async () => {
  const w = world({ websocket: ['ok'] });
  await until(() => w.c.state === 'connected');
  const t0 = Date.now();
  await assert.rejects(w.c.emitWithAck('slow', null, { timeout: 30 }), (e) => e.code === 'timeout');
  assert.ok(Date.now() - t0 >= 25);
  w.c.close();
});

test('server requests are answered from the handler result', async () => {
  const w = world({ websocket: ['ok'] });
  w.c.on('add', (d) => d.a + d.b);
  w.c.on('later', async () => 'done');
  w.c.on('fail', () => {
    const e = new Error('no');
    e.code = 'nope';
    throw e;
  });
  await until(() => w.c.state === 'connected');
  const f = w.cur();
  f.server({ t: 'ev', n: 'add', d: { a: 1, b: 2 }, id: 1 }, { t: 'ev', n: 'later', id: 2 }, { t: 'ev', n: 'fail', id: 3 }, { t: 'ev', n: 'missing', id: 4 });
  await until(() => f.sent.filter((m) => m.t === 'ack').length === 4);
  const acks = Object.fromEntries(f.sent.filter((m) => m.t === 'ack').map((m) => [m.id, m]));
  assert.deepEqual(acks[1], { t: 'ack', id: 1, d: 3 });
  assert.deepEqual(acks[2], { t: 'ack', id: 2, d: 'done' });
  assert.deepEqual(acks[3].e, { code: 'nope', message: 'no' });
  assert.equal(acks[4].e.code, 'unknown_event');
  w.c.close();
});

test('ping is answered with pong carrying the received count', async () => {
  const w = world({ websocket: ['ok'] });
  await until(() => w.c.state === 'connected');
  const f = w.cur();
  f.server({ t: 'ev', n: 'a' }, { t: 'ev', n: 'b' }, { t: 'ping' });
  assert.deepEqual(f.sent.at(-1), { t: 'pong', r: 2 });
  w.c.close();
});

test('a silent server is declared dead after ping+pong ms', async () => {
  const w = world({ websocket: ['ok'] }, { welcome: { ping: 40, pong: 40 } });
  await until(() => w.c.state === 'connected');
  const f = w.cur();
  // Frames keep it alive...
  for (let i = 0; i < 5; i++) {
    await tick(30);
    f.server({ t: 'ping' });
  }
  assert.equal(w.attempts.length, 1);
  // ...silence does not.
  await until(() => w.attempts.length === 2, 1000);
  assert.ok(f.closed);
  assert.deepEqual(w.log.find((e) => e[0] === 'disconnect')[1], { code: 4001, reason: 'heartbeat timeout', reconnect: true });
  w.c.close();
});

test('offline queue: flushed in order after connecting, bounded, never silent', async () => {
  const w = world({ websocket: ['stall', 'ok'] }, { openTimeout: 30, queueMaxMessages: 5, transports: ['websocket'] });
  for (let i = 0; i < 5; i++) w.c.emit('n', i);
  assert.throws(() => w.c.emit('n', 5), { code: 'queue_full' });
  await assert.rejects(w.c.emitWithAck('n', 6), { code: 'queue_full' });
  w.c.on('connect', () => w.c.emit('n', 'after-connect'));
  await until(() => w.c.state === 'connected');
  await tick();
  assert.deepEqual(w.cur().events().map((m) => m.d), [0, 1, 2, 3, 4, 'after-connect']);
  w.c.close();
});

test('offline queue bounded by bytes, and too-big messages refused', async () => {
  const w = world({ websocket: ['stall'] }, { queueMaxBytes: 100, transports: ['websocket'], openTimeout: 1000 });
  w.c.emit('n', 'x'.repeat(50));
  assert.throws(() => w.c.emit('n', 'x'.repeat(50)), { code: 'queue_full' });
  assert.throws(() => w.c.emit('n', 'x'.repeat(70000)), { code: 'too_big' });
  w.c.close();
});

test('an ack timeout takes its message out of the offline queue', async () => {
  const w = world({ websocket: ['stall', 'ok'] }, { openTimeout: 60, transports: ['websocket'] });
  await assert.rejects(w.c.emitWithAck('gone', 1, { timeout: 10 }), { code: 'timeout' });
  w.c.emit('kept', 2);
  await until(() => w.c.state === 'connected');
  await tick();
  assert.deepEqual(w.cur().events().map((m) => m.n), ['kept']);
  w.c.close();
});

test('close rejects pending acks and ends reconnecting', async () => {
  const w = world({ websocket: ['ok'] });
  await until(() => w.c.state === 'connected');
  const p = w.c.emitWithAck('x', 1);
  w.c.close();
  await assert.rejects(p, { code: 'closed' });
  assert.deepEqual(w.log.at(-1), ['disconnect', { code: 1000, reason: 'client close', reconnect: false }]);
});

test('once and off', async () => {
  const w = world({ websocket: ['ok'] });
  const got = [];
  const h = (d) => got.push(['h', d]);
  w.c.once('x', (d) => got.push(['once', d]));
  w.c.on('x', h);
  await until(() => w.c.state === 'connected');
  w.cur().server({ t: 'ev', n: 'x', d: 1 }, { t: 'ev', n: 'x', d: 2 });
  w.c.off('x', h);
  w.cur().server({ t: 'ev', n: 'x', d: 3 });
  assert.deepEqual(got, [['once', 1], ['h', 1], ['h', 2]]);
  w.c.close();
});

test('a malformed frame is a protocol error', async () => {
  const w = world({ websocket: ['ok'] });
  await until(() => w.c.state === 'connected');
  w.cur().server('not json');
  assert.equal(w.c.state, 'closed');
  assert.equal(w.log.find((e) => e[0] === 'error')[1].code, 'protocol');
});

test('remembered transport: recall, expiry, forget', async () => {
  const store = new Map();
  globalThis.localStorage = { getItem: (k) => store.get(k) ?? null, setItem: (k, v) => store.set(k, v), removeItem: (k) => store.delete(k) };
  try {
    remember('k', 'xhr-polling', 1000);
    assert.equal(recall('k'), 'xhr-polling');
    remember('old', 'xhr-polling', 1);
    await tick(5);
    assert.equal(recall('old'), null);
    forget('k');
    assert.equal(recall('k'), null);

    // A client skips to the remembered transport, and remembers what worked.
    remember('http://test/rt', 'xhr-polling', 60000);
    const stored = store.get('sockhop.transport:http://test/rt');
    await tick(5);
    const w = world({ websocket: ['ok'], 'xhr-polling': ['ok'] }, { rememberTransport: 60000 });
    await until(() => w.c.state === 'connected');
    assert.deepEqual(w.attempts.map((a) => a.name), ['xhr-polling']);
    assert.equal(store.get('sockhop.transport:http://test/rt'), stored, 'a remembered fallback is not renewed: it expires');
    w.c.close();

    // When the remembered one fails, the ladder starts from the top next time.
    remember('http://test/rt', 'xhr-polling', 60000);
    const v = world({ websocket: ['ok'], 'xhr-polling': ['refuse'] }, { rememberTransport: 60000 });
    await until(() => v.c.state === 'connected');
    assert.deepEqual(v.attempts.map((a) => a.name), ['xhr-polling', 'websocket']);
    assert.equal(recall('http://test/rt'), 'websocket');
    v.c.close();
  } finally {
    delete globalThis.localStorage;
  }
});
