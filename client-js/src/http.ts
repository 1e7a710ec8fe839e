// One HTTP POST for the SockJS transports: fetch() with a streaming body reader where the
// browser has one (each chunk arrives at once), XMLHttpRequest where it has not.

/** Req is a request in flight. */
export interface Req {
  abort(): void;
}

/**
 * retryAfter reads a Retry-After header (delay-seconds or an HTTP date) as milliseconds,
 * at most an hour; undefined when absent or unreadable.
 */
export function retryAfter(v: string | null, now = Date.now()): number | undefined {
  if (v == null || v.trim() == '') return undefined;
  const ms = /^\s*\d+\s*$/.test(v) ? Number(v) * 1000 : /[a-z]/i.test(v) ? Date.parse(v) - now : NaN;
  if (!Number.isFinite(ms)) return undefined;
  return Math.min(Math.max(0, ms), 3600_000);
}

/** Head reads a response header by name; null when the answer has none. */
export type Head = (name: string) => string | null;

/**
 * post sends body to url, with headers besides Content-Type. It calls head once, as soon as
 * the response headers are in (any status), then text with each chunk of a 200 response
 * (all of it at once unless stream), then end with the status (0 = network error) and, on a
 * refusal, the wait the server asked for in Retry-After (ms). None is called after abort().
 */
export function post(
  url: string,
  body: string | null,
  cred: boolean,
  stream: boolean,
  text: (chunk: string) => void,
  end: (status: number, retry?: number) => void,
  headers: Record<string, string> = {},
  head: (h: Head) => void = () => {},
  keepalive = false,
): Req {
  let stop = false;
  const done = (s: number, retry?: number) => stop || ((stop = true), end(s, retry));
  const g: any = globalThis;
  if (g.fetch && g.AbortController && g.TextDecoder && (!stream || g.ReadableStream)) {
    const ac = new AbortController();
    g.fetch(url, {
      method: 'POST',
      body,
      signal: ac.signal,
      cache: 'no-store',
      keepalive, // outlives the page that unloads (the close message of pagehide)
      credentials: cred ? 'include' : 'same-origin',
      headers: { 'Content-Type': 'text/plain;charset=UTF-8', ...headers },
    })
      .then(async (r: Response) => {
        if (stop) return;
        head((n) => r.headers.get(n));
        if (r.status != 200) return done(r.status, retryAfter(r.headers.get('Retry-After')));
        if (stream && r.body) {
          const rd = r.body.getReader();
          const dec = new TextDecoder();
          for (;;) {
            const c = await rd.read();
            if (stop) return;
            if (c.done) break;
            text(dec.decode(c.value, { stream: true }));
          }
        } else {
          const t = await r.text();
          if (stop) return;
          text(t);
        }
        done(200);
      })
      .catch(() => done(0));
    return { abort: () => ((stop = true), ac.abort()) };
  }
  const x = new XMLHttpRequest();
  let pos = 0;
  let headed = false;
  // The headers are readable from readyState 2 (HEADERS_RECEIVED), before any of the body.
  const heads = () => {
    if (stop || headed || x.readyState < 2) return;
    headed = true;
    head((n) => x.getResponseHeader(n));
  };
  const feed = () => {
    heads();
    if (stop || x.status != 200) return;
    const t = x.responseText;
    if (t.length > pos) {
      const c = t.slice(pos);
      pos = t.length;
      text(c);
    }
  };
  x.open('POST', url, true);
  x.withCredentials = cred;
  x.setRequestHeader('Content-Type', 'text/plain;charset=UTF-8');
  for (const k in headers) x.setRequestHeader(k, headers[k]);
  x.onreadystatechange = heads;
  if (stream) x.onprogress = feed;
  x.onload = () => {
    feed();
    done(x.status, x.status == 200 ? undefined : retryAfter(x.getResponseHeader('Retry-After')));
  };
  x.onerror = x.ontimeout = () => done(0);
  x.send(body);
  return { abort: () => ((stop = true), x.abort()) };
}
