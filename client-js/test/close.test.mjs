// The client against the one table of close codes and HTTP refusals,
// testdata/protocol/close-codes.json (PROTOCOL.md §5), which the Go tests read too: the
// terminal codes, the SockJS status mapping, and what the client does on each refusal.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { until, tick, Fake, SockJSServer } from './fake.mjs';
import { Client, isTerminal, statusCode } from './.build/internal.mjs';

const table = JSON.parse(readFileSync(join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'testdata', 'protocol', 'close-codes.json'), 'utf8'));

test('close-codes.json is what these tests expect', () => {
  assert.ok(table.codes.length > 0 && table.ranges.length > 0 && table.http.length > 0);
  for (const h of table.http) assert.ok(h.client in table.clientActions, `http ${h.status}: action ${h.client}`);
});

test('isTerminal agrees with every code and range of close-codes.json', () => {
  for (const c of table.codes) assert.equal(isTerminal(c.code), !c.reconnect, `${c.code} ${c.name}`);
  for (const r of table.ranges) {
    const mid = Math.floor((r.from + r.to) / 2);
    for (const code of [r.from, r.from + 1, mid, r.to - 1, r.to]) {
      if (table.codes.some((c) => c.code === code)) continue; // a listed code wins
      assert.equal(isTerminal(code), !r.reconnect, `${code} in ${r.from}-${r.to} (${r.owner})`);
    }
  }
  // Every other code of 1000-4999 reconnects (PROTOCOL.md §5: "Any other code ...").
  const listed = (code) => table.codes.some((c) => c.code === code) || table.ranges.some((r) => code >= r.from && code <= r.to);
  for (let code = 1000; code <= 4999; code++) if (!listed(code)) assert.equal(isTerminal(code), false, String(code));
});

test('statusCode agrees with every HTTP refusal of close-codes.json', () => {
  for (const h of table.http) {
    for (const retry of [undefined, 7000]) {
      const [code, , act, wait] = statusCode(h.status, retry);
      assert.equal(code, h.close, `${h.status}: close code`);
      assert.equal(act, h.client, `${h.status}: action`);
      assert.equal(isTerminal(code), h.client === 'terminal', `${h.status}: ${code} and ${h.client} agree`);
      if (h.client === 'wait') assert.equal(wait, retry, `${h.status}: Retry-After`);
    }
  }
  // Anything else is a failed transport (the ladder goes on), unless it says when to come back.
  for (const s of [0, 500, 502, 504]) {
    const [code, , act] = statusCode(s);
    assert.deepEqual([code, act], [1006, undefined], String(s));
  }
  assert.deepEqual(statusCode(502, 3000).slice(2), ['wait', 3000]);
});

// What the client does on each refusal, through the real SockJS transport: before the
// welcome (the first request is refused) and after it (a connected session's request is),
// on a receiving request and on an xhr_send. The ladder is a WebSocket that always fails,
// xhr-streaming, xhr-polling: the same transport again is xhr-streaming without a WebSocket
// attempt before it, and a request to .../xhr would be the ladder walked down.
const MAX_BACKOFF = 40;
for (const h0 of table.http) {
  for (const on of ['receive', 'send']) {
    // A 403 on a SockJS session the server has opened (every xhr_send, a receiving request
    // after the first) is not the Origin, which the first request passed: the session's id
    // has another key now (PROTOCOL.md §7), and the client resumes on a new one.
    const opened = (h, after) => (h.status === 403 && (after || on === 'send') ? { ...h, close: 1006, client: 'resume' } : h);
    const hb = opened(h0, false);
    test(`http ${hb.status} on ${on} before the welcome: ${hb.client}`, async () => {
      const srv = new SockJSServer();
      srv.refuse(hb.status, on);
      const { c, log, ws } = client();
      try {
        if (hb.client === 'terminal') {
          await until(() => c.state === 'closed');
          const n = srv.reqs.length;
          await tick(2 * MAX_BACKOFF);
          assert.equal(srv.reqs.length, n, 'no request after a terminal refusal');
          assert.equal(srv.hellos.length, 0, 'no hello got through');
        } else {
          await until(() => c.state === 'connected');
          assert.deepEqual(log.filter((e) => e[0] === 'reconnecting').length, 1, 'one retry');
          assert.equal(c.transport, 'xhr-streaming');
        }
        assert.ok(!srv.reqs.includes('xhr'), `not down the ladder: ${srv.reqs}`);
        assert.ok(!log.some((e) => e[0] === 'disconnect'), 'never connected');
        assert.equal(ws.length, 1, 'xhr-streaming again, not the ladder from the top');
      } finally {
        c.close();
        srv.stop();
      }
    });

    // A Retry-After of 1 s where the action waits, on receiving requests (429 and 503 refuse
    // those); its absence (the backoff) is tested on xhr_send and before the welcome.
    const ha = opened(h0, true);
    const wait = ha.client === 'wait' && on === 'receive' ? 1000 : undefined;
    test(`http ${ha.status} on ${on} after the welcome: ${ha.client}${wait ? ' (Retry-After 1)' : ''}`, async () => {
      const srv = new SockJSServer();
      const { c, log, ws } = client();
      try {
        await until(() => c.state === 'connected');
        assert.equal(c.id, 'S1');
        assert.equal(ws.length, 1);
        srv.refuse(ha.status, on, wait ? { 'Retry-After': '1' } : {});
        if (on === 'send') c.emit('x', 1);
        await until(() => log.some((e) => e[0] === 'disconnect'));
        const drop = log.find((e) => e[0] === 'disconnect')[1];
        assert.equal(drop.code, ha.close);
        if (ha.client === 'terminal') {
          assert.deepEqual(drop.reconnect, false);
          assert.equal(c.state, 'closed');
          const n = srv.reqs.length;
          await tick(2 * MAX_BACKOFF);
          assert.equal(srv.reqs.length, n, 'no request after a terminal refusal');
        } else {
          assert.deepEqual(drop.reconnect, true);
          const [, attempt, delay] = log.find((e) => e[0] === 'reconnecting');
          assert.equal(attempt, 1);
          if (wait) assert.equal(delay, wait, 'waits the Retry-After');
          else assert.ok(delay < MAX_BACKOFF, `the backoff: ${delay}`);
          await until(() => c.state === 'connected', (wait ?? 0) + 2000);
          assert.deepEqual(srv.hellos[1].resume?.sid, 'S1', 'the session is resumed');
          assert.deepEqual(log.filter((e) => e[0] === 'connect').at(-1), ['connect', { resumed: true }]);
          assert.equal(c.transport, 'xhr-streaming');
        }
        assert.ok(!srv.reqs.includes('xhr'), `not down the ladder: ${srv.reqs}`);
        assert.equal(ws.length, 1, 'xhr-streaming again, not the ladder from the top');
      } finally {
        c.close();
        srv.stop();
      }
    });
  }
}

test('SockJS c[1002,"Connection interrupted"] is a dropped transport: resumed, not terminal', async () => {
  const srv = new SockJSServer();
  const { c, log } = client();
  try {
    await until(() => c.state === 'connected');
    srv.close(1002, 'Connection interrupted');
    await until(() => log.some((e) => e[0] === 'disconnect'));
    assert.deepEqual(log.find((e) => e[0] === 'disconnect')[1], { code: 1006, reason: 'Connection interrupted', reconnect: true });
    await until(() => c.state === 'connected');
    assert.deepEqual(log.filter((e) => e[0] === 'connect').at(-1), ['connect', { resumed: true }]);
  } finally {
    c.close();
    srv.stop();
  }
});

/** client connects to the fake SockJS server; ws lists its WebSocket attempts (all refused). */
function client() {
  const ws = [];
  const c = new Client('http://test/rt', {
    factories: { websocket: (base, h) => (ws.push(new Fake('websocket', h, 'refuse')), ws.at(-1)) },
    openTimeout: 1000,
    backoffMin: MAX_BACKOFF / 2,
    backoffMax: MAX_BACKOFF,
    rememberTransport: 0,
  });
  const log = [];
  for (const ev of ['connect', 'disconnect', 'reconnecting']) c.on(ev, (...a) => log.push([ev, ...a]));
  return { c, log, ws };
}
