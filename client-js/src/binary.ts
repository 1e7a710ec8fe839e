// Binary payloads (PROTOCOL.md §2, "Binary messages"). A Uint8Array, an ArrayBuffer (or
// any ArrayBuffer view) or a Blob given to emit, emitWithAck or returned by a listener as
// a reply travels as bytes and reaches the other side's handlers as bytes ([]byte in Go,
// Uint8Array here).
//
// Inside the client a binary message is one string, like every other message, so that the
// offline queue, the resume buffer and the SockJS transports carry it as they are: its text
// form with the bytes base64 in "b", written with "b" first ({"b":"…","t":"ev",…}). No
// other message the client writes begins so (JSON.stringify puts "t" first), which makes
// the form recognisable at a glance (isBin). On the wire it goes as
//   WebSocket, server said bin:1   one binary frame: the header JSON, '\n', the raw bytes
//   SockJS, server said bin:1      the string as it is ("b", base64)
//   a server without bin           the same string with "d" for "b": a base64 JSON string,
//                                  what a server that knows nothing of bytes decodes into []byte
import type { Msg } from './codec';

const PREFIX = '{"b":"';

const enc = typeof TextEncoder != 'undefined' ? new TextEncoder() : null;
const dec = typeof TextDecoder != 'undefined' ? new TextDecoder() : null;

/** isBytes reports whether v is sent as bytes: a Uint8Array, an ArrayBuffer or a view. */
export const isBytes = (v: unknown): v is ArrayBuffer | ArrayBufferView =>
  v instanceof ArrayBuffer || (typeof ArrayBuffer != 'undefined' && ArrayBuffer.isView(v as any));

/** isBlob reports whether v is a Blob (read asynchronously before it is sent). */
export const isBlob = (v: unknown): v is Blob => typeof Blob != 'undefined' && v instanceof Blob;

/** bytesOf returns the bytes of an ArrayBuffer or view, without copying. */
export function bytesOf(v: ArrayBuffer | ArrayBufferView): Uint8Array {
  if (v instanceof Uint8Array) return v;
  if (v instanceof ArrayBuffer) return new Uint8Array(v);
  return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}

const ALPHA = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const CODE = new Uint8Array(ALPHA.length);
const VAL = new Int16Array(128).fill(-1);
for (let i = 0; i < ALPHA.length; i++) (CODE[i] = ALPHA.charCodeAt(i)), (VAL[CODE[i]] = i);

/** toB64 encodes bytes as standard, padded base64 (native where the platform has it). */
export function toB64(u: Uint8Array): string {
  const native = (u as any).toBase64;
  if (typeof native == 'function') return native.call(u);
  const out = new Uint8Array(Math.ceil(u.length / 3) * 4);
  let j = 0;
  let i = 0;
  for (; i + 2 < u.length; i += 3) {
    const n = (u[i] << 16) | (u[i + 1] << 8) | u[i + 2];
    out[j++] = CODE[n >> 18];
    out[j++] = CODE[(n >> 12) & 63];
    out[j++] = CODE[(n >> 6) & 63];
    out[j++] = CODE[n & 63];
  }
  if (i < u.length) {
    const n = (u[i] << 16) | (i + 1 < u.length ? u[i + 1] << 8 : 0);
    out[j++] = CODE[n >> 18];
    out[j++] = CODE[(n >> 12) & 63];
    out[j++] = i + 1 < u.length ? CODE[(n >> 6) & 63] : 61;
    out[j++] = 61; // '='
  }
  return ascii(out);
}

/** ascii returns the string of ASCII bytes. */
function ascii(b: Uint8Array): string {
  if (dec) return dec.decode(b);
  let s = '';
  for (let i = 0; i < b.length; i += 0x8000) s += String.fromCharCode.apply(null, b.subarray(i, i + 0x8000) as any);
  return s;
}

/** fromB64 decodes standard, padded base64; it throws on anything else. */
export function fromB64(s: string): Uint8Array {
  const native = (Uint8Array as any).fromBase64;
  if (typeof native == 'function') return native(s);
  const bad = () => new Error('sockhop: bad base64');
  if (s.length % 4) throw bad();
  const pad = s.endsWith('==') ? 2 : s.endsWith('=') ? 1 : 0;
  const out = new Uint8Array((s.length / 4) * 3 - pad);
  let j = 0;
  for (let i = 0; i < s.length; i += 4) {
    const a = VAL[s.charCodeAt(i)] ?? -1;
    const b = VAL[s.charCodeAt(i + 1)] ?? -1;
    const last = i + 4 == s.length;
    const c = last && pad >= 2 ? 0 : (VAL[s.charCodeAt(i + 2)] ?? -1);
    const d = last && pad >= 1 ? 0 : (VAL[s.charCodeAt(i + 3)] ?? -1);
    if ((a | b | c | d) < 0) throw bad();
    const n = (a << 18) | (b << 12) | (c << 6) | d;
    out[j++] = n >> 16;
    if (j < out.length) out[j++] = (n >> 8) & 255;
    if (j < out.length) out[j++] = n & 255;
  }
  return out;
}

/**
 * raw keeps the bytes of the last few messages encoded, so that the WebSocket transport
 * sends them without decoding their base64 again; a message sent later (a resume, the
 * offline queue) is decoded from its string.
 */
const raw = new Map<string, Uint8Array>();
const RAW_KEEP = 8; // messages
const RAW_BYTES = 4 << 20; // and bytes at most
let rawBytes = 0;

function forget(s: string): void {
  const b = raw.get(s);
  if (b) (rawBytes -= b.length), raw.delete(s);
}

/** encode encodes m: in the binary form when m.d is bytes, as JSON otherwise. */
export function encode(m: Msg): string {
  if (!isBytes(m.d)) return JSON.stringify(m);
  const { d, ...head } = m;
  const b = bytesOf(d).slice(); // a copy: what the caller changes later is not sent
  const s = PREFIX + toB64(b) + '",' + JSON.stringify(head).slice(1);
  forget(s);
  raw.set(s, b);
  rawBytes += b.length;
  while (raw.size > RAW_KEEP || rawBytes > RAW_BYTES) forget(raw.keys().next().value!);
  return s;
}

/** isBin reports whether an encoded message is in the binary form. */
export const isBin = (s: string): boolean => s.startsWith(PREFIX);

/** asText returns the text a server without bin reads: "d" for "b" (see above). */
export const asText = (s: string, bin: boolean): string => (bin || !isBin(s) ? s : '{"d"' + s.slice(4));

/** frameOf returns the binary WebSocket frame of a message in the binary form. */
export function frameOf(s: string): Uint8Array {
  const j = s.indexOf('"', PREFIX.length);
  const bytes = raw.get(s) || fromB64(s.slice(PREFIX.length, j));
  forget(s);
  const head = enc!.encode('{' + s.slice(j + 2));
  const f = new Uint8Array(head.length + 1 + bytes.length);
  f.set(head);
  f[head.length] = 10;
  f.set(bytes, head.length + 1);
  return f;
}

/**
 * parseFrame reads a binary WebSocket frame: an ev or ack header, '\n', the bytes (m.b, a
 * Uint8Array over the frame's buffer). It throws on a malformed frame.
 */
export function parseFrame(buf: ArrayBuffer): Msg {
  const u = new Uint8Array(buf);
  const i = u.indexOf(10);
  if (i < 0) throw new Error('sockhop: binary frame without a header');
  const m = JSON.parse(dec!.decode(u.subarray(0, i)));
  if (!m || typeof m != 'object' || (m.t != 'ev' && m.t != 'ack') || 'd' in m || 'b' in m)
    throw new Error('sockhop: bad binary frame header');
  m.b = u.subarray(i + 1);
  return m;
}

/**
 * payload returns what a listener gets of an ev or ack: its bytes as a Uint8Array when it
 * carries "b" (base64 text on SockJS, bytes from a binary frame), else its JSON data.
 */
export function payload(m: Msg): unknown {
  if (m.b == null) return m.d === undefined ? null : m.d;
  return typeof m.b == 'string' ? fromB64(m.b) : m.b;
}

interface Waiting {
  d: unknown;
  run: (d: unknown) => void;
  fail: (e: unknown) => void;
  reading?: boolean;
  bad?: boolean;
}

/**
 * Ordered runs emits in the order they were made while a Blob among them is being read:
 * each waits for the reads of the Blobs before it (and its own).
 */
export class Ordered {
  private q: Waiting[] = [];

  /** busy reports whether emits wait: a later emit must wait too, to keep the order. */
  get busy(): boolean {
    return this.q.length > 0;
  }

  /** add runs run(d) once every earlier emit has run, a Blob d read into a Uint8Array first. */
  add(d: unknown, run: (d: unknown) => void, fail: (e: unknown) => void): void {
    this.q.push({ d, run, fail });
    if (this.q.length == 1) this.pump();
  }

  private pump(): void {
    while (this.q.length) {
      const x = this.q[0];
      if (isBlob(x.d)) {
        if (x.reading) return;
        x.reading = true;
        x.d.arrayBuffer().then(
          (b) => ((x.d = new Uint8Array(b)), this.pump()),
          (e) => ((x.d = e), (x.bad = true), this.pump()),
        );
        return;
      }
      this.q.shift();
      try {
        if (x.bad) x.fail(x.d);
        else x.run(x.d);
      } catch (e) {
        x.fail(e);
      }
    }
  }
}
