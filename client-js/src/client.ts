// The connection: transport ladder, handshake, heartbeats, reconnect, offline queue, and
// session resume (PROTOCOL.md §6): counted messages (ev, ack) are numbered implicitly per
// direction; what this side sent stays in `held` until the server acknowledges it (r on its
// ping/pong), and after a dropped transport the next one resumes the session with what each
// side lacks. Listeners are emitter.ts, pending emitWithAck calls acks.ts, the close-code
// policy close.ts. Connecting runs the ladder with overlapping attempts, and a connected
// session may move to another transport (upgrade probe, downgrade of a stalled stream)
// through a resume: timings in ladder.ts, the round trip in rtt.ts.
import { Calls, err } from './acks';
import type { AckOptions, DisconnectInfo, Options, Socket, State, SubscribeResult, TransportName } from './api';
import { backoff } from './backoff';
import { encode, isBlob, Ordered, payload } from './binary';
import { Action, isTerminal } from './close';
import { Msg, split, utf8Len } from './codec';
import { Emitter } from './emitter';
import { Heartbeat } from './heartbeat';
import { Held } from './held';
import { above, below, lateAfter, PROBE_TRIES, quietAfter, stallAfter, upgradeDelay } from './ladder';
import { save, saveSubs, take, takeSubs, watch } from './lifecycle';
import { Queue } from './queue';
import { measure, Rtt } from './rtt';
import { block, blocked, forget, recall, remember } from './storage';
import { isPos, Sub, Subs } from './subs';
import { DEFAULT_MAX, Factory, helloProtocol, isNode, Transport } from './transport';
import { websocket } from './websocket';
import { xhrPolling } from './xhr_polling';
import { xhrStreaming } from './xhr_streaming';

/** Internal options: the public ones plus transport factories (tests swap in fakes). */
export interface Config extends Options {
  factories?: Partial<Record<TransportName, Factory>>;
  /** measures the round trip to the mount (rtt.ts measure); default: in browsers only */
  measure?: (url: string) => Promise<number | null>;
}

/**
 * Try is one transport being opened: a run of the ladder (`ladder`), or a move of a
 * connected session to another transport through a resume: an upgrade probe (`up`), a
 * downgrade from a stalled stream (`down`), or a way back after an upgrade probe that took
 * the session and then failed (`back`).
 */
interface Try {
  t: Transport;
  name: TransportName;
  kind: 'ladder' | 'up' | 'down' | 'back';
  timer: any; // the try is given up at its deadline
  hello: number; // when its hello went out (Date.now()), 0 before
  early: boolean; // the hello went in the WebSocket upgrade (PROTOCOL.md §3)
  seq: number; // rx when the hello went out: the server resends the counted messages after it
  resume: boolean; // the hello asked to resume
  cm: CloseMsg | null; // a close message before the welcome
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

  private o: Required<Omit<Config, 'auth' | 'factories' | 'measure'>> & Config;
  private f: Record<TransportName, Factory>;
  private key: string;
  private t: Transport | null = null; // the transport in use (welcomed)
  private up = false; // t is set
  private tries: Try[] = []; // transports being opened
  private late: any; // starts the next transport of the ladder beside a late one
  private lateAt = 0; // when the try that late waits on began
  private rtt = new Rtt();
  private measuring = false;
  private skip = 0; // counted messages the server resends after a switch that arrived already
  private orphan: { code: number; reason: string } | null = null; // t dropped while a switch was under way
  private pingAt = 0; // when the client asked for a pong to check the stream, 0: not waiting
  private stallTimer: any;
  private upTimer: any; // next upgrade probe
  private probes = new Map<TransportName, number>(); // failed upgrade probes per transport
  private blockedHere = new Set<TransportName>(); // found blocked by this page (storage may be off)
  private seen = 0; // last time bytes arrived on t
  private hbMs = 0; // ping+pong of the welcome
  private max = DEFAULT_MAX;
  private ladder: TransportName[] = [];
  private step = 0;
  private from: TransportName | null = null; // the ladder run began here, below the top
  private attempt = 0;
  private timer: any; // reconnect delay
  private hb: any; // heartbeat check
  private closeMsg: CloseMsg | null = null; // a close message on t
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
  private authGen = 0; // counts ladder runs, so a late auth answer for an abandoned one is ignored
  private unlisten = () => {};
  // heartbeat.ts, lifecycle.ts: the learned heartbeat interval, the page's unload.
  private hbl: Heartbeat;
  private pingMs = 0; // the server's ping interval on this session (its welcome's or pong's)
  private serverPing = 25000; // the server's own interval (a welcome to a hello that asked none)
  private gone = false; // the page hid (pagehide): closed with 1001 until it shows again
  private subs = new Subs(); // the rooms the client subscribed to (subs.ts)
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
      upgradeAfter: 10000,
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
    if (this.o.keepSession) {
      // Subscribed in this session (epoch 0) already: made again only if it is not resumed.
      const rooms = takeSubs(url);
      for (const r in rooms) this.subs.add(r, rooms[r], this.epoch);
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
    const r = this.said();
    if (this.up && r > this.rxSaid) this.direct({ t: 'pong', r: (this.rxSaid = r) });
  }

  /**
   * said is the count of counted messages received that the client may report (r): rx, but
   * never above the seq of a resume hello under way on another transport. The server
   * forgets the messages a report acknowledges, and the resume must find every message
   * after its seq (PROTOCOL.md §6, "Switching transports").
   */
  private said(): number {
    let r = this.rx;
    for (const x of this.tries) if (x.hello && x.resume) r = Math.min(r, x.seq);
    return r;
  }

  /** direct sends control messages (hello, pong, ack replies before welcome) at once. */
  private direct(m: Msg): void {
    if (this.t) this.t.send([JSON.stringify(m)]);
  }

  // ---- subscriptions (PROTOCOL.md §9) -------------------------------------------------

  subscribe(room: string): Promise<SubscribeResult> {
    return new Promise((res, rej) => {
      if (this.state == 'closed') return rej(err('closed', 'sockhop: connection closed'));
      const s = this.subs.add(room);
      s.waits.push([res, rej]);
      if (this.up) this.sub(room, s);
      else s.ep = -1; // at the next welcome
    });
  }

  unsubscribe(room: string): Promise<void> {
    const s = this.subs.get(room);
    this.subs.delete(room);
    if (s) for (const w of s.waits.splice(0)) w[1](err('unsubscribed', 'sockhop: unsubscribed from ' + room));
    return this.emitWithAck('$unsub', { room }).then(() => {});
  }

  /**
   * sub sends the $sub request of room, from its last position. Its answer settles the
   * subscribe() calls waiting, or fires subscribed / subscribe-error for an automatic one. A
   * refusal forgets the room; an answer lost with its session is ignored (the next session
   * subscribes again).
   */
  private sub(room: string, s: Sub): void {
    const gen = ++s.gen;
    s.ep = this.epoch;
    const d: any = { room };
    if (s.pos) d.since = { e: s.pos.e, o: s.pos.o };
    const cur = () => s.gen == gen && this.subs.get(room) === s;
    this.emitWithAck('$sub', d).then(
      (a: any) => {
        if (!cur()) return;
        const p = a && a.pos;
        if (isPos(p)) this.subs.acked(room, p);
        const r: SubscribeResult = { room, recovered: !!(a && a.recovered), pos: isPos(p) && s.pos ? { e: s.pos.e, o: s.pos.o } : null };
        const w = s.waits.splice(0);
        if (w.length) for (const x of w) x[0](r);
        else this.fire('subscribed', r);
      },
      (e: any) => {
        const c = e && e.code;
        if (!cur() || c == 'resume_failed' || (c == 'closed' && this.state != 'closed')) return;
        if (c != 'timeout' && c != 'closed') this.subs.delete(room); // refused
        const w = s.waits.splice(0);
        if (w.length) for (const x of w) x[1](e);
        else if (this.state != 'closed') this.fire('subscribe-error', { room, error: e });
      },
    );
  }

  /** resub sends the $sub of every room not subscribed in this session (all of them in a new one). */
  private resub(): void {
    this.subs.forEach((s, room) => s.ep != this.epoch && this.sub(room, s));
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
    this.abandonAll();
    if (this.state == 'closed' || this.gone) return;
    if (offline()) {
      this.state = 'disconnected';
      return; // online() starts again
    }
    this.state = 'connecting';
    this.authGen++;
    const list = this.list();
    const r = from || recall(this.key);
    this.from = r && list.indexOf(r) > 0 ? r : null;
    this.ladder = this.from ? list.slice(list.indexOf(r!)) : list;
    this.step = 0;
    this.measureRtt();
    this.next();
  }

  private list(): TransportName[] {
    return this.o.transports.filter((n) => this.f[n]);
  }

  /**
   * measureRtt times GET <mount>/sockjs/info once, beside the first transport (rtt.ts): the
   * ladder's timeouts then follow the round trip instead of the fixed openTimeout.
   */
  private measureRtt(): void {
    if (this.rtt.ms != null || this.measuring) return;
    const m = this.o.measure || (typeof window != 'undefined' ? (u: string) => measure(u, this.o.withCredentials, this.o.openTimeout) : null);
    if (!m) return;
    this.measuring = true;
    m(this.url).then(
      (ms) => {
        this.measuring = false;
        if (ms == null) return;
        this.rtt.add(ms);
        this.armLate(); // the transport being tried may be late already
      },
      () => (this.measuring = false),
    );
  }

  /** rttMs is the round trip measured so far (ms), null before the first sample. */
  get rttMs(): number | null {
    return this.rtt.ms;
  }

  /** lateMs is how long a transport of the ladder may go unwelcomed before the next starts beside it. */
  get lateMs(): number {
    return lateAfter(this.rtt.ms, this.o.openTimeout);
  }

  /** armLate (re)starts the timer that starts the next transport beside a late one. */
  private armLate(): void {
    clearTimeout(this.late);
    if (!this.lateAt || this.state != 'connecting' || this.step >= this.ladder.length) return;
    this.late = setTimeout(() => this.next(), Math.max(0, this.lateAt + this.lateMs - Date.now()));
  }

  /** next starts the next transport of the ladder, or schedules a reconnect after the last. */
  private next(): void {
    clearTimeout(this.late);
    this.lateAt = 0;
    if (this.state != 'connecting') return;
    if (this.step >= this.ladder.length) {
      if (this.tries.length) return; // the last ones are still under way
      forget(this.key);
      return this.retry();
    }
    this.open(this.ladder[this.step++], 'ladder');
    this.lateAt = Date.now();
    this.armLate();
  }

  /** open fetches the credentials (when auth is a function), then dials name. */
  private open(name: TransportName, kind: Try['kind']): void {
    const a: any = this.o.auth;
    if (typeof a != 'function') return this.dial(name, a, kind);
    // A function fetches the credentials for every hello (after a 4003, fresh ones). It
    // may return a promise: the transport opens once it settles, so the fetch does not eat
    // into the open timeout; a failed fetch is a failed attempt, retried with backoff.
    const gen = this.authGen; // the ladder run: a late answer for an earlier run is ignored
    const ok = () => (kind == 'ladder' ? gen === this.authGen && this.state == 'connecting' : this.state != 'closed');
    const fail = (e: unknown) => {
      if (!ok()) return;
      this.fire('error', err('auth', 'sockhop: auth: ' + String((e as any)?.message ?? e)));
      if (kind == 'ladder') this.retry();
      else this.switchFailed(kind, name);
    };
    let v: any;
    try {
      v = a();
    } catch (e) {
      return fail(e);
    }
    if (!v || typeof v.then != 'function') return this.dial(name, v, kind);
    v.then((x: unknown) => ok() && this.dial(name, x, kind), fail);
  }

  /** dial opens transport name and says hello with auth once it is open. */
  private dial(name: TransportName, auth: unknown, kind: Try['kind']): void {
    const tr: Try = { t: null as any, name, kind, timer: 0, hello: 0, early: false, seq: 0, resume: false, cm: null };
    this.tries.push(tr);
    const live = () => this.tries.indexOf(tr) >= 0;
    tr.t = this.f[name](
      this.url,
      {
        open: (said) => {
          if (!live()) return;
          if (said) {
            // The upgrade carried the hello: the welcome follows the upgrade, no round trip to measure.
            tr.resume = false;
            tr.seq = this.rx;
            tr.hello = Date.now();
            tr.early = true;
            return;
          }
          const hello: Msg = { t: 'hello', v: 1, bin: 1 }; // bin: it reads binary messages (binary.ts)
          if (auth !== undefined) hello.auth = auth;
          tr.resume = !!this.token;
          if (this.token) hello.resume = { sid: this.id, token: this.token, seq: this.rx };
          if (this.hbl.ms) hello.ping = this.hbl.ms; // the learned interval (heartbeat.ts)
          tr.seq = this.rx;
          tr.hello = Date.now();
          tr.t.send([JSON.stringify(hello)]);
        },
        frame: (f) => this.frame(tr, f),
        alive: () => tr.t === this.t && (this.seen = Date.now()),
        close: (code, reason, act, retry) => {
          if (tr.t === this.t) return this.lost(code, reason, act, retry);
          if (live()) this.failed(tr, code, reason, act, retry);
        },
      },
      // A resume names the session's node (PROTOCOL.md §7, "Many nodes"); a new session none.
      {
        withCredentials: this.o.withCredentials,
        resume: !!this.token,
        node: this.token ? this.node : undefined,
        hello: auth === undefined && !this.token ? helloProtocol(this.hbl.ms) : undefined,
      },
    );
    // Every try gets openTimeout: on the ladder later ones start beside it after lateMs; a
    // switch leaves the transport in use working until the server takes its hello.
    tr.timer = setTimeout(() => {
      if (!live()) return;
      this.abandon(tr);
      this.failed(tr, 1006, 'open timeout');
    }, this.o.openTimeout);
  }

  /** untry forgets tr as a try (it won, failed or was abandoned). */
  private untry(tr: Try): void {
    clearTimeout(tr.timer);
    const i = this.tries.indexOf(tr);
    if (i >= 0) this.tries.splice(i, 1);
  }

  /**
   * abandon closes a try that lost the race or ran out of time. A new session that the
   * server may have opened for its hello is ended at once with a close message, so that it
   * stops counting against the address's limits and receiving events; a resume is just
   * dropped (the session is the one the client goes on with).
   */
  private abandon(tr: Try): void {
    this.untry(tr);
    if (tr.hello && !tr.resume) tr.t.close([JSON.stringify({ t: 'close', code: 1000, reason: 'another transport won' })]);
    else tr.t.close();
  }

  private abandonAll(): void {
    clearTimeout(this.late);
    this.lateAt = 0;
    for (const tr of this.tries.slice()) this.abandon(tr);
  }

  /**
   * failed handles a try that ended before its welcome. The server decides when it spoke:
   * with a close message, or by refusing a request (act, see close.ts: a terminal refusal
   * stops, the others retry this transport, keeping the session). Otherwise the transport
   * failed: the next one starts now unless another is still under way.
   */
  private failed(tr: Try, code: number, reason: string, act?: Action, hint?: number): void {
    this.untry(tr);
    if (tr.kind != 'ladder') return this.switchFailed(tr.kind, tr.name);
    if (this.state != 'connecting') return;
    const cm = tr.cm;
    if (cm || act) {
      const c: CloseMsg = cm || { code, reason };
      if (cm && cm.e) this.fire('error', err(String(cm.e.code), cm.e.message));
      if (act == 'terminal' || isTerminal(c.code) || !this.o.reconnect) return this.end({ code: c.code, reason: c.reason, reconnect: false }, false);
      // A refusal of this connection (not of the session) is no verdict on the transport: the
      // next run begins with it, not at the top of the ladder, nor below it; the transports
      // started beside it (it was late: the server holds a connection it will refuse for a
      // while) are given up, as the server would refuse them too.
      this.abandonAll();
      this.state = 'disconnected';
      return this.retry(cm ? (cm.retry != null && cm.retry >= 0 ? cm.retry : undefined) : hint, tr.name);
    }
    if (!this.tries.length) this.next();
  }

  /** frame handles one frame of transport try tr: the one in use, or one being opened. */
  private frame(tr: Try, f: string | Msg): void {
    const t = tr.t;
    if (t !== this.t && this.tries.indexOf(tr) < 0) return;
    let msgs: Msg[];
    try {
      msgs = typeof f == 'string' ? split(f) : [f];
    } catch {
      this.fire('error', err('protocol', 'sockhop: malformed frame from server'));
      if (t === this.t) return this.lost(1002, 'malformed frame');
      this.abandon(tr);
      return this.failed(tr, 1002, 'malformed frame');
    }
    for (const m of msgs) {
      if (t === this.t) this.msg(m);
      else if (this.tries.indexOf(tr) < 0) return; // ended while handling an earlier message
      else if (m.t == 'welcome') this.welcome(tr, m);
      else if (m.t == 'close') tr.cm = m as any;
    }
    if (t !== this.t) return;
    // Acknowledge what arrived: at once after ACK_EVERY messages, else when things calm down.
    if (this.rx - this.rxSaid >= ACK_EVERY) this.report();
    else if (this.rx > this.rxSaid && this.up) {
      clearTimeout(this.ackTimer);
      this.ackTimer = setTimeout(() => this.report(), ACK_IDLE);
    }
  }

  private msg(m: Msg): void {
    switch (m.t) {
      case 'ping': {
        this.held.ack(m.r);
        this.direct({ t: 'pong', r: (this.rxSaid = Math.max(this.rxSaid, this.said())) });
        const up = this.hbl.raise(this.serverPing); // a learned interval held: ask for more
        if (up) this.direct({ t: 'ping', r: this.rxSaid, ping: up });
        return;
      }
      case 'pong':
        if (this.pingAt) this.rtt.add(Date.now() - this.pingAt);
        this.pingAt = 0;
        if (m.ping > 0) this.pinged(m.ping, this.hbMs - this.pingMs);
        return this.held.ack(m.r);
      case 'ev':
        if (this.skip > 0) return void this.skip--; // arrived before the switch: resent
        this.rx++;
        return this.event(m);
      case 'ack':
        if (this.skip > 0) return void this.skip--;
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

  /**
   * welcome makes tr the transport in use: the first of the ladder to be welcomed wins and
   * the others are abandoned; a switch replaces the transport in use, and the counted
   * messages that arrived on the old one after the switch's hello are skipped when the
   * server sends them again.
   */
  private welcome(tr: Try, m: Msg): void {
    const resumed = !!m.resumed;
    const sw = tr.kind != 'ladder';
    if (resumed && (!tr.resume || m.sid !== this.id || !this.held.covers(m.r))) {
      // The server resumed what this client cannot continue: start a new session instead.
      this.untry(tr);
      this.lostSession('resume_failed');
      tr.t.close([JSON.stringify({ t: 'close', code: 1000, reason: 'resume mismatch' })]);
      if (sw) return this.lost(1006, 'resume mismatch');
      return this.tries.length ? undefined : this.next();
    }
    this.untry(tr);
    if (!sw) this.abandonAll();
    if (tr.hello && !tr.early) this.rtt.add(Date.now() - tr.hello);
    const old = this.t;
    if (old) {
      // The server dropped it (4002, replaced) when it took the hello; what it had not
      // acknowledged is resent below.
      clearTimeout(this.hb);
      clearTimeout(this.ackTimer);
      old.close();
    }
    this.orphan = null;
    const t = tr.t;
    this.t = t;
    this.closeMsg = null;
    this.skip = resumed ? this.rx - tr.seq : 0;
    if (!resumed && tr.resume) this.lostSession('resume_failed');
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
    this.pingAt = 0;
    this.heartbeat();
    this.attempt = 0;
    this.state = 'connected';
    // A ladder run from the top renews the memory (a remembered fallback expires, and the
    // better transports get their chance again); so does every switch.
    if (sw || tr.name != this.from) remember(this.key, tr.name, this.o.rememberTransport);
    if (tr.kind == 'up') {
      this.probes.delete(tr.name);
      block(this.key, tr.name, 0);
    }
    if (this.transport != tr.name) {
      this.transport = tr.name;
      this.fire('transport', tr.name);
    }
    // The server has our messages up to r: the rest go again, with the same numbers.
    if (resumed) this.held.ack(m.r);
    const again = this.held.all();
    if (!resumed && tr.resume) this.fire('resume-failed');
    // Subscriptions before the app hears of the connect (a new session has none).
    this.resub();
    // A switch that resumed is no new connection: the app sees only the transport event.
    if (!(sw && resumed)) this.fire('connect', { resumed });
    // Unacknowledged messages first, then the offline queue, then what listeners emitted.
    if (this.t === t && this.up) {
      if (again.length) t.send(again);
      this.out = this.q.drain().concat(this.out);
      this.flush();
      this.watch();
      this.planUpgrade();
    }
  }

  // ---- moving a session to another transport ----------------------------------------

  /**
   * migrate moves the connected session to transport name through a resume, without a
   * disconnect: what the upgrade probe and the downgrade of a stalled stream do (tests call
   * it to switch on demand). It does nothing unless connected with no switch under way.
   */
  migrate(name: TransportName, kind: 'up' | 'down' = 'down'): void {
    if (this.state != 'connected' || !this.up || this.tries.length || !this.f[name] || name == this.transport) return;
    clearTimeout(this.upTimer);
    this.open(name, kind);
  }

  /**
   * switchFailed handles a switch that ended before its welcome. A failed upgrade probe is
   * counted (PROBE_TRIES of them mark the transport blocked for a while); when the switch's
   * hello had taken the session from the transport in use (the server dropped it), the
   * session goes back to that transport through a resume; when that fails too, the client
   * reconnects. A failed downgrade leaves a stalled stream: it is dropped and resumed.
   */
  private switchFailed(kind: Try['kind'], name: TransportName): void {
    if (this.state == 'closed') return;
    if (kind == 'up') this.probeFailed(name);
    if (this.orphan) {
      if (kind == 'up' && this.transport && this.f[this.transport]) return this.open(this.transport, 'back');
      const o = this.orphan;
      this.orphan = null;
      this.state = 'disconnected';
      this.fire('disconnect', { code: o.code, reason: o.reason, reconnect: true } as DisconnectInfo);
      return this.retry(undefined, this.transport || undefined);
    }
    if (!this.up) return;
    if (kind == 'down') return this.lost(4001, 'stream stalled');
    this.watch();
    this.planUpgrade();
  }

  /** probeFailed counts a failed upgrade probe of name; enough of them mark it blocked. */
  private probeFailed(name: TransportName): void {
    const n = (this.probes.get(name) || 0) + 1;
    this.probes.set(name, n);
    if (n >= PROBE_TRIES) {
      this.blockedHere.add(name);
      block(this.key, name, this.o.rememberTransport || 30 * 60 * 1000);
    }
  }

  /**
   * planUpgrade schedules the next upgrade probe of a session on a fallback: the best
   * transport above the one in use that is not known to be blocked, after upgradeDelay.
   */
  private planUpgrade(): void {
    clearTimeout(this.upTimer);
    if (!(this.o.upgradeAfter > 0) || !this.up || !this.transport) return;
    const target = above(this.list(), this.transport).find((n) => !this.blockedHere.has(n) && !blocked(this.key, n));
    if (!target) return;
    const d = upgradeDelay((this.probes.get(target) || 0) + 1, this.o.upgradeAfter);
    this.upTimer = setTimeout(() => {
      if (this.tries.length) return this.planUpgrade();
      this.migrate(target, 'up');
    }, d);
  }

  /**
   * watch checks that the transport in use still delivers: after quietAfter without a byte
   * it asks for a pong, and when no byte comes back within stallAfter the stream counts as
   * stalled (a proxy began to buffer it, a middlebox froze it): the session moves to the
   * next transport down through a resume, long before the heartbeat would notice.
   */
  private watch(): void {
    clearTimeout(this.stallTimer);
    if (!this.up || !this.t || this.tries.length) return;
    const now = Date.now();
    if (this.pingAt) {
      if (this.seen >= this.pingAt) this.pingAt = 0;
      else {
        const left = this.pingAt + stallAfter(this.rtt.ms, this.hbMs) - now;
        if (left <= 0) {
          this.pingAt = 0;
          return this.stalled();
        }
        this.stallTimer = setTimeout(() => this.watch(), left);
        return;
      }
    }
    const idle = now - this.seen;
    const quiet = quietAfter(this.pingMs);
    if (idle < quiet) {
      this.stallTimer = setTimeout(() => this.watch(), quiet - idle + 5);
      return;
    }
    this.pingAt = now;
    this.direct({ t: 'ping', r: (this.rxSaid = Math.max(this.rxSaid, this.said())) });
    this.stallTimer = setTimeout(() => this.watch(), stallAfter(this.rtt.ms, this.hbMs));
  }

  /** stalled moves the session off a transport that stopped delivering. */
  private stalled(): void {
    const to = this.transport && below(this.list(), this.transport);
    if (to) this.migrate(to, 'down');
    else this.lost(4001, 'stream stalled');
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
    // A durable message the client has taken already (PROTOCOL.md §9) is dropped.
    if (typeof m.room == 'string' && !this.subs.fresh(m.room, m.pos)) return;
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

  /** drop ends the transport in use quietly; unsent messages go back to the queue. */
  private drop(last?: string[], unload?: boolean): void {
    clearTimeout(this.timer);
    clearTimeout(this.hb);
    clearTimeout(this.ackTimer);
    clearTimeout(this.stallTimer);
    clearTimeout(this.upTimer);
    const t = this.t;
    this.t = null;
    this.up = false;
    this.pingAt = 0;
    // What the transport had not sent yet is all in held (numbered) or control messages.
    if (t) t.close(last, unload);
  }

  /**
   * lost handles the end of the transport in use. A terminal code stops; a close message
   * means the server ended the session; a drop is resumed. While a switch is under way the
   * drop is expected (the server replaced the transport when it took the switch's hello):
   * the switch's welcome goes on from there.
   */
  private lost(code: number, reason: string, act?: Action, hint?: number): void {
    const cm = this.closeMsg;
    const c: CloseMsg = cm || { code, reason };
    if (this.tries.length && !cm && (!act || act == 'resume') && !isTerminal(c.code) && this.o.reconnect && this.state == 'connected') {
      this.drop();
      this.orphan = { code: c.code, reason: c.reason };
      return;
    }
    const was = this.up;
    const name = this.t && this.t.name;
    if (was && !cm && !act) this.hbl.dropped(Date.now() - this.seen, this.pingMs); // an idle cut? (heartbeat.ts)
    this.abandonAll();
    this.drop();
    if (cm && cm.e) this.fire('error', err(String(cm.e.code), cm.e.message));
    if (act == 'terminal' || isTerminal(c.code) || !this.o.reconnect) return this.end({ code: c.code, reason: c.reason, reconnect: false }, was);
    // A close message after the welcome means the server ended the session; a drop without
    // one is resumed.
    if (cm && was) this.lostSession('closed');
    this.state = 'disconnected';
    if (was) this.fire('disconnect', { code: c.code, reason: c.reason, reconnect: true } as DisconnectInfo);
    // A refusal of a request (act) is no verdict on the transport: the next run begins with
    // it, not at the top of the ladder, nor below it.
    this.retry(cm ? (cm.retry != null && cm.retry >= 0 ? cm.retry : undefined) : hint, act && name ? name : undefined);
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
    this.abandonAll();
    this.drop();
    this.orphan = null;
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
    if (this.o.keepSession) saveSubs(this.key, this.subs.positions());
    this.abandonAll(); // transports being opened or probed beside it
    this.drop(up ? [JSON.stringify({ t: 'close', code: 1001, reason: 'going away' })] : undefined, true);
    this.gone = true;
    this.state = 'disconnected';
  }

  /** back: the page came back from the back/forward cache; connect again (and try to resume). */
  private back(): void {
    if (!this.gone) return;
    this.gone = false;
    take(this.key); // what away() left is this page's own
    takeSubs(this.key);
    if (this.state == 'disconnected') this.start();
  }

  private offline(): void {
    if (this.state == 'closed') return;
    const was = this.up || !!this.orphan;
    this.abandonAll();
    this.drop();
    this.orphan = null;
    clearTimeout(this.timer);
    this.state = 'disconnected';
    if (was) this.fire('disconnect', { code: 1006, reason: 'offline', reconnect: true } as DisconnectInfo);
  }
}
