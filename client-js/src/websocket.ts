// The native WebSocket transport: M/ws, subprotocol sockhop.v1, one text message per frame. A
// resume names the session's node: M/ws?node=<id> (PROTOCOL.md §7, "Many nodes").
import { pack } from './codec';
import { DEFAULT_MAX, Factory, isNode } from './transport';

export const websocket: Factory = (base, h, o) => {
  const node = o && isNode(o.node) ? '?node=' + o.node : '';
  const ws = new WebSocket(base.replace(/^http/, 'ws') + '/ws' + node, 'sockhop.v1');
  let max = DEFAULT_MAX;
  let done = false;
  let held: string[] = []; // accepted while the socket was not open: given back by close()
  ws.onopen = () => done || h.open();
  ws.onmessage = (e) => {
    if (done) return;
    h.alive();
    if (typeof e.data == 'string') h.frame(e.data);
  };
  ws.onclose = (e) => {
    if (done) return;
    done = true;
    h.close(e.code || 1006, e.reason || 'websocket closed');
  };
  return {
    name: 'websocket',
    send(msgs) {
      if (done) return;
      if (ws.readyState != 1) return void held.push(...msgs);
      for (const f of pack(msgs, max)) ws.send(f.join('\n'));
    },
    setMax(n) {
      max = n;
    },
    close(last) {
      if (last && !done && ws.readyState == 1) this.send(last);
      done = true;
      try {
        ws.close(1000);
      } catch {
        // already closing
      }
      const r = last ? [] : held;
      held = [];
      return r;
    },
  };
};
