// Replays the protocol transcripts (PROTOCOL.md §8, testdata/protocol/*.txt, shared with the
// Go tests) against the client: `>` lines are produced through the client's API and must
// match what it sends; `<` lines are delivered to it and must have their effect (a resolved
// or rejected emitWithAck, an event, a reply to a server request, a state change).
// Transcripts that need a client the API cannot produce (malformed frames, other versions,
// client pings) test the server only and are counted as such.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { world, until, tick } from './fake.mjs';
import { isTerminal } from './.build/internal.mjs';

const dir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'testdata', 'protocol');

// Transcripts of the client's own, in the same format, so the replayer always has work.
const builtin = {
  'builtin-echo': `# PROTOCOL.md §8
> {"t":"hello","v":1}
< {"t":"welcome","sid":"*","token":"*","ping":25000,"pong":20000,"max":65536,"resumed":false}
> {"t":"ev","n":"echo","d":"x","id":1}
< {"t":"ack","id":1,"d":"x"}`,
  'builtin-errors-and-requests': `> {"t":"hello","v":1}
< {"t":"welcome","sid":"*","token":"*","ping":25000,"pong":20000,"max":65536,"resumed":false}
> {"t":"ev","n":"nosuch","d":{"a":[1,2]},"id":1}
< {"t":"ack","id":1,"e":{"code":"unknown_event","message":"*"}}
> {"t":"ev","n":"chat","d":{"text":"hi"}}
< {"t":"ev","n":"chat","d":{"text":"hi"}}
< {"t":"ev","n":"ask","d":21,"id":9}
> {"t":"ack","id":9,"d":42}
< {"t":"ev","n":"ask","d":0,"id":10}
> {"t":"ack","id":10,"e":{"code":"zero","message":"no zero"}}
< {"t":"ping"}
> {"t":"pong"}
> {"t":"close","code":1000}`,
  'builtin-rejected': `> {"t":"hello","v":1}
< {"t":"close","code":4503,"reason":"rejected","e":{"code":"banned","message":"go away"}}
<close 4503`,
  'builtin-going-away': `> {"t":"hello","v":1}
< {"t":"welcome","sid":"s","token":"t","ping":25000,"pong":20000,"max":65536,"resumed":false}
< {"t":"close","code":1001,"reason":"shutdown","retry":100}
<close 1001`,
};

/** parse turns a transcript into items: {dir: '>' | '<' | 'close', msg?, raw?, code?}. */
export function parse(text) {
  const items = [];
  for (const line of text.split('\n')) {
    const l = line.trim();
    if (!l || l.startsWith('#') || l === '----') continue;
    let m;
    if ((m = /^<close\s+(\d+)/.exec(l))) items.push({ dir: 'close', code: +m[1] });
    else if (l[0] === '>' || l[0] === '<') items.push({ dir: l[0], raw: l.slice(1).trim() });
    else throw new Error('bad transcript line: ' + l);
  }
  return items;
}

/** like is the transcript's matching rule: every named field equal, "*" matching anything. */
function like(want, got) {
  if (want === '*') return true;
  if (Array.isArray(want)) return Array.isArray(got) && want.length === got.length && want.every((w, i) => like(w, got[i]));
  if (want && typeof want === 'object') return !!got && typeof got === 'object' && Object.keys(want).every((k) => like(want[k], got[k]));
  return want === got;
}
const star = (v) => (v === '*' ? 'x' : Array.isArray(v) ? v.map(star) : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, star(x)])) : v);

class ServerOnly extends Error {}

async function replay(name, text) {
  const items = parse(text);
  const json = (it) => {
    try {
      return JSON.parse(it.raw);
    } catch {
      throw new ServerOnly('not JSON');
    }
  };
  // Client-side checks need lines the API can produce.
  for (const it of items) {
    if (it.dir !== '>') continue;
    const m = json(it);
    if (m.t === 'hello' && (m.v !== 1 || m.resume)) throw new ServerOnly('hello the client does not send');
    if (!['hello', 'ev', 'ack', 'pong', 'close'].includes(m.t)) throw new ServerOnly('client message ' + m.t);
    if (m.t === 'close' && m.code !== 1000) throw new ServerOnly('client close ' + m.code);
    if (m.t === 'ev' && typeof m.n !== 'string') throw new ServerOnly('malformed ev');
  }
  let f;
  const w = world({ websocket: [(fake) => ((f = fake), fake.h.open())] }, { transports: ['websocket'], reconnect: true, backoffMin: 100000 });
  await until(() => f && f.sent.length >= 1);
  const acks = new Map(); // transcript id -> {state, value}
  const got = new Map(); // event name -> data received
  const replies = new Map(); // event name -> the ack the transcript expects for the current request
  const sentAfter = (n) => f.sent.slice(n);
  let seen = 0; // client messages already matched
  const nextSent = async () => {
    await tick();
    const m = sentAfter(seen)[0];
    assert.ok(m, `${name}: the client sent nothing`);
    seen++;
    return m;
  };
  try {
    for (let i = 0; i < items.length; i++) {
      const it = items[i];
      if (it.dir === '>') {
        const m = json(it);
        if (m.t === 'hello') {
          assert.ok(like(m, await nextSent()), `${name}: hello`);
        } else if (m.t === 'ev') {
          if (m.id != null) {
            const st = { state: 'pending' };
            acks.set(m.id, st);
            w.c.emitWithAck(m.n, m.d).then((v) => Object.assign(st, { state: 'ok', value: v }), (e) => Object.assign(st, { state: 'err', value: e }));
          } else w.c.emit(m.n, m.d);
          const s = await nextSent();
          const { id, ...want } = m;
          assert.ok(like(want, s) && (id == null) === (s.id == null), `${name}: ${it.raw} vs ${JSON.stringify(s)}`);
          if (id != null) acks.get(id).sent = s.id;
        } else if (m.t === 'close') {
          w.c.close();
          assert.deepEqual(f.last, [{ t: 'close', code: 1000 }], `${name}: close`);
        } else {
          // ack or pong: produced by the client in answer to the server (below).
          assert.ok(like(m, await nextSent()), `${name}: ${it.raw}`);
        }
      } else if (it.dir === '<') {
        const m = star(JSON.parse(it.raw));
        if (m.t === 'ack' && acks.has(m.id)) m.id = acks.get(m.id).sent;
        if (m.t === 'ev') {
          // A server request is answered with the reply the transcript expects next.
          replies.set(m.n, m.id == null ? null : items.slice(i + 1).map((x) => (x.dir === '>' ? JSON.parse(x.raw) : null)).find((x) => x && x.t === 'ack' && x.id === m.id));
          if (!got.has(m.n)) {
            got.set(m.n, []);
            w.c.on(m.n, (d) => {
              got.get(m.n).push(d);
              const reply = replies.get(m.n);
              if (reply && reply.e) throw Object.assign(new Error(reply.e.message), { code: reply.e.code });
              return reply ? reply.d : undefined;
            });
          }
        }
        f.server(m);
        await tick();
        if (m.t === 'welcome') assert.equal(w.c.state, 'connected', `${name}: welcome`);
        if (m.t === 'ev' && m.id == null) assert.deepEqual(got.get(m.n).at(-1), m.d === undefined ? null : m.d, `${name}: event ${m.n}`);
        if (m.t === 'ack') {
          const st = [...acks.values()].find((a) => a.sent === m.id);
          assert.ok(st, `${name}: ack for no request`);
          if (m.e) assert.ok(st.state === 'err' && st.value.code === m.e.code, `${name}: ${it.raw} -> ${st.state}`);
          else assert.ok(st.state === 'ok' && like(m.d === undefined ? null : m.d, st.value), `${name}: ${it.raw} -> ${st.state}`);
        }
      } else {
        f.drop(it.code, 'transcript');
        assert.equal(w.c.state, isTerminal(it.code) ? 'closed' : 'disconnected', `${name}: after close ${it.code}`);
      }
    }
  } finally {
    w.c.close();
  }
}

test('transcripts replay against the client', async () => {
  const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.txt')).sort() : [];
  const all = [...Object.entries(builtin), ...files.map((f) => [f, readFileSync(join(dir, f), 'utf8')])];
  const done = [];
  const serverOnly = [];
  for (const [name, text] of all) {
    try {
      await replay(name, text);
      done.push(name);
    } catch (e) {
      if (!(e instanceof ServerOnly)) throw e;
      serverOnly.push(`${name} (${e.message})`);
    }
  }
  console.log(`# transcripts: replayed ${done.length} (${done.join(', ')}); server-only ${serverOnly.length}${serverOnly.length ? ': ' + serverOnly.join(', ') : ''}`);
  assert.ok(done.length >= Object.keys(builtin).length);
});

test('transcript parser and matcher', () => {
  assert.deepEqual(parse('# c\n> {"t":"hello","v":1}\n\n< {"t":"welcome"}\n<close 4001\n'), [
    { dir: '>', raw: '{"t":"hello","v":1}' },
    { dir: '<', raw: '{"t":"welcome"}' },
    { dir: 'close', code: 4001 },
  ]);
  assert.ok(like({ t: 'ack', id: 1, d: '*' }, { t: 'ack', id: 1, d: { x: 1 }, extra: 2 }));
  assert.ok(!like({ t: 'ack', d: [1] }, { t: 'ack', d: [1, 2] }));
  assert.ok(!like({ t: 'ack', e: { code: 'x' } }, { t: 'ack' }));
});
