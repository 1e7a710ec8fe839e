// The transport ladder's timing (happy eyeballs, as RFC 8305 does for IPv6/IPv4): how long
// a transport may be late before the next one is started beside it, how long a pong may
// take before a stream counts as stalled, and when a session on a fallback probes a better
// transport again. All from the measured round trip (rtt.ts); pure functions.
import type { TransportName } from './api';

/** LATE_MIN is the least time a transport gets before the next one starts beside it (ms). */
export const LATE_MIN = 300;

/**
 * lateAfter is how long the transport being tried may go without a welcome before the next
 * one is started in parallel: 250 ms + 3 round trips (a WebSocket needs about two for TCP
 * and the upgrade, then one for hello → welcome), at least LATE_MIN, at most max (the
 * openTimeout option). With no measured round trip yet, max.
 */
export function lateAfter(rtt: number | null, max: number): number {
  if (rtt == null) return max;
  return Math.round(Math.min(max, Math.max(LATE_MIN, 250 + 3 * rtt)));
}

/**
 * stallAfter is how long a pong the client asked for may take before the stream counts as
 * stalled: 500 ms + 4 round trips, at least 1 s, at most 5 s (and at most half the
 * heartbeat, hb, when there is one).
 */
export function stallAfter(rtt: number | null, hb: number): number {
  let v = rtt == null ? 3000 : Math.max(1000, Math.min(5000, 500 + 4 * rtt));
  if (hb > 0) v = Math.min(v, hb / 2);
  return Math.round(v);
}

/**
 * quietAfter is how long nothing may arrive on an open transport before the client asks
 * for a pong to check it still delivers: the server's ping interval (ping, of the welcome
 * or as learned) and a quarter of it more, at most 1 s, when a ping of the server is
 * overdue. A healthy idle session so costs no pings of the client's, and a stalled stream
 * is noticed within quietAfter + stallAfter, well inside the heartbeat (ping + pong).
 * 10 s when no interval is known.
 */
export function quietAfter(ping: number): number {
  if (!(ping > 0)) return 10000;
  return Math.round(ping + Math.min(1000, ping / 4));
}

/** UPGRADE_MAX is the longest wait between two upgrade probes (ms). */
export const UPGRADE_MAX = 5 * 60 * 1000;

/** PROBE_TRIES is how many failed probes mark a transport blocked for a while. */
export const PROBE_TRIES = 3;

/**
 * upgradeDelay is the wait before upgrade probe n (1, 2, …) of a session on a fallback:
 * first·2^(n−1), at most UPGRADE_MAX, jittered to between 0.5× and 1.5× of it so that the
 * pages of one office do not probe together.
 */
export function upgradeDelay(n: number, first: number, rand: () => number = Math.random): number {
  const d = Math.min(UPGRADE_MAX, first * Math.pow(2, Math.max(0, Math.min(n - 1, 20))));
  return Math.round(d * (0.5 + rand()));
}

/** above returns the transports of list better than (before) cur, best first. */
export function above(list: TransportName[], cur: TransportName): TransportName[] {
  const i = list.indexOf(cur);
  return i < 0 ? [] : list.slice(0, i);
}

/** below returns the transport of list after cur, or null when cur is the last. */
export function below(list: TransportName[], cur: TransportName): TransportName | null {
  const i = list.indexOf(cur);
  return i >= 0 && i + 1 < list.length ? list[i + 1] : null;
}
