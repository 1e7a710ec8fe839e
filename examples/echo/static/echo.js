// The echo page. The events are typed: ../events.d.ts is generated from the Go handlers
// (go generate), and examples/tsconfig.json type-checks this file against it (client-js's
// npm test).
'use strict';
/** @typedef {import('../events').Events} Events */
(function () {
  /** @type {(id: string) => any} the page's elements are not typed, the events are */
  const $ = (id) => document.getElementById(id);
  const params = new URLSearchParams(location.search);
  /** @type {import('sockhop').Options} */
  const opts = {};
  if (params.get('transport')) opts.transports = [/** @type {import('sockhop').TransportName} */ (params.get('transport'))];
  /** @type {import('sockhop').Socket<Events>} */
  const socket = sockhop.connect('/rt', opts);

  function log(kind, text) {
    const li = document.createElement('li');
    const tag = document.createElement('span');
    tag.className = 'tag ' + kind;
    tag.textContent = kind;
    const body = document.createElement('span');
    body.textContent = text;
    li.append(tag, body);
    $('log').prepend(li);
    while ($('log').children.length > 50) $('log').lastChild.remove();
  }
  function status(state, text) {
    $('status').dataset.state = state;
    $('status-text').textContent = text;
  }
  // The reconnect countdown counts down to the attempt, then says it is under way.
  let countdown = null;
  const stopCountdown = () => {
    clearInterval(countdown);
    countdown = null;
  };
  socket.on('connect', () => {
    stopCountdown();
    status('connected', 'connected via ' + socket.transport);
  });
  socket.on('disconnect', () => status('down', 'disconnected'));
  socket.on('reconnecting', (n, delay) => {
    stopCountdown();
    const until = Date.now() + delay;
    const tick = () => {
      const left = Math.ceil((until - Date.now()) / 1000);
      status('reconnecting', left > 0 ? 'reconnecting in ' + left + ' s' : 'reconnecting…');
      if (left <= 0) stopCountdown();
    };
    tick();
    countdown = setInterval(tick, 250);
  });

  /** @param {'echo' | 'foo' | 'bar'} name */
  async function send(name) {
    const payload = $('payload').value;
    const t0 = performance.now();
    try {
      const reply = await socket.emitWithAck(name, payload, { timeout: 5000 });
      log(name, JSON.stringify(reply) + '  (' + (performance.now() - t0).toFixed(1) + ' ms)');
    } catch (err) {
      log('error', name + ': ' + err.message);
    }
  }
  $('form').addEventListener('submit', (e) => { e.preventDefault(); send('echo'); });
  /** @type {NodeListOf<HTMLElement>} */ (document.querySelectorAll('button[data-event]:not([type=submit])')).forEach((b) =>
    b.addEventListener('click', () => send(/** @type {'foo' | 'bar'} */ (b.dataset.event))));
  $('rtt').addEventListener('click', async () => {
    const rtts = [];
    try {
      for (let i = 0; i < 100; i++) {
        const t0 = performance.now();
        await socket.emitWithAck('rtt', i, { timeout: 5000 });
        rtts.push(performance.now() - t0);
      }
    } catch (err) {
      return log('error', 'rtt: ' + err.message);
    }
    rtts.sort((a, b) => a - b);
    const p = (q) => rtts[Math.ceil(rtts.length * q) - 1].toFixed(2);
    log('rtt', socket.transport + ': p50 ' + p(0.5) + ' ms, p90 ' + p(0.9) + ' ms, p99 ' + p(0.99) + ' ms');
  });
  /** @type {any} */ (window).echo = { socket };
})();
