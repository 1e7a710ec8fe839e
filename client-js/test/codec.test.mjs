import { test } from 'node:test';
import assert from 'node:assert/strict';
import { split, pack, parseSockJS, Lines, utf8Len, escLen } from './.build/internal.mjs';

test('utf8Len counts like Buffer.byteLength', () => {
  for (const s of ['', 'abc', 'é', '€', '😀', 'a😀b€é\n"', '\ud800x', 'x\udc00']) {
    assert.equal(utf8Len(s), Buffer.byteLength(s, 'utf8'), JSON.stringify(s));
  }
});

test('split: one message a line, empty lines ignored, in order', () => {
  const cases = [
    ['{"t":"ping"}', ['ping']],
    ['{"t":"ev","n":"a"}\n{"t":"ev","n":"b"}', ['ev', 'ev']],
    ['\n{"t":"pong"}\n\n{"t":"ping"}\n', ['pong', 'ping']],
    ['', []],
  ];
  for (const [frame, types] of cases) assert.deepEqual(split(frame).map((m) => m.t), types, frame);
  assert.deepEqual(split('{"t":"ev","n":"x","d":"a\\nb"}')[0].d, 'a\nb');
});

test('split rejects what is not a message', () => {
  for (const bad of ['nope', '{"t":1}', '[1]', 'null', '{"t":"ev"}\n{']) assert.throws(() => split(bad), bad);
});

test('pack keeps order and the byte budget', () => {
  const msgs = Array.from({ length: 50 }, (_, i) => JSON.stringify({ t: 'ev', n: 'm', d: 'x'.repeat(i) }));
  for (const budget of [60, 100, 500, 5000]) {
    const frames = pack(msgs, budget);
    assert.deepEqual(frames.flat(), msgs);
    for (const f of frames) if (f.length > 1) assert.ok(utf8Len(f.join('\n')) <= budget, `budget ${budget}`);
  }
  assert.deepEqual(pack([], 10), []);
  // A message over the budget travels alone.
  assert.deepEqual(pack(['aaaa', 'bbbbbbbbbbbb', 'c'], 5), [['aaaa'], ['bbbbbbbbbbbb'], ['c']]);
});

test('pack with escaped sizes fits a SockJS xhr_send body', () => {
  const msgs = Array.from({ length: 200 }, (_, i) => JSON.stringify({ t: 'ev', n: 'chat', d: { text: 'é"\\' + i } }));
  const max = 1000;
  for (const f of pack(msgs, max - 4, escLen, 2)) {
    const body = JSON.stringify([f.join('\n')]);
    assert.ok(utf8Len(body) <= max, `${utf8Len(body)} > ${max}`);
    assert.deepEqual(split(JSON.parse(body)[0]).length, f.length);
  }
});

test('parseSockJS', () => {
  const cases = [
    ['o', ['o']],
    ['h', ['h']],
    ['h'.repeat(2048), ['h']],
    ['a["{\\"t\\":\\"ping\\"}"]', ['a', ['{"t":"ping"}']]],
    ['a[]', ['a', []]],
    ['c[2010,"Another connection still open"]', ['c', 2010, 'Another connection still open']],
    ['c[3000,"Go away!"]', ['c', 3000, 'Go away!']],
    ['a[broken', null],
    ['x', null],
    ['', null],
  ];
  for (const [line, want] of cases) assert.deepEqual(parseSockJS(line), want, line);
});

test('Lines joins chunks split anywhere', () => {
  const text = 'h'.repeat(2048) + '\no\na["x"]\nc[1000,"bye"]\n';
  for (const size of [1, 3, 7, 100, 5000]) {
    const l = new Lines();
    const got = [];
    for (let i = 0; i < text.length; i += size) got.push(...l.push(text.slice(i, i + size)));
    got.push(...l.end());
    assert.deepEqual(got, ['h'.repeat(2048), 'o', 'a["x"]', 'c[1000,"bye"]'], `chunk ${size}`);
  }
  const l = new Lines();
  assert.deepEqual(l.push('a[1]'), []);
  assert.deepEqual(l.end(), ['a[1]']);
});
