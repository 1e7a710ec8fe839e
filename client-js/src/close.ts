// What the client does when a transport ends: its reading of the close codes and HTTP
// refusals of PROTOCOL.md §5, whose one table is testdata/protocol/close-codes.json (the node
// tests check this file against it). Only what the client acts on is here: the terminal codes,
// and the SockJS HTTP statuses the server refuses a request with.

/**
 * Action is what the client does after a refusal (close-codes.json "clientActions"):
 *   terminal  report and stop: no reconnect, no other transport
 *   wait      keep the session; wait the Retry-After (else the backoff), then try the same
 *             transport again: do not walk down the ladder
 *   resume    the transport is gone: reconnect with backoff and resume the session
 */
export type Action = 'terminal' | 'wait' | 'resume';

/**
 * isTerminal tells whether a close code means "do not reconnect": 1000, 1002, 1003, 1007,
 * 1008, 1009 and the range 4500–4999. Every other code reconnects.
 */
export const isTerminal = (c: number): boolean =>
  c == 1000 || c == 1002 || c == 1003 || c == 1007 || c == 1008 || c == 1009 || (c >= 4500 && c <= 4999);

/** Refusal is how a transport reports an HTTP failure: close code, reason, action, wait (ms). */
export type Refusal = [code: number, reason: string, act?: Action, retry?: number];

/**
 * statusCode maps the HTTP status of a failed SockJS request, and its Retry-After (ms), to the
 * close code and action of close-codes.json "http". A status the server does not refuse with
 * (0: a network error, a proxy's 502) is a failed transport: no action, 1006, and the ladder
 * goes on; unless it said when to come back (Retry-After), which is the server's "wait".
 */
export function statusCode(s: number, retry?: number): Refusal {
  const r = 'http ' + s;
  if (s == 400) return [1002, r, 'terminal']; // a malformed xhr_send body
  if (s == 403) return [1008, r, 'terminal']; // Origin or Host refused
  if (s == 404) return [1006, r, 'resume']; // the SockJS session is gone
  if (s == 408) return [1006, r, 'resume']; // an xhr_send body too slow: the transport ended
  if (s == 413) return [1009, r, 'terminal']; // an xhr_send body over max
  if (s == 429) return [1013, r, 'wait', retry]; // a per-address limit, connection pacing
  if (s == 503) return [1001, r, 'wait', retry]; // shutting down
  if (retry != null) return [1006, r, 'wait', retry];
  return [1006, s ? r : 'network error'];
}
