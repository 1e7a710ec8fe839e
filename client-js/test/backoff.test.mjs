import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backoff } from './.build/internal.mjs';

test('backoff caps grow exponentially to the maximum', () => {
  const top = () => 0.999999999;
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6, 7, 8, 50, 5000].map((n) => backoff(n, 500, 20000, top)),
    [499, 999, 1999, 3999, 7999, 15999, 19999, 19999, 19999, 19999],
  );
  assert.equal(backoff(3, 500, 20000, () => 0), 0);
});

test('backoff is full jitter: spread over the whole range', () => {
  const n = 4000;
  const v = Array.from({ length: n }, () => backoff(4, 500, 20000));
  assert.ok(v.every((x) => x >= 0 && x < 4000));
  const low = v.filter((x) => x < 1000).length / n;
  const high = v.filter((x) => x >= 3000).length / n;
  // Each quarter holds about 25 %.
  assert.ok(low > 0.18 && low < 0.32, `low ${low}`);
  assert.ok(high > 0.18 && high < 0.32, `high ${high}`);
});
