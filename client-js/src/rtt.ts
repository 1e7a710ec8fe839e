// Round-trip time: measured on the first request of a connection (GET <mount>/sockjs/info,
// as sockjs-client does) and refined by every hello→welcome and ping→pong, then used to
// scale the ladder's timeouts (ladder.ts) instead of waiting out a fixed open timeout.

/**
 * Rtt is a smoothed round-trip estimate (RFC 6298 style: srtt += (sample − srtt) / 8, the
 * first sample taken as is). null until the first sample.
 */
export class Rtt {
  ms: number | null = null;

  /** add takes one sample, in ms; a negative or non-finite one is ignored. */
  add(sample: number): void {
    if (!(sample >= 0) || !Number.isFinite(sample)) return;
    this.ms = this.ms == null ? sample : this.ms + (sample - this.ms) / 8;
  }
}

/**
 * measure times one GET of base + '/sockjs/info' (the SockJS info request: small, never
 * streamed, so buffering proxies pass it at once). It resolves with the ms it took, or null
 * when it failed, took over ms or there is no fetch.
 */
export function measure(base: string, cred: boolean, ms: number): Promise<number | null> {
  const g: any = globalThis;
  if (!g.fetch || !g.AbortController || !g.performance) return Promise.resolve(null);
  const ac = new AbortController();
  const t0 = g.performance.now();
  const timer = setTimeout(() => ac.abort(), ms);
  return g
    .fetch(base + '/sockjs/info', { cache: 'no-store', credentials: cred ? 'include' : 'same-origin', signal: ac.signal })
    .then((r: Response) => {
      const d = g.performance.now() - t0;
      // Any answer is a round trip (a 404 when the server has no SockJS says as much).
      r.body?.cancel().catch(() => {});
      return d;
    })
    .catch(() => null)
    .finally(() => clearTimeout(timer));
}
