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
> {"t":"close","code":1000}`,
  'builtin-rejected': `> {"t":"hello","v":1}
< {"t":"close","code":4503,"reason":"rejected","e":{"code":"banned","message":"go away"}}
<close 4503`,
  'builtin-going-away': `> {"t":"hello","v":1}
< {"t":"welcome","sid":"s","token":"t","ping":25000,"pong":20000,"max":65536,"resumed":false}
< {"t":"close","code":1001,"reason":"shutdown","retry":100}
<close 1001`,
};

/** parse turns a transcript into items: {dir: '>' | '<' | 'close', raw?, code?}; `>+` lines are client messages too. */
export function parse(text) {
  const items = [];
  for (const line of text.split('\n')) {
    const l = line.trim();
    if (!l || l.startsWith('#') || l === '----') continue;
    let m;
    if ((m = /^<close\s+(\d+)/.exec(l))) items.push({ dir: 'close', code: +m[1] });
    else if (l.startsWith('>+')) items.push({ dir: '>', raw: l.slice(2).trim() });
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
const tryJSON = (raw) => {
  try {
    return JSON.parse(raw);
  } catch {
    return undefined;
  }
};

class ServerOnly extends Error {}

/**
 * replay runs one transcript. The client's API produces the `>` messages it can (events,
 * requests, replies to server requests, close); lines it cannot produce (malformed frames,
 * pings, acks for nothing) are the server's business and skipped. What the client sent
 * must match the producible lines in order; each `<` message is delivered and its effect
 * checked. Returns the number of lines skipped.
 */
async function replay(name, text) {
  const items = parse(text);
  const first = items.find((x) => x.dir === '>');
  const h = first && tryJSON(first.raw);
  if (!h || h.t !== 'hello' || h.v !== 1 || h.resume) throw new ServerOnly('starts without the hello this client sends');
  let f;
  const w = world({ websocket: [(fake) => ((f = fake), fake.h.open())] }, { transports: ['websocket'], backoffMin: 100000 });
  await until(() => f && f.sent.length >= 1);
  const expected = []; // what the client must have sent, in order
  const acks = new Map(); // client ack id -> {state, value}
  const idOf = new Map(); // transcript request id -> client ack id (the n-th request gets n)
  const asked = new Set(); // ids of server requests seen
  const got = new Map(); // event name -> data received
  const replies = new Map(); // event name -> the ack the transcript expects for the current request
  let skipped = 0;
  try {
    for (let i = 0; i < items.length; i++) {
      const it = items[i];
      if (it.dir === '>') {
        const m = tryJSON(it.raw);
        if (m && m.t === 'hello' && it === first) {
          expected.push(m);
        } else if (m && m.t === 'ev' && typeof m.n === 'string') {
          if (m.id != null) {
            const st = { state: 'pending' };
            idOf.set(m.id, idOf.size + 1);
            acks.set(idOf.size, st);
            w.c.emitWithAck(m.n, m.d).then((v) => Object.assign(st, { state: 'ok', value: v }), (e) => Object.assign(st, { state: 'err', value: e }));
            expected.push({ ...m, id: idOf.size });
          } else {
            w.c.emit(m.n, m.d);
            expected.push(m);
          }
        } else if (m && m.t === 'ack' && asked.has(m.id)) {
          expected.push(m); // the page's handler answers (set up below)
        } else if (m && m.t === 'close' && m.code === 1000) {
          w.c.close();
          assert.deepEqual(f.last, [{ t: 'close', code: 1000 }], `${name}: close`);
        } else skipped++;
        await tick();
      } else if (it.dir === '<') {
        const m = star(JSON.parse(it.raw));
        if (m.t === 'ack' && idOf.has(m.id)) m.id = idOf.get(m.id);
        if (m.t === 'ev') {
          if (m.id != null) asked.add(m.id);
          const reply = m.id == null ? null : items.slice(i + 1).map((x) => (x.dir === '>' ? tryJSON(x.raw) : null)).find((x) => x && x.t === 'ack' && x.id === m.id);
          replies.set(m.n, reply);
          if (!got.has(m.n)) {
            got.set(m.n, []);
            w.c.on(m.n, (d) => {
              got.get(m.n).push(d);
              const r = replies.get(m.n);
              if (r && r.e) throw Object.assign(new Error(r.e.message), { code: r.e.code });
              return r ? r.d : undefined;
            });
          }
        }
        f.server(m);
        await tick();
        if (m.t === 'welcome') assert.equal(w.c.state, 'connected', `${name}: welcome`);
        if (m.t === 'ev' && m.id == null) assert.deepEqual(got.get(m.n).at(-1), m.d === undefined ? null : m.d, `${name}: event ${m.n}`);
        if (m.t === 'ack') {
          const st = acks.get(m.id);
          assert.ok(st, `${name}: ${it.raw} answers no request`);
          if (m.e) assert.ok(st.state === 'err' && st.value.code === m.e.code, `${name}: ${it.raw} -> ${st.state}`);
          else assert.ok(st.state === 'ok' && like(m.d === undefined ? null : m.d, st.value), `${name}: ${it.raw} -> ${st.state}`);
        }
      } else {
        f.drop(it.code, 'transcript');
        assert.equal(w.c.state, isTerminal(it.code) ? 'closed' : 'disconnected', `${name}: after close ${it.code}`);
      }
    }
    await tick();
    const sent = f.sent.filter((m) => m.t !== 'pong');
    assert.equal(sent.length, expected.length, `${name}: sent ${JSON.stringify(sent)}, want ${JSON.stringify(expected)}`);
    expected.forEach((want, k) => assert.ok(like(want, sent[k]) && (want.id == null) === (sent[k].id == null), `${name}: sent ${JSON.stringify(sent[k])}, want ${JSON.stringify(want)}`));
  } finally {
    w.c.close();
  }
  return skipped;
}

test('transcripts replay against the client', async () => {
  const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.txt')).sort() : [];
  const all = [...Object.entries(builtin), ...files.map((f) => [f, readFileSync(join(dir, f), 'utf8')])];
  const done = [];
  const serverOnly = [];
  for (const [name, text] of all) {
    try {
      const skipped = await replay(name, text);
      done.push(skipped ? `${name} (${skipped} server-only lines)` : name);
    } catch (e) {
      if (!(e instanceof ServerOnly)) throw e;
      serverOnly.push(`${name} (${e.message})`);
    }
  }
  console.log(`# transcripts: replayed ${done.length} (${done.join(', ')}); server-only ${serverOnly.length}${serverOnly.length ? ': ' + serverOnly.join(', ') : ''}`);
  assert.ok(done.length >= Object.keys(builtin).length);
});

test('transcript parser and matcher', () => {
  assert.deepEqual(parse('# c\n> {"t":"hello","v":1}\n>+ {"t":"ev"}\n\n< {"t":"welcome"}\n<close 4001\n'), [
    { dir: '>', raw: '{"t":"hello","v":1}' },
    { dir: '>', raw: '{"t":"ev"}' },
    { dir: '<', raw: '{"t":"welcome"}' },
    { dir: 'close', code: 4001 },
  ]);
  assert.ok(like({ t: 'ack', id: 1, d: '*' }, { t: 'ack', id: 1, d: { x: 1 }, extra: 2 }));
  assert.ok(!like({ t: 'ack', d: [1] }, { t: 'ack', d: [1, 2] }));
  assert.ok(!like({ t: 'ack', e: { code: 'x' } }, { t: 'ack' }));
});
