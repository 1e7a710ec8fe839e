import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Queue } from './.build/internal.mjs';

test('queue bounds by count', () => {
  const q = new Queue(3, 1 << 20);
  assert.ok(q.push('a', 1) && q.push('b', 1) && q.push('c', 1));
  assert.equal(q.push('d', 1), false);
  assert.deepEqual(q.drain(), ['a', 'b', 'c']);
  assert.equal(q.length, 0);
  assert.ok(q.push('e', 1));
});

test('queue bounds by bytes', () => {
  const q = new Queue(100, 10);
  assert.ok(q.push('x', 6));
  assert.equal(q.push('y', 5), false);
  assert.ok(q.push('z', 4));
  assert.equal(q.bytes, 10);
  assert.deepEqual(q.drain(), ['x', 'z']);
  assert.equal(q.bytes, 0);
});

test('queue removes a timed-out ack and puts unsent messages back in front', () => {
  const q = new Queue(10, 100);
  q.push('a', 1);
  q.push('b', 2, 7);
  q.push('c', 3);
  q.remove(7);
  q.remove(99);
  assert.equal(q.bytes, 4);
  q.unshift(['y', 'z'], () => 1);
  assert.deepEqual(q.drain(), ['y', 'z', 'a', 'c']);
});
