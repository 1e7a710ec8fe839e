// sockhop browser client: window.sockhop in the IIFE bundle, the module's exports in ESM.
import type { AnyEvents, EventMap, Options, Socket } from './api';
import { Client } from './client';

/** version is the client version. */
export const version = '0.1.0';

/** connect opens a connection to the server mounted at url (e.g. '/rt' or 'https://host/rt'). */
export function connect<E extends EventMap = AnyEvents>(url: string, opts?: Options): Socket<E> {
  const loc = typeof location != 'undefined' ? location.href : undefined;
  const base = (loc ? new URL(url, loc).href : url).replace(/[?#].*$/, '').replace(/\/+$/, '');
  // The event map types the calls at compile time only: the client is the same.
  return new Client(base, opts) as Socket<AnyEvents> as unknown as Socket<E>;
}
