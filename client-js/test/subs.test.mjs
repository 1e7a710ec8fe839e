// Client subscriptions (PROTOCOL.md §9) against a fake server: $sub/$unsub requests and their
// acks, the position rule for durable messages, the re-subscription after a new session (and
// none after a resumed one), and the rooms and positions a page leaves for the next one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tick, until, withPage, world } from './fake.mjs';
import { saveSubs, takeSubs } from './.build/internal.mjs';

/**
 * Srv is a fake server. A hello resumes when resume is set and names the last session, else
 * starts a new one. Each $sub is answered by answer(d) (an ack's fields: { d } or { e }).
 */
class Srv {
  constructor() {
    this.sessions = 0;
    this.resume = true;
    this.cur = null;
    this.in = 0;
    this.subs = []; // the d of every $sub, in order
    this.unsubs = [];
    this.answer = (d) => ({ d: { room: d.room } });
  }
  plan = (f) => {
    f.onMsg = (v) => this.recv(f, v);
    f.h.open();
  };
  recv(f, v) {
    if (v.t === 'hello') {
      return setTimeout(() => {
        this.cur = f;
        const resumed = this.resume && !!v.resume && v.resume.sid === 'S' + this.sessions;
        if (!resumed) (this.sessions++, (this.in = 0));
        f.server({ t: 'welcome', sid: 'S' + this.sessions, token: 'k', ping: 25000, pong: 20000, max: 65536, resumed, r: this.in });
      });
    }
    if (v.t !== 'ev' && v.t !== 'ack') return;
    this.in++; // counted: a resumed welcome says how many arrived
    if (v.n === '$sub') {
      this.subs.push(v.d);
      const a = this.answer(v.d);
      if (a) setTimeout(() => f.server({ t: 'ack', id: v.id, ...a }));
    }
    if (v.n === '$unsub') {
      this.unsubs.push(v.d);
      setTimeout(() => f.server({ t: 'ack', id: v.id, d: { room: v.d.room } }));
    }
  }
  /** durable sends a durable message of room at epoch e, offset o. */
  durable(room, e, o, d = o) {
    this.cur.server({ t: 'ev', n: room, d, room, pos: { e, o } });
  }
}

function setup(opts) {
  const srv = new Srv();
  const w = world({ websocket: [srv.plan] }, { transports: ['websocket'], backoffMin: 10, backoffMax: 20, ...opts });
  const ev = [];
  w.c.on('subscribed', (r) => ev.push(['subscribed', r]));
  w.c.on('subscribe-error', (r) => ev.push(['subscribe-error', r.room, r.error.code]));
  return { srv, w, ev };
}

test('subscribe resolves with the ack; a refusal rejects with its code and forgets the room', async () => {
  const { srv, w, ev } = setup();
  srv.answer = (d) =>
    d.room === 'news' ? { d: { room: 'news', pos: { e: 'A', o: 3 } } } : d.room === 'chat' ? { d: { room: 'chat' } } : { e: { code: 'forbidden', message: 'no' } };
  await until(() => w.c.state === 'connected');
  assert.deepEqual(await w.c.subscribe('news'), { room: 'news', recovered: false, pos: { e: 'A', o: 3 } });
  assert.deepEqual(await w.c.subscribe('chat'), { room: 'chat', recovered: false, pos: null }, 'a room that is not durable has no position');
  await assert.rejects(w.c.subscribe('secret'), (e) => e.code === 'forbidden' && e.message === 'no');
  assert.deepEqual(srv.subs, [{ room: 'news' }, { room: 'chat' }, { room: 'secret' }]);
  await w.c.unsubscribe('chat');
  assert.deepEqual(srv.unsubs, [{ room: 'chat' }]);

  // A new session subscribes again to what is left: news from its position, not chat nor secret.
  srv.resume = false;
  w.cur().drop(1006, 'cut');
  await until(() => srv.subs.length === 4);
  assert.deepEqual(srv.subs[3], { room: 'news', since: { e: 'A', o: 3 } });
  await until(() => ev.length === 1);
  assert.deepEqual(ev, [['subscribed', { room: 'news', recovered: false, pos: { e: 'A', o: 3 } }]]);
});

test('a subscribe while disconnected goes out once, at the connect', async () => {
  const { srv, w } = setup();
  const p = w.c.subscribe('news'); // before the first welcome
  const p2 = w.c.subscribe('news');
  assert.deepEqual(await p, { room: 'news', recovered: false, pos: null });
  assert.deepEqual(await p2, { room: 'news', recovered: false, pos: null });
  await tick(20);
  assert.deepEqual(srv.subs, [{ room: 'news' }]);
});

test('durable messages: a duplicate by offset is dropped, a new epoch is taken', async () => {
  const { srv, w } = setup();
  const got = [];
  w.c.on('news', (d) => got.push(d));
  w.c.on('other', (d) => got.push('other' + d));
  srv.answer = (d) => ({ d: { room: d.room, pos: { e: 'A', o: 3 } } });
  await until(() => w.c.state === 'connected');
  await w.c.subscribe('news');
  srv.durable('news', 'A', 3, 'dup3'); // what the ack's position covers
  srv.durable('news', 'A', 4);
  srv.durable('news', 'A', 5);
  srv.durable('news', 'A', 4, 'dup4'); // a live message that raced a catch-up
  srv.cur.server({ t: 'ev', n: 'news', d: 'plain' }); // not durable: always taken
  srv.durable('news', 'B', 1); // the history began again: taken
  srv.durable('news', 'B', 2);
  srv.durable('news', 'B', 2, 'dupB2');
  srv.durable('other', 'A', 1); // a room the client did not subscribe to
  srv.durable('other', 'A', 1);
  await until(() => got.length === 7);
  assert.deepEqual(got, [4, 5, 'plain', 1, 2, 'other1', 'other1']);
  await until(() => w.c.rx === 11);
  assert.equal(w.c.rx, 11, 'the ack and every message, dropped duplicates too, are counted for the resume');
});

test('after a resumed session nothing is subscribed again; after a new one everything, from its position', async () => {
  const { srv, w, ev } = setup();
  const got = [];
  w.c.on('news', (d) => got.push(d));
  srv.answer = (d) => ({ d: { room: d.room, pos: { e: 'A', o: d.since ? 9 : 1 }, ...(d.since ? { recovered: true } : {}) } });
  await until(() => w.c.state === 'connected');
  await w.c.subscribe('news');
  await w.c.subscribe('lobby');
  srv.durable('news', 'A', 2);
  await until(() => got.length === 1);

  w.cur().drop(1006, 'cut'); // resumed
  await until(() => w.attempts.length === 2 && w.c.state === 'connected');
  await tick(20);
  assert.equal(srv.sessions, 1);
  assert.equal(srv.subs.length, 2, 'no $sub after a resume');
  assert.equal(w.cur().events().length, 0);

  srv.resume = false;
  w.cur().drop(1006, 'cut'); // a new session
  await until(() => srv.subs.length === 4 && ev.length === 2);
  assert.equal(srv.sessions, 2);
  assert.deepEqual(
    srv.subs.slice(2).sort((a, b) => a.room.localeCompare(b.room)),
    [
      { room: 'lobby', since: { e: 'A', o: 1 } },
      { room: 'news', since: { e: 'A', o: 2 } },
    ],
  );
  assert.deepEqual(ev.find((e) => e[1].room === 'news'), ['subscribed', { room: 'news', recovered: true, pos: { e: 'A', o: 9 } }]);
});

test('an automatic re-subscription refused fires subscribe-error and forgets the room', async () => {
  const { srv, w, ev } = setup();
  await until(() => w.c.state === 'connected');
  await w.c.subscribe('news');
  srv.answer = () => ({ e: { code: 'forbidden', message: 'banned' } });
  srv.resume = false;
  w.cur().drop(1006, 'cut');
  await until(() => ev.length === 1);
  assert.deepEqual(ev, [['subscribe-error', 'news', 'forbidden']]);
  srv.answer = (d) => ({ d: { room: d.room } });
  w.cur().drop(1006, 'cut');
  await until(() => srv.sessions === 3 && w.c.state === 'connected');
  await tick(20);
  assert.equal(srv.subs.length, 2, 'a refused room is not asked for again');
});

test('saveSubs and takeSubs: a round trip, read once, malformed entries dropped', () =>
  withPage(async () => {
    saveSubs('k', { news: { e: 'A', o: 7 }, lobby: null });
    assert.deepEqual(takeSubs('k'), { news: { e: 'A', o: 7 }, lobby: null });
    assert.deepEqual(takeSubs('k'), {}, 'taken once');
    sessionStorage.setItem('sockhop.subs:k', JSON.stringify({ a: { e: 1, o: 2 }, b: 'x', c: { e: 'E', o: -1 }, d: { e: 'E', o: 0 } }));
    assert.deepEqual(takeSubs('k'), { d: { e: 'E', o: 0 } });
    sessionStorage.setItem('sockhop.subs:k', '{not json');
    assert.deepEqual(takeSubs('k'), {});
  }));

test('with keepSession a reload subscribes again from the saved positions, unless the session resumed', () =>
  withPage(async () => {
    const { srv, w } = setup({ keepSession: true });
    srv.answer = (d) => ({ d: { room: d.room, pos: { e: 'A', o: 0 }, ...(d.since ? { recovered: true } : {}) } });
    await until(() => w.c.state === 'connected');
    await w.c.subscribe('news');
    srv.durable('news', 'A', 1);
    srv.durable('news', 'A', 2);
    await until(() => w.c.rx === 3);
    window.dispatchEvent(new Event('pagehide'));

    // The next page: its session resumes, so the rooms are still the server's; nothing is sent.
    const b = setup({ keepSession: true });
    b.srv.sessions = 1; // the same server as far as the session is concerned: S1,
    b.srv.in = 1; // which got the $sub
    const got = [];
    b.w.c.on('news', (d) => got.push(d));
    await until(() => b.w.c.state === 'connected');
    await tick(20);
    assert.deepEqual(b.srv.subs, []);
    // Its positions go on from the last page's: a message sent again is a duplicate.
    b.srv.durable('news', 'A', 2);
    b.srv.durable('news', 'A', 3);
    await until(() => b.w.c.rx === 5); // 3 from the last page
    assert.deepEqual(got, [3]);
    window.dispatchEvent(new Event('pagehide'));

    // The page after: the session is gone; news is subscribed again from A/3.
    const c = setup({ keepSession: true });
    c.srv.answer = (d) => ({ d: { room: d.room, pos: { e: 'A', o: 5 }, recovered: true } });
    await until(() => c.ev.length === 1);
    assert.deepEqual(c.srv.subs, [{ room: 'news', since: { e: 'A', o: 3 } }]);
    assert.deepEqual(c.ev, [['subscribed', { room: 'news', recovered: true, pos: { e: 'A', o: 5 } }]]);
  }));

test('a catch-up interleaved with live messages: each position taken once, none lost', async () => {
  const { srv, w } = setup();
  const got = [];
  w.c.on('news', (d) => got.push(d));
  srv.answer = (d) => ({ d: { room: d.room, pos: { e: 'A', o: 2 } } });
  await until(() => w.c.state === 'connected');
  await w.c.subscribe('news');
  srv.durable('news', 'A', 1, 'old1');
  srv.durable('news', 'A', 3);
  await until(() => got.length === 1);
  // A new session: the server joins, a live message (6) reaches the session before the
  // history's entries after 3 (4, 5, 6) are queued, then the ack.
  srv.answer = () => null; // the test answers
  srv.resume = false;
  w.cur().drop(1006, 'cut');
  await until(() => srv.subs.length === 2);
  assert.deepEqual(srv.subs[1], { room: 'news', since: { e: 'A', o: 3 } });
  srv.durable('news', 'A', 6);
  srv.durable('news', 'A', 3, 'dup3');
  srv.durable('news', 'A', 4);
  srv.durable('news', 'A', 5);
  srv.durable('news', 'A', 6, 'dup6');
  srv.cur.server({ t: 'ack', id: srv.cur.events().find((e) => e.n === '$sub').id, d: { room: 'news', pos: { e: 'A', o: 6 }, recovered: true } });
  srv.durable('news', 'A', 6, 'dup6 again'); // after the ack: the last position rules again
  srv.durable('news', 'A', 7);
  await until(() => got.length === 5);
  await tick(20);
  assert.deepEqual(got, [3, 6, 4, 5, 7]);
});

test('durable messages out of offset order (two nodes): all taken once; a new session catches up from the hole', async () => {
  const { srv, w } = setup();
  const got = [];
  w.c.on('news', (d) => got.push(d));
  srv.answer = (d) => ({ d: { room: d.room, pos: { e: 'A', o: 2 } } });
  await until(() => w.c.state === 'connected');
  await w.c.subscribe('news');
  srv.durable('news', 'A', 4); // this node's own broadcast, before the other node's 3
  srv.durable('news', 'A', 3);
  srv.durable('news', 'A', 4, 'dup4');
  srv.durable('news', 'A', 6); // 5 is still on its way when the connection dies
  await until(() => got.length === 3);
  srv.answer = () => null; // the test answers
  srv.resume = false;
  w.cur().drop(1006, 'cut');
  await until(() => srv.subs.length === 2);
  assert.deepEqual(srv.subs[1], { room: 'news', since: { e: 'A', o: 4 } }, 'from below the hole');
  srv.durable('news', 'A', 5);
  srv.durable('news', 'A', 6, 'dup6');
  srv.cur.server({ t: 'ack', id: srv.cur.events().find((e) => e.n === '$sub').id, d: { room: 'news', pos: { e: 'A', o: 6 }, recovered: true } });
  srv.durable('news', 'A', 7);
  await until(() => got.length === 5);
  await tick(20);
  assert.deepEqual(got, [4, 3, 6, 5, 7]);
});

test('unsubscribe rejects a subscribe still waiting, and a closed socket refuses both', async () => {
  const { srv, w } = setup();
  const p = w.c.subscribe('news'); // parked until the connect
  const u = w.c.unsubscribe('news');
  await assert.rejects(p, (e) => e.code === 'unsubscribed');
  await u;
  await tick(20);
  assert.deepEqual(srv.subs, [], 'nothing to subscribe to at the connect');
  assert.deepEqual(srv.unsubs, [{ room: 'news' }]);
  w.c.close();
  await assert.rejects(w.c.subscribe('news'), (e) => e.code === 'closed');
  await assert.rejects(w.c.unsubscribe('news'), (e) => e.code === 'closed');
});
