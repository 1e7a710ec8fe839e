// Everything the node unit tests reach into; not part of the bundle.
export * from './codec';
export * from './binary';
export * from './backoff';
export * from './queue';
export * from './acks';
export * from './client';
export * from './close';
export * from './held';
export * from './storage';
export * from './ladder';
export * from './rtt';
export * from './sockjs';
export { websocket } from './websocket';
export { isNode, NODE_HEADER } from './transport';
export { post, retryAfter } from './http';
export { connect, version } from './index';
export { Heartbeat, MIN_MS, HOLD_MS } from './heartbeat';
export { save as saveSession, take as takeSession } from './lifecycle';
