// The SockJS session key (PROTOCOL.md §7): the client makes one per SockJS session, sends it
// in the X-Sockhop-Key header on every request of that session, xhr, xhr_streaming and
// xhr_send alike, and never in a URL.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { until, withFetch } from './fake.mjs';
import { sockjs, KEY_HEADER } from './.build/internal.mjs';

const handlers = (ev) => ({ open: () => ev.push('open'), frame: (f) => ev.push(f), alive() {}, close: (...a) => ev.push(a) });

for (const [name, path, stream] of [
  ['xhr-polling', 'xhr', false],
  ['xhr-streaming', 'xhr_streaming', true],
]) {
  test(`${name}: every request of a SockJS session carries its key, in a header only`, async () => {
    const keys = [];
    for (const round of [1, 2]) {
      let hang;
      await withFetch(
        (url, n) => {
          if (url.split('?')[0].endsWith('/xhr_send')) return null;
          if (n === 1) return 'o\n';
          if (n <= 4) return `a["{\\"t\\":\\"ev\\",\\"n\\":\\"x\\",\\"d\\":${n}}"]\n`;
          return new Promise((r) => (hang = r));
        },
        async (calls) => {
          const ev = [];
          const t = sockjs(name, path, stream, 'http://x/rt', handlers(ev), { withCredentials: false });
          await until(() => ev.length === 4);
          t.send(['{"t":"ev","n":"a"}']);
          await until(() => calls.filter((c) => c.url.includes('/xhr_send')).length === 1);
          t.send(['{"t":"ev","n":"b"}']);
          await until(() => calls.filter((c) => c.url.includes('/xhr_send')).length === 2);
          t.close();
          const kinds = new Set(calls.map((c) => c.url.split('?')[0].split('/').pop()));
          assert.deepEqual([...kinds].sort(), [path, 'xhr_send'].sort());
          const key = calls[0].headers[KEY_HEADER];
          assert.match(key, /^[A-Za-z0-9_-]{32}$/, 'a key of 192 bits');
          for (const c of calls) {
            assert.equal(c.headers[KEY_HEADER], key, `${c.url} carries the session's key`);
            assert.ok(!c.url.includes(key), `${c.url} has no key in it`);
          }
          keys.push(key);
        },
      );
      if (hang) hang('');
    }
    assert.notEqual(keys[0], keys[1], 'each SockJS session has a key of its own');
  });

  test(`${name}: a 403 once the session is open means another key has the id: resume`, async () => {
    await withFetch(
      (url, n) => {
        if (url.split('?')[0].endsWith('/xhr_send')) return null;
        return n === 1 ? 'o\n' : new Response('sockhop: this SockJS session has another X-Sockhop-Key', { status: 403 });
      },
      async () => {
        const ev = [];
        sockjs(name, path, stream, 'http://x/rt', handlers(ev), { withCredentials: false });
        await until(() => ev.length === 2);
        assert.deepEqual(ev, ['open', [1006, 'http 403', 'resume', undefined]]);
      },
    );
  });

  test(`${name}: a 403 before the session opened is the Origin: terminal`, async () => {
    await withFetch(
      () => new Response('sockhop: origin not allowed', { status: 403 }),
      async () => {
        const ev = [];
        sockjs(name, path, stream, 'http://x/rt', handlers(ev), { withCredentials: false });
        await until(() => ev.length === 1);
        assert.deepEqual(ev, [[1008, 'http 403', 'terminal', undefined]]);
      },
    );
  });
}
