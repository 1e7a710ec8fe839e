// Heartbeats that learn the path (PROTOCOL.md §5, "Learning the interval"). A proxy or load
// balancer that cuts a connection after some idle time (nginx's proxy_read_timeout, a
// corporate proxy's 15–30 s) beats the server's pings when the cut comes first: every
// transport then dies after the same idle time. Heartbeat notices such a cut (the transport
// dropped after idle ms with nothing received, before the server's next ping was due) and
// asks the server for an interval under it, 3/4 of the idle time, never below MIN_MS; it
// raises the interval again slowly (by a quarter every hold, the hold doubling each time a
// raise led to a cut), up to the server's own interval. One learner serves one client, on
// every transport; what it learned is remembered per server for the next page load.

/** MIN_MS is the shortest interval a client asks for; the server clamps to its own bounds too. */
export const MIN_MS = 5000;
/** HOLD_MS is how long an interval holds without a cut before it is raised. */
export const HOLD_MS = 10 * 60 * 1000;
/** HOLD_MAX_MS caps the hold. */
export const HOLD_MAX_MS = 8 * 60 * 60 * 1000;
/** REMEMBER_MS is how long a learned interval is remembered (localStorage, per server). */
const REMEMBER_MS = 24 * 60 * 60 * 1000;
const PREFIX = 'sockhop.heartbeat:';

function store(): Storage | null {
  try {
    return (globalThis as any).localStorage || null;
  } catch {
    return null;
  }
}

/** Heartbeat learns the heartbeat interval of one client's path to its server. */
export class Heartbeat {
  /** ms is the interval to ask for (0: none, the server's own). */
  ms = 0;
  /** cut is the idle time (ms) after which the last idle cut came (0: none seen). */
  cut = 0;
  /** cuts counts the idle cuts seen. */
  cuts = 0;
  private since = 0; // when ms was last set
  private hold = HOLD_MS;
  private raised = false; // ms was raised since the last cut

  constructor(
    private key = '',
    private now: () => number = Date.now,
  ) {
    try {
      const v = JSON.parse(store()?.getItem(PREFIX + key) || 'null');
      if (v && v.u > now() && v.ms >= MIN_MS) {
        this.ms = v.ms;
        this.cut = v.cut || 0;
        this.hold = Math.min(v.hold || HOLD_MS, HOLD_MAX_MS);
        this.since = now();
      }
    } catch {
      // unreadable: as if absent
    }
  }

  /**
   * dropped takes note of a transport that dropped after idle ms with nothing received,
   * while the server pinged every serverMs; it reports whether the interval changed.
   */
  dropped(idle: number, serverMs: number): boolean {
    if (!(serverMs > 0) || idle < MIN_MS || idle >= serverMs) return false; // not an idle cut the pings could beat
    this.cuts++;
    this.cut = idle;
    if (this.raised) this.hold = Math.min(this.hold * 2, HOLD_MAX_MS);
    this.raised = false;
    const want = Math.max(MIN_MS, Math.floor((idle * 3) / 4000) * 1000);
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
  raise(serverMax: number): number {
    if (!this.ms || this.now() - this.since < this.hold) return 0;
    this.since = this.now();
    this.raised = true;
    this.ms = Math.ceil((this.ms * 1.25) / 1000) * 1000;
    if (serverMax > 0 && this.ms >= serverMax) this.ms = 0;
    this.save();
    return this.ms || serverMax;
  }

  private save(): void {
    try {
      const s = store();
      if (!s) return;
      if (this.ms) s.setItem(PREFIX + this.key, JSON.stringify({ ms: this.ms, cut: this.cut, hold: this.hold, u: this.now() + REMEMBER_MS }));
      else s.removeItem(PREFIX + this.key);
    } catch {
      // quota or disabled storage
    }
  }
}
