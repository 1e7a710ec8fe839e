// sockhop exec's console: connects to the mount with the bundled client (any transport),
// shows the program's "line" events and sends the input as "line" events. Its state is in
// window.sockhopConsole, for tests. ?transport=NAME limits the client to one transport.
(function () {
  'use strict';
  var $ = function (id) { return document.getElementById(id); };
  var mount = document.documentElement.getAttribute('data-mount');
  var binary = document.documentElement.getAttribute('data-binary') === 'true';
  var params = new URLSearchParams(location.search);
  var state = window.sockhopConsole = { state: 'connecting', transport: null, lines: [], sent: 0, exit: null, close: null };
  var out = $('out');
  var MAX_SHOWN = 5000;

  function show(text, cls) {
    var atEnd = out.scrollTop + out.clientHeight >= out.scrollHeight - 4;
    var span = document.createElement('span');
    if (cls) span.className = cls;
    span.textContent = text + '\n';
    out.appendChild(span);
    while (out.childNodes.length > MAX_SHOWN) out.removeChild(out.firstChild);
    if (atEnd) out.scrollTop = out.scrollHeight;
  }
  function status(text, cls) {
    $('status').textContent = text;
    $('status').className = 'status ' + cls;
  }
  function enable(on) {
    $('line').disabled = !on;
    $('submit').disabled = !on;
    $('eof').disabled = !on;
  }

  var opts = { rememberTransport: 0, auth: { query: location.search.replace(/^\?/, '') } };
  if (params.get('transport')) opts.transports = [params.get('transport')];
  var s = sockhop.connect(mount, opts);

  s.on('connect', function (info) {
    state.state = 'open';
    state.transport = s.transport;
    status('connected over ' + s.transport + (info && info.resumed ? ' (resumed)' : ''), s.transport === 'websocket' ? 'open' : 'fallback');
    enable(true);
  });
  s.on('disconnect', function (info) {
    if (state.exit === null && info.reconnect) {
      state.state = 'reconnecting';
      status('reconnecting… (' + info.code + (info.reason ? ': ' + info.reason : '') + ')', 'connecting');
      return;
    }
    state.state = 'closed';
    state.close = { code: info.code, reason: info.reason };
    status('closed: ' + info.code + (info.reason ? ' ' + info.reason : ''), 'closed');
    enable(false);
  });
  s.on('error', function (e) { show('error: ' + (e && e.message || e), 'sys'); });
  s.on('line', function (text) {
    state.lines.push(text);
    show(text);
  });
  s.on('bytes', function (b) {
    // A binary message: the client hands it over as a Uint8Array (README, "Binary payloads").
    var text;
    try { text = new TextDecoder().decode(b); } catch (_) { text = String(b); }
    state.lines.push(text);
    show(text);
  });
  s.on('exit', function (x) {
    state.exit = x;
    show(x && x.signal ? '[program killed by ' + x.signal + ']' : '[program exited with status ' + (x ? x.status : '?') + ']', 'sys');
  });

  $('send').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var text = $('line').value;
    try {
      if (binary) {
        s.emit('bytes', new TextEncoder().encode(text + '\n'));
      } else {
        s.emit('line', text);
      }
      state.sent++;
      show('> ' + text, 'in');
      $('line').value = '';
    } catch (e) {
      show('not sent: ' + (e && e.message || e), 'sys');
    }
  });
  $('eof').addEventListener('click', function () {
    s.emitWithAck('eof').then(function () { show('[stdin closed]', 'sys'); }, function () {});
  });
  enable(false);
})();
