// The sockhop admin page: polls the server over sockhop itself (event sockhop:admin, with
// the token the page was served with) and renders what it answers. No inline script or
// style (the page's CSP forbids them): everything is built with DOM calls.
(function () {
  'use strict';
  var mount = location.pathname.replace(/\/+$/, '').replace(/\/admin$/, '');
  var token = document.querySelector('meta[name="sockhop-admin-token"]').content;
  var $ = function (id) { return document.getElementById(id); };
  var prev = null; // the last stats, for rates
  var found = '';  // the user found last
  var s = sockhop.connect(location.origin + mount, {});

  window.sockhopAdmin = { updates: 0, last: null, found: null, disconnected: null };

  function ask(op, user) {
    return s.emitWithAck('sockhop:admin', { token: token, op: op, user: user || '' }, { timeout: 5000 });
  }
  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text != null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }
  function row(tbody, cells) {
    var tr = el('tr');
    cells.forEach(function (c) { tr.appendChild(c instanceof Node ? c : el('td', c)); });
    tbody.appendChild(tr);
  }
  function fill(id, rows, empty, cols) {
    var tb = $(id).tBodies[0];
    tb.textContent = '';
    if (!rows.length) {
      var td = el('td', empty, 'hint');
      td.colSpan = cols;
      var tr = el('tr');
      tr.appendChild(td);
      tb.appendChild(tr);
    }
    rows.forEach(function (r) { row(tb, r); });
  }
  function num(v, cls) { return el('td', v, 'num' + (cls ? ' ' + cls : '')); }
  function status(text, cls) { var p = $('status'); p.textContent = text; p.className = 'status ' + (cls || ''); }

  function render(st) {
    var total = 0;
    Object.keys(st.transports).forEach(function (k) { total += st.transports[k]; });
    $('total').textContent = total;
    $('rooms-total').textContent = st.room_count;
    if (prev) {
      var dt = Math.max(1, st.time - prev.time) / 1000;
      $('rate-in').textContent = Math.round((st.in - prev.in) / dt);
      $('rate-out').textContent = Math.round((st.out - prev.out) / dt);
    }
    prev = st;
    fill('transports', ['websocket', 'xhr-streaming', 'xhr-polling'].map(function (k) {
      var n = st.transports[k] || 0;
      var share = el('td');
      var bar = el('span', null, 'bar');
      var pct = total ? Math.round(100 * n / total) : 0;
      bar.style.width = Math.max(2, pct) + 'px';
      share.appendChild(bar);
      share.appendChild(document.createTextNode(' ' + pct + ' %'));
      return [k, num(n), share];
    }), '', 3);
    fill('nodes', st.nodes.map(function (n) { return [n.id + (n.self ? ' (this node)' : ''), num(n.sessions)]; }), 'none', 2);
    fill('rooms', st.rooms.map(function (r) { return [el('td', r.room, 'wrap'), num(r.here), num(r.total)]; }), 'no rooms', 3);
    fill('closes', st.closes.map(function (c) {
      var bad = c.code !== 1000 && c.code !== 1001;
      return [new Date(c.at).toLocaleTimeString(), el('td', c.code, bad ? 'code-bad' : ''), el('td', c.reason || '–', 'wrap'), c.transport, c.user || '–'];
    }), 'no session has closed yet', 5);
    chart(st.fallbacks);
  }

  function chart(series) {
    var svg = $('chart');
    var ns = 'http://www.w3.org/2000/svg';
    svg.textContent = '';
    var max = Math.max.apply(null, series.concat([1]));
    var w = 300 / series.length;
    for (var g = 1; g < 4; g++) {
      var l = document.createElementNS(ns, 'line');
      l.setAttribute('x1', 0); l.setAttribute('x2', 300);
      l.setAttribute('y1', g * 20); l.setAttribute('y2', g * 20);
      svg.appendChild(l);
    }
    series.forEach(function (v, i) {
      var h = 76 * v / max;
      var r = document.createElementNS(ns, 'rect');
      r.setAttribute('x', i * w + 1); r.setAttribute('width', w - 2);
      r.setAttribute('y', 80 - h); r.setAttribute('height', h);
      var t = document.createElementNS(ns, 'title');
      t.textContent = v + ' fallbacks, ' + (series.length - 1 - i) + ' min ago';
      r.appendChild(t);
      svg.appendChild(r);
    });
  }

  function tick() {
    ask('stats').then(function (st) {
      render(st);
      window.sockhopAdmin.updates++;
      window.sockhopAdmin.last = st;
      status('Live · node ' + st.node + ' · via ' + s.transport, 'ok');
    }, function (e) { status('Error: ' + (e && e.message || e), 'bad'); });
  }

  function find(user) {
    return ask('find', user).then(function (list) {
      found = user;
      window.sockhopAdmin.found = list;
      $('found').hidden = !list.length;
      $('disconnect').hidden = !list.length;
      $('find-result').textContent = list.length + ' session' + (list.length === 1 ? '' : 's') + ' of “' + user + '” on this node.';
      fill('found', list.map(function (x) {
        return [x.id.slice(0, 8) + '…', x.transport, x.remote, el('td', (x.rooms || []).join(', ') || '–', 'wrap')];
      }), '', 4);
    });
  }

  $('find').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var user = $('user').value.trim();
    if (user) find(user).catch(function (e) { $('find-result').textContent = 'Error: ' + (e && e.message || e); });
  });
  $('disconnect').addEventListener('click', function () {
    if (!found) return;
    ask('disconnect', found).then(function (r) {
      window.sockhopAdmin.disconnected = r.closed;
      $('find-result').textContent = 'Disconnected ' + r.closed + ' session' + (r.closed === 1 ? '' : 's') + ' of “' + found + '”' + (r.error ? ' (' + r.error + ')' : '') + '.';
      $('found').hidden = true;
      $('disconnect').hidden = true;
      tick();
    });
  });

  s.on('connect', function () { tick(); });
  s.on('disconnect', function () { status('Disconnected, reconnecting…', 'bad'); });
  setInterval(function () { if (s.state === 'connected') tick(); }, 2000);
})();
