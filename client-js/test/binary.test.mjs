import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encode, isBin, asText, frameOf, parseFrame, payload, fromB64, toB64, Ordered } from './.build/internal.mjs';
import { world, until, tick } from './fake.mjs';

const bytes = new Uint8Array([0, 10, 255, 34, 125, 92]);

test('binary form: encode, text forms, frame', () => {
  const s = encode({ t: 'ev', n: 'file', d: bytes, id: 3 });
  assert.ok(isBin(s));
  assert.ok(!isBin(encode({ t: 'ev', n: 'x', d: { b: 'AA==' } })));
  const m = JSON.parse(s);
  assert.deepEqual({ ...m, b: undefined }, { t: 'ev', n: 'file', id: 3, b: undefined });
  assert.deepEqual(fromB64(m.b), bytes);
  // A server without bin reads the bytes as a base64 JSON string in d.
  const old = JSON.parse(asText(s, false));
  assert.equal(old.d, m.b);
  assert.equal(old.b, undefined);
  assert.equal(asText(s, true), s);
  // The binary frame: header line, '\n', the raw bytes.
  const f = frameOf(s);
  const i = f.indexOf(10);
  assert.deepEqual(JSON.parse(new TextDecoder().decode(f.subarray(0, i))), { t: 'ev', n: 'file', id: 3 });
  assert.deepEqual(f.subarray(i + 1), bytes);
  const back = parseFrame(f.slice().buffer);
  assert.deepEqual(back.b, bytes);
  assert.deepEqual(payload(back), bytes);
  assert.deepEqual(payload({ t: 'ack', id: 1, b: toB64(bytes) }), bytes);
  assert.equal(payload({ t: 'ev', n: 'x' }), null);
  // ArrayBuffer and views go as their bytes.
  assert.equal(encode({ t: 'ev', n: 'x', d: bytes.buffer.slice(0) }), encode({ t: 'ev', n: 'x', d: bytes }));
  assert.equal(encode({ t: 'ev', n: 'x', d: new DataView(bytes.buffer) }), encode({ t: 'ev', n: 'x', d: bytes }));
});

test('binary frames the client refuses', () => {
  for (const bad of ['{"t":"ev","n":"x"}', '{"t":"ping"}\nxx', '{"t":"ev","n":"x","d":1}\nxx', 'nope\nxx']) {
    assert.throws(() => parseFrame(new TextEncoder().encode(bad).buffer), bad);
  }
});

test('base64 both ways, every length mod 3, matching node', () => {
  const big = new Uint8Array(1 << 16); // small: node runs the test files side by side, and the others time things
  for (let i = 0; i < big.length; i++) big[i] = (i * 7919) & 255;
  for (const n of [0, 1, 2, 3, 4, 5, big.length]) {
    const u = big.subarray(0, n);
    const s = toB64(u);
    assert.equal(s, Buffer.from(u).toString('base64'));
    assert.equal(Buffer.compare(Buffer.from(fromB64(s)), Buffer.from(u)), 0);
  }
  for (const bad of ['A', 'AB=A', 'A*==', 'AAA']) assert.throws(() => fromB64(bad), bad);
});

test('Blob emits keep their order with the emits around them', async () => {
  const o = new Ordered();
  const got = [];
  o.add(1, (d) => got.push(d), assert.fail);
  o.add(new Blob([new Uint8Array([7, 8])]), (d) => got.push(Array.from(d)), assert.fail);
  o.add(3, (d) => got.push(d), assert.fail);
  assert.ok(o.busy);
  await until(() => got.length == 3);
  assert.deepEqual(got, [1, [7, 8], 3]);
  assert.ok(!o.busy);
});

test('client: bytes out in the binary form, bytes in as Uint8Array, bytes as a reply', async () => {
  const w = world({ websocket: ['ok'] }, { welcome: { bin: 1 } });
  await until(() => w.c.state == 'connected');
  const f = w.cur();
  assert.equal(f.sent[0].bin, 1); // hello says the client reads binary messages
  w.c.emit('a', 1);
  w.c.emit('file', new Blob([bytes]));
  w.c.emit('b', 2);
  await until(() => f.events().length == 3);
  const ev = f.events();
  assert.deepEqual(ev.map((m) => m.n), ['a', 'file', 'b']);
  assert.deepEqual(fromB64(ev[1].b), bytes);
  let got;
  w.c.on('blob', (d) => (got = d));
  w.c.on('ask', (d) => d); // replies with the bytes it got
  f.server({ t: 'ev', n: 'blob', b: toB64(bytes) });
  assert.ok(got instanceof Uint8Array);
  assert.deepEqual(got, bytes);
  f.h.frame({ t: 'ev', n: 'ask', id: 5, b: bytes }); // as websocket.ts hands a binary frame
  await until(() => f.sent.some((m) => m.t == 'ack'));
  const ack = f.sent.find((m) => m.t == 'ack');
  assert.equal(ack.id, 5);
  assert.deepEqual(fromB64(ack.b), bytes);
  const p = w.c.emitWithAck('echo', bytes);
  await until(() => f.events().some((m) => m.n == 'echo'));
  const id = f.events().find((m) => m.n == 'echo').id;
  f.server({ t: 'ack', id, b: toB64(bytes) });
  assert.deepEqual(await p, bytes);
});

test('client: bytes over the server limit are refused with too_big', async () => {
  const w = world({ websocket: ['ok'] }, { welcome: { bin: 1, max: 1000 } });
  await until(() => w.c.state == 'connected');
  assert.throws(() => w.c.emit('big', new Uint8Array(800)), (e) => e.code == 'too_big'); // 800 bytes are 1068 in base64
  await assert.rejects(w.c.emitWithAck('big', new Uint8Array(800)), (e) => e.code == 'too_big');
  const errors = [];
  w.c.on('error', (e) => errors.push(e));
  w.c.emit('big', new Blob([new Uint8Array(800)]));
  await until(() => errors.length == 1);
  assert.equal(errors[0].code, 'too_big');
  w.c.emit('small', new Uint8Array(10));
  await tick(5);
  assert.equal(w.cur().events().filter((m) => m.n == 'small').length, 1);
});

test('client: bad base64 from the server is a protocol error, not a throw', async () => {
  const w = world({ websocket: ['ok'] }, { welcome: { bin: 1 }, reconnect: false });
  await until(() => w.c.state == 'connected');
  w.cur().server({ t: 'ev', n: 'x', b: 'not base64!' });
  await until(() => w.c.state == 'closed');
  assert.ok(w.log.some((e) => e[0] == 'error' && e[1].code == 'protocol'));
});
