// What this side sent in the session and the server has not acknowledged yet (PROTOCOL.md §6).
// Counted messages (ev, ack) are numbered implicitly from 1 per session and direction; they
// are kept here until the server's r (on its ping or pong, or a resumed welcome) covers them,
// and sent again after a resume.

/** Held is the sent, unacknowledged counted messages of one session, in order. */
export class Held {
  private msgs: string[] = [];
  private from = 1; // the number of msgs[0]

  /** restore returns what a page left (lifecycle.ts): messages numbered from on. */
  static restore(from: number, msgs: string[]): Held {
    const h = new Held();
    h.from = from;
    h.msgs = msgs.slice();
    return h;
  }

  /** first is the number of the oldest held message (sent+1 when none is held). */
  get first(): number {
    return this.from;
  }

  /** length is how many are held. */
  get length(): number {
    return this.msgs.length;
  }

  /** sent is the number of the last counted message sent in the session (0: none). */
  get sent(): number {
    return this.from + this.msgs.length - 1;
  }

  /** covers tells whether r can be the server's count: not below what it acknowledged, not above what was sent. */
  covers(r: number): boolean {
    return r >= this.from - 1 && r <= this.sent;
  }

  /** add holds messages just handed to the transport; they are numbered sent+1 on. */
  add(msgs: string[]): void {
    this.msgs.push(...msgs);
  }

  /** ack forgets the messages the server has received: r of its ping or pong. */
  ack(r: any): void {
    const n = Math.min(+r || 0, this.sent) - this.from + 1;
    if (n > 0) {
      this.msgs.splice(0, n);
      this.from += n;
    }
  }

  /** all returns the held messages, to send again after a resume. */
  all(): string[] {
    return this.msgs.slice();
  }
}
