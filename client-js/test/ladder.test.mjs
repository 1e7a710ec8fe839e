// The overlapping ladder (happy eyeballs), the RTT-scaled timeouts, and moving a connected
// session to another transport (upgrade probe, downgrade of a stalled stream) through a
// resume, on fake transports.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { world, until, tick } from './fake.mjs';
import { lateAfter, stallAfter, quietAfter, upgradeDelay, above, below, Rtt } from './.build/internal.mjs';

test('lateAfter, stallAfter, quietAfter, upgradeDelay stay in their bounds', () => {
  assert.equal(lateAfter(null, 3000), 3000, 'no round trip measured: the open timeout');
  assert.equal(lateAfter(1, 3000), 300, 'loopback: the floor');
  assert.equal(lateAfter(100, 3000), 550);
  assert.equal(lateAfter(2000, 3000), 3000, 'never above openTimeout');
  assert.equal(lateAfter(100, 200), 200, 'an openTimeout below the floor wins');
  assert.equal(stallAfter(1, 45000), 1000);
  assert.equal(stallAfter(5000, 45000), 5000);
  assert.equal(stallAfter(null, 4000), 2000, 'at most half the heartbeat');
  assert.equal(quietAfter(25000), 26000); // a server ping overdue by 1 s
  assert.equal(quietAfter(1000), 1250);
  assert.equal(quietAfter(0), 10000);
  for (let n = 1; n < 30; n++) {
    const d = upgradeDelay(n, 1000, () => 0.999);
    assert.ok(d <= 1.5 * 5 * 60 * 1000 && d >= upgradeDelay(n, 1000, () => 0), `${n}: ${d}`);
  }
  assert.equal(upgradeDelay(1, 1000, () => 0.5), 1000);
  assert.equal(upgradeDelay(3, 1000, () => 0.5), 4000);
  assert.deepEqual(above(['websocket', 'xhr-streaming', 'xhr-polling'], 'xhr-polling'), ['websocket', 'xhr-streaming']);
  assert.equal(below(['websocket', 'xhr-streaming', 'xhr-polling'], 'xhr-polling'), null);
  const r = new Rtt();
  r.add(-1);
  assert.equal(r.ms, null);
  r.add(80);
  r.add(0);
  assert.equal(r.ms, 70);
});

test('a late transport gets the next one started beside it; the first welcomed wins, the loser is released', async () => {
  // WebSocket opens and never welcomes (a proxy that accepts the upgrade, then hangs).
  const w = world({ websocket: ['stall'], 'xhr-streaming': ['ok'] }, { openTimeout: 3000, measure: async () => 2 });
  const t0 = Date.now();
  await until(() => w.c.state === 'connected');
  const took = Date.now() - t0;
  assert.equal(w.c.transport, 'xhr-streaming');
  assert.equal(w.c.lateMs, 300, 'the RTT-scaled delay, not the 3 s open timeout');
  assert.ok(took < 2000, `took ${took} ms`);
  assert.deepEqual(w.attempts.map((a) => a.name), ['websocket', 'xhr-streaming']);
  const ws = w.attempts[0];
  assert.ok(ws.closed, 'the loser is closed');
  assert.deepEqual(ws.last, [{ t: 'close', code: 1000, reason: 'another transport won' }], 'its session (if the hello got through) ends at once');
  assert.equal(w.log.filter((e) => e[0] === 'connect').length, 1);
});

test('the slower of two welcomed transports is closed, and only one connect fires', async () => {
  let wsFake;
  const w = world({ websocket: [(f) => ((wsFake = f), f.h.open())], 'xhr-streaming': ['ok'] }, { openTimeout: 3000, measure: async () => 1 });
  await until(() => w.c.state === 'connected');
  assert.equal(w.c.transport, 'xhr-streaming');
  wsFake.server({ t: 'welcome', sid: 'late', token: 'y', ping: 25000, pong: 20000, max: 65536, resumed: false });
  await tick(10);
  assert.equal(w.c.id, 's1');
  assert.equal(w.log.filter((e) => e[0] === 'connect').length, 1);
});

test('without a measured round trip the open timeout decides, as before', async () => {
  const w = world({ websocket: ['stall'], 'xhr-streaming': ['ok'] }, { openTimeout: 120 });
  const t0 = Date.now();
  await until(() => w.c.state === 'connected');
  assert.ok(Date.now() - t0 >= 110);
  assert.equal(w.c.lateMs, 120);
});

/**
 * connectedOn returns a world connected on xhr-streaming with server-driven fakes. A later
 * transport's hello goes to later(f) when it is given (set before the transport exists, so
 * that a hello sent as it opens is not answered before the test can hold it).
 */
async function connectedOn(opts = {}, later = null) {
  const all = [];
  const drive = (f) => {
    all.push(f);
    f.onHello = () => {
      if (later && f !== all[0]) return later(f);
      const h = f.sent.find((m) => m.t === 'hello');
      const resumed = !!h.resume;
      f.server({ t: 'welcome', sid: 's1', token: 't' + all.length, ping: 25000, pong: 20000, max: 65536, resumed, r: 0 });
    };
    f.h.open();
  };
  const w = world({ websocket: ['refuse', drive], 'xhr-streaming': [drive], 'xhr-polling': [drive] }, { upgradeAfter: 0, ...opts });
  await until(() => w.c.state === 'connected');
  return { w, all };
}

test('a switch skips exactly the messages that arrived on the old transport after its hello', async () => {
  let probe;
  const hold = new Promise((res) => (probe = res));
  const { w, all } = await connectedOn({}, () => probe());
  const got = [];
  w.c.on('tick', (d) => got.push(d));
  const old = all[0];
  old.server(...[0, 1, 2].map((d) => ({ t: 'ev', n: 'tick', d })));
  w.c.migrate('websocket', 'up');
  await until(() => all.length === 2);
  const nu = all[1];
  await hold;
  assert.deepEqual(nu.sent[0].resume.seq, 3);
  // Ticks 3 and 4 still come on the old transport after the probe's hello…
  old.server({ t: 'ev', n: 'tick', d: 3 }, { t: 'ev', n: 'tick', d: 4 }, { t: 'ping', r: 0 });
  // …and the client, answering a ping there, reports no more than the hello's seq: the
  // server must not forget 4 and 5 before it takes the hello.
  assert.deepEqual(old.sent.filter((m) => m.t === 'pong').at(-1), { t: 'pong', r: 3 });
  // …and the server, which took the hello at seq 3, sends them again on the new one.
  nu.server({ t: 'welcome', sid: 's1', token: 'n', ping: 25000, pong: 20000, max: 65536, resumed: true, r: 0 }, ...[3, 4, 5].map((d) => ({ t: 'ev', n: 'tick', d })));
  old.drop(4002, 'replaced');
  nu.server({ t: 'ev', n: 'tick', d: 6 });
  assert.deepEqual(got, [0, 1, 2, 3, 4, 5, 6]);
  assert.equal(w.c.transport, 'websocket');
  assert.ok(old.closed);
  assert.deepEqual(w.log.map((e) => e[0]), ['transport', 'connect', 'transport'], 'no disconnect, no second connect');
});

test('a drop of the old transport while the switch is under way is no disconnect', async () => {
  const { w, all } = await connectedOn({}, () => {}); // the new transport's hello waits
  const got = [];
  w.c.on('tick', (d) => got.push(d));
  w.c.migrate('xhr-polling', 'down');
  await until(() => all.length === 2);
  const nu = all[1];
  await until(() => nu.sent.length === 1);
  all[0].drop(4002, 'replaced');
  w.c.emit('x', 1); // queued while no transport is in use
  nu.server({ t: 'welcome', sid: 's1', token: 'n', ping: 25000, pong: 20000, max: 65536, resumed: true, r: 0 }, { t: 'ev', n: 'tick', d: 0 });
  await tick(5);
  assert.deepEqual(got, [0]);
  assert.equal(w.c.transport, 'xhr-polling');
  assert.deepEqual(nu.events().map((m) => m.n), ['x']);
  assert.deepEqual(w.log.map((e) => e[0]), ['transport', 'connect', 'transport']);
});

test('an upgrade probe that takes the session and then fails goes back through a resume; failed probes end in blocked', async () => {
  let n = 0;
  const all = [];
  const drive = (f) => {
    all.push(f);
    f.onHello = () => f.server({ t: 'welcome', sid: 's1', token: 't' + ++n, ping: 25000, pong: 20000, max: 65536, resumed: !!f.sent[0].resume, r: 0 });
    f.h.open();
  };
  // WebSocket: refused on the ladder, then every probe opens and hangs after its hello.
  const hang = (f) => {
    all.push(f);
    f.onHello = () => setTimeout(() => all.find((a) => a.name === 'xhr-streaming' && !a.closed)?.drop(4002, 'replaced'));
    f.h.open();
  };
  const w = world({ websocket: ['refuse', hang], 'xhr-streaming': [drive] }, { upgradeAfter: 20, openTimeout: 300, measure: async () => 1 });
  await until(() => w.c.state === 'connected');
  await until(() => all.filter((a) => a.name === 'websocket').length === 3, 20000);
  await until(() => all.at(-1).name === 'xhr-streaming' && !all.at(-1).closed, 5000);
  assert.ok(all.filter((a) => a.name === 'xhr-streaming').length >= 3, 'each failed probe took the session, which went back');
  await tick(300);
  assert.equal(all.filter((a) => a.name === 'websocket').length, 3, 'no probe after the third failed one');
  assert.ok(!w.log.some((e) => e[0] === 'disconnect'), JSON.stringify(w.log));
  assert.equal(w.c.state, 'connected');
});

test('a stream that stops delivering is noticed by a pong that does not come, and the session moves down', async () => {
  const { w, all } = await connectedOn({ measure: async () => 1, welcome: {} });
  // ping 1 s + pong 1 s: quietAfter 1.25 s, stallAfter 1 s.
  const old = all[0];
  old.server({ t: 'welcome', sid: 's1', token: 'x', ping: 1000, pong: 1000, max: 65536, resumed: false }); // ignored: already up
  w.c.hbMs = 2000;
  w.c.pingMs = 1000;
  w.c.watch();
  await until(() => old.sent.some((m) => m.t === 'ping'), 4000);
  await until(() => all.length === 2, 3000);
  assert.equal(all[1].name, 'xhr-polling');
  await until(() => w.c.transport === 'xhr-polling');
  assert.deepEqual(w.log.map((e) => e[0]), ['transport', 'connect', 'transport']);
});
