// The native WebSocket transport: M/ws, subprotocol sockhop.v1 (a new session's hello may ride in
// the upgrade as another, PROTOCOL.md §3), one text message per frame, and
// a binary message in a binary frame of its own (binary.ts) once the server said bin:1. A
// resume names the session's node: M/ws?node=<id> (PROTOCOL.md §7, "Many nodes").
import { asText, frameOf, isBin, parseFrame } from './binary';
import { pack } from './codec';
import { DEFAULT_MAX, Factory, isNode } from './transport';

export const websocket: Factory = (base, h, o) => {
  const node = o && isNode(o.node) ? '?node=' + o.node : '';
  const hello = o && o.hello;
  const ws = new WebSocket(base.replace(/^http/, 'ws') + '/ws' + node, hello ? [hello, 'sockhop.v1'] : 'sockhop.v1');
  ws.binaryType = 'arraybuffer';
  let max = DEFAULT_MAX;
  let bin = false; // the server reads binary messages
  let done = false;
  let held: string[] = []; // accepted while the socket was not open: given back by close()
  ws.onopen = () => done || h.open(!!hello && ws.protocol === hello);
  ws.onmessage = (e) => {
    if (done) return;
    h.alive();
    if (typeof e.data == 'string') return h.frame(e.data);
    let m;
    try {
      m = parseFrame(e.data);
    } catch {
      done = true;
      ws.close(1002);
      return h.close(1002, 'malformed binary frame');
    }
    h.frame(m);
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
      let text: string[] = [];
      const sendText = () => {
        for (const f of pack(text, max)) ws.send(f.join('\n'));
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
