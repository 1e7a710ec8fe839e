// sockhop browser client: window.sockhop in the IIFE bundle, the module's exports in ESM.
import type { Options, Socket } from './api';
import { Client } from './client';

/** version is the client version. */
export const version = '0.1.0';

/** connect opens a connection to the server mounted at url (e.g. '/rt' or 'https://host/rt'). */
export function connect(url: string, opts?: Options): Socket {
  const loc = typeof location != 'undefined' ? location.href : undefined;
  const base = (loc ? new URL(url, loc).href : url).replace(/[?#].*$/, '').replace(/\/+$/, '');
  return new Client(base, opts);
}
