// Reconnect delays: exponential backoff with full jitter.

/**
 * backoff returns the delay before reconnect attempt n (1, 2, …): a uniformly random value in
 * [0, min(max, min·2^(n-1))) ms ("full jitter"), so that clients dropped together by one
 * server restart do not come back together.
 */
export function backoff(n: number, min: number, max: number, rand: () => number = Math.random): number {
  const cap = Math.min(max, min * Math.pow(2, Math.max(0, Math.min(n - 1, 30))));
  return Math.floor(rand() * cap);
}
