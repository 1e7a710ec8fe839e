// Remembers which transport worked for a server, so the next page load skips the ladder.
import type { TransportName } from './api';

const PREFIX = 'sockhop.transport:';

function store(): Storage | null {
  try {
    return (globalThis as any).localStorage || null;
  } catch {
    return null; // storage disabled
  }
}

/** recall returns the transport remembered for key, unless it expired. */
export function recall(key: string): TransportName | null {
  try {
    const v = JSON.parse(store()?.getItem(PREFIX + key) || 'null');
    if (v && typeof v.t == 'string' && v.u > Date.now()) return v.t;
  } catch {
    // unreadable: as if absent
  }
  return null;
}

/** remember stores t for key for ms milliseconds (0: do not). */
export function remember(key: string, t: TransportName, ms: number): void {
  try {
    if (ms > 0) store()?.setItem(PREFIX + key, JSON.stringify({ t, u: Date.now() + ms }));
  } catch {
    // quota or disabled storage
  }
}

/** forget drops what was remembered for key. */
export function forget(key: string): void {
  try {
    store()?.removeItem(PREFIX + key);
  } catch {
    // disabled storage
  }
}

const BLOCKED = 'sockhop.blocked:';

/** blocked reports whether transport t was found blocked for key, and that is still news. */
export function blocked(key: string, t: TransportName): boolean {
  try {
    const u = Number(store()?.getItem(BLOCKED + t + ':' + key));
    return u > Date.now();
  } catch {
    return false;
  }
}

/**
 * block remembers for ms milliseconds that transport t does not get through for key (the
 * background upgrade stops probing it), or forgets it with ms 0.
 */
export function block(key: string, t: TransportName, ms: number): void {
  try {
    if (ms > 0) store()?.setItem(BLOCKED + t + ':' + key, String(Date.now() + ms));
    else store()?.removeItem(BLOCKED + t + ':' + key);
  } catch {
    // quota or disabled storage
  }
}
