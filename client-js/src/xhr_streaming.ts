// SockJS xhr-streaming: receive on one long POST .../xhr_streaming response, reopened when the
// server ends it (after 128 KiB); fetch() streaming where available, XHR progress otherwise.
import { sockjs } from './sockjs';
import { Factory } from './transport';

export const xhrStreaming: Factory = (base, h, o) => sockjs('xhr-streaming', 'xhr_streaming', true, base, h, o);
