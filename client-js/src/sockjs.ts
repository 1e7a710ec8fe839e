// The SockJS HTTP transports shared by xhr-streaming and xhr-polling (PROTOCOL.md §7): the
// client picks <server>/<session>, receives on one request at a time, and sends with at most
// one xhr_send in flight, batching whatever queued up meanwhile into the next one. <server>
// names the session's node once known (§7, "Many nodes"): from the first request when a
// resume names the last welcome's node, and from the first answer carrying X-Sockhop-Node on.
import type { TransportName } from './api';
import { Action, Refusal, statusCode } from './close';
import { asText } from './binary';
import { escLen, Lines, pack, parseSockJS } from './codec';
import { Head, post, Req } from './http';
import { DEFAULT_MAX, Handlers, isNode, NODE_HEADER, Transport, TransportOptions } from './transport';

const ALPHA = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-';

/** randomId returns n characters of [A-Za-z0-9_-]. */
export function randomId(n: number): string {
  const b = new Uint8Array(n);
  const c: any = (globalThis as any).crypto;
  if (c && c.getRandomValues) c.getRandomValues(b);
  else for (let i = 0; i < n; i++) b[i] = (Math.random() * 256) | 0;
  let s = '';
  for (let i = 0; i < n; i++) s += ALPHA[b[i] & 63];
  return s;
}

/**
 * KEY_HEADER carries the SockJS session's key on every request of the session (PROTOCOL.md
 * §7): the session id is in every URL, so in logs; the key never is, and the server serves
 * no request of the session without it.
 */
export const KEY_HEADER = 'X-Sockhop-Key';

/** RETRY_2010 is the pause before receiving again after c[2010] (a request still attached). */
const RETRY_2010 = 100;

export function sockjs(name: TransportName, path: string, stream: boolean, base: string, h: Handlers, o: TransportOptions): Transport {
  const sid = randomId(12);
  // <server>: three random digits (SockJS's convention) until the session's node is known.
  let server = isNode(o.node) ? o.node : String(Math.floor(Math.random() * 900) + 100);
  const url = () => base + '/sockjs/' + server + '/' + sid + '/';
  // Every answer names the node that served it: later requests of this session name it too.
  const node = (get: Head) => {
    const v = get(NODE_HEADER);
    if (isNode(v)) server = v;
  };
  const hdr = { [KEY_HEADER]: randomId(32) }; // 192 bits: this session's key, never in a URL
  let max = DEFAULT_MAX;
  let bin = false; // the server reads "b" (binary.ts); without it, bytes go as "d"
  let closed = false; // no more handler calls
  let opened = false;
  let rx: Req | null = null; // the receiving request
  let tx: Req | null = null; // the xhr_send in flight
  let sends = 0; // xhr_send requests made: numbered so the server drops one a browser retried
  let polls = 0; // receiving requests made, numbered the same way
  let outbox: string[] = [];
  let again: any;
  let last = false; // close(last) was called: send what is left, report nothing

  // A 403 on a session the server opened cannot be the Origin, which the first request
  // passed: the server lost the session and the id now has another key. Resume on a new one.
  const refused = (status: number, wait?: number): Refusal =>
    status == 403 && opened ? [1006, 'http 403', 'resume'] : statusCode(status, wait);
  const fail = (code: number, reason: string, act?: Action, retry?: number) => {
    if (closed) return;
    closed = true;
    stopRx();
    h.close(code, reason, act, retry);
  };
  const stopRx = () => {
    clearTimeout(again);
    if (rx) rx.abort();
    rx = null;
  };

  const receive = () => {
    let retry = 0; // pause before the next request; -1: none (closed)
    let frames = 0;
    const lines = new Lines();
    const line = (l: string) => {
      if (closed || retry < 0) return;
      const f = parseSockJS(l);
      h.alive();
      if (!f) return;
      frames++;
      if (f[0] == 'o') {
        // A second open frame: the server lost this SockJS session and began a new one.
        if (opened) return (retry = -1), fail(1006, 'sockjs session lost');
        (opened = true), h.open();
      } else if (f[0] == 'a') {
        for (const s of f[1]) if (!closed) h.frame(s);
      } else if (f[0] == 'c') {
        if (f[1] == 2010) retry = RETRY_2010;
        else {
          retry = -1;
          // sockjs-go's c[1002,"Connection interrupted"] is its verdict on a broken request,
          // not the server's protocol error: a dropped transport, resumed (PROTOCOL.md §5).
          fail(f[1] == 1002 && f[2] == 'Connection interrupted' ? 1006 : f[1], f[2]);
        }
      }
    };
    rx = post(
      url() + path + '?p=' + ++polls + (o.resume ? '&resume=1' : ''), // numbered: the server tells a browser's silent retry
      null,
      o.withCredentials,
      stream,
      (c) => lines.push(c).forEach(line),
      (status, wait) => {
        rx = null;
        if (closed) return;
        if (status != 200) return fail(...refused(status, wait));
        lines.end().forEach(line);
        if (closed || retry < 0) return;
        // A poll answered with no frame: sockjs-go's answer for a session it closed.
        if (!stream && !frames) return fail(1006, 'sockjs session lost');
        if (retry) again = setTimeout(receive, retry);
        else receive();
      },
      hdr,
      node,
    );
  };

  const flush = () => {
    if (tx || !outbox.length || (closed && !last)) return;
    // One body of at most max bytes: ["m1\nm2…"], each message escaped as a JSON string.
    const batch = pack(outbox.map((s) => asText(s, bin)), max - 4, escLen, 2)[0];
    outbox = outbox.slice(batch.length);
    tx = post(
      url() + 'xhr_send?s=' + ++sends,
      JSON.stringify([batch.join('\n')]),
      o.withCredentials,
      false,
      () => {},
      (s, wait) => {
        tx = null;
        if (last && !outbox.length) stopRx(); // the close message is through: stop receiving
        if (s == 204 || s == 200) return flush();
        // The messages of this body may not have arrived: the resume sends them again.
        if (!last) fail(...refused(s, wait));
      },
      hdr,
      node,
    );
  };

  receive();
  return {
    name,
    send(msgs) {
      if (closed) return;
      outbox.push(...msgs);
      flush();
    },
    setMax(n) {
      max = n;
    },
    setBin(on) {
      bin = on;
    },
    close(final, unload) {
      closed = true;
      if (final && unload && opened) {
        // The page unloads: the close message goes now, in a request that outlives the
        // page, not after an xhr_send still in flight. The receiving request stays until
        // it is through, so that the server ends the transport on the message.
        last = true;
        post(url() + 'xhr_send?s=' + ++sends, JSON.stringify([final.join('\n')]), o.withCredentials, false, () => {}, stopRx, hdr, undefined, true);
        again = setTimeout(stopRx, 3000);
        return [];
      }
      if (final) {
        // The receiver stays attached until the close message is through, so that the
        // server ends the session on the message rather than on an interrupted request.
        last = true;
        outbox.push(...final);
        flush(); // now, or when the xhr_send in flight is done
        again = setTimeout(stopRx, 3000);
        return [];
      }
      stopRx();
      const r = outbox;
      outbox = [];
      return r;
    },
  };
}
