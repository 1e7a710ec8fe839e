// SockJS xhr-polling: one SockJS frame per POST .../xhr response, polled again after each; it
// gets through proxies that buffer whole responses.
import { sockjs } from './sockjs';
import { Factory } from './transport';

export const xhrPolling: Factory = (base, h, o) => sockjs('xhr-polling', 'xhr', false, base, h, o);
