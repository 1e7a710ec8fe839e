// Local event listeners: the app's handlers of server events and of the client's own events
// (connect, disconnect, reconnecting, transport, resume-failed, error), one namespace.

/** Listener is a handler of one event. */
export type Listener = (...a: any[]) => unknown;

/** Emitter keeps listeners by event name, in the order they were added. */
export class Emitter {
  private ls = new Map<string, Listener[]>();

  on(ev: string, fn: Listener): this {
    const l = this.ls.get(ev);
    if (l) l.push(fn);
    else this.ls.set(ev, [fn]);
    return this;
  }

  once(ev: string, fn: Listener): this {
    const w = (...a: any[]) => (this.off(ev, w), fn(...a));
    (w as any).fn = fn;
    return this.on(ev, w);
  }

  off(ev: string, fn?: Listener): this {
    const l = this.ls.get(ev);
    if (!l || !fn) this.ls.delete(ev);
    else this.ls.set(ev, l.filter((x) => x !== fn && (x as any).fn !== fn));
    return this;
  }

  /** listeners returns ev's listeners as they are now (a copy: a listener may call off). */
  protected listeners(ev: string): Listener[] {
    return (this.ls.get(ev) || []).slice();
  }

  /** fire calls the listeners of ev; a throwing listener is reported, not propagated. */
  protected fire(ev: string, ...a: any[]): void {
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
}
