// The page's lifecycle (PROTOCOL.md §5, "Going away"; README "Reload and tab close"). A page
// that unloads (closed, navigated away, reloaded: pagehide cannot tell them apart) closes its
// connection with 1001 "going away", so the server keeps the session only a short grace
// (GoingAwayGrace, 1 s) instead of the full resume window: a closed tab leaves rooms and
// member lists within about a second. With the option keepSession, the resume credential
// (session id, token, node, counts, unacknowledged messages) is saved in sessionStorage at
// pagehide, per tab and never in a URL, and the next page load in the same tab (a reload)
// resumes the session within that grace. The saved credential is read once and removed at
// once, so a tab duplicated later never resumes another tab's session. The client's
// subscriptions and positions (subs.ts) are saved beside it, so that the next page load
// subscribes again from them and catches up on what its durable rooms got meanwhile.

import type { Position } from './api';
import { isPos } from './subs';

/** Saved is what a page that unloads leaves for the next page load in its tab. */
export interface Saved {
  sid: string;
  token: string;
  node?: string;
  rx: number; // counted messages received
  from: number; // the number of msgs[0] (Held)
  msgs: string[]; // counted messages sent and not acknowledged
  u: number; // expiry (ms since the epoch)
}

const PREFIX = 'sockhop.session:';
/** SAVE_MS is how long a saved credential is worth trying; the server's grace is shorter anyway. */
const SAVE_MS = 60 * 1000;
/** SAVE_MAX is the most bytes of unacknowledged messages saved; past it nothing is saved. */
const SAVE_MAX = 256 * 1024;

function store(): Storage | null {
  try {
    return (globalThis as any).sessionStorage || null;
  } catch {
    return null;
  }
}

/** save leaves s for the next page load of this tab; false when it cannot. */
export function save(key: string, s: Omit<Saved, 'u'>, now = Date.now()): boolean {
  let n = 0;
  for (const m of s.msgs) n += m.length;
  if (n > SAVE_MAX) return false;
  try {
    const st = store();
    if (!st) return false;
    st.setItem(PREFIX + key, JSON.stringify({ ...s, u: now + SAVE_MS }));
    return true;
  } catch {
    return false;
  }
}

/** take returns what the last page of this tab saved for key, and removes it. */
export function take(key: string, now = Date.now()): Saved | null {
  try {
    const st = store();
    if (!st) return null;
    const v = JSON.parse(st.getItem(PREFIX + key) || 'null');
    st.removeItem(PREFIX + key);
    if (
      v &&
      v.u > now &&
      typeof v.sid == 'string' &&
      typeof v.token == 'string' &&
      Number.isInteger(v.rx) &&
      v.rx >= 0 &&
      Number.isInteger(v.from) &&
      v.from >= 1 &&
      Array.isArray(v.msgs) &&
      v.msgs.every((m: unknown) => typeof m == 'string')
    )
      return v;
  } catch {
    // unreadable: as if absent
  }
  return null;
}

const SUBS = 'sockhop.subs:';

/**
 * saveSubs leaves the client's subscriptions (room -> position of the last durable message
 * taken, null for none) for the next page load of this tab: unlike the session credential
 * they do not expire, since a durable room's history may reach back further than a
 * session's grace (the server says `recovered: false` when it does not).
 */
export function saveSubs(key: string, rooms: Record<string, Position | null>): void {
  try {
    const st = store();
    if (!st) return;
    if (Object.keys(rooms).length) st.setItem(SUBS + key, JSON.stringify(rooms));
    else st.removeItem(SUBS + key);
  } catch {
    // quota or disabled storage
  }
}

/** takeSubs returns the subscriptions the last page of this tab saved for key, and removes them. */
export function takeSubs(key: string): Record<string, Position | null> {
  const r: Record<string, Position | null> = {};
  try {
    const st = store();
    if (!st) return r;
    const v = JSON.parse(st.getItem(SUBS + key) || 'null');
    st.removeItem(SUBS + key);
    if (v && typeof v == 'object') for (const k in v) if (v[k] === null || isPos(v[k])) r[k] = v[k];
  } catch {
    // unreadable: as if absent
  }
  return r;
}

/**
 * watch calls hide on pagehide and show when a page comes back from the back/forward cache
 * (pageshow with persisted); it returns the function that stops watching.
 */
export function watch(hide: () => void, show: () => void): () => void {
  const w: any = typeof window != 'undefined' ? window : null;
  if (!w || !w.addEventListener) return () => {};
  const onHide = () => hide();
  const onShow = (e: any) => e && e.persisted && show();
  w.addEventListener('pagehide', onHide);
  w.addEventListener('pageshow', onShow);
  return () => {
    w.removeEventListener('pagehide', onHide);
    w.removeEventListener('pageshow', onShow);
  };
}
