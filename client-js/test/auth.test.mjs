// The auth option as a function, possibly async: called for every hello, so that after a
// 4003 (credentials expired, PROTOCOL.md §5) the client comes back as a new session with
// fresh credentials. Run on every transport name (the fakes stand in for each), and over
// the real SockJS transports against a fake server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { world, until, tick, SockJSServer } from './fake.mjs';

const names = ['websocket', 'xhr-streaming', 'xhr-polling'];

for (const name of names) {
  test(`${name}: 4003 fetches fresh credentials and starts a new session`, async () => {
    let n = 0;
    const auth = async () => {
      n++;
      await tick(5);
      return { token: 't' + n };
    };
    const second = (f) => {
      f.onHello = () => f.server({ t: 'welcome', sid: 's2', token: 'y', ping: 25000, pong: 20000, max: 65536, resumed: false });
      f.h.open();
    };
    const w = world({ [name]: ['ok', second] }, { transports: [name], auth });
    await until(() => w.c.state === 'connected');
    assert.deepEqual(w.attempts[0].sent[0], { t: 'hello', v: 1, bin: 1, auth: { token: 't1' } });
    w.cur().server({ t: 'close', code: 4003, reason: 'credentials expired' });
    w.cur().drop(4003, 'credentials expired');
    await until(() => w.c.state === 'connected' && w.c.id === 's2');
    const hello = w.attempts[1].sent[0];
    assert.deepEqual(hello, { t: 'hello', v: 1, bin: 1, auth: { token: 't2' } }, 'fresh credentials, no resume of the ended session');
    const dis = w.log.find((e) => e[0] === 'disconnect');
    assert.equal(dis[1].code, 4003);
    assert.equal(dis[1].reconnect, true);
    assert.equal(n, 2);
    w.c.close();
  });

  test(`${name}: a failed credentials fetch fires error and is retried with backoff`, async () => {
    let n = 0;
    const auth = () => (++n === 1 ? Promise.reject(new Error('token endpoint down')) : Promise.resolve('ok'));
    const w = world({ [name]: ['ok'] }, { transports: [name], auth });
    await until(() => w.c.state === 'connected');
    const e = w.log.find((x) => x[0] === 'error');
    assert.equal(e[1].code, 'auth');
    assert.match(e[1].message, /token endpoint down/);
    assert.ok(w.log.some((x) => x[0] === 'reconnecting'));
    assert.equal(w.attempts.length, 1, 'no transport opened without credentials');
    assert.deepEqual(w.attempts[0].sent[0], { t: 'hello', v: 1, bin: 1, auth: 'ok' });
    w.c.close();
  });

  test(`${name}: a slow credentials fetch does not count in the open timeout`, async () => {
    const auth = async () => (await tick(100), 'slow');
    const w = world({ [name]: ['ok'] }, { transports: [name], auth, openTimeout: 40 });
    await until(() => w.c.state === 'connected');
    assert.equal(w.attempts.length, 1);
    assert.deepEqual(w.attempts[0].sent[0], { t: 'hello', v: 1, bin: 1, auth: 'slow' }, 'the resolved value, not the promise');
    w.c.close();
  });

  test(`${name}: close while fetching credentials opens nothing`, async () => {
    let release;
    const auth = () => new Promise((r) => (release = r));
    const w = world({ [name]: ['ok'] }, { transports: [name], auth });
    await until(() => release);
    w.c.close();
    release('late');
    await tick(20);
    assert.equal(w.attempts.length, 0);
    assert.equal(w.c.state, 'closed');
  });
}

for (const transport of ['xhr-streaming', 'xhr-polling']) {
  test(`${transport} (real SockJS transport): 4003 reconnects with fresh credentials`, async () => {
    const srv = new SockJSServer();
    try {
      let n = 0;
      const { Client } = await import('./.build/internal.mjs');
      const c = new Client('http://test/rt', { transports: [transport], rememberTransport: 0, backoffMin: 10, backoffMax: 20, auth: async () => 'tok' + ++n });
      const dis = [];
      c.on('disconnect', (d) => dis.push(d));
      try {
        await until(() => c.state === 'connected');
        // As the server does: a close message, then the SockJS close frame.
        for (const s of srv.sessions.values()) s.q.push(JSON.stringify({ t: 'close', code: 4003, reason: 'credentials expired' }));
        srv.wakeAll();
        await tick(10);
        srv.close(4003, 'credentials expired');
        await until(() => dis.length === 1 && c.state === 'connected');
        assert.equal(dis[0].code, 4003);
        assert.equal(n, 2);
        assert.deepEqual(srv.hellos.map((h) => h.auth), ['tok1', 'tok2']);
        assert.equal(srv.hellos[1].resume, undefined, 'a new session, not a resume of the ended one');
      } finally {
        c.close();
      }
    } finally {
      srv.stop();
    }
  });
}
