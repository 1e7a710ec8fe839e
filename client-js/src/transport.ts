// What the client needs from a transport; one file per transport implements it.
import type { TransportName } from './api';
import type { Action } from './close';
import type { Msg } from './codec';

/** Handlers is how a transport reports to its client. None is called after close(). */
export interface Handlers {
  /**
   * open: the transport can carry hello now; said: its upgrade carried the hello already
   * (TransportOptions.hello, taken by the server), so the client sends none.
   */
  open(said?: boolean): void;
  /** frame: one sockhop frame arrived, or one binary message (binary.ts), decoded. */
  frame(f: string | Msg): void;
  /** alive: bytes arrived (any frame, SockJS heartbeat or prelude). */
  alive(): void;
  /**
   * close: the transport ended on its own, with a close code and reason; called once. act
   * is set when the server refused a request (an HTTP status, see close.ts); retry (ms) when
   * it also said when to come back (Retry-After). Without act the transport failed or
   * dropped: before the welcome the client tries the next transport.
   */
  close(code: number, reason: string, act?: Action, retry?: number): void;
}

/** TransportOptions are the client options a transport reads. */
export interface TransportOptions {
  withCredentials: boolean;
  /** the hello will resume a session, which the server has counted already (PROTOCOL.md §7) */
  resume?: boolean;
  /**
   * the node the session to resume lives on (the last welcome's node, PROTOCOL.md §7 "Many
   * nodes"): SockJS names it as <server> from the first request, WebSocket as M/ws?node=.
   * Unset for a new session; a value that is no node id (isNode) is ignored.
   */
  node?: string;
  /**
   * a new session's hello as a WebSocket subprotocol (helloProtocol), offered before
   * sockhop.v1: a server that takes it answers with it and sends the welcome at once
   * (PROTOCOL.md §3). Unset when the hello has auth or resumes.
   */
  hello?: string;
}

/** helloProtocol is the subprotocol that carries a hello with bin:1 and ping (ms, 0: none). */
export const helloProtocol = (ping: number): string =>
  'sockhop.v1.hello.bin' + (ping > 0 && ping <= 999999999 && ping == Math.floor(ping) ? '.ping' + ping : '');

/** NODE_HEADER carries, on every answer to a SockJS request, the node that served it. */
export const NODE_HEADER = 'X-Sockhop-Node';

/** isNode reports whether v is a node id: n and 3 to 31 characters of [a-z0-9] (PROTOCOL.md §1). */
export const isNode = (v: unknown): v is string => typeof v == 'string' && /^n[a-z0-9]{3,31}$/.test(v);

/** Transport is one transport connection. */
export interface Transport {
  readonly name: TransportName;
  /** send transmits encoded messages in order, coalescing them into frames. */
  send(msgs: string[]): void;
  /** setMax sets the largest frame the server accepts, in bytes. */
  setMax(n: number): void;
  /** setBin tells whether the server reads binary messages (its welcome's bin, binary.ts). */
  setBin?(on: boolean): void;
  /**
   * close ends the transport without reporting through its handlers. With last, it sends
   * those messages first and returns []; without, it returns the messages it had accepted
   * but not yet handed to the network, so that the client can send them again later.
   * unload: the page is going away, so last must leave at once, in a request that
   * outlives the page (fetch keepalive).
   */
  close(last?: string[], unload?: boolean): string[];
}

/** Factory opens a transport to the mount base URL (http or https, no trailing slash). */
export type Factory = (base: string, h: Handlers, o: TransportOptions) => Transport;

/** DEFAULT_MAX is the frame limit until welcome tells the server's (PROTOCOL.md §2). */
export const DEFAULT_MAX = 65536;
