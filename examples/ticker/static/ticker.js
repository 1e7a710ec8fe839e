// The ticker page. The events are typed: ../events.d.ts is generated from the Go handlers
// (go generate), and examples/tsconfig.json type-checks this file against it (client-js's
// npm test).
'use strict';
/** @typedef {import('../events').Events} Events */
/** @typedef {import('../events').Quote} Quote */
(function () {
  /** @type {(id: string) => any} the page's elements are not typed, the events are */
  const $ = (id) => document.getElementById(id);
  const params = new URLSearchParams(location.search);
  /** @type {import('sockhop').Options} */
  const opts = {};
  if (params.get('transport')) opts.transports = [/** @type {import('sockhop').TransportName} */ (params.get('transport'))];
  /** @type {import('sockhop').Socket<Events>} */
  const socket = sockhop.connect('/rt', opts);
  const initial = (params.get('symbols') || 'ACME,GLBX,INIT,HOOL').split(',').filter(Boolean);

  const subscribed = new Set(initial);
  const rows = new Map(); // sym -> {tr, cells}
  const names = new Map();
  let updates = 0;

  const fmt = (n) => n.toLocaleString(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  const signed = (n) => (n > 0 ? '+' : n < 0 ? '−' : '') + fmt(Math.abs(n));

  function cell(tr, cls) {
    const td = document.createElement('td');
    if (cls) td.className = cls;
    tr.appendChild(td);
    return td;
  }
  function row(sym) {
    let r = rows.get(sym);
    if (r) return r;
    const tr = document.createElement('tr');
    tr.dataset.sym = sym;
    r = { tr, sym: cell(tr, 'sym'), name: cell(tr, 'name'), price: cell(tr, 'num price'), change: cell(tr, 'num'), pct: cell(tr, 'num'), when: cell(tr, 'num when') };
    r.sym.textContent = sym;
    r.name.textContent = names.get(sym) || '';
    rows.set(sym, r);
    // Keep the table in the order of the symbol list.
    const order = [...names.keys()];
    const next = [...rows.values()].filter((o) => o !== r && order.indexOf(o.tr.dataset.sym) > order.indexOf(sym)).sort((a, b) => order.indexOf(a.tr.dataset.sym) - order.indexOf(b.tr.dataset.sym))[0];
    $('rows').insertBefore(tr, next ? next.tr : null);
    $('empty').hidden = true;
    return r;
  }
  function drop(sym) {
    const r = rows.get(sym);
    if (r) r.tr.remove();
    rows.delete(sym);
    $('empty').hidden = rows.size > 0;
  }
  /** @param {Quote} q */
  function show(q) {
    if (!subscribed.has(q.sym)) return; // a quote still in flight after unsubscribe
    updates++;
    const r = row(q.sym);
    r.price.textContent = fmt(q.price);
    r.change.textContent = signed(q.change);
    r.pct.textContent = signed(q.pct) + '%';
    r.when.textContent = new Date(q.ts).toLocaleTimeString();
    r.tr.classList.toggle('up', q.change > 0);
    r.tr.classList.toggle('down', q.change < 0);
    r.price.classList.remove('tick-up', 'tick-down');
    if (q.dir) {
      void r.price.offsetWidth; // restart the flash animation
      r.price.classList.add(q.dir > 0 ? 'tick-up' : 'tick-down');
    }
  }
  function chips() {
    $('symbols').replaceChildren(...[...names.keys()].map((sym) => {
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'chip' + (subscribed.has(sym) ? ' on' : '');
      b.dataset.sym = sym;
      b.textContent = sym;
      b.title = names.get(sym);
      b.setAttribute('aria-pressed', String(subscribed.has(sym)));
      b.addEventListener('click', () => toggle(sym));
      return b;
    }));
  }
  async function toggle(sym) {
    if (subscribed.has(sym)) {
      subscribed.delete(sym);
      drop(sym);
      chips();
      await socket.emitWithAck('unsubscribe', sym).catch(() => {});
    } else {
      subscribed.add(sym);
      chips();
      await socket.emitWithAck('subscribe', sym).catch(() => {});
    }
  }
  socket.on('quote', show);

  function status(state, text) {
    $('status').dataset.state = state;
    $('status-text').textContent = text;
  }
  let countdown = null;
  socket.on('connect', async () => {
    if (countdown) clearInterval(countdown);
    status('connected', 'connected via ' + socket.transport);
    const list = await socket.emitWithAck('symbols');
    list.forEach((s) => names.set(s.sym, s.name));
    chips();
    // A new session after a reconnect: subscribe again (joining twice is harmless).
    for (const sym of subscribed) socket.emitWithAck('subscribe', sym).catch(() => {});
  });
  socket.on('disconnect', () => status('down', 'disconnected'));
  socket.on('reconnecting', (n, delay) => {
    if (countdown) clearInterval(countdown);
    const until = Date.now() + delay;
    const tick = () => status('reconnecting', 'reconnecting in ' + Math.max(0, Math.ceil((until - Date.now()) / 1000)) + ' s');
    tick();
    countdown = setInterval(tick, 250);
  });
  let last = 0;
  setInterval(() => {
    $('rate').textContent = rows.size ? (updates - last) + ' updates/s' : '';
    last = updates;
  }, 1000);

  /** @type {any} */ (window).ticker = { socket, subscribed, updates: () => updates };
})();
