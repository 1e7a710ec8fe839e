// Many nodes (PROTOCOL.md §7): every request reaches the session's node. A SockJS session's
// answers carry X-Sockhop-Node, and the client then names that node as <server> in every
// later request of the session (the hello's xhr_send included); the client remembers the
// node of its last welcome and names it when it resumes (SockJS: <server> from the first
// request; WebSocket: M/ws?node=). A new session names none.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { world, until, withFetch, SockJSServer } from './fake.mjs';
import { Client, post, sockjs, websocket, isNode, helloProtocol, KEY_HEADER, NODE_HEADER } from './.build/internal.mjs';

/** parts splits a SockJS request URL into its <server>, <session>, kind and query. */
function parts(url) {
  const m = /\/rt\/sockjs\/([^/]+)\/([^/]+)\/([a-z_]+)(\?.*)?$/.exec(url);
  assert.ok(m, `${url} is a SockJS request URL`);
  return { server: m[1], session: m[2], kind: m[3], query: m[4] || '' };
}

const kindOf = (url) => url.split('?')[0].split('/').pop();

test('isNode: n and 3 to 31 characters of [a-z0-9]', () => {
  for (const v of ['nabc', 'n123', 'n' + 'a'.repeat(31), 'n0z9q']) assert.ok(isNode(v), v);
  for (const v of ['', 'n', 'nab', 'n' + 'a'.repeat(32), 'N123', 'nAbc', 'x123', 'n12-3', 'n12_3', 'n123/x', ' n123', 'n123 ', '517', null, undefined, 42])
    assert.ok(!isNode(v), String(v));
});

for (const [name, path, stream] of [
  ['xhr-polling', 'xhr', false],
  ['xhr-streaming', 'xhr_streaming', true],
]) {
  /**
   * session runs one SockJS transport against answers that carry X-Sockhop-Node: node(i) of
   * the i-th answer (from 0; undefined: no header). The first receiving request opens, later
   * ones hang; each xhr_send is answered 204. The open handler sends the hello at once, as
   * the client does. It returns the calls once sends xhr_sends and polls receiving requests
   * were made.
   */
  async function session(node, { opts = {}, sends = 2, polls = 2 } = {}) {
    let answers = 0;
    const hangs = [];
    let out;
    await withFetch(
      (url) => {
        const h = {};
        const v = node(answers++);
        if (v !== undefined) h[NODE_HEADER] = v;
        if (kindOf(url) === 'xhr_send') return new Response(null, { status: 204, headers: h });
        if (/[?&]p=1(&|$)/.test(url)) return new Response((stream ? 'h'.repeat(2048) + '\n' : '') + 'o\n', { headers: h });
        return new Promise((r) => hangs.push(() => r(new Response('', { headers: h }))));
      },
      async (calls) => {
        const ev = [];
        let t;
        t = sockjs(name, path, stream, 'http://x/rt', { open: () => t.send(['{"t":"hello","v":1}']), frame() {}, alive() {}, close: (...a) => ev.push(a) }, { withCredentials: false, ...opts });
        await until(() => calls.filter((c) => kindOf(c.url) === 'xhr_send').length >= 1);
        for (let i = 1; i < sends; i++) {
          t.send(['{"t":"ev","n":"x","d":' + i + '}']);
          await until(() => calls.filter((c) => kindOf(c.url) === 'xhr_send').length > i);
        }
        await until(() => calls.filter((c) => kindOf(c.url) === path).length >= polls);
        t.close();
        assert.deepEqual(ev, [], 'the transport did not fail');
        out = calls.map((c) => ({ ...parts(c.url), key: c.headers[KEY_HEADER] }));
      },
    );
    for (const h of hangs) h();
    return out;
  }

  test(`${name}: X-Sockhop-Node names the node in every later request, the hello's xhr_send first`, async () => {
    const reqs = await session(() => 'nnode42');
    const [first, ...later] = reqs;
    assert.match(first.server, /^[1-9]\d\d$/, 'the first request names no node: three random digits');
    assert.equal(first.kind, path);
    assert.equal(first.query, '?p=1', 'a new session: no resume=1');
    assert.equal(later[0].kind, 'xhr_send', "the hello's xhr_send comes next");
    for (const r of later) {
      assert.equal(r.server, 'nnode42', `${r.kind}${r.query} names the node`);
      assert.equal(r.session, first.session, 'the session id stays');
      assert.equal(r.key, first.key, 'the key stays');
    }
    // The request numbers go on as before.
    assert.deepEqual(reqs.filter((r) => r.kind === 'xhr_send').map((r) => r.query), ['?s=1', '?s=2']);
    assert.deepEqual(reqs.filter((r) => r.kind === path).map((r) => r.query), ['?p=1', '?p=2']);
  });

  test(`${name}: an X-Sockhop-Node that is no node id is ignored`, async () => {
    for (const bad of ['N1234', 'nab', 'n' + 'a'.repeat(32), 'n12-3', 'n123/x', '517', '../n123', '']) {
      const reqs = await session(() => bad);
      const server = reqs[0].server;
      assert.match(server, /^[1-9]\d\d$/);
      for (const r of reqs) assert.equal(r.server, server, `${JSON.stringify(bad)}: ${r.kind}${r.query} keeps its <server>`);
    }
    // A valid node, then answers without one or with a bad one: the node stays.
    const reqs = await session((i) => (i === 0 ? 'nfirst' : i === 1 ? 'bogus!' : undefined), { sends: 3, polls: 2 });
    assert.deepEqual(reqs.slice(1).map((r) => r.server), reqs.slice(1).map(() => 'nfirst'));
  });

  test(`${name}: a resume names its node as <server> from the first request`, async () => {
    let reqs = await session(() => undefined, { opts: { resume: true, node: 'nresume7' } });
    assert.equal(reqs[0].query, '?p=1&resume=1');
    for (const r of reqs) assert.equal(r.server, 'nresume7', `${r.kind}${r.query} names the node`);
    // An answer naming another node moves the session's later requests there.
    reqs = await session((i) => (i === 0 ? 'nother8' : undefined), { opts: { resume: true, node: 'nresume7' } });
    assert.equal(reqs[0].server, 'nresume7');
    for (const r of reqs.slice(1)) assert.equal(r.server, 'nother8');
    // A node option that is no node id is not named.
    reqs = await session(() => undefined, { opts: { resume: true, node: 'n1/../x' } });
    assert.match(reqs[0].server, /^[1-9]\d\d$/);
  });
}

/** FakeWS stands in for the browser's WebSocket: it records the URLs dialled. */
class FakeWS {
  static urls = [];
  static last = null;
  static welcome = () => ({});
  static takeHello = false; // answer a hello subprotocol (PROTOCOL.md §3) as the server does
  static sent = []; // every message sent, parsed
  static protos = []; // the subprotocols each socket offered
  constructor(url, proto) {
    FakeWS.urls.push(url);
    FakeWS.last = this;
    FakeWS.protos.push(proto);
    this.proto = proto;
    this.protocol = '';
    this.readyState = 0;
    const offered = [].concat(proto);
    const early = FakeWS.takeHello && offered[0].startsWith('sockhop.v1.hello');
    setTimeout(() => {
      this.readyState = 1;
      this.protocol = early ? offered[0] : 'sockhop.v1';
      this.onopen && this.onopen();
      if (early) this.welcomeTo({});
    });
  }
  welcomeTo(m) {
    const w = { t: 'welcome', sid: 'S1', token: 't', ping: 25000, pong: 20000, max: 65536, resumed: !!m.resume, r: 0, ...FakeWS.welcome(m) };
    setTimeout(() => this.onmessage && this.onmessage({ data: JSON.stringify(w) }));
  }
  send(data) {
    for (const line of data.split('\n')) {
      const m = JSON.parse(line);
      FakeWS.sent.push(m);
      if (m.t === 'hello') this.welcomeTo(m);
    }
  }
  close() {
    this.readyState = 3;
  }
  /** drop ends the socket from the server's side, as a network error does. */
  drop() {
    this.readyState = 3;
    this.onclose && this.onclose({ code: 1006, reason: '' });
  }
}

test('websocket: a node names itself as M/ws?node=, no node or a bad one as plain M/ws', async () => {
  const real = globalThis.WebSocket;
  globalThis.WebSocket = FakeWS;
  FakeWS.urls = [];
  try {
    const h = { open() {}, frame() {}, alive() {}, close() {} };
    for (const o of [{ node: 'nws123' }, {}, { node: 'NWS123' }, { node: 'n12&x=1' }, undefined]) websocket('https://x/rt', h, o && { withCredentials: false, ...o }).close();
    assert.deepEqual(FakeWS.urls, ['wss://x/rt/ws?node=nws123', 'wss://x/rt/ws', 'wss://x/rt/ws', 'wss://x/rt/ws', 'wss://x/rt/ws']);
  } finally {
    globalThis.WebSocket = real;
  }
});

test('websocket (real transport): the resume names the welcome node, the new session none', async () => {
  const real = globalThis.WebSocket;
  globalThis.WebSocket = FakeWS;
  FakeWS.urls = [];
  FakeWS.welcome = () => ({ node: 'nws456' });
  const c = new Client('http://test/rt', { transports: ['websocket'], openTimeout: 500, backoffMin: 10, backoffMax: 20, rememberTransport: 0 });
  try {
    await until(() => c.state === 'connected');
    FakeWS.last.drop();
    await until(() => FakeWS.urls.length === 2 && c.state === 'connected');
    assert.deepEqual(FakeWS.urls, ['ws://test/rt/ws', 'ws://test/rt/ws?node=nws456']);
  } finally {
    c.close();
    globalThis.WebSocket = real;
    FakeWS.welcome = () => ({});
  }
});

test('websocket (real transport): a new session without auth says hello in the upgrade, a resume in a message', async () => {
  const real = globalThis.WebSocket;
  globalThis.WebSocket = FakeWS;
  FakeWS.urls = [];
  FakeWS.sent = [];
  FakeWS.protos = [];
  FakeWS.takeHello = true;
  const c = new Client('http://test/rt', { transports: ['websocket'], openTimeout: 500, backoffMin: 10, backoffMax: 20, rememberTransport: 0 });
  try {
    await until(() => c.state === 'connected');
    assert.deepEqual(FakeWS.protos, [['sockhop.v1.hello.bin', 'sockhop.v1']]);
    assert.deepEqual(FakeWS.sent.filter((m) => m.t === 'hello'), [], 'no hello message after the upgrade took it');
    FakeWS.last.drop();
    await until(() => FakeWS.urls.length === 2 && c.state === 'connected');
    assert.deepEqual(FakeWS.protos[1], 'sockhop.v1', 'a resume offers no hello subprotocol');
    const hellos = FakeWS.sent.filter((m) => m.t === 'hello');
    assert.equal(hellos.length, 1);
    assert.deepEqual(hellos[0].resume, { sid: 'S1', token: 't', seq: 0 });
  } finally {
    c.close();
    globalThis.WebSocket = real;
    FakeWS.takeHello = false;
  }
});

test('websocket: a server that answers sockhop.v1 to the hello subprotocol gets a hello message', async () => {
  const real = globalThis.WebSocket;
  globalThis.WebSocket = FakeWS;
  FakeWS.sent = [];
  FakeWS.protos = [];
  const c = new Client('http://test/rt', { transports: ['websocket'], openTimeout: 500, rememberTransport: 0 });
  try {
    await until(() => c.state === 'connected');
    assert.deepEqual(FakeWS.protos, [['sockhop.v1.hello.bin', 'sockhop.v1']]);
    assert.deepEqual(FakeWS.sent.filter((m) => m.t === 'hello').map((m) => m.bin), [1]);
  } finally {
    c.close();
    globalThis.WebSocket = real;
  }
});

test('helloProtocol: bin always, ping when it is a whole number of ms in range', () => {
  assert.equal(helloProtocol(0), 'sockhop.v1.hello.bin');
  assert.equal(helloProtocol(25000), 'sockhop.v1.hello.bin.ping25000');
  assert.equal(helloProtocol(1.5), 'sockhop.v1.hello.bin');
  assert.equal(helloProtocol(1e10), 'sockhop.v1.hello.bin');
});

for (const transport of ['xhr-polling', 'xhr-streaming']) {
  test(`${transport} (real transport): the hello names the node of the first answer; the resume names it from its first request`, async () => {
    const srv = new SockJSServer('nsock99');
    const c = new Client('http://test/rt', { transports: [transport], openTimeout: 500, backoffMin: 10, backoffMax: 20, rememberTransport: 0 });
    try {
      await until(() => c.state === 'connected');
      const first = parts(srv.urls[0]);
      assert.match(first.server, /^[1-9]\d\d$/, 'a new session names no node');
      assert.equal(first.query, '?p=1');
      assert.equal(srv.hellos[0].server, 'nsock99', "the hello's xhr_send names the node");
      assert.equal(srv.hellos[0].resume, undefined);
      const n = srv.urls.length;
      srv.close(1006, 'cut');
      await until(() => srv.hellos.length === 2 && c.state === 'connected');
      const again = parts(srv.urls[n]);
      assert.notEqual(again.session, first.session, 'a new SockJS session');
      assert.equal(again.server, 'nsock99', "the resume's first request names the node");
      assert.equal(again.query, '?p=1&resume=1');
      assert.ok(srv.hellos[1].resume, 'the hello resumes');
      assert.equal(srv.hellos[1].server, 'nsock99');
    } finally {
      c.close();
      srv.stop();
    }
  });
}

/**
 * nodes is a fake server's transport plan: each hello gets a welcome from next(hello, i),
 * merged over a welcome that resumes whenever the hello asks to.
 */
function nodes(next) {
  let i = 0;
  return (f) => {
    f.onMsg = (v) => {
      if (v.t !== 'hello') return;
      const w = next(v, i++);
      setTimeout(() => f.server({ t: 'welcome', sid: 'S', token: 't' + i, ping: 25000, pong: 20000, max: 65536, resumed: !!v.resume, r: 0, ...w }));
    };
    f.h.open();
  };
}

test('the client names the last welcome node when it resumes, and none for a new session', async () => {
  const welcomes = [
    { node: 'nalpha1' }, // a fresh start: the hello names no node
    { node: 'nbeta22' }, // resumed: the session moved to another node
    { node: 'ngamma3', resumed: false, sid: 'S2' }, // resume failed: a new session, on ngamma3
    { resumed: false, sid: 'S3' }, // resume failed: a new session, the welcome names no node
    { sid: 'S3' },
  ];
  const { c, attempts, cur } = world({ websocket: [nodes((h, i) => welcomes[i])] });
  const opts = () => attempts.map((f) => [f.opts.resume, f.opts.node]);
  await until(() => c.state === 'connected');
  for (let i = 1; i < welcomes.length; i++) {
    cur().drop(1006, 'cut');
    await until(() => attempts.length === i + 1 && c.state === 'connected');
  }
  assert.deepEqual(opts(), [
    [false, undefined],
    [true, 'nalpha1'],
    [true, 'nbeta22'],
    [true, 'ngamma3'], // the new session's own node, not the lost one's
    [true, undefined], // a welcome without node cleared it
  ]);
  assert.deepEqual(
    attempts.map((f) => !!f.sent.find((m) => m.t === 'hello').resume),
    [false, true, true, true, true],
  );
});

test('a session the server ended: the next, new session names no node', async () => {
  let n = 0;
  const { c, attempts, cur } = world({ 'xhr-polling': [nodes(() => ({ node: 'nend' + ++n + 'x', resumed: false, sid: 'S' + n }))] }, { transports: ['xhr-polling'] });
  await until(() => c.state === 'connected');
  cur().server({ t: 'close', code: 4003, reason: 'credentials expired' });
  cur().drop(4003, 'credentials expired');
  await until(() => attempts.length === 2 && c.state === 'connected');
  cur().drop(1006, 'cut');
  await until(() => attempts.length === 3 && c.state === 'connected');
  assert.deepEqual(
    attempts.map((f) => [f.opts.resume, f.opts.node]),
    [
      [false, undefined],
      [false, undefined], // after 4003 a new session: no node, though the last welcome named one
      [true, 'nend2x'],
    ],
  );
});

test('a client started afresh names no node, whatever an earlier client learned', async () => {
  const a = world({ websocket: [nodes(() => ({ node: 'nkeep1' }))] });
  await until(() => a.c.state === 'connected');
  a.c.close();
  const b = world({ websocket: [nodes(() => ({ node: 'nkeep1' }))] });
  await until(() => b.c.state === 'connected');
  assert.deepEqual([b.attempts[0].opts.resume, b.attempts[0].opts.node], [false, undefined]);
});

/**
 * FakeXHR stands in for XMLHttpRequest (browsers without a streaming fetch): it answers
 * with status, headers and chunks, going through readyState 2 (headers), 3 and 4 as a
 * browser does.
 */
class FakeXHR {
  static answer = { status: 200, headers: {}, chunks: [] };
  open(method, url) {
    this.url = url;
    this.readyState = 1;
    this.status = 0;
    this.responseText = '';
  }
  setRequestHeader() {}
  getResponseHeader(name) {
    if (this.readyState < 2) return null;
    const k = Object.keys(FakeXHR.answer.headers).find((h) => h.toLowerCase() === name.toLowerCase());
    return k === undefined ? null : FakeXHR.answer.headers[k];
  }
  send() {
    const a = FakeXHR.answer;
    const step = (f) => new Promise((r) => setTimeout(() => (f(), r())));
    (async () => {
      await step(() => ((this.readyState = 2), (this.status = a.status), this.onreadystatechange && this.onreadystatechange()));
      for (const c of a.chunks) await step(() => ((this.readyState = 3), (this.responseText += c), this.onreadystatechange && this.onreadystatechange(), this.onprogress && this.onprogress()));
      await step(() => ((this.readyState = 4), this.onreadystatechange && this.onreadystatechange(), this.onload()));
    })();
  }
  abort() {}
}

test('post: the headers are read once, as soon as they are in, with fetch and with XHR', async () => {
  const realFetch = globalThis.fetch;
  const realXHR = globalThis.XMLHttpRequest;
  const run = (stream) =>
    new Promise((res) => {
      const ev = [];
      post('http://x/rt/sockjs/517/abcdefghijkl/xhr_streaming', null, false, stream, (c) => ev.push('text ' + c), (s) => res([...ev, 'end ' + s]), {}, (get) => ev.push('head ' + get(NODE_HEADER)));
    });
  try {
    globalThis.fetch = async () => new Response('hh\no\n', { status: 200, headers: { [NODE_HEADER]: 'nfetch1' } });
    assert.deepEqual(await run(true), ['head nfetch1', 'text hh\no\n', 'end 200']);
    globalThis.fetch = async () => new Response('busy', { status: 429, headers: { [NODE_HEADER]: 'nfetch2' } });
    assert.deepEqual(await run(false), ['head nfetch2', 'end 429']);
    globalThis.fetch = undefined;
    globalThis.XMLHttpRequest = FakeXHR;
    FakeXHR.answer = { status: 200, headers: { 'x-sockhop-node': 'nxhr123' }, chunks: ['hh\n', 'o\n'] };
    assert.deepEqual(await run(true), ['head nxhr123', 'text hh\n', 'text o\n', 'end 200']);
    assert.deepEqual(await run(false), ['head nxhr123', 'text hh\no\n', 'end 200']);
    FakeXHR.answer = { status: 404, headers: {}, chunks: ['gone'] };
    assert.deepEqual(await run(false), ['head null', 'end 404']);
  } finally {
    globalThis.fetch = realFetch;
    globalThis.XMLHttpRequest = realXHR;
  }
});
