// Client subscriptions (PROTOCOL.md §9): the rooms this client asked for, with the position
// of the last durable message taken in each. The client subscribes again from that position
// after every new session (client.ts resub), and drops a durable message it has already
// taken (a live message that raced the catch-up, or one sent again).
import type { Position, SubscribeResult } from './api';

/** Sub is one subscribed room. */
export interface Sub {
  pos: Position | null; // the last position taken, null before the first durable message
  ep: number; // the session (Client.epoch) its $sub went out in; -1: still to send
  gen: number; // counts its $sub requests: the reply to an older one is ignored
  waits: [(r: SubscribeResult) => void, (e: unknown) => void][]; // subscribe() calls waiting
  // While a $sub is answered: the position it asked from, and the positions taken since. The
  // catch-up and live messages that raced it may come in any order (PROTOCOL.md §9).
  base?: Position | null;
  seen?: Set<string> | null;
}

/** isPos reports whether p is a position as the wire carries it ({"e","o"}). */
export const isPos = (p: any): p is Position => !!p && typeof p.e == 'string' && typeof p.o == 'number' && p.o >= 0;

/** Subs are the subscribed rooms, by name. */
export class Subs extends Map<string, Sub> {
  /** add returns room's entry, making it (with position pos) when there is none. */
  add(room: string, pos: Position | null = null, ep = -1): Sub {
    let s = this.get(room);
    if (!s) this.set(room, (s = { pos, ep, gen: 0, waits: [] }));
    return s;
  }

  /**
   * fresh applies the client rule to a durable message of room at p: another epoch than the
   * last position's, or a later offset in the same epoch, is taken (the position moves to
   * p); an offset at or before the last one is a duplicate (false). While a $sub is answered
   * the catch-up may interleave with live messages: then a message is a duplicate when it is
   * at or before the position the $sub asked from, or was taken already. Rooms not
   * subscribed by the client take everything.
   */
  fresh(room: string, p: unknown): boolean {
    const s = this.get(room);
    if (!s || !isPos(p)) return true;
    const c = s.pos;
    const k = p.e + ' ' + p.o;
    if (s.seen) {
      // A catch-up: duplicates by the position asked from and by what was taken meanwhile.
      if ((s.base && s.base.e === p.e && p.o <= s.base.o) || s.seen.has(k)) return false;
      s.seen.add(k);
    } else if (c && c.e === p.e && p.o <= c.o) return false;
    if (!c || c.e !== p.e || p.o > c.o) s.pos = { e: p.e, o: p.o };
    return true;
  }

  /** positions returns each room with its position (null: none yet), for saving. */
  positions(): Record<string, Position | null> {
    const r: Record<string, Position | null> = {};
    this.forEach((s, room) => (r[room] = s.pos));
    return r;
  }
}
