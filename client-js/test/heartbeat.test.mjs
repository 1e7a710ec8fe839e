import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Heartbeat, MIN_MS, HOLD_MS, saveSession, takeSession } from './.build/internal.mjs';

// A Storage for the node tests (localStorage, sessionStorage).
function memStore() {
  const m = new Map();
  return {
    getItem: (k) => (m.has(k) ? m.get(k) : null),
    setItem: (k, v) => m.set(k, String(v)),
    removeItem: (k) => m.delete(k),
    get size() {
      return m.size;
    },
  };
}

test('heartbeat: an idle cut before the next ping lowers the interval under it', () => {
  let now = 0;
  const h = new Heartbeat('k1', () => now);
  assert.equal(h.ms, 0, 'nothing learned: ask for nothing');
  assert.equal(h.dropped(10_050, 25_000), true);
  assert.equal(h.ms, 7000, '3/4 of the 10 s cut, in whole seconds');
  assert.equal(h.dropped(20_000, 25_000), false, 'a later, longer cut does not raise it');
  assert.equal(h.ms, 7000);
  assert.equal(h.dropped(6_000, 7000), true);
  assert.equal(h.ms, MIN_MS, 'never below the minimum');
  assert.equal(h.cuts, 3);
});

test('heartbeat: drops that are no idle cut teach nothing', () => {
  const h = new Heartbeat('k2', () => 0);
  assert.equal(h.dropped(2_000, 25_000), false, 'busy: bytes arrived 2 s before');
  assert.equal(h.dropped(26_000, 25_000), false, 'after a ping was due: not beaten by pings');
  assert.equal(h.dropped(10_000, 0), false, 'no interval known');
  assert.equal(h.ms, 0);
  assert.equal(h.cuts, 0);
});

test('heartbeat: raised slowly after a hold without cuts, the hold doubling after a raise that was cut', () => {
  let now = 0;
  const h = new Heartbeat('k3', () => now);
  h.dropped(10_000, 25_000);
  assert.equal(h.raise(25_000), 0, 'not before the hold');
  now += HOLD_MS;
  assert.equal(h.raise(25_000), 9000, 'a quarter more');
  h.dropped(9_500, 9000 * 1.2); // the raise was cut
  assert.equal(h.ms, 7000);
  now += HOLD_MS;
  assert.equal(h.raise(25_000), 0, 'the hold doubled');
  now += HOLD_MS;
  assert.equal(h.raise(25_000), 9000);
  for (let i = 0; i < 10 && h.ms; i++) {
    now += 8 * HOLD_MS;
    h.raise(25_000);
  }
  assert.equal(h.ms, 0, 'back to the server interval: ask for nothing');
});

test('heartbeat: a learned interval is remembered per server for the next page', () => {
  const prev = globalThis.localStorage;
  globalThis.localStorage = memStore();
  try {
    const a = new Heartbeat('http://x/rt', () => 1000);
    a.dropped(20_000, 25_000);
    const b = new Heartbeat('http://x/rt', () => 2000);
    assert.equal(b.ms, 15_000);
    assert.equal(new Heartbeat('http://other/rt', () => 2000).ms, 0);
  } finally {
    globalThis.localStorage = prev;
  }
});

test('lifecycle: a saved session is taken once, and only before it expires', () => {
  const prev = globalThis.sessionStorage;
  const st = (globalThis.sessionStorage = memStore());
  try {
    const s = { sid: 'S', token: 'T', node: 'nabc', rx: 4, from: 3, msgs: ['{"t":"ev","n":"x"}'] };
    assert.equal(saveSession('k', s, 1000), true);
    assert.deepEqual(takeSession('k', 2000), { ...s, u: 61_000 });
    assert.equal(takeSession('k', 2000), null, 'taken once: a duplicated tab gets nothing');
    saveSession('k', s, 1000);
    assert.equal(takeSession('k', 70_000), null, 'expired');
    assert.equal(st.size, 0);
    st.setItem('sockhop.session:k', '{"sid":1}');
    assert.equal(takeSession('k', 0), null, 'malformed: ignored');
    assert.equal(saveSession('k', { ...s, msgs: ['x'.repeat(300_000)] }, 0), false, 'too big to keep');
  } finally {
    globalThis.sessionStorage = prev;
  }
});
