/*! sockhop 0.1.0 | MIT */
var __defProp = Object.defineProperty;
var __defProps = Object.defineProperties;
var __getOwnPropDescs = Object.getOwnPropertyDescriptors;
var __getOwnPropSymbols = Object.getOwnPropertySymbols;
var __hasOwnProp = Object.prototype.hasOwnProperty;
var __propIsEnum = Object.prototype.propertyIsEnumerable;
var __defNormalProp = (obj, key, value) => key in obj ? __defProp(obj, key, { enumerable: true, configurable: true, writable: true, value }) : obj[key] = value;
var __spreadValues = (a, b) => {
  for (var prop in b || (b = {}))
    if (__hasOwnProp.call(b, prop))
      __defNormalProp(a, prop, b[prop]);
  if (__getOwnPropSymbols)
    for (var prop of __getOwnPropSymbols(b)) {
      if (__propIsEnum.call(b, prop))
        __defNormalProp(a, prop, b[prop]);
    }
  return a;
};
var __spreadProps = (a, b) => __defProps(a, __getOwnPropDescs(b));
var __objRest = (source, exclude) => {
  var target = {};
  for (var prop in source)
    if (__hasOwnProp.call(source, prop) && exclude.indexOf(prop) < 0)
      target[prop] = source[prop];
  if (source != null && __getOwnPropSymbols)
    for (var prop of __getOwnPropSymbols(source)) {
      if (exclude.indexOf(prop) < 0 && __propIsEnum.call(source, prop))
        target[prop] = source[prop];
    }
  return target;
};

// src/acks.ts
function err(code, message) {
  const e = new Error(message || code);
  e.code = code;
  return e;
}
var Calls = class {
  constructor() {
    this.m = /* @__PURE__ */ new Map();
    this.last = 0;
  }
  /**
   * add starts a call to event name and returns its id. Unanswered after ms, it fails with
   * code timeout, after gone(id) has been told.
   */
  add(name, ms, res, rej, gone) {
    const id = ++this.last;
    const timer = setTimeout(() => {
      this.m.delete(id);
      gone(id);
      rej(err("timeout", "sockhop: no reply to " + name));
    }, ms);
    this.m.set(id, { res, rej, timer });
    return id;
  }
  /** settle ends call id with the server's ack message; a reply after the timeout is dropped. */
  settle(id, d, e) {
    const c = this.take(id);
    if (!c) return;
    if (e) c.rej(err(String(e.code || "internal"), e.message));
    else c.res(d === void 0 ? null : d);
  }
  /** fail ends every call but those in keep with an error of code and message. */
  fail(code, message, keep) {
    this.m.forEach((_, id) => (keep == null ? void 0 : keep.has(id)) || this.take(id).rej(err(code, message)));
  }
  /** take removes call id, stopping its timer. */
  take(id) {
    const c = this.m.get(id);
    if (c) {
      clearTimeout(c.timer);
      this.m.delete(id);
    }
    return c;
  }
};

// src/backoff.ts
function backoff(n, min, max, rand = Math.random) {
  const cap = Math.min(max, min * Math.pow(2, Math.max(0, Math.min(n - 1, 30))));
  return Math.floor(rand() * cap);
}

// src/binary.ts
var PREFIX = '{"b":"';
var enc = typeof TextEncoder != "undefined" ? new TextEncoder() : null;
var dec = typeof TextDecoder != "undefined" ? new TextDecoder() : null;
var isBytes = (v) => v instanceof ArrayBuffer || typeof ArrayBuffer != "undefined" && ArrayBuffer.isView(v);
var isBlob = (v) => typeof Blob != "undefined" && v instanceof Blob;
function bytesOf(v) {
  if (v instanceof Uint8Array) return v;
  if (v instanceof ArrayBuffer) return new Uint8Array(v);
  return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}
var ALPHA = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
var CODE = new Uint8Array(ALPHA.length);
var VAL = new Int16Array(128).fill(-1);
for (let i = 0; i < ALPHA.length; i++) CODE[i] = ALPHA.charCodeAt(i), VAL[CODE[i]] = i;
function toB64(u) {
  const native = u.toBase64;
  if (typeof native == "function") return native.call(u);
  const out = new Uint8Array(Math.ceil(u.length / 3) * 4);
  let j = 0;
  let i = 0;
  for (; i + 2 < u.length; i += 3) {
    const n = u[i] << 16 | u[i + 1] << 8 | u[i + 2];
    out[j++] = CODE[n >> 18];
    out[j++] = CODE[n >> 12 & 63];
    out[j++] = CODE[n >> 6 & 63];
    out[j++] = CODE[n & 63];
  }
  if (i < u.length) {
    const n = u[i] << 16 | (i + 1 < u.length ? u[i + 1] << 8 : 0);
    out[j++] = CODE[n >> 18];
    out[j++] = CODE[n >> 12 & 63];
    out[j++] = i + 1 < u.length ? CODE[n >> 6 & 63] : 61;
    out[j++] = 61;
  }
  return ascii(out);
}
function ascii(b) {
  if (dec) return dec.decode(b);
  let s = "";
  for (let i = 0; i < b.length; i += 32768) s += String.fromCharCode.apply(null, b.subarray(i, i + 32768));
  return s;
}
function fromB64(s) {
  var _a, _b, _c, _d;
  const native = Uint8Array.fromBase64;
  if (typeof native == "function") return native(s);
  const bad = () => new Error("sockhop: bad base64");
  if (s.length % 4) throw bad();
  const pad = s.endsWith("==") ? 2 : s.endsWith("=") ? 1 : 0;
  const out = new Uint8Array(s.length / 4 * 3 - pad);
  let j = 0;
  for (let i = 0; i < s.length; i += 4) {
    const a = (_a = VAL[s.charCodeAt(i)]) != null ? _a : -1;
    const b = (_b = VAL[s.charCodeAt(i + 1)]) != null ? _b : -1;
    const last = i + 4 == s.length;
    const c = last && pad >= 2 ? 0 : (_c = VAL[s.charCodeAt(i + 2)]) != null ? _c : -1;
    const d = last && pad >= 1 ? 0 : (_d = VAL[s.charCodeAt(i + 3)]) != null ? _d : -1;
    if ((a | b | c | d) < 0) throw bad();
    const n = a << 18 | b << 12 | c << 6 | d;
    out[j++] = n >> 16;
    if (j < out.length) out[j++] = n >> 8 & 255;
    if (j < out.length) out[j++] = n & 255;
  }
  return out;
}
var raw = /* @__PURE__ */ new Map();
var RAW_KEEP = 8;
var RAW_BYTES = 4 << 20;
var rawBytes = 0;
function forget(s) {
  const b = raw.get(s);
  if (b) rawBytes -= b.length, raw.delete(s);
}
function encode(m) {
  if (!isBytes(m.d)) return JSON.stringify(m);
  const _a = m, { d } = _a, head = __objRest(_a, ["d"]);
  const b = bytesOf(d).slice();
  const s = PREFIX + toB64(b) + '",' + JSON.stringify(head).slice(1);
  forget(s);
  raw.set(s, b);
  rawBytes += b.length;
  while (raw.size > RAW_KEEP || rawBytes > RAW_BYTES) forget(raw.keys().next().value);
  return s;
}
var isBin = (s) => s.startsWith(PREFIX);
var asText = (s, bin) => bin || !isBin(s) ? s : '{"d"' + s.slice(4);
function frameOf(s) {
  const j = s.indexOf('"', PREFIX.length);
  const bytes = raw.get(s) || fromB64(s.slice(PREFIX.length, j));
  forget(s);
  const head = enc.encode("{" + s.slice(j + 2));
  const f = new Uint8Array(head.length + 1 + bytes.length);
  f.set(head);
  f[head.length] = 10;
  f.set(bytes, head.length + 1);
  return f;
}
function parseFrame(buf) {
  const u = new Uint8Array(buf);
  const i = u.indexOf(10);
  if (i < 0) throw new Error("sockhop: binary frame without a header");
  const m = JSON.parse(dec.decode(u.subarray(0, i)));
  if (!m || typeof m != "object" || m.t != "ev" && m.t != "ack" || "d" in m || "b" in m)
    throw new Error("sockhop: bad binary frame header");
  m.b = u.subarray(i + 1);
  return m;
}
function payload(m) {
  if (m.b == null) return m.d === void 0 ? null : m.d;
  return typeof m.b == "string" ? fromB64(m.b) : m.b;
}
var Ordered = class {
  constructor() {
    this.q = [];
  }
  /** busy reports whether emits wait: a later emit must wait too, to keep the order. */
  get busy() {
    return this.q.length > 0;
  }
  /** add runs run(d) once every earlier emit has run, a Blob d read into a Uint8Array first. */
  add(d, run, fail) {
    this.q.push({ d, run, fail });
    if (this.q.length == 1) this.pump();
  }
  pump() {
    while (this.q.length) {
      const x = this.q[0];
      if (isBlob(x.d)) {
        if (x.reading) return;
        x.reading = true;
        x.d.arrayBuffer().then(
          (b) => (x.d = new Uint8Array(b), this.pump()),
          (e) => (x.d = e, x.bad = true, this.pump())
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
};

// src/close.ts
var isTerminal = (c) => c == 1e3 || c == 1002 || c == 1003 || c == 1007 || c == 1008 || c == 1009 || c >= 4500 && c <= 4999;
function statusCode(s, retry) {
  const r = "http " + s;
  if (s == 400) return [1002, r, "terminal"];
  if (s == 403) return [1008, r, "terminal"];
  if (s == 404) return [1006, r, "resume"];
  if (s == 408) return [1006, r, "resume"];
  if (s == 413) return [1009, r, "terminal"];
  if (s == 429) return [1013, r, "wait", retry];
  if (s == 503) return [1001, r, "wait", retry];
  if (retry != null) return [1006, r, "wait", retry];
  return [1006, s ? r : "network error"];
}

// src/codec.ts
function utf8Len(s) {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 128) n++;
    else if (c < 2048) n += 2;
    else if (c >= 55296 && c < 56320 && (s.charCodeAt(i + 1) & 64512) == 56320) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}
var escLen = (s) => utf8Len(JSON.stringify(s)) - 2;
function split(frame) {
  const out = [];
  for (const line of frame.split("\n")) {
    if (!line) continue;
    const m = JSON.parse(line);
    if (!m || typeof m != "object" || typeof m.t != "string") throw new Error("sockhop: bad message");
    out.push(m);
  }
  return out;
}
function pack(msgs, budget, size = utf8Len, sep = 1) {
  const frames = [];
  let cur = [];
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
function parseSockJS(line) {
  var _a;
  const k = line[0];
  if (line == "o") return ["o"];
  if (k == "h" && /^h+$/.test(line)) return ["h"];
  if (k != "a" && k != "c") return null;
  let v;
  try {
    v = JSON.parse(line.slice(1));
  } catch (e) {
    return null;
  }
  if (!Array.isArray(v)) return null;
  if (k == "a") return ["a", v.filter((s) => typeof s == "string")];
  return ["c", typeof v[0] == "number" ? v[0] : 1006, String((_a = v[1]) != null ? _a : "")];
}
var Lines = class {
  constructor() {
    this.buf = "";
  }
  /** push adds a chunk and returns the lines it completed. */
  push(chunk) {
    this.buf += chunk;
    const parts = this.buf.split("\n");
    this.buf = parts.pop();
    return parts;
  }
  /** end returns the unterminated rest, if any. */
  end() {
    const r = this.buf;
    this.buf = "";
    return r ? [r] : [];
  }
};

// src/emitter.ts
var Emitter = class {
  constructor() {
    this.ls = /* @__PURE__ */ new Map();
  }
  on(ev, fn) {
    const l = this.ls.get(ev);
    if (l) l.push(fn);
    else this.ls.set(ev, [fn]);
    return this;
  }
  once(ev, fn) {
    const w = (...a) => (this.off(ev, w), fn(...a));
    w.fn = fn;
    return this.on(ev, w);
  }
  off(ev, fn) {
    const l = this.ls.get(ev);
    if (!l || !fn) this.ls.delete(ev);
    else this.ls.set(ev, l.filter((x) => x !== fn && x.fn !== fn));
    return this;
  }
  /** listeners returns ev's listeners as they are now (a copy: a listener may call off). */
  listeners(ev) {
    return (this.ls.get(ev) || []).slice();
  }
  /** fire calls the listeners of ev; a throwing listener is reported, not propagated. */
  fire(ev, ...a) {
    for (const fn of this.listeners(ev)) {
      try {
        fn(...a);
      } catch (e) {
        setTimeout(() => {
          throw e;
        });
      }
    }
  }
};

// src/heartbeat.ts
var MIN_MS = 5e3;
var HOLD_MS = 10 * 60 * 1e3;
var HOLD_MAX_MS = 8 * 60 * 60 * 1e3;
var REMEMBER_MS = 24 * 60 * 60 * 1e3;
var PREFIX2 = "sockhop.heartbeat:";
function store() {
  try {
    return globalThis.localStorage || null;
  } catch (e) {
    return null;
  }
}
var Heartbeat = class {
  // ms was raised since the last cut
  constructor(key = "", now = Date.now) {
    this.key = key;
    this.now = now;
    /** ms is the interval to ask for (0: none, the server's own). */
    this.ms = 0;
    /** cut is the idle time (ms) after which the last idle cut came (0: none seen). */
    this.cut = 0;
    /** cuts counts the idle cuts seen. */
    this.cuts = 0;
    this.since = 0;
    // when ms was last set
    this.hold = HOLD_MS;
    this.raised = false;
    var _a;
    try {
      const v = JSON.parse(((_a = store()) == null ? void 0 : _a.getItem(PREFIX2 + key)) || "null");
      if (v && v.u > now() && v.ms >= MIN_MS) {
        this.ms = v.ms;
        this.cut = v.cut || 0;
        this.hold = Math.min(v.hold || HOLD_MS, HOLD_MAX_MS);
        this.since = now();
      }
    } catch (e) {
    }
  }
  /**
   * dropped takes note of a transport that dropped after idle ms with nothing received,
   * while the server pinged every serverMs; it reports whether the interval changed.
   */
  dropped(idle, serverMs) {
    if (!(serverMs > 0) || idle < MIN_MS || idle >= serverMs) return false;
    this.cuts++;
    this.cut = idle;
    if (this.raised) this.hold = Math.min(this.hold * 2, HOLD_MAX_MS);
    this.raised = false;
    const want = Math.max(MIN_MS, Math.floor(idle * 3 / 4e3) * 1e3);
    this.since = this.now();
    if (this.ms && want >= this.ms) return false;
    this.ms = want;
    this.save();
    return true;
  }
  /**
   * raise returns the higher interval to ask for when the current one held long enough
   * without a cut (0: none due); serverMax is the server's own interval, past which the
   * client asks for nothing.
   */
  raise(serverMax) {
    if (!this.ms || this.now() - this.since < this.hold) return 0;
    this.since = this.now();
    this.raised = true;
    this.ms = Math.ceil(this.ms * 1.25 / 1e3) * 1e3;
    if (serverMax > 0 && this.ms >= serverMax) this.ms = 0;
    this.save();
    return this.ms || serverMax;
  }
  save() {
    try {
      const s = store();
      if (!s) return;
      if (this.ms) s.setItem(PREFIX2 + this.key, JSON.stringify({ ms: this.ms, cut: this.cut, hold: this.hold, u: this.now() + REMEMBER_MS }));
      else s.removeItem(PREFIX2 + this.key);
    } catch (e) {
    }
  }
};

// src/held.ts
var Held = class _Held {
  constructor() {
    this.msgs = [];
    this.from = 1;
  }
  // the number of msgs[0]
  /** restore returns what a page left (lifecycle.ts): messages numbered from on. */
  static restore(from, msgs) {
    const h = new _Held();
    h.from = from;
    h.msgs = msgs.slice();
    return h;
  }
  /** first is the number of the oldest held message (sent+1 when none is held). */
  get first() {
    return this.from;
  }
  /** length is how many are held. */
  get length() {
    return this.msgs.length;
  }
  /** sent is the number of the last counted message sent in the session (0: none). */
  get sent() {
    return this.from + this.msgs.length - 1;
  }
  /** covers tells whether r can be the server's count: not below what it acknowledged, not above what was sent. */
  covers(r) {
    return r >= this.from - 1 && r <= this.sent;
  }
  /** add holds messages just handed to the transport; they are numbered sent+1 on. */
  add(msgs) {
    this.msgs.push(...msgs);
  }
  /** ack forgets the messages the server has received: r of its ping or pong. */
  ack(r) {
    const n = Math.min(+r || 0, this.sent) - this.from + 1;
    if (n > 0) {
      this.msgs.splice(0, n);
      this.from += n;
    }
  }
  /** all returns the held messages, to send again after a resume. */
  all() {
    return this.msgs.slice();
  }
};

// src/ladder.ts
var LATE_MIN = 300;
function lateAfter(rtt, max) {
  if (rtt == null) return max;
  return Math.round(Math.min(max, Math.max(LATE_MIN, 250 + 3 * rtt)));
}
function stallAfter(rtt, hb) {
  let v = rtt == null ? 3e3 : Math.max(1e3, Math.min(5e3, 500 + 4 * rtt));
  if (hb > 0) v = Math.min(v, hb / 2);
  return Math.round(v);
}
function quietAfter(ping) {
  if (!(ping > 0)) return 1e4;
  return Math.round(ping + Math.min(1e3, ping / 4));
}
var UPGRADE_MAX = 5 * 60 * 1e3;
var PROBE_TRIES = 3;
function upgradeDelay(n, first, rand = Math.random) {
  const d = Math.min(UPGRADE_MAX, first * Math.pow(2, Math.max(0, Math.min(n - 1, 20))));
  return Math.round(d * (0.5 + rand()));
}
function above(list, cur) {
  const i = list.indexOf(cur);
  return i < 0 ? [] : list.slice(0, i);
}
function below(list, cur) {
  const i = list.indexOf(cur);
  return i >= 0 && i + 1 < list.length ? list[i + 1] : null;
}

// src/subs.ts
var ABOVE = 512;
var isPos = (p) => !!p && typeof p.e == "string" && typeof p.o == "number" && p.o >= 0;
function raise(s, o) {
  const p = s.pos;
  if (o > p.o) p.o = o;
  s.above.forEach((x) => x <= p.o && s.above.delete(x));
  while (s.above.delete(p.o + 1)) p.o++;
}
var Subs = class extends Map {
  /** add returns room's entry, making it (with position pos) when there is none. */
  add(room, pos = null, ep = -1) {
    let s = this.get(room);
    if (!s) this.set(room, s = { pos, above: /* @__PURE__ */ new Set(), ep, gen: 0, waits: [] });
    return s;
  }
  /**
   * fresh applies the client rule to a durable message of room at p: one at or below the
   * watermark, or taken already, is a duplicate (false); any other is taken. A message of
   * another epoch (the history began again) starts the room's position over in it. Rooms
   * not subscribed by the client take everything.
   */
  fresh(room, p) {
    const s = this.get(room);
    if (!s || !isPos(p)) return true;
    if (!s.pos || s.pos.e !== p.e) {
      s.pos = { e: p.e, o: 0 };
      s.above.clear();
    } else if (p.o <= s.pos.o || s.above.has(p.o)) return false;
    s.above.add(p.o);
    if (s.above.size > ABOVE) raise(s, Math.min(...s.above));
    raise(s, 0);
    return true;
  }
  /**
   * acked takes the position a $sub's ack gives (the room's latest when the catch-up was
   * read): everything up to it came with the catch-up or was before the subscription.
   */
  acked(room, p) {
    const s = this.get(room);
    if (!s) return;
    if (!s.pos || s.pos.e !== p.e) {
      s.pos = { e: p.e, o: p.o };
      s.above.clear();
    } else raise(s, p.o);
  }
  /** positions returns each room with its position (null: none yet), for saving. */
  positions() {
    const r = {};
    this.forEach((s, room) => r[room] = s.pos && { e: s.pos.e, o: s.pos.o });
    return r;
  }
};

// src/lifecycle.ts
var PREFIX3 = "sockhop.session:";
var SAVE_MS = 60 * 1e3;
var SAVE_MAX = 256 * 1024;
function store2() {
  try {
    return globalThis.sessionStorage || null;
  } catch (e) {
    return null;
  }
}
function save(key, s, now = Date.now()) {
  let n = 0;
  for (const m of s.msgs) n += m.length;
  if (n > SAVE_MAX) return false;
  try {
    const st = store2();
    if (!st) return false;
    st.setItem(PREFIX3 + key, JSON.stringify(__spreadProps(__spreadValues({}, s), { u: now + SAVE_MS })));
    return true;
  } catch (e) {
    return false;
  }
}
function take(key, now = Date.now()) {
  try {
    const st = store2();
    if (!st) return null;
    const v = JSON.parse(st.getItem(PREFIX3 + key) || "null");
    st.removeItem(PREFIX3 + key);
    if (v && v.u > now && typeof v.sid == "string" && typeof v.token == "string" && Number.isInteger(v.rx) && v.rx >= 0 && Number.isInteger(v.from) && v.from >= 1 && Array.isArray(v.msgs) && v.msgs.every((m) => typeof m == "string"))
      return v;
  } catch (e) {
  }
  return null;
}
var SUBS = "sockhop.subs:";
function saveSubs(key, rooms) {
  try {
    const st = store2();
    if (!st) return;
    if (Object.keys(rooms).length) st.setItem(SUBS + key, JSON.stringify(rooms));
    else st.removeItem(SUBS + key);
  } catch (e) {
  }
}
function takeSubs(key) {
  const r = {};
  try {
    const st = store2();
    if (!st) return r;
    const v = JSON.parse(st.getItem(SUBS + key) || "null");
    st.removeItem(SUBS + key);
    if (v && typeof v == "object") {
      for (const k in v) if (v[k] === null || isPos(v[k])) r[k] = v[k];
    }
  } catch (e) {
  }
  return r;
}
function watch(hide, show) {
  const w = typeof window != "undefined" ? window : null;
  if (!w || !w.addEventListener) return () => {
  };
  const onHide = () => hide();
  const onShow = (e) => e && e.persisted && show();
  w.addEventListener("pagehide", onHide);
  w.addEventListener("pageshow", onShow);
  return () => {
    w.removeEventListener("pagehide", onHide);
    w.removeEventListener("pageshow", onShow);
  };
}

// src/queue.ts
var Queue = class {
  constructor(maxMsgs, maxBytes) {
    this.maxMsgs = maxMsgs;
    this.maxBytes = maxBytes;
    this.items = [];
    this.bytes = 0;
  }
  get length() {
    return this.items.length;
  }
  /** push appends s (n bytes) and reports false when that would pass a bound. */
  push(s, n, id) {
    if (this.items.length + 1 > this.maxMsgs || this.bytes + n > this.maxBytes) return false;
    this.items.push({ s, n, id });
    this.bytes += n;
    return true;
  }
  /** unshift puts messages back at the front, bounds notwithstanding: they were accepted. */
  unshift(msgs, size) {
    const e = msgs.map((s) => ({ s, n: size(s) }));
    this.items.unshift(...e);
    for (const x of e) this.bytes += x.n;
  }
  /** remove drops the message carrying ack id, if it is still queued. */
  remove(id) {
    const i = this.items.findIndex((e) => e.id === id);
    if (i >= 0) this.bytes -= this.items.splice(i, 1)[0].n;
  }
  /** ids returns the ack ids of the queued messages. */
  ids() {
    return new Set(this.items.map((e) => e.id).filter((x) => x));
  }
  /** drain empties the queue and returns its messages in order. */
  drain() {
    const r = this.items.map((e) => e.s);
    this.items = [];
    this.bytes = 0;
    return r;
  }
};

// src/rtt.ts
var Rtt = class {
  constructor() {
    this.ms = null;
  }
  /** add takes one sample, in ms; a negative or non-finite one is ignored. */
  add(sample) {
    if (!(sample >= 0) || !Number.isFinite(sample)) return;
    this.ms = this.ms == null ? sample : this.ms + (sample - this.ms) / 8;
  }
};
function measure(base, cred, ms) {
  const g = globalThis;
  if (!g.fetch || !g.AbortController || !g.performance) return Promise.resolve(null);
  const ac = new AbortController();
  const t0 = g.performance.now();
  const timer = setTimeout(() => ac.abort(), ms);
  return g.fetch(base + "/sockjs/info", { cache: "no-store", credentials: cred ? "include" : "same-origin", signal: ac.signal }).then((r) => {
    var _a;
    const d = g.performance.now() - t0;
    (_a = r.body) == null ? void 0 : _a.cancel().catch(() => {
    });
    return d;
  }).catch(() => null).finally(() => clearTimeout(timer));
}

// src/storage.ts
var PREFIX4 = "sockhop.transport:";
function store3() {
  try {
    return globalThis.localStorage || null;
  } catch (e) {
    return null;
  }
}
function recall(key) {
  var _a;
  try {
    const v = JSON.parse(((_a = store3()) == null ? void 0 : _a.getItem(PREFIX4 + key)) || "null");
    if (v && typeof v.t == "string" && v.u > Date.now()) return v.t;
  } catch (e) {
  }
  return null;
}
function remember(key, t, ms) {
  var _a;
  try {
    if (ms > 0) (_a = store3()) == null ? void 0 : _a.setItem(PREFIX4 + key, JSON.stringify({ t, u: Date.now() + ms }));
  } catch (e) {
  }
}
function forget2(key) {
  var _a;
  try {
    (_a = store3()) == null ? void 0 : _a.removeItem(PREFIX4 + key);
  } catch (e) {
  }
}
var BLOCKED = "sockhop.blocked:";
function blocked(key, t) {
  var _a;
  try {
    const u = Number((_a = store3()) == null ? void 0 : _a.getItem(BLOCKED + t + ":" + key));
    return u > Date.now();
  } catch (e) {
    return false;
  }
}
function block(key, t, ms) {
  var _a, _b;
  try {
    if (ms > 0) (_a = store3()) == null ? void 0 : _a.setItem(BLOCKED + t + ":" + key, String(Date.now() + ms));
    else (_b = store3()) == null ? void 0 : _b.removeItem(BLOCKED + t + ":" + key);
  } catch (e) {
  }
}

// src/transport.ts
var helloProtocol = (ping) => "sockhop.v1.hello.bin" + (ping > 0 && ping <= 999999999 && ping == Math.floor(ping) ? ".ping" + ping : "");
var NODE_HEADER = "X-Sockhop-Node";
var isNode = (v) => typeof v == "string" && /^n[a-z0-9]{3,31}$/.test(v);
var DEFAULT_MAX = 65536;

// src/websocket.ts
var websocket = (base, h, o) => {
  const node = o && isNode(o.node) ? "?node=" + o.node : "";
  const hello = o && o.hello;
  const ws = new WebSocket(base.replace(/^http/, "ws") + "/ws" + node, hello ? [hello, "sockhop.v1"] : "sockhop.v1");
  ws.binaryType = "arraybuffer";
  let max = DEFAULT_MAX;
  let bin = false;
  let done = false;
  let held = [];
  ws.onopen = () => done || h.open(!!hello && ws.protocol === hello);
  ws.onmessage = (e) => {
    if (done) return;
    h.alive();
    if (typeof e.data == "string") return h.frame(e.data);
    let m;
    try {
      m = parseFrame(e.data);
    } catch (e2) {
      done = true;
      ws.close(1002);
      return h.close(1002, "malformed binary frame");
    }
    h.frame(m);
  };
  ws.onclose = (e) => {
    if (done) return;
    done = true;
    h.close(e.code || 1006, e.reason || "websocket closed");
  };
  return {
    name: "websocket",
    send(msgs) {
      if (done) return;
      if (ws.readyState != 1) return void held.push(...msgs);
      let text = [];
      const sendText = () => {
        for (const f of pack(text, max)) ws.send(f.join("\n"));
        text = [];
      };
      for (const s of msgs) {
        if (bin && isBin(s)) {
          sendText();
          ws.send(frameOf(s));
        } else text.push(asText(s, bin));
      }
      sendText();
    },
    setMax(n) {
      max = n;
    },
    setBin(on) {
      bin = on;
    },
    close(last) {
      if (last && !done && ws.readyState == 1) this.send(last);
      done = true;
      try {
        ws.close(1e3);
      } catch (e) {
      }
      const r = last ? [] : held;
      held = [];
      return r;
    }
  };
};

// src/http.ts
function retryAfter(v, now = Date.now()) {
  if (v == null || v.trim() == "") return void 0;
  const ms = /^\s*\d+\s*$/.test(v) ? Number(v) * 1e3 : /[a-z]/i.test(v) ? Date.parse(v) - now : NaN;
  if (!Number.isFinite(ms)) return void 0;
  return Math.min(Math.max(0, ms), 36e5);
}
function post(url, body, cred, stream, text, end, headers = {}, head = () => {
}, keepalive = false) {
  let stop = false;
  const done = (s, retry) => stop || (stop = true, end(s, retry));
  const g = globalThis;
  if (g.fetch && g.AbortController && g.TextDecoder && (!stream || g.ReadableStream)) {
    const ac = new AbortController();
    g.fetch(url, {
      method: "POST",
      body,
      signal: ac.signal,
      cache: "no-store",
      keepalive,
      // outlives the page that unloads (the close message of pagehide)
      credentials: cred ? "include" : "same-origin",
      headers: __spreadValues({ "Content-Type": "text/plain;charset=UTF-8" }, headers)
    }).then(async (r) => {
      if (stop) return;
      head((n) => r.headers.get(n));
      if (r.status != 200) return done(r.status, retryAfter(r.headers.get("Retry-After")));
      if (stream && r.body) {
        const rd = r.body.getReader();
        const dec2 = new TextDecoder();
        for (; ; ) {
          const c = await rd.read();
          if (stop) return;
          if (c.done) break;
          text(dec2.decode(c.value, { stream: true }));
        }
      } else {
        const t = await r.text();
        if (stop) return;
        text(t);
      }
      done(200);
    }).catch(() => done(0));
    return { abort: () => (stop = true, ac.abort()) };
  }
  const x = new XMLHttpRequest();
  let pos = 0;
  let headed = false;
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
  x.open("POST", url, true);
  x.withCredentials = cred;
  x.setRequestHeader("Content-Type", "text/plain;charset=UTF-8");
  for (const k in headers) x.setRequestHeader(k, headers[k]);
  x.onreadystatechange = heads;
  if (stream) x.onprogress = feed;
  x.onload = () => {
    feed();
    done(x.status, x.status == 200 ? void 0 : retryAfter(x.getResponseHeader("Retry-After")));
  };
  x.onerror = x.ontimeout = () => done(0);
  x.send(body);
  return { abort: () => (stop = true, x.abort()) };
}

// src/sockjs.ts
var ALPHA2 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
function randomId(n) {
  const b = new Uint8Array(n);
  const c = globalThis.crypto;
  if (c && c.getRandomValues) c.getRandomValues(b);
  else for (let i = 0; i < n; i++) b[i] = Math.random() * 256 | 0;
  let s = "";
  for (let i = 0; i < n; i++) s += ALPHA2[b[i] & 63];
  return s;
}
var KEY_HEADER = "X-Sockhop-Key";
var RETRY_2010 = 100;
function sockjs(name, path, stream, base, h, o) {
  const sid = randomId(12);
  let server = isNode(o.node) ? o.node : String(Math.floor(Math.random() * 900) + 100);
  const url = () => base + "/sockjs/" + server + "/" + sid + "/";
  const node = (get) => {
    const v = get(NODE_HEADER);
    if (isNode(v)) server = v;
  };
  const hdr = { [KEY_HEADER]: randomId(32) };
  let max = DEFAULT_MAX;
  let bin = false;
  let closed = false;
  let opened = false;
  let rx = null;
  let tx = null;
  let sends = 0;
  let polls = 0;
  let outbox = [];
  let again;
  let last = false;
  const refused = (status, wait) => status == 403 && opened ? [1006, "http 403", "resume"] : statusCode(status, wait);
  const fail = (code, reason, act, retry) => {
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
    let retry = 0;
    let frames = 0;
    const lines = new Lines();
    const line = (l) => {
      if (closed || retry < 0) return;
      const f = parseSockJS(l);
      h.alive();
      if (!f) return;
      frames++;
      if (f[0] == "o") {
        if (opened) return retry = -1, fail(1006, "sockjs session lost");
        opened = true, h.open();
      } else if (f[0] == "a") {
        for (const s of f[1]) if (!closed) h.frame(s);
      } else if (f[0] == "c") {
        if (f[1] == 2010) retry = RETRY_2010;
        else {
          retry = -1;
          fail(f[1] == 1002 && f[2] == "Connection interrupted" ? 1006 : f[1], f[2]);
        }
      }
    };
    rx = post(
      url() + path + "?p=" + ++polls + (o.resume ? "&resume=1" : ""),
      // numbered: the server tells a browser's silent retry
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
        if (!stream && !frames) return fail(1006, "sockjs session lost");
        if (retry) again = setTimeout(receive, retry);
        else receive();
      },
      hdr,
      node
    );
  };
  const flush = () => {
    if (tx || !outbox.length || closed && !last) return;
    const batch = pack(outbox.map((s) => asText(s, bin)), max - 4, escLen, 2)[0];
    outbox = outbox.slice(batch.length);
    tx = post(
      url() + "xhr_send?s=" + ++sends,
      JSON.stringify([batch.join("\n")]),
      o.withCredentials,
      false,
      () => {
      },
      (s, wait) => {
        tx = null;
        if (last && !outbox.length) stopRx();
        if (s == 204 || s == 200) return flush();
        if (!last) fail(...refused(s, wait));
      },
      hdr,
      node
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
        last = true;
        post(url() + "xhr_send?s=" + ++sends, JSON.stringify([final.join("\n")]), o.withCredentials, false, () => {
        }, stopRx, hdr, void 0, true);
        again = setTimeout(stopRx, 3e3);
        return [];
      }
      if (final) {
        last = true;
        outbox.push(...final);
        flush();
        again = setTimeout(stopRx, 3e3);
        return [];
      }
      stopRx();
      const r = outbox;
      outbox = [];
      return r;
    }
  };
}

// src/xhr_polling.ts
var xhrPolling = (base, h, o) => sockjs("xhr-polling", "xhr", false, base, h, o);

// src/xhr_streaming.ts
var xhrStreaming = (base, h, o) => sockjs("xhr-streaming", "xhr_streaming", true, base, h, o);

// src/client.ts
var FACTORIES = {
  websocket,
  "xhr-streaming": xhrStreaming,
  "xhr-polling": xhrPolling
};
var offline = () => typeof navigator != "undefined" && navigator.onLine === false;
var ACK_EVERY = 32;
var ACK_IDLE = 1e3;
var Client = class extends Emitter {
  constructor(url, opts = {}) {
    super();
    this.url = url;
    this.transport = null;
    this.state = "connecting";
    this.id = null;
    this.t = null;
    // the transport in use (welcomed)
    this.up = false;
    // t is set
    this.tries = [];
    // starts the next transport of the ladder beside a late one
    this.lateAt = 0;
    // when the try that late waits on began
    this.rtt = new Rtt();
    this.measuring = false;
    this.skip = 0;
    // counted messages the server resends after a switch that arrived already
    this.orphan = null;
    // t dropped while a switch was under way
    this.pingAt = 0;
    // next upgrade probe
    this.probes = /* @__PURE__ */ new Map();
    // failed upgrade probes per transport
    this.blockedHere = /* @__PURE__ */ new Set();
    // found blocked by this page (storage may be off)
    this.seen = 0;
    // last time bytes arrived on t
    this.hbMs = 0;
    // ping+pong of the welcome
    this.max = DEFAULT_MAX;
    this.ladder = [];
    this.step = 0;
    this.from = null;
    // the ladder run began here, below the top
    this.attempt = 0;
    // heartbeat check
    this.closeMsg = null;
    // a close message on t
    this.out = [];
    this.flushing = false;
    this.calls = new Calls();
    this.ord = new Ordered();
    // emits waiting for a Blob before them to be read (binary.ts)
    // The session (PROTOCOL.md §6). token is null when there is no session to resume.
    this.token = null;
    // the node the session lives on (its last welcome's), named when resuming
    this.rx = 0;
    // counted messages received
    this.rxSaid = 0;
    this.held = new Held();
    // counted messages sent and not yet acknowledged
    this.epoch = 0;
    // counts sessions, so replies meant for an ended one are dropped
    this.authGen = 0;
    // counts ladder runs, so a late auth answer for an abandoned one is ignored
    this.unlisten = () => {
    };
    this.pingMs = 0;
    // the server's ping interval on this session (its welcome's or pong's)
    this.serverPing = 25e3;
    // the server's own interval (a welcome to a hello that asked none)
    this.gone = false;
    // the page hid (pagehide): closed with 1001 until it shows again
    this.subs = new Subs();
    // the rooms the client subscribed to (subs.ts)
    this.unwatch = () => {
    };
    this.o = __spreadValues({
      transports: ["websocket", "xhr-streaming", "xhr-polling"],
      openTimeout: 3e3,
      // 3 s, the Go client's default too
      reconnect: true,
      backoffMin: 500,
      backoffMax: 2e4,
      ackTimeout: 1e4,
      queueMaxMessages: 1e3,
      queueMaxBytes: 1 << 20,
      rememberTransport: 30 * 60 * 1e3,
      upgradeAfter: 1e4,
      withCredentials: false,
      keepSession: false
    }, opts);
    this.f = __spreadValues(__spreadValues({}, FACTORIES), opts.factories);
    this.key = url;
    this.q = new Queue(this.o.queueMaxMessages, this.o.queueMaxBytes);
    this.hbl = new Heartbeat(url);
    const saved = this.o.keepSession ? take(url) : null;
    if (saved) {
      this.id = saved.sid;
      this.token = saved.token;
      this.node = isNode(saved.node) ? saved.node : void 0;
      this.rx = this.rxSaid = saved.rx;
      this.held = Held.restore(saved.from, saved.msgs);
    }
    if (this.o.keepSession) {
      const rooms = takeSubs(url);
      for (const r in rooms) this.subs.add(r, rooms[r], this.epoch);
    }
    this.unwatch = watch(
      () => this.away(),
      () => this.back()
    );
    const w = typeof window != "undefined" ? window : null;
    if (w && w.addEventListener) {
      const on = () => this.online();
      const off = () => this.offline();
      w.addEventListener("online", on);
      w.addEventListener("offline", off);
      this.unlisten = () => {
        w.removeEventListener("online", on);
        w.removeEventListener("offline", off);
      };
    }
    this.start();
  }
  // ---- sending ------------------------------------------------------------------------
  emit(name, data) {
    if (isBlob(data) || this.ord.busy)
      return this.ord.add(data, (d) => this.push({ t: "ev", n: name, d }), (e) => this.fire("error", e));
    this.push({ t: "ev", n: name, d: data });
  }
  emitWithAck(name, data, opts = {}) {
    return new Promise((res, rej) => {
      const go = (d) => {
        var _a;
        const id = this.calls.add(name, (_a = opts.timeout) != null ? _a : this.o.ackTimeout, res, rej, (id2) => this.q.remove(id2));
        try {
          this.push({ t: "ev", n: name, d, id }, id);
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
  push(m, id) {
    if (this.state == "closed") throw err("closed", "sockhop: connection closed");
    const s = encode(m);
    const n = utf8Len(s);
    if (n > this.max) throw err("too_big", "sockhop: message of " + n + " bytes over the server limit " + this.max);
    if (this.up) {
      this.out.push(s);
      if (!this.flushing) {
        this.flushing = true;
        Promise.resolve().then(() => this.flush());
      }
    } else if (!this.q.push(s, n, id)) {
      throw err("queue_full", "sockhop: offline queue full");
    }
  }
  /** flush hands what was emitted since the last flush to the transport, in one go. */
  flush() {
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
  report() {
    clearTimeout(this.ackTimer);
    const r = this.said();
    if (this.up && r > this.rxSaid) this.direct({ t: "pong", r: this.rxSaid = r });
  }
  /**
   * said is the count of counted messages received that the client may report (r): rx, but
   * never above the seq of a resume hello under way on another transport. The server
   * forgets the messages a report acknowledges, and the resume must find every message
   * after its seq (PROTOCOL.md §6, "Switching transports").
   */
  said() {
    let r = this.rx;
    for (const x of this.tries) if (x.hello && x.resume) r = Math.min(r, x.seq);
    return r;
  }
  /** direct sends control messages (hello, pong, ack replies before welcome) at once. */
  direct(m) {
    if (this.t) this.t.send([JSON.stringify(m)]);
  }
  // ---- subscriptions (PROTOCOL.md §9) -------------------------------------------------
  subscribe(room) {
    return new Promise((res, rej) => {
      if (this.state == "closed") return rej(err("closed", "sockhop: connection closed"));
      const s = this.subs.add(room);
      s.waits.push([res, rej]);
      if (this.up) this.sub(room, s);
      else s.ep = -1;
    });
  }
  unsubscribe(room) {
    const s = this.subs.get(room);
    this.subs.delete(room);
    if (s) for (const w of s.waits.splice(0)) w[1](err("unsubscribed", "sockhop: unsubscribed from " + room));
    return this.emitWithAck("$unsub", { room }).then(() => {
    });
  }
  /**
   * sub sends the $sub request of room, from its last position. Its answer settles the
   * subscribe() calls waiting, or fires subscribed / subscribe-error for an automatic one. A
   * refusal forgets the room; an answer lost with its session is ignored (the next session
   * subscribes again).
   */
  sub(room, s) {
    const gen = ++s.gen;
    s.ep = this.epoch;
    const d = { room };
    if (s.pos) d.since = { e: s.pos.e, o: s.pos.o };
    const cur = () => s.gen == gen && this.subs.get(room) === s;
    this.emitWithAck("$sub", d).then(
      (a) => {
        if (!cur()) return;
        const p = a && a.pos;
        if (isPos(p)) this.subs.acked(room, p);
        const r = { room, recovered: !!(a && a.recovered), pos: isPos(p) && s.pos ? { e: s.pos.e, o: s.pos.o } : null };
        const w = s.waits.splice(0);
        if (w.length) for (const x of w) x[0](r);
        else this.fire("subscribed", r);
      },
      (e) => {
        const c = e && e.code;
        if (!cur() || c == "resume_failed" || c == "closed" && this.state != "closed") return;
        if (c != "timeout" && c != "closed") this.subs.delete(room);
        const w = s.waits.splice(0);
        if (w.length) for (const x of w) x[1](e);
        else if (this.state != "closed") this.fire("subscribe-error", { room, error: e });
      }
    );
  }
  /** resub sends the $sub of every room not subscribed in this session (all of them in a new one). */
  resub() {
    this.subs.forEach((s, room) => s.ep != this.epoch && this.sub(room, s));
  }
  close() {
    if (this.state == "closed") return;
    const was = this.state == "connected";
    this.flush();
    this.drop([JSON.stringify({ t: "close", code: 1e3 })]);
    this.end({ code: 1e3, reason: "client close", reconnect: false }, was);
  }
  // ---- connecting ---------------------------------------------------------------------
  /** start runs the ladder from transport from, else the remembered one, else the first. */
  start(from) {
    clearTimeout(this.timer);
    this.abandonAll();
    if (this.state == "closed" || this.gone) return;
    if (offline()) {
      this.state = "disconnected";
      return;
    }
    this.state = "connecting";
    this.authGen++;
    const list = this.list();
    const r = from || recall(this.key);
    this.from = r && list.indexOf(r) > 0 ? r : null;
    this.ladder = this.from ? list.slice(list.indexOf(r)) : list;
    this.step = 0;
    this.measureRtt();
    this.next();
  }
  list() {
    return this.o.transports.filter((n) => this.f[n]);
  }
  /**
   * measureRtt times GET <mount>/sockjs/info once, beside the first transport (rtt.ts): the
   * ladder's timeouts then follow the round trip instead of the fixed openTimeout.
   */
  measureRtt() {
    if (this.rtt.ms != null || this.measuring) return;
    const m = this.o.measure || (typeof window != "undefined" ? (u) => measure(u, this.o.withCredentials, this.o.openTimeout) : null);
    if (!m) return;
    this.measuring = true;
    m(this.url).then(
      (ms) => {
        this.measuring = false;
        if (ms == null) return;
        this.rtt.add(ms);
        this.armLate();
      },
      () => this.measuring = false
    );
  }
  /** rttMs is the round trip measured so far (ms), null before the first sample. */
  get rttMs() {
    return this.rtt.ms;
  }
  /** lateMs is how long a transport of the ladder may go unwelcomed before the next starts beside it. */
  get lateMs() {
    return lateAfter(this.rtt.ms, this.o.openTimeout);
  }
  /** armLate (re)starts the timer that starts the next transport beside a late one. */
  armLate() {
    clearTimeout(this.late);
    if (!this.lateAt || this.state != "connecting" || this.step >= this.ladder.length) return;
    this.late = setTimeout(() => this.next(), Math.max(0, this.lateAt + this.lateMs - Date.now()));
  }
  /** next starts the next transport of the ladder, or schedules a reconnect after the last. */
  next() {
    clearTimeout(this.late);
    this.lateAt = 0;
    if (this.state != "connecting") return;
    if (this.step >= this.ladder.length) {
      if (this.tries.length) return;
      forget2(this.key);
      return this.retry();
    }
    this.open(this.ladder[this.step++], "ladder");
    this.lateAt = Date.now();
    this.armLate();
  }
  /** open fetches the credentials (when auth is a function), then dials name. */
  open(name, kind) {
    const a = this.o.auth;
    if (typeof a != "function") return this.dial(name, a, kind);
    const gen = this.authGen;
    const ok = () => kind == "ladder" ? gen === this.authGen && this.state == "connecting" : this.state != "closed";
    const fail = (e) => {
      var _a;
      if (!ok()) return;
      this.fire("error", err("auth", "sockhop: auth: " + String((_a = e == null ? void 0 : e.message) != null ? _a : e)));
      if (kind == "ladder") this.retry();
      else this.switchFailed(kind, name);
    };
    let v;
    try {
      v = a();
    } catch (e) {
      return fail(e);
    }
    if (!v || typeof v.then != "function") return this.dial(name, v, kind);
    v.then((x) => ok() && this.dial(name, x, kind), fail);
  }
  /** dial opens transport name and says hello with auth once it is open. */
  dial(name, auth, kind) {
    const tr = { t: null, name, kind, timer: 0, hello: 0, early: false, seq: 0, resume: false, cm: null };
    this.tries.push(tr);
    const live = () => this.tries.indexOf(tr) >= 0;
    tr.t = this.f[name](
      this.url,
      {
        open: (said) => {
          if (!live()) return;
          if (said) {
            tr.resume = false;
            tr.seq = this.rx;
            tr.hello = Date.now();
            tr.early = true;
            return;
          }
          const hello = { t: "hello", v: 1, bin: 1 };
          if (auth !== void 0) hello.auth = auth;
          tr.resume = !!this.token;
          if (this.token) hello.resume = { sid: this.id, token: this.token, seq: this.rx };
          if (this.hbl.ms) hello.ping = this.hbl.ms;
          tr.seq = this.rx;
          tr.hello = Date.now();
          tr.t.send([JSON.stringify(hello)]);
        },
        frame: (f) => this.frame(tr, f),
        alive: () => tr.t === this.t && (this.seen = Date.now()),
        close: (code, reason, act, retry) => {
          if (tr.t === this.t) return this.lost(code, reason, act, retry);
          if (live()) this.failed(tr, code, reason, act, retry);
        }
      },
      // A resume names the session's node (PROTOCOL.md §7, "Many nodes"); a new session none.
      {
        withCredentials: this.o.withCredentials,
        resume: !!this.token,
        node: this.token ? this.node : void 0,
        hello: auth === void 0 && !this.token ? helloProtocol(this.hbl.ms) : void 0
      }
    );
    tr.timer = setTimeout(() => {
      if (!live()) return;
      this.abandon(tr);
      this.failed(tr, 1006, "open timeout");
    }, this.o.openTimeout);
  }
  /** untry forgets tr as a try (it won, failed or was abandoned). */
  untry(tr) {
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
  abandon(tr) {
    this.untry(tr);
    if (tr.hello && !tr.resume) tr.t.close([JSON.stringify({ t: "close", code: 1e3, reason: "another transport won" })]);
    else tr.t.close();
  }
  abandonAll() {
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
  failed(tr, code, reason, act, hint) {
    this.untry(tr);
    if (tr.kind != "ladder") return this.switchFailed(tr.kind, tr.name);
    if (this.state != "connecting") return;
    const cm = tr.cm;
    if (cm || act) {
      const c = cm || { code, reason };
      if (cm && cm.e) this.fire("error", err(String(cm.e.code), cm.e.message));
      if (act == "terminal" || isTerminal(c.code) || !this.o.reconnect) return this.end({ code: c.code, reason: c.reason, reconnect: false }, false);
      this.abandonAll();
      this.state = "disconnected";
      return this.retry(cm ? cm.retry != null && cm.retry >= 0 ? cm.retry : void 0 : hint, tr.name);
    }
    if (!this.tries.length) this.next();
  }
  /** frame handles one frame of transport try tr: the one in use, or one being opened. */
  frame(tr, f) {
    const t = tr.t;
    if (t !== this.t && this.tries.indexOf(tr) < 0) return;
    let msgs;
    try {
      msgs = typeof f == "string" ? split(f) : [f];
    } catch (e) {
      this.fire("error", err("protocol", "sockhop: malformed frame from server"));
      if (t === this.t) return this.lost(1002, "malformed frame");
      this.abandon(tr);
      return this.failed(tr, 1002, "malformed frame");
    }
    for (const m of msgs) {
      if (t === this.t) this.msg(m);
      else if (this.tries.indexOf(tr) < 0) return;
      else if (m.t == "welcome") this.welcome(tr, m);
      else if (m.t == "close") tr.cm = m;
    }
    if (t !== this.t) return;
    if (this.rx - this.rxSaid >= ACK_EVERY) this.report();
    else if (this.rx > this.rxSaid && this.up) {
      clearTimeout(this.ackTimer);
      this.ackTimer = setTimeout(() => this.report(), ACK_IDLE);
    }
  }
  msg(m) {
    switch (m.t) {
      case "ping": {
        this.held.ack(m.r);
        this.direct({ t: "pong", r: this.rxSaid = Math.max(this.rxSaid, this.said()) });
        const up = this.hbl.raise(this.serverPing);
        if (up) this.direct({ t: "ping", r: this.rxSaid, ping: up });
        return;
      }
      case "pong":
        if (this.pingAt) this.rtt.add(Date.now() - this.pingAt);
        this.pingAt = 0;
        if (m.ping > 0) this.pinged(m.ping, this.hbMs - this.pingMs);
        return this.held.ack(m.r);
      case "ev":
        if (this.skip > 0) return void this.skip--;
        this.rx++;
        return this.event(m);
      case "ack":
        if (this.skip > 0) return void this.skip--;
        this.rx++;
        try {
          return this.calls.settle(m.id, payload(m), m.e);
        } catch (e) {
          this.fire("error", err("protocol", "sockhop: bad base64 from server"));
          return this.lost(1002, "bad base64");
        }
      case "close":
        this.closeMsg = m;
    }
  }
  /**
   * welcome makes tr the transport in use: the first of the ladder to be welcomed wins and
   * the others are abandoned; a switch replaces the transport in use, and the counted
   * messages that arrived on the old one after the switch's hello are skipped when the
   * server sends them again.
   */
  welcome(tr, m) {
    const resumed = !!m.resumed;
    const sw = tr.kind != "ladder";
    if (resumed && (!tr.resume || m.sid !== this.id || !this.held.covers(m.r))) {
      this.untry(tr);
      this.lostSession("resume_failed");
      tr.t.close([JSON.stringify({ t: "close", code: 1e3, reason: "resume mismatch" })]);
      if (sw) return this.lost(1006, "resume mismatch");
      return this.tries.length ? void 0 : this.next();
    }
    this.untry(tr);
    if (!sw) this.abandonAll();
    if (tr.hello && !tr.early) this.rtt.add(Date.now() - tr.hello);
    const old = this.t;
    if (old) {
      clearTimeout(this.hb);
      clearTimeout(this.ackTimer);
      old.close();
    }
    this.orphan = null;
    const t = tr.t;
    this.t = t;
    this.closeMsg = null;
    this.skip = resumed ? this.rx - tr.seq : 0;
    if (!resumed && tr.resume) this.lostSession("resume_failed");
    else if (!resumed) this.newSession();
    this.up = true;
    this.id = m.sid;
    this.token = m.token;
    this.node = isNode(m.node) ? m.node : void 0;
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
    this.state = "connected";
    if (sw || tr.name != this.from) remember(this.key, tr.name, this.o.rememberTransport);
    if (tr.kind == "up") {
      this.probes.delete(tr.name);
      block(this.key, tr.name, 0);
    }
    if (this.transport != tr.name) {
      this.transport = tr.name;
      this.fire("transport", tr.name);
    }
    if (resumed) this.held.ack(m.r);
    const again = this.held.all();
    if (!resumed && tr.resume) this.fire("resume-failed");
    this.resub();
    if (!(sw && resumed)) this.fire("connect", { resumed });
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
  migrate(name, kind = "down") {
    if (this.state != "connected" || !this.up || this.tries.length || !this.f[name] || name == this.transport) return;
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
  switchFailed(kind, name) {
    if (this.state == "closed") return;
    if (kind == "up") this.probeFailed(name);
    if (this.orphan) {
      if (kind == "up" && this.transport && this.f[this.transport]) return this.open(this.transport, "back");
      const o = this.orphan;
      this.orphan = null;
      this.state = "disconnected";
      this.fire("disconnect", { code: o.code, reason: o.reason, reconnect: true });
      return this.retry(void 0, this.transport || void 0);
    }
    if (!this.up) return;
    if (kind == "down") return this.lost(4001, "stream stalled");
    this.watch();
    this.planUpgrade();
  }
  /** probeFailed counts a failed upgrade probe of name; enough of them mark it blocked. */
  probeFailed(name) {
    const n = (this.probes.get(name) || 0) + 1;
    this.probes.set(name, n);
    if (n >= PROBE_TRIES) {
      this.blockedHere.add(name);
      block(this.key, name, this.o.rememberTransport || 30 * 60 * 1e3);
    }
  }
  /**
   * planUpgrade schedules the next upgrade probe of a session on a fallback: the best
   * transport above the one in use that is not known to be blocked, after upgradeDelay.
   */
  planUpgrade() {
    clearTimeout(this.upTimer);
    if (!(this.o.upgradeAfter > 0) || !this.up || !this.transport) return;
    const target = above(this.list(), this.transport).find((n) => !this.blockedHere.has(n) && !blocked(this.key, n));
    if (!target) return;
    const d = upgradeDelay((this.probes.get(target) || 0) + 1, this.o.upgradeAfter);
    this.upTimer = setTimeout(() => {
      if (this.tries.length) return this.planUpgrade();
      this.migrate(target, "up");
    }, d);
  }
  /**
   * watch checks that the transport in use still delivers: after quietAfter without a byte
   * it asks for a pong, and when no byte comes back within stallAfter the stream counts as
   * stalled (a proxy began to buffer it, a middlebox froze it): the session moves to the
   * next transport down through a resume, long before the heartbeat would notice.
   */
  watch() {
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
    this.direct({ t: "ping", r: this.rxSaid = Math.max(this.rxSaid, this.said()) });
    this.stallTimer = setTimeout(() => this.watch(), stallAfter(this.rtt.ms, this.hbMs));
  }
  /** stalled moves the session off a transport that stopped delivering. */
  stalled() {
    const to = this.transport && below(this.list(), this.transport);
    if (to) this.migrate(to, "down");
    else this.lost(4001, "stream stalled");
  }
  /** newSession forgets the counters of the previous session (none, or one that ended). */
  newSession() {
    this.epoch++;
    this.token = null;
    this.node = void 0;
    this.rx = this.rxSaid = 0;
    this.held = new Held();
  }
  /**
   * lostSession ends a session the server no longer has: the replies to what it was sent
   * will not come, so those emitWithAck calls fail with code; what is still queued, never
   * sent, goes to the next session.
   */
  lostSession(code) {
    this.newSession();
    const why = code == "closed" ? "sockhop: the server ended the session" : "sockhop: the session could not be resumed";
    this.calls.fail(code, why, this.q.ids());
  }
  /** pinged takes the interval the server answered a ping carrying one with. */
  pinged(ping, pong) {
    this.pingMs = ping;
    if (this.hbMs) this.hbMs = ping + pong;
    if (!this.hbl.ms) this.serverPing = ping;
  }
  /** The ping interval the server uses on this session, in ms (0 before the first welcome). */
  get pingInterval() {
    return this.pingMs;
  }
  /** heartbeat declares the server dead when nothing arrived for ping+pong ms. */
  heartbeat() {
    clearTimeout(this.hb);
    if (!this.hbMs || !this.up) return;
    const left = this.seen + this.hbMs - Date.now();
    if (left <= 0) return this.lost(4001, "heartbeat timeout");
    this.hb = setTimeout(() => this.heartbeat(), left + 10);
  }
  event(m) {
    let d;
    try {
      d = payload(m);
    } catch (e) {
      this.fire("error", err("protocol", "sockhop: bad base64 from server"));
      return this.lost(1002, "bad base64");
    }
    if (typeof m.room == "string" && !this.subs.fresh(m.room, m.pos)) return;
    if (m.id == null) {
      this.fire(m.n, d);
      return;
    }
    const ep = this.epoch;
    const reply = (r2) => {
      if (ep != this.epoch) return;
      try {
        this.push(__spreadValues({ t: "ack", id: m.id }, r2));
      } catch (e) {
        this.fire("error", e);
      }
    };
    const fns = this.listeners(m.n);
    if (!fns.length) return reply({ e: { code: "unknown_event", message: "no handler for " + m.n } });
    let r;
    try {
      r = fns[0](d);
      for (const fn of fns.slice(1)) fn(d);
    } catch (e) {
      r = Promise.reject(e);
    }
    Promise.resolve(r).then((d2) => isBlob(d2) ? d2.arrayBuffer() : d2).then(
      (d2) => reply({ d: d2 === void 0 ? null : d2 }),
      (e) => reply({ e: { code: String(e && e.code || "internal"), message: String(e && e.message || e) } })
    );
  }
  /** drop ends the transport in use quietly; unsent messages go back to the queue. */
  drop(last, unload) {
    clearTimeout(this.timer);
    clearTimeout(this.hb);
    clearTimeout(this.ackTimer);
    clearTimeout(this.stallTimer);
    clearTimeout(this.upTimer);
    const t = this.t;
    this.t = null;
    this.up = false;
    this.pingAt = 0;
    if (t) t.close(last, unload);
  }
  /**
   * lost handles the end of the transport in use. A terminal code stops; a close message
   * means the server ended the session; a drop is resumed. While a switch is under way the
   * drop is expected (the server replaced the transport when it took the switch's hello):
   * the switch's welcome goes on from there.
   */
  lost(code, reason, act, hint) {
    const cm = this.closeMsg;
    const c = cm || { code, reason };
    if (this.tries.length && !cm && (!act || act == "resume") && !isTerminal(c.code) && this.o.reconnect && this.state == "connected") {
      this.drop();
      this.orphan = { code: c.code, reason: c.reason };
      return;
    }
    const was = this.up;
    const name = this.t && this.t.name;
    if (was && !cm && !act) this.hbl.dropped(Date.now() - this.seen, this.pingMs);
    this.abandonAll();
    this.drop();
    if (cm && cm.e) this.fire("error", err(String(cm.e.code), cm.e.message));
    if (act == "terminal" || isTerminal(c.code) || !this.o.reconnect) return this.end({ code: c.code, reason: c.reason, reconnect: false }, was);
    if (cm && was) this.lostSession("closed");
    this.state = "disconnected";
    if (was) this.fire("disconnect", { code: c.code, reason: c.reason, reconnect: true });
    this.retry(cm ? cm.retry != null && cm.retry >= 0 ? cm.retry : void 0 : hint, act && name ? name : void 0);
  }
  /** retry schedules the next ladder run (from transport from) after hint or a backoff delay. */
  retry(hint, from) {
    if (this.state == "closed") return;
    if (!this.o.reconnect) return this.end({ code: 1006, reason: "no transport worked", reconnect: false }, false);
    this.state = "disconnected";
    const d = hint != null ? hint : backoff(++this.attempt, this.o.backoffMin, this.o.backoffMax);
    if (hint != null) this.attempt++;
    this.fire("reconnecting", this.attempt, d);
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.start(from), d);
  }
  /** end stops for good: pending acks and queued emits fail with code closed. */
  end(info, was) {
    this.abandonAll();
    this.drop();
    this.orphan = null;
    this.state = "closed";
    this.unlisten();
    this.unwatch();
    this.q.drain();
    this.calls.fail("closed", "sockhop: connection closed");
    if (was) this.fire("disconnect", info);
  }
  online() {
    if (this.state == "disconnected" && !this.gone) this.start();
  }
  /**
   * away: the page unloads (lifecycle.ts). The session is left for the next page load of
   * this tab (keepSession), and the connection closes with 1001 at once, so the server keeps
   * the session only its short going-away grace.
   */
  away() {
    if (this.state == "closed" || this.gone) return;
    this.flush();
    const up = this.up;
    if (this.o.keepSession && this.id && this.token)
      save(this.key, { sid: this.id, token: this.token, node: this.node, rx: this.rx, from: this.held.first, msgs: this.held.all() });
    if (this.o.keepSession) saveSubs(this.key, this.subs.positions());
    this.abandonAll();
    this.drop(up ? [JSON.stringify({ t: "close", code: 1001, reason: "going away" })] : void 0, true);
    this.gone = true;
    this.state = "disconnected";
  }
  /** back: the page came back from the back/forward cache; connect again (and try to resume). */
  back() {
    if (!this.gone) return;
    this.gone = false;
    take(this.key);
    takeSubs(this.key);
    if (this.state == "disconnected") this.start();
  }
  offline() {
    if (this.state == "closed") return;
    const was = this.up || !!this.orphan;
    this.abandonAll();
    this.drop();
    this.orphan = null;
    clearTimeout(this.timer);
    this.state = "disconnected";
    if (was) this.fire("disconnect", { code: 1006, reason: "offline", reconnect: true });
  }
};

// src/index.ts
var version = "0.1.0";
function connect(url, opts) {
  const loc = typeof location != "undefined" ? location.href : void 0;
  const base = (loc ? new URL(url, loc).href : url).replace(/[?#].*$/, "").replace(/\/+$/, "");
  return new Client(base, opts);
}
export {
  connect,
  version
};
