import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tick, until, withPage, world } from './fake.mjs';

test('pagehide closes with 1001 at once; with keepSession the next page resumes the session', () =>
  withPage(async () => {
    const w = world({ websocket: ['ok'] }, { keepSession: true, welcome: { token: 't1' } });
    await until(() => w.c.state === 'connected');
    window.dispatchEvent(new Event('pagehide'));
    assert.deepEqual(w.attempts[0].last, [{ t: 'close', code: 1001, reason: 'going away' }]);
    assert.equal(w.c.state, 'disconnected');
    await tick(100);
    assert.equal(w.attempts.length, 1, 'a page that went away does not reconnect');
    // The next page load of the tab.
    const w2 = world({ websocket: ['ok'] }, { keepSession: true, welcome: { resumed: true, r: 0 } });
    await until(() => w2.c.state === 'connected');
    assert.deepEqual(w2.attempts[0].sent[0].resume, { sid: 's1', token: 't1', seq: 0 });
    assert.deepEqual(w2.log.find((e) => e[0] === 'connect'), ['connect', { resumed: true }]);
    // Taken once: a third page (a duplicated tab) starts a session of its own.
    const w3 = world({ websocket: ['ok'] }, { keepSession: true });
    await until(() => w3.c.state === 'connected');
    assert.equal(w3.attempts[0].sent[0].resume, undefined);
  }));

test('without keepSession a page that goes away leaves nothing behind', () =>
  withPage(async () => {
    const w = world({ websocket: ['ok'] });
    await until(() => w.c.state === 'connected');
    window.dispatchEvent(new Event('pagehide'));
    assert.deepEqual(w.attempts[0].last, [{ t: 'close', code: 1001, reason: 'going away' }]);
    const w2 = world({ websocket: ['ok'] }, { keepSession: true });
    await until(() => w2.c.state === 'connected');
    assert.equal(w2.attempts[0].sent[0].resume, undefined);
  }));

test('a page back from the back/forward cache connects again', () =>
  withPage(async () => {
    const w = world({ websocket: ['ok'] }, { welcome: { token: 't1' } });
    await until(() => w.c.state === 'connected');
    window.dispatchEvent(new Event('pagehide'));
    const show = new Event('pageshow');
    show.persisted = true;
    window.dispatchEvent(show);
    await until(() => w.c.state === 'connected' && w.attempts.length === 2);
    assert.equal(w.attempts[1].sent[0].resume.sid, 's1', 'it tries to resume (the server may have ended it)');
  }));

test('an idle cut lowers the interval the next hello asks for', async () => {
  const w = world({ websocket: ['ok'] }, { welcome: { ping: 25000 } });
  await until(() => w.c.state === 'connected');
  // As if the transport had been idle for 10 s when the proxy cut it.
  w.c.seen = Date.now() - 10_000;
  w.attempts[0].drop(1006);
  await until(() => w.attempts.length === 2 && w.attempts[1].sent.length > 0);
  assert.equal(w.attempts[1].sent[0].ping, 7000);
  assert.equal(w.c.pingInterval, 25000, 'the welcome says what the server uses');
});
