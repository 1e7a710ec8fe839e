// The public types of the sockhop browser client. The build emits this file as
// dist/sockhop.d.ts; client.ts implements it.

/** The name of a transport, as used in options, events and on the server. */
export type TransportName = 'websocket' | 'xhr-streaming' | 'xhr-polling';

/**
 * The connection state: `connecting` while the transport ladder runs, `connected` once the
 * server's welcome arrived, `disconnected` while waiting to reconnect (or for the browser to
 * come back online), `closed` after close() or a terminal close code.
 */
export type State = 'connecting' | 'connected' | 'disconnected' | 'closed';

/** Options of connect(). Every field is optional. */
export interface Options {
  /** Transports to try, in order. Default ['websocket', 'xhr-streaming', 'xhr-polling']. */
  transports?: TransportName[];
  /**
   * Ms a transport may take to deliver the server's welcome before it is given up. Default
   * 3000 (3 s). It is the upper bound: once the client has measured the round trip (on
   * `<mount>/sockjs/info`, then on every welcome and pong), a transport that is late by
   * 250 ms + 3 round trips (at least 300 ms, at most openTimeout) gets the next transport
   * started beside it, and the first to be welcomed wins (happy eyeballs).
   */
  openTimeout?: number;
  /**
   * Ms after which a session that connected on a fallback first probes a better transport
   * (WebSocket) and, when the probe is welcomed, moves onto it without a disconnect (a
   * `transport` event). Each failed probe doubles the wait (jittered, at most 5 min); after
   * 3 failed probes the transport counts as blocked for rememberTransport (or 30 min) and
   * is not probed again. 0 turns the background upgrade off. Default 10000.
   */
  upgradeAfter?: number;
  /** Reconnect after a drop. Default true. */
  reconnect?: boolean;
  /** First reconnect delay cap in ms (full jitter: the delay is random below the cap). Default 500. */
  backoffMin?: number;
  /** Largest reconnect delay cap in ms. Default 20000. */
  backoffMax?: number;
  /** Default timeout of emitWithAck in ms. Default 10000. */
  ackTimeout?: number;
  /** Most messages the offline queue holds. Default 1000. */
  queueMaxMessages?: number;
  /** Most bytes the offline queue holds. Default 1 MiB. */
  queueMaxBytes?: number;
  /** Ms to remember the transport that worked (localStorage, per server); 0 turns it off. Default 30 min. */
  rememberTransport?: number;
  /**
   * Sent in hello as `auth`. A function is called before each connection attempt (new
   * session, reconnect, resume) and may return a promise, e.g. to fetch a short-lived
   * token: after the server closes with 4003 (credentials expired) the client reconnects
   * as a new session with what it returns then. A rejected promise (or a throw) fires
   * `error` (code `auth`) and is retried with backoff.
   */
  auth?: unknown | (() => unknown | Promise<unknown>);
  /** Send cookies on cross-origin SockJS requests. Default false. */
  withCredentials?: boolean;
  /**
   * Keep the session across a reload of the page: at pagehide the resume credential (session
   * id, token, counts, unacknowledged messages) is saved in sessionStorage (per tab, never in
   * a URL), and the next page load of the tab resumes the session, within the server's
   * going-away grace (1 s by default): `connect` then fires with `resumed: true` and the
   * server-side state (rooms, what the app keeps per session) is still there, while the
   * page's own state is new, so the app asks the server for what it shows. A closed tab's
   * session ends after that grace either way. Default false: every page load is a new
   * session.
   */
  keepSession?: boolean;
}

/** Options of one emitWithAck call. */
export interface AckOptions {
  /** Ms to wait for the reply. Default: the connection's ackTimeout. */
  timeout?: number;
}

/**
 * An error reported by the client: a rejected emitWithAck (code `timeout`; `closed` when the
 * socket was closed or the server ended the session before replying; `resume_failed` when
 * the session could not be resumed after a drop; or the server's code such as `bad_request`,
 * `unknown_event`, `internal`), a refused emit (`queue_full`, `too_big`, `closed`), or a
 * terminal close (`e.code` of the server's close).
 */
export interface SockhopError extends Error {
  code: string;
}

/** What a connect event tells. */
export interface ConnectInfo {
  /**
   * True when the connection resumed the session after a dropped transport: nothing was
   * lost either way. False on the first connect and whenever a new session began (after a
   * failed resume or a server that ended the session): the app should refetch its state.
   */
  resumed: boolean;
}

/** Why a connection ended. */
export interface DisconnectInfo {
  /** The close code (PROTOCOL.md §5); 1006 when the transport died without one. */
  code: number;
  reason: string;
  /** Whether the client will reconnect (and try to resume the session). */
  reconnect: boolean;
}

/**
 * One event of an event map: the data it carries and the reply to it (`null` when the
 * server's handler is a sockhop.On; `void` when the server emits it without asking for a
 * reply).
 */
export interface EventSpec {
  data: unknown;
  reply: unknown;
}

/**
 * The events of a server, the type parameter of connect and Socket: `toServer` lists what
 * the client emits (the server's handlers), `toClient` what the server emits, each by event
 * name. `sockhop gen ts` generates it (interface Events) from the server's Go code.
 */
export interface EventMap {
  toServer: { [name: string]: EventSpec };
  toClient: { [name: string]: EventSpec };
}

/** The event map of an untyped socket: any name, any data, any reply. */
export interface AnyEvents {
  toServer: { [name: string]: { data: any; reply: any } };
  toClient: { [name: string]: { data: any; reply: any } };
}

/** The data argument of an event: optional when no data is a valid value (an empty object, unknown). */
export type DataArg<D> = {} extends D ? [data?: D] : [data: D];

/**
 * A handler of a server event. When the server asked for a reply (EmitWithAck), the value the
 * first handler returns (or its promise resolves to) is the reply; a throw or rejection
 * replies with an error whose code is the thrown value's `code` (default `internal`).
 */
export type EventHandler<S extends EventSpec = { data: any; reply: any }> = (
  data: S['data'],
) => [S['reply']] extends [void] ? unknown : S['reply'] | Promise<S['reply']>;

/**
 * The position of a durable message in its room's history (PROTOCOL.md §9): the history's
 * epoch and the message's offset in it. A new epoch means the history was lost and began again.
 */
export interface Position {
  e: string;
  o: number;
}

/** The outcome of a subscription (subscribe, or the `subscribed` event of a re-subscription). */
export interface SubscribeResult {
  room: string;
  /**
   * True when the client asked to catch up from its last position in a durable room and
   * the server sent everything after it (none was lost); false otherwise: a first
   * subscription, a room that is not durable, or a history that no longer reaches back
   * (trimmed, expired, a new epoch), when the app should refetch what it shows.
   */
  recovered: boolean;
  /** The room's position after the catch-up (durable rooms), else null. */
  pos: Position | null;
}

/** What a subscribe-error event tells: an automatic re-subscription failed. */
export interface SubscribeError {
  room: string;
  error: SockhopError;
}

/** The events the client itself fires (connect, disconnect, …). */
export type ClientEvent =
  | 'connect'
  | 'resume-failed'
  | 'disconnect'
  | 'reconnecting'
  | 'transport'
  | 'error'
  | 'subscribed'
  | 'subscribe-error';

/**
 * A sockhop connection. Events: connect, disconnect, reconnecting, transport, resume-failed,
 * error, and any server event name. With an event map E (connect<Events>(url), Events
 * generated by `sockhop gen ts`), event names, data and replies are checked at compile time.
 */
export interface Socket<E extends EventMap = AnyEvents> {
  /** The transport of the current (or last) connection, null before the first one. */
  readonly transport: TransportName | null;
  readonly state: State;
  /** The server's session id, null before the first welcome. */
  readonly id: string | null;
  /**
   * The ms between the server's pings on this session: the server's own interval, or a
   * shorter one the client learned behind a proxy that cuts idle connections sooner
   * (PROTOCOL.md §5). 0 before the first welcome.
   */
  readonly pingInterval: number;
  on(event: 'connect', fn: (info: ConnectInfo) => void): this;
  /**
   * resume-failed: the client reconnected but the server could not resume the session (grace
   * expired, buffer overflowed, server restarted): messages in flight either way may be
   * lost, pending emitWithAck calls already sent failed with `resume_failed`. A connect event
   * with resumed false follows.
   */
  on(event: 'resume-failed', fn: () => void): this;
  on(event: 'disconnect', fn: (info: DisconnectInfo) => void): this;
  on(event: 'reconnecting', fn: (attempt: number, delayMs: number) => void): this;
  on(event: 'transport', fn: (name: TransportName) => void): this;
  on(event: 'error', fn: (err: SockhopError) => void): this;
  /**
   * subscribed: a subscription the client made again by itself succeeded, after a new
   * session (a failed resume, a server that ended the session, a reload whose session was
   * gone): `recovered` tells whether the durable room's messages missed meanwhile all came.
   */
  on(event: 'subscribed', fn: (r: SubscribeResult) => void): this;
  /** subscribe-error: an automatic re-subscription failed (refused: the room is forgotten). */
  on(event: 'subscribe-error', fn: (e: SubscribeError) => void): this;
  /** on adds a handler of the server's event name. */
  on<K extends keyof E['toClient'] & string>(event: K, fn: EventHandler<E['toClient'][K]>): this;
  /** once adds a handler of the server's event name that runs once. */
  once<K extends keyof E['toClient'] & string>(event: K, fn: EventHandler<E['toClient'][K]>): this;
  once(event: ClientEvent, fn: (...args: any[]) => unknown): this;
  off(event: string, fn?: (...args: any[]) => unknown): this;
  /** emit sends event name; while disconnected it is queued. Throws a SockhopError when the queue is full, the message too big or the socket closed. */
  emit<K extends keyof E['toServer'] & string>(name: K, ...data: DataArg<E['toServer'][K]['data']>): void;
  /** emitWithAck sends event name and resolves with the server's reply. */
  emitWithAck<K extends keyof E['toServer'] & string>(
    name: K,
    ...args: [...DataArg<E['toServer'][K]['data']>, opts?: AckOptions]
  ): Promise<E['toServer'][K]['reply']>;
  /** emitWithAck, untyped (T is the reply's type): only on a socket without an event map. */
  emitWithAck<T = any>(name: string extends keyof E['toServer'] ? string : never, data?: unknown, opts?: AckOptions): Promise<T>;
  /**
   * subscribe asks the server to add this session to room (PROTOCOL.md §9): the server's
   * Channel rule for the room decides; a refusal rejects with its code (`forbidden`,
   * `bad_request`, `too_many_rooms`, or the rule's own) and the room is forgotten. The client
   * remembers the room and, for a durable room, the position of the last message taken
   * (messages at or before it again are duplicates, dropped); after every new session it
   * subscribes again from that position (`subscribed`, `subscribe-error` events), and with
   * keepSession the rooms and positions survive a reload of the page (sessionStorage), so
   * the next page catches up. While disconnected the subscription is made at the next
   * connect.
   */
  subscribe(room: string): Promise<SubscribeResult>;
  /** unsubscribe leaves room and forgets it (leaving a room the session is not in is no error). */
  unsubscribe(room: string): Promise<void>;
  /** close ends the connection for good (code 1000). */
  close(): void;
}

/**
 * connect opens a connection to the server mounted at url (e.g. '/rt' or 'https://host/rt').
 * E, the server's event map (see EventMap), types the socket's events.
 */
export declare function connect<E extends EventMap = AnyEvents>(url: string, opts?: Options): Socket<E>;

/** The client version. */
export declare const version: string;
