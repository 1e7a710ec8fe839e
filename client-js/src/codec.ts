// Wire codec: sockhop messages and frames (PROTOCOL.md §2) and SockJS framing (§7).
// Pure functions, no I/O.

/** One sockhop message as it travels (PROTOCOL.md §2). */
export interface Msg {
  t: string;
  [k: string]: any;
}

/** utf8Len is the UTF-8 byte length of s without allocating. */
export function utf8Len(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n++;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c < 0xdc00 && (s.charCodeAt(i + 1) & 0xfc00) == 0xdc00) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

/** escLen is how many bytes s adds inside a JSON string literal (its quotes not counted). */
export const escLen = (s: string): number => utf8Len(JSON.stringify(s)) - 2;

/**
 * split parses one frame into its messages: one JSON object a line, empty lines ignored.
 * It throws on a line that is not a JSON object with a string `t`.
 */
export function split(frame: string): Msg[] {
  const out: Msg[] = [];
  for (const line of frame.split('\n')) {
    if (!line) continue;
    const m = JSON.parse(line);
    if (!m || typeof m != 'object' || typeof m.t != 'string') throw new Error('sockhop: bad message');
    out.push(m);
  }
  return out;
}

/**
 * pack groups encoded messages, in order, into frames whose size is at most budget, where a
 * message counts size(m) and the separator between two messages sep bytes. A message larger
 * than budget alone gets a frame of its own (the caller rejects those before).
 */
export function pack(msgs: string[], budget: number, size: (s: string) => number = utf8Len, sep = 1): string[][] {
  const frames: string[][] = [];
  let cur: string[] = [];
  let n = 0;
  for (const m of msgs) {
    const l = size(m);
    if (cur.length && n + sep + l > budget) {
      frames.push(cur);
      cur = [];
    }
    n = cur.length ? n + sep + l : l;
    cur.push(m);
  }
  if (cur.length) frames.push(cur);
  return frames;
}

/** A SockJS frame: open, heartbeat, an array of sockhop frames, or close. */
export type SockJSFrame = ['o'] | ['h'] | ['a', string[]] | ['c', number, string];

/**
 * parseSockJS parses one line of a SockJS response. The xhr-streaming prelude (a line of
 * `h`s) reads as a heartbeat. Unknown or malformed lines give null.
 */
export function parseSockJS(line: string): SockJSFrame | null {
  const k = line[0];
  if (line == 'o') return ['o'];
  if (k == 'h' && /^h+$/.test(line)) return ['h'];
  if (k != 'a' && k != 'c') return null;
  let v: any;
  try {
    v = JSON.parse(line.slice(1));
  } catch {
    return null;
  }
  if (!Array.isArray(v)) return null;
  if (k == 'a') return ['a', v.filter((s) => typeof s == 'string')];
  return ['c', typeof v[0] == 'number' ? v[0] : 1006, String(v[1] ?? '')];
}

/** Lines turns chunks of a response body into complete lines. */
export class Lines {
  private buf = '';
  /** push adds a chunk and returns the lines it completed. */
  push(chunk: string): string[] {
    this.buf += chunk;
    const parts = this.buf.split('\n');
    this.buf = parts.pop()!;
    return parts;
  }
  /** end returns the unterminated rest, if any. */
  end(): string[] {
    const r = this.buf;
    this.buf = '';
    return r ? [r] : [];
  }
}
