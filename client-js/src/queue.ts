// The offline queue: emits made while disconnected, bounded by count and bytes.

interface Entry {
  s: string; // the encoded message
  n: number; // its size in bytes
  id?: number; // ack id, so an emitWithAck that timed out can leave the queue
}

/** Queue holds encoded messages in order, up to maxMsgs messages and maxBytes bytes. */
export class Queue {
  private items: Entry[] = [];
  bytes = 0;
  constructor(
    readonly maxMsgs: number,
    readonly maxBytes: number,
  ) {}

  get length(): number {
    return this.items.length;
  }

  /** push appends s (n bytes) and reports false when that would pass a bound. */
  push(s: string, n: number, id?: number): boolean {
    if (this.items.length + 1 > this.maxMsgs || this.bytes + n > this.maxBytes) return false;
    this.items.push({ s, n, id });
    this.bytes += n;
    return true;
  }

  /** unshift puts messages back at the front, bounds notwithstanding: they were accepted. */
  unshift(msgs: string[], size: (s: string) => number): void {
    const e = msgs.map((s) => ({ s, n: size(s) }));
    this.items.unshift(...e);
    for (const x of e) this.bytes += x.n;
  }

  /** remove drops the message carrying ack id, if it is still queued. */
  remove(id: number): void {
    const i = this.items.findIndex((e) => e.id === id);
    if (i >= 0) this.bytes -= this.items.splice(i, 1)[0].n;
  }

  /** ids returns the ack ids of the queued messages. */
  ids(): Set<number> {
    return new Set(this.items.map((e) => e.id!).filter((x) => x));
  }

  /** drain empties the queue and returns its messages in order. */
  drain(): string[] {
    const r = this.items.map((e) => e.s);
    this.items = [];
    this.bytes = 0;
    return r;
  }
}
