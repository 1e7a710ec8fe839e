// The emitWithAck calls waiting for the server's reply (PROTOCOL.md §4). Each call settles
// once: with the reply, on its timeout, or when its session ends.
import type { SockhopError } from './api';

/** err makes a SockhopError. */
export function err(code: string, message?: string): SockhopError {
  const e = new Error(message || code) as SockhopError;
  e.code = code;
  return e;
}

interface Call {
  res: (v: any) => void;
  rej: (e: any) => void;
  timer: any;
}

/** Calls are the pending emitWithAck calls, by id (1, 2, … over the client's life). */
export class Calls {
  private m = new Map<number, Call>();
  private last = 0;

  /**
   * add starts a call to event name and returns its id. Unanswered after ms, it fails with
   * code timeout, after gone(id) has been told.
   */
  add(name: string, ms: number, res: (v: any) => void, rej: (e: any) => void, gone: (id: number) => void): number {
    const id = ++this.last;
    const timer = setTimeout(() => {
      this.m.delete(id);
      gone(id);
      rej(err('timeout', 'sockhop: no reply to ' + name));
    }, ms);
    this.m.set(id, { res, rej, timer });
    return id;
  }

  /** settle ends call id with the server's ack message; a reply after the timeout is dropped. */
  settle(id: number, d: unknown, e?: { code?: unknown; message?: string }): void {
    const c = this.take(id);
    if (!c) return;
    if (e) c.rej(err(String(e.code || 'internal'), e.message));
    else c.res(d === undefined ? null : d);
  }

  /** fail ends every call but those in keep with an error of code and message. */
  fail(code: string, message: string, keep?: Set<number>): void {
    this.m.forEach((_, id) => keep?.has(id) || this.take(id)!.rej(err(code, message)));
  }

  /** take removes call id, stopping its timer. */
  take(id: number): Call | undefined {
    const c = this.m.get(id);
    if (c) {
      clearTimeout(c.timer);
      this.m.delete(id);
    }
    return c;
  }
}
