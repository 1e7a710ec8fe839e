// Compiled (not run) by npm test (test/tsconfig.json): the published dist/sockhop.d.ts serves a TypeScript app.
import { connect, version, type Socket, type SockhopError, type DisconnectInfo } from '../dist/sockhop';

const s: Socket = connect('/rt', { transports: ['xhr-polling'], openTimeout: 1000, auth: () => ({ token: 'x' }) });
s.on('connect', () => console.log(s.transport, s.state, s.id, version))
  .on('disconnect', (d: DisconnectInfo) => console.log(d.code, d.reason, d.reconnect))
  .on('reconnecting', (attempt: number, delay: number) => console.log(attempt + delay))
  .on('error', (e: SockhopError) => console.log(e.code))
  .on('chat', (msg) => msg)
  .once('chat', () => undefined)
  .off('chat');
s.emit('chat', { text: 'hi' });
async function ask(): Promise<number> {
  return s.emitWithAck<number>('add', [1, 2], { timeout: 500 });
}
void ask();
s.close();
