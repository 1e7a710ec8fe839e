// The connection: transport ladder, handshake, heartbeats, reconnect, offline queue, and
// session resume (PROTOCOL.md §6): counted messages (ev, ack) are numbered implicitly per
// direction; what this side sent stays in `held` until the server acknowledges it (r on its
// ping/pong), and after a dropped transport the next one resumes the session with what each
// side lacks. Listeners are emitter.ts, pending emitWithAck calls acks.ts, the close-code
// policy close.ts.
import { Calls, err } from './acks';
import type { AckOptions, DisconnectInfo, Options, Socket, State, TransportName } from './api';
import { backoff } from './backoff';
import { encode, isBlob, Ordered, payload } from './binary';
import { Action, isTerminal } from './close';
import { Msg, split, utf8Len } from './codec';
import { Emitter } from './emitter';
import { Heartbeat } from './heartbeat';
import { Held } from './held';
import { save, take, watch } from './lifecycle';
import { Queue } from './queue';
import { forget, recall, remember } from './storage';
import { DEFAULT_MAX, Factory, isNode, Transport } from './transport';
import { websocket } from './websocket';
import { xhrPolling } from './xhr_polling';
import { xhrStreaming } from './xhr_streaming';

/** Internal options: the public ones plus transport factories (tests swap in fakes). */
export interface Config extends Options {
  factories?: Partial<Record<TransportName, Factory>>;
}

const FACTORIES: Record<TransportName, Factory> = {
  websocket,
  'xhr-streaming': xhrStreaming,
  'xhr-polling': xhrPolling,
};

const offline = () => typeof navigator != 'undefined' && navigator.onLine === false;

/** ACK_EVERY: an unsolicited pong reports r after this many counted messages received. */
const ACK_EVERY = 32;
/** ACK_IDLE: ms after which a received count not yet reported is reported anyway. */
const ACK_IDLE = 1000;

interface CloseMsg {
  code: number;
  reason: string;
  retry?: number;
  e?: { code: string; message: string };
}

export class Client extends Emitter implements Socket {
  transport: TransportName | null = null;
  state: State = 'connecting';
  id: string | null = null;

  private o: Required<Omit<Config, 'auth' | 'factories'>> & Config;
  private f: Record<TransportName, Factory>;
  private key: string;
  private t: Transport | null = null; // the transport being tried or in use
  private up = false; // welcome arrived on t
  private seen = 0; // last time bytes arrived on t
  private hbMs = 0; // ping+pong of the welcome
  private max = DEFAULT_MAX;
  private ladder: TransportName[] = [];
  private step = 0;
  private from: TransportName | null = null; // the ladder run began here, below the top
  private attempt = 0;
  private timer: any; // open timeout or reconnect delay
  private hb: any; // heartbeat check
  private closeMsg: CloseMsg | null = null;
  private out: string[] = [];
  private flushing = false;
  private q: Queue;
  private calls = new Calls();
  private ord = new Ordered(); // emits waiting for a Blob before them to be read (binary.ts)
  // The session (PROTOCOL.md §6). token is null when there is no session to resume.
  private token: string | null = null;
  private node: string | undefined; // the node the session lives on (its last welcome's), named when resuming
  private rx = 0; // counted messages received
  private rxSaid = 0; // rx as last reported to the server
  private ackTimer: any;
  private held = new Held(); // counted messages sent and not yet acknowledged
  private epoch = 0; // counts sessions, so replies meant for an ended one are dropped
  private resuming = false; // the current attempt's hello asked to resume
  private authGen = 0; // counts auth fetches, so a late answer to an abandoned one is ignored
  private unlisten = () => {};
  // heartbeat.ts, lifecycle.ts: the learned heartbeat interval, the page's unload.
  private hbl: Heartbeat;
  private pingMs = 0; // the server's ping interval on this session (its welcome's or pong's)
  private serverPing = 25000; // the server's own interval (a welcome to a hello that asked none)
  private gone = false; // the page hid (pagehide): closed with 1001 until it shows again
  private unwatch = () => {};

  constructor(
    readonly url: string,
    opts: Config = {},
  ) {
    super();
    this.o = {
      transports: ['websocket', 'xhr-streaming', 'xhr-polling'],
      openTimeout: 3000, // 3 s, the Go client's default too
      reconnect: true,
      backoffMin: 500,
      backoffMax: 20000,
      ackTimeout: 10000,
      queueMaxMessages: 1000,
      queueMaxBytes: 1 << 20,
      rememberTransport: 30 * 60 * 1000,
      withCredentials: false,
      keepSession: false,
      ...opts,
    };
    this.f = { ...FACTORIES, ...opts.factories };
    this.key = url;
    this.q = new Queue(this.o.queueMaxMessages, this.o.queueMaxBytes);
    this.hbl = new Heartbeat(url);
    const saved = this.o.keepSession ? take(url) : null;
    if (saved) {
      // The last page of this tab (a reload) left its session: resume it.
      this.id = saved.sid;
      this.token = saved.token;
      this.node = isNode(saved.node) ? saved.node : undefined;
      this.rx = this.rxSaid = saved.rx;
      this.held = Held.restore(saved.from, saved.msgs);
    }
    this.unwatch = watch(
      () => this.away(),
      () => this.back(),
    );
    const w: any = typeof window != 'undefined' ? window : null;
    if (w && w.addEventListener) {
      const on = () => this.online();
      const off = () => this.offline();
      w.addEventListener('online', on);
      w.addEventListener('offline', off);
      this.unlisten = () => {
        w.removeEventListener('online', on);
        w.removeEventListener('offline', off);
      };
    }
    this.start();
  }

  // ---- sending ------------------------------------------------------------------------

  emit(name: string, data?: unknown): void {
    if (isBlob(data) || this.ord.busy)
      return this.ord.add(data, (d) => this.push({ t: 'ev', n: name, d }), (e) => this.fire('error', e));
    this.push({ t: 'ev', n: name, d: data });
  }

  emitWithAck<T = any>(name: string, data?: unknown, opts: AckOptions = {}): Promise<T> {
    return new Promise<T>((res, rej) => {
      const go = (d: unknown) => {
        const id = this.calls.add(name, opts.timeout ?? this.o.ackTimeout, res, rej, (id) => this.q.remove(id));
        try {
          this.push({ t: 'ev', n: name, d, id }, id);
        } catch (e) {
          this.calls.take(id);
          rej(e);
        }
      };
      if (isBlob(data) || this.ord.busy) this.ord.add(data, go, rej);
      else go(data);
    });
  }

  /** push sends m when connected and queues it otherwise; it throws when it cannot do either. */
  private push(m: Msg, id?: number): void {
    if (this.state == 'closed') throw err('closed', 'sockhop: connection closed');
    const s = encode(m); // bytes in the binary form (binary.ts): they count as their base64
    const n = utf8Len(s);
    if (n > this.max) throw err('too_big', 'sockhop: message of ' + n + ' bytes over the server limit ' + this.max);
    if (this.up) {
      this.out.push(s);
      if (!this.flushing) {
        this.flushing = true;
        Promise.resolve().then(() => this.flush());
      }
    } else if (!this.q.push(s, n, id)) {
      throw err('queue_full', 'sockhop: offline queue full');
    }
  }

  /** flush hands what was emitted since the last flush to the transport, in one go. */
  private flush(): void {
    this.flushing = false;
    const o = this.out;
    this.out = [];
    if (!o.length) return;
    if (this.t && this.up) {
      this.held.add(o);
      this.t.send(o);
    } else this.q.unshift(o, utf8Len);
  }

  /** report tells the server how many counted messages arrived, when it has not heard. */
  private report(): void {
    clearTimeout(this.ackTimer);
    if (this.up && this.rx > this.rxSaid) this.direct({ t: 'pong', r: (this.rxSaid = this.rx) });
  }

  /** direct sends control messages (hello, pong, ack replies before welcome) at once. */
  private direct(m: Msg): void {
    if (this.t) this.t.send([JSON.stringify(m)]);
  }

  close(): void {
    if (this.state == 'closed') return;
    const was = this.state == 'connected';
    this.flush();
    this.drop([JSON.stringify({ t: 'close', code: 1000 })]);
    this.end({ code: 1000, reason: 'client close', reconnect: false }, was);
  }

  // ---- connecting ---------------------------------------------------------------------

  /** start runs the ladder from transport from, else the remembered one, else the first. */
  private start(from?: TransportName): void {
    clearTimeout(this.timer);
    if (this.state == 'closed' || this.gone) return;
    if (offline()) {
      this.state = 'disconnected';
      return; // online() starts again
    }
    this.state = 'connecting';
    const list = this.o.transports.filter((n) => this.f[n]);
    const r = from || recall(this.key);
    this.from = r && list.indexOf(r) > 0 ? r : null;
    this.ladder = this.from ? list.slice(list.indexOf(r!)) : list;
    this.step = 0;
    this.next();
  }

  /** next tries the next transport of the ladder, or schedules a reconnect after the last. */
  private next(): void {
    if (this.step >= this.ladder.length) {
      forget(this.key);
      return this.retry();
    }
    const name = this.ladder[this.step++];
    const a: any = this.o.auth;
    if (typeof a != 'function') return this.dial(name, a);
    // A function fetches the credentials for every hello (after a 4003, fresh ones). It
    // may return a promise: the transport opens once it settles, so the fetch does not eat
    // into the open timeout; a failed fetch is a failed attempt, retried with backoff.
    const gen = ++this.authGen;
    const fail = (e: unknown) => {
      if (gen !== this.authGen || this.state != 'connecting') return;
      this.fire('error', err('auth', 'sockhop: auth: ' + String((e as any)?.message ?? e)));
      this.retry();
    };
    let v: any;
    try {
      v = a();
    } catch (e) {
      return fail(e);
    }
    if (!v || typeof v.then != 'function') return this.dial(name, v);
    v.then((x: unknown) => gen === this.authGen && this.state == 'connecting' && this.dial(name, x), fail);
  }

  /** dial opens transport name and says hello with auth once it is open. */
  private dial(name: TransportName, auth: unknown): void {
    this.up = false;
    this.closeMsg = null;
    let t: Transport | null = null;
    const mine = () => t && t === this.t;
    t = this.t = this.f[name](
      this.url,
      {
        open: () => {
          if (!mine()) return;
          const hello: Msg = { t: 'hello', v: 1, bin: 1 }; // bin: it reads binary messages (binary.ts)
          if (auth !== undefined) hello.auth = auth;
          this.resuming = !!this.token;
          if (this.token) hello.resume = { sid: this.id, token: this.token, seq: this.rx };
          if (this.hbl.ms) hello.ping = this.hbl.ms; // heartbeat.ts
          this.direct(hello);
        },
        frame: (f) => mine() && this.frame(f),
        alive: () => mine() && (this.seen = Date.now()),
        close: (code, reason, act, retry) => mine() && this.lost(code, reason, act, retry),
      },
      // A resume names the session's node (PROTOCOL.md §7, "Many nodes"); a new session none.
      { withCredentials: this.o.withCredentials, resume: !!this.token, node: this.token ? this.node : undefined },
    );
    this.timer = setTimeout(() => {
      if (!mine() || this.up) return;
      this.drop();
      this.next();
    }, this.o.openTimeout);
  }

  /** frame handles one frame of the current transport. */
  private frame(f: string | Msg): void {
    const t = this.t;
    let msgs: Msg[];
    try {
      msgs = typeof f == 'string' ? split(f) : [f];
    } catch {
      this.fire('error', err('protocol', 'sockhop: malformed frame from server'));
      return this.lost(1002, 'malformed frame');
    }
    for (const m of msgs) {
      if (this.t !== t) return; // the transport ended while handling an earlier message
      this.msg(m);
    }
    // Acknowledge what arrived: at once after ACK_EVERY messages, else when things calm down.
    if (this.rx - this.rxSaid >= ACK_EVERY) this.report();
    else if (this.rx > this.rxSaid && this.up) {
      clearTimeout(this.ackTimer);
      this.ackTimer = setTimeout(() => this.report(), ACK_IDLE);
    }
  }

  private msg(m: Msg): void {
    switch (m.t) {
      case 'welcome':
        return this.welcome(m);
      case 'ping': {
        this.held.ack(m.r);
        this.direct({ t: 'pong', r: (this.rxSaid = this.rx) });
        const up = this.hbl.raise(this.serverPing); // a learned interval held: ask for more
        if (up) this.direct({ t: 'ping', r: this.rx, ping: up });
        return;
      }
      case 'pong':
        if (m.ping > 0) this.pinged(m.ping, this.hbMs - this.pingMs);
        return this.held.ack(m.r);
      case 'ev':
        this.rx++;
        return this.event(m);
      case 'ack':
        this.rx++;
        try {
          return this.calls.settle(m.id, payload(m), m.e);
        } catch {
          this.fire('error', err('protocol', 'sockhop: bad base64 from server'));
          return this.lost(1002, 'bad base64');
        }
      case 'close':
        this.closeMsg = m as any;
    }
  }

  private welcome(m: Msg): void {
    if (this.up || !this.t) return;
    const t = this.t;
    const resumed = !!m.resumed;
    if (resumed && (!this.resuming || m.sid !== this.id || !this.held.covers(m.r))) {
      // The server resumed what this client cannot continue: start a new session instead.
      this.lostSession('resume_failed');
      this.drop([JSON.stringify({ t: 'close', code: 1000, reason: 'resume mismatch' })]);
      return this.next();
    }
    clearTimeout(this.timer);
    if (!resumed && this.resuming) this.lostSession('resume_failed');
    else if (!resumed) this.newSession();
    this.up = true;
    this.id = m.sid;
    this.token = m.token;
    this.node = isNode(m.node) ? m.node : undefined; // a welcome without node clears it
    this.max = m.max > 0 ? m.max : DEFAULT_MAX;
    t.setMax(this.max);
    if (t.setBin) t.setBin(m.bin == 1);
    this.hbMs = m.ping > 0 && m.pong > 0 ? m.ping + m.pong : 0;
    this.pingMs = m.ping > 0 ? m.ping : 0;
    if (!this.hbl.ms && this.pingMs) this.serverPing = this.pingMs;
    this.seen = Date.now();
    this.heartbeat();
    this.attempt = 0;
    this.state = 'connected';
    // Only a ladder run from the top renews the memory: a remembered fallback expires, and
    // the better transports get their chance again.
    if (t.name != this.from) remember(this.key, t.name, this.o.rememberTransport);
    if (this.transport != t.name) {
      this.transport = t.name;
      this.fire('transport', t.name);
    }
    // The server has our messages up to r: the rest go again, with the same numbers.
    if (resumed) this.held.ack(m.r);
    const again = this.held.all();
    if (!resumed && this.resuming) this.fire('resume-failed');
    this.resuming = false;
    this.fire('connect', { resumed });
    // Unacknowledged messages first, then the offline queue, then what listeners emitted.
    if (this.t === t && this.up) {
      if (again.length) t.send(again);
      this.out = this.q.drain().concat(this.out);
      this.flush();
    }
  }

  /** newSession forgets the counters of the previous session (none, or one that ended). */
  private newSession(): void {
    this.epoch++;
    this.token = null;
    this.node = undefined;
    this.rx = this.rxSaid = 0;
    this.held = new Held();
  }

  /**
   * lostSession ends a session the server no longer has: the replies to what it was sent
   * will not come, so those emitWithAck calls fail with code; what is still queued, never
   * sent, goes to the next session.
   */
  private lostSession(code: string): void {
    this.newSession();
    const why = code == 'closed' ? 'sockhop: the server ended the session' : 'sockhop: the session could not be resumed';
    this.calls.fail(code, why, this.q.ids());
  }

  /** pinged takes the interval the server answered a ping carrying one with. */
  private pinged(ping: number, pong: number): void {
    this.pingMs = ping;
    if (this.hbMs) this.hbMs = ping + pong;
    if (!this.hbl.ms) this.serverPing = ping;
  }

  /** The ping interval the server uses on this session, in ms (0 before the first welcome). */
  get pingInterval(): number {
    return this.pingMs;
  }

  /** heartbeat declares the server dead when nothing arrived for ping+pong ms. */
  private heartbeat(): void {
    clearTimeout(this.hb);
    if (!this.hbMs || !this.up) return;
    const left = this.seen + this.hbMs - Date.now();
    if (left <= 0) return this.lost(4001, 'heartbeat timeout');
    this.hb = setTimeout(() => this.heartbeat(), left + 10);
  }

  private event(m: Msg): void {
    let d: unknown;
    try {
      d = payload(m);
    } catch {
      this.fire('error', err('protocol', 'sockhop: bad base64 from server'));
      return this.lost(1002, 'bad base64');
    }
    if (m.id == null) {
      this.fire(m.n, d);
      return;
    }
    const ep = this.epoch;
    const reply = (r: object) => {
      if (ep != this.epoch) return; // asked by a session that ended
      try {
        this.push({ t: 'ack', id: m.id, ...r });
      } catch (e) {
        this.fire('error', e);
      }
    };
    const fns = this.listeners(m.n);
    if (!fns.length) return reply({ e: { code: 'unknown_event', message: 'no handler for ' + m.n } });
    let r: unknown;
    try {
      r = fns[0](d);
      for (const fn of fns.slice(1)) fn(d);
    } catch (e) {
      r = Promise.reject(e);
    }
    Promise.resolve(r)
      .then((d) => (isBlob(d) ? d.arrayBuffer() : d))
      .then(
      (d) => reply({ d: d === undefined ? null : d }),
      (e: any) => reply({ e: { code: String((e && e.code) || 'internal'), message: String((e && e.message) || e) } }),
    );
  }

  /** drop ends the current transport quietly; unsent messages go back to the queue. */
  private drop(last?: string[], unload?: boolean): void {
    clearTimeout(this.timer);
    clearTimeout(this.hb);
    clearTimeout(this.ackTimer);
    const t = this.t;
    this.t = null;
    this.up = false;
    // What the transport had not sent yet is all in held (numbered) or control messages.
    if (t) t.close(last, unload);
  }

  /**
   * lost handles the end of the current transport. The server decides when it spoke: with a
   * close message, or by refusing a request (act, see close.ts: a terminal refusal stops, the
   * others retry this transport, keeping the session). Otherwise the transport failed: before
   * the welcome the next one is tried; after it a terminal code stops, and a drop is resumed.
   */
  private lost(code: number, reason: string, act?: Action, hint?: number): void {
    const was = this.up;
    const cm = this.closeMsg;
    const name = this.t && this.t.name;
    if (was && !cm && !act) this.hbl.dropped(Date.now() - this.seen, this.pingMs); // an idle cut? (heartbeat.ts)
    this.drop();
    const c: CloseMsg = cm || { code, reason };
    if (!was && !cm && !act && this.state == 'connecting') return this.next();
    if (cm && cm.e) this.fire('error', err(String(cm.e.code), cm.e.message));
    if (act == 'terminal' || isTerminal(c.code) || !this.o.reconnect) return this.end({ code: c.code, reason: c.reason, reconnect: false }, was);
    // A close message after the welcome means the server ended the session; one before it
    // refused this connection only (a limit, a shutdown), and a drop without one is resumed.
    if (cm && was) this.lostSession('closed');
    this.state = 'disconnected';
    if (was) this.fire('disconnect', { code: c.code, reason: c.reason, reconnect: true } as DisconnectInfo);
    // A refusal of this connection (not of the session) is no verdict on the transport: the
    // next run begins with it, not at the top of the ladder, nor below it.
    const same = (act || (cm && !was)) && name ? name : undefined;
    this.retry(cm ? (cm.retry != null && cm.retry >= 0 ? cm.retry : undefined) : hint, same);
  }

  /** retry schedules the next ladder run (from transport from) after hint or a backoff delay. */
  private retry(hint?: number, from?: TransportName): void {
    if (this.state == 'closed') return;
    if (!this.o.reconnect) return this.end({ code: 1006, reason: 'no transport worked', reconnect: false }, false);
    this.state = 'disconnected';
    const d = hint ?? backoff(++this.attempt, this.o.backoffMin, this.o.backoffMax);
    if (hint != null) this.attempt++;
    this.fire('reconnecting', this.attempt, d);
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.start(from), d);
  }

  /** end stops for good: pending acks and queued emits fail with code closed. */
  private end(info: DisconnectInfo, was: boolean): void {
    this.drop();
    this.state = 'closed';
    this.unlisten();
    this.unwatch();
    this.q.drain();
    this.calls.fail('closed', 'sockhop: connection closed');
    if (was) this.fire('disconnect', info);
  }

  private online(): void {
    if (this.state == 'disconnected' && !this.gone) this.start();
  }

  /**
   * away: the page unloads (lifecycle.ts). The session is left for the next page load of
   * this tab (keepSession), and the connection closes with 1001 at once, so the server keeps
   * the session only its short going-away grace.
   */
  private away(): void {
    if (this.state == 'closed' || this.gone) return;
    this.flush();
    const up = this.up;
    // Saved even between transports: the server keeps a dropped session for its resume grace.
    if (this.o.keepSession && this.id && this.token)
      save(this.key, { sid: this.id, token: this.token, node: this.node, rx: this.rx, from: this.held.first, msgs: this.held.all() });
    this.drop(up ? [JSON.stringify({ t: 'close', code: 1001, reason: 'going away' })] : undefined, true);
    this.gone = true;
    this.state = 'disconnected';
  }

  /** back: the page came back from the back/forward cache; connect again (and try to resume). */
  private back(): void {
    if (!this.gone) return;
    this.gone = false;
    take(this.key); // what away() left is this page's own
    if (this.state == 'disconnected') this.start();
  }

  private offline(): void {
    if (this.state == 'closed') return;
    const was = this.up;
    this.drop();
    clearTimeout(this.timer);
    this.state = 'disconnected';
    if (was) this.fire('disconnect', { code: 1006, reason: 'offline', reconnect: true } as DisconnectInfo);
  }
}
