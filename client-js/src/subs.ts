// Client subscriptions (PROTOCOL.md §9): the rooms this client asked for, with the position
// of the durable messages taken in each. The client subscribes again from that position
// after every new session (client.ts resub), and drops a durable message it has already
// taken (a live message that repeats a catch-up entry, one sent again).
//
// Durable messages of a room need not arrive in offset order: a node delivers its own
// broadcasts at once and another node's when the broker brings them, so a member may get
// offset 6 before 5. A room's position is therefore a watermark (every offset up to pos.o
// taken, or before the subscription) plus the offsets taken above it: a message is a
// duplicate when it is at or below the watermark or among those, and a catch-up from the
// watermark fills any hole that is left.
import type { Position, SubscribeResult } from './api';

/** ABOVE is the most offsets kept above the watermark; past it the lowest hole is given up. */
const ABOVE = 512;

/** Sub is one subscribed room. */
export interface Sub {
  pos: Position | null; // the watermark, null before the first durable message or ack
  above: Set<number>; // offsets of pos.e above pos.o taken
  ep: number; // the session (Client.epoch) its $sub went out in; -1: still to send
  gen: number; // counts its $sub requests: the reply to an older one is ignored
  waits: [(r: SubscribeResult) => void, (e: unknown) => void][]; // subscribe() calls waiting
}

/** isPos reports whether p is a position as the wire carries it ({"e","o"}). */
export const isPos = (p: any): p is Position => !!p && typeof p.e == 'string' && typeof p.o == 'number' && p.o >= 0;

/** raise moves s's watermark up to o (same epoch), then over the offsets taken next to it. */
function raise(s: Sub, o: number): void {
  const p = s.pos!;
  if (o > p.o) p.o = o;
  s.above.forEach((x) => x <= p.o && s.above.delete(x));
  while (s.above.delete(p.o + 1)) p.o++;
}

/** Subs are the subscribed rooms, by name. */
export class Subs extends Map<string, Sub> {
  /** add returns room's entry, making it (with position pos) when there is none. */
  add(room: string, pos: Position | null = null, ep = -1): Sub {
    let s = this.get(room);
    if (!s) this.set(room, (s = { pos, above: new Set(), ep, gen: 0, waits: [] }));
    return s;
  }

  /**
   * fresh applies the client rule to a durable message of room at p: one at or below the
   * watermark, or taken already, is a duplicate (false); any other is taken. A message of
   * another epoch (the history began again) starts the room's position over in it. Rooms
   * not subscribed by the client take everything.
   */
  fresh(room: string, p: unknown): boolean {
    const s = this.get(room);
    if (!s || !isPos(p)) return true;
    if (!s.pos || s.pos.e !== p.e) {
      s.pos = { e: p.e, o: 0 };
      s.above.clear();
    } else if (p.o <= s.pos.o || s.above.has(p.o)) return false;
    s.above.add(p.o);
    if (s.above.size > ABOVE) raise(s, Math.min(...s.above));
    raise(s, 0);
    return true;
  }

  /**
   * acked takes the position a $sub's ack gives (the room's latest when the catch-up was
   * read): everything up to it came with the catch-up or was before the subscription.
   */
  acked(room: string, p: Position): void {
    const s = this.get(room);
    if (!s) return;
    if (!s.pos || s.pos.e !== p.e) {
      s.pos = { e: p.e, o: p.o };
      s.above.clear();
    } else raise(s, p.o);
  }

  /** positions returns each room with its position (null: none yet), for saving. */
  positions(): Record<string, Position | null> {
    const r: Record<string, Position | null> = {};
    this.forEach((s, room) => (r[room] = s.pos && { e: s.pos.e, o: s.pos.o }));
    return r;
  }
}
