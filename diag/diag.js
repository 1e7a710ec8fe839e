// sockhop connectivity doctor. Served at <mount>/diag with the bundled client at
// <mount>/sockhop.js. It runs the client's own transport ladder (what an app gets), then
// each transport alone, and publishes the result in window.sockhopDiag.
(function () {
  'use strict';

  var OPEN_TIMEOUT = 3000; // the client's default openTimeout, so the check sees what apps see
  var ROUNDS = 5; // round trips per transport
  var ACK_TIMEOUT = 5000;
  var TRANSPORTS = ['websocket', 'xhr-streaming', 'xhr-polling'];
  var LABEL = {
    websocket: ['WebSocket', 'the fast, direct way'],
    'xhr-streaming': ['HTTP streaming', 'fallback 1 (xhr-streaming)'],
    'xhr-polling': ['HTTP polling', 'fallback 2 (xhr-polling), the slowest'],
  };

  var mount = location.pathname.replace(/\/+$/, '').replace(/\/diag$/, '');
  // A key of its own for the client's transport memory: the app's remembered transport
  // (stored under the URL the app passed, usually the mount path) must not skip the ladder.
  var url = location.origin + mount;
  var $ = function (id) { return document.getElementById(id); };

  function now() { return performance.now(); }
  function ms(t0) { return Math.round(now() - t0); }
  function median(xs) {
    if (!xs.length) return null;
    var s = xs.slice().sort(function (a, b) { return a - b; });
    var m = s.length >> 1;
    return s.length % 2 ? s[m] : Math.round(((s[m - 1] + s[m]) / 2) * 10) / 10;
  }
  function errText(e) {
    if (!e) return 'unknown error';
    return (e.code ? e.code + ': ' : '') + (e.message || String(e));
  }

  // fetchProbe requests url and reports the status and time, or the network error.
  function fetchProbe(u, init) {
    var t0 = now();
    var ctl = new AbortController();
    var timer = setTimeout(function () { ctl.abort(); }, 5000);
    init = Object.assign({ cache: 'no-store', credentials: 'same-origin', signal: ctl.signal }, init || {});
    return fetch(u, init).then(
      function (r) {
        clearTimeout(timer);
        return r.text().then(function () { return { status: r.status, ms: ms(t0) }; });
      },
      function (e) {
        clearTimeout(timer);
        return { status: 0, ms: ms(t0), error: e && e.name === 'AbortError' ? 'no answer within 5 s' : 'request failed (blocked or unreachable)' };
      }
    );
  }

  // probes checks that plain requests reach the server, and that it accepts this page's
  // origin (an xhr_send for a session that does not exist: 404 when allowed, 403 when not;
  // with a session key, as every SockJS request has: PROTOCOL.md section 7).
  function probes() {
    var sid = 'diag' + Math.random().toString(36).slice(2, 12);
    return fetchProbe(mount + '/sockjs/info').then(function (info) {
      return fetchProbe(mount + '/sockjs/000/' + sid + '/xhr_send', {
        method: 'POST', body: '[]', headers: { 'Content-Type': 'text/plain', 'X-Sockhop-Key': 'diagprobe-' + sid + '-0000000000' },
      }).then(function (send) {
        return { info: info, origin: send };
      });
    });
  }

  // attempt connects with the given transports and runs ROUNDS acked round trips.
  function attempt(transports) {
    return new Promise(function (resolve) {
      var a = {
        transport: transports.length === 1 ? transports[0] : null,
        tried: transports.slice(),
        ok: false, reached: false, connect_ms: null, failed_ms: null,
        roundtrips: 0, rtt_ms: [], rtt_median_ms: null, error: null, cause: null, server: null,
      };
      var t0 = now();
      var done = false;
      var s;
      var poll, guard;
      function finish(e) {
        if (done) return;
        done = true;
        clearInterval(poll);
        clearTimeout(guard);
        if (e && !a.error) a.error = e;
        a.rtt_median_ms = median(a.rtt_ms);
        a.ok = a.reached && a.roundtrips === ROUNDS && !a.error;
        try { s.close(); } catch (_) { /* already closed */ }
        resolve(a);
      }
      try {
        s = sockhop.connect(url, {
          transports: transports, reconnect: false, rememberTransport: 0, openTimeout: OPEN_TIMEOUT,
          ackTimeout: ACK_TIMEOUT,
        });
      } catch (e) {
        a.error = errText(e);
        a.failed_ms = 0;
        return finish();
      }
      s.on('error', function (e) { if (!a.error) a.error = errText(e); });
      s.on('disconnect', function (info) {
        if (!done) finish('connection lost after connecting (code ' + info.code + (info.reason ? ', ' + info.reason : '') + ')');
      });
      // Without reconnect the client just closes when no transport worked: watch its state.
      poll = setInterval(function () {
        if (!a.reached && s.state === 'closed') {
          a.failed_ms = ms(t0);
          finish('did not connect');
        }
      }, 20);
      guard = setTimeout(function () {
        if (!a.reached) a.failed_ms = ms(t0);
        finish(a.reached ? 'round trips did not finish in time' : 'did not connect');
      }, OPEN_TIMEOUT * transports.length + ROUNDS * ACK_TIMEOUT + 2000);
      s.on('connect', function () {
        if (a.reached) return;
        a.reached = true;
        a.connect_ms = ms(t0);
        a.transport = s.transport;
        a.ping_ms = s.pingInterval || null; // the server's heartbeat interval for this session
        var i = 0;
        (function round() {
          if (done) return;
          if (++i > ROUNDS) return finish();
          var payload = { i: i, text: 'round trip ' + i + ' · héllo ✓ 😀', pad: new Array(i * 80 + 1).join('x') };
          var r0 = now();
          s.emitWithAck('sockhop:diag', payload, { timeout: ACK_TIMEOUT }).then(function (rep) {
            var t = Math.round((now() - r0) * 10) / 10;
            if (!rep || JSON.stringify(rep.echo) !== JSON.stringify(payload)) {
              return finish('round trip ' + i + ' came back changed');
            }
            a.rtt_ms.push(t);
            a.roundtrips++;
            a.server = { transport: rep.transport, headers: rep.headers };
            round();
          }, function (e) {
            finish('round trip ' + i + ' failed: ' + errText(e));
          });
        })();
      });
    });
  }

  // explain fills in the likely cause of each failed transport, from the pattern of results.
  function explain(d) {
    var by = {};
    d.attempts.forEach(function (a) { by[a.transport] = a; });
    var anyHTTP = by['xhr-streaming'].reached || by['xhr-polling'].reached;
    var originRefused = d.probes.origin.status === 403;
    var blocked = d.probes.info.status === 0 || d.probes.info.status >= 500;
    d.attempts.forEach(function (a) {
      if (a.ok) {
        a.cause = a.transport === 'websocket' ? 'Works: the best way to connect.'
          : 'Works. Used only when the ways above it fail.';
        return;
      }
      if (a.reached) {
        a.cause = 'It connected, but messages did not make the round trip (' + a.error + '). ' +
          'Something in between drops or alters traffic.';
        return;
      }
      if (originRefused) {
        a.cause = 'The server refused this page\'s origin (HTTP 403). A proxy in front probably changes the Host ' +
          'header (nginx: proxy_set_header Host $http_host; Apache: ProxyPreserveHost On), or this address is ' +
          'missing from the server\'s AllowedOrigins.';
        return;
      }
      if (blocked) {
        a.cause = 'Blocked: plain requests to the server failed too (' + (d.probes.info.error || 'HTTP ' + d.probes.info.status) +
          '). A firewall, filter or the network stops them.';
        return;
      }
      if (a.error && a.error !== 'did not connect') {
        // The client reports an error only when the server spoke: its close carried one.
        a.cause = 'The server answered but turned the session away (' + a.error + '): that is the site\'s ' +
          'sign-in or connect check, not the network.';
        return;
      }
      var timedOut = a.failed_ms !== null && a.failed_ms >= OPEN_TIMEOUT - 200;
      if (a.transport === 'websocket') {
        a.cause = timedOut
          ? 'The WebSocket upgrade stalled: something in between accepted it but passed nothing on within ' +
            (OPEN_TIMEOUT / 1000) + ' s (a proxy or security software that holds upgraded connections).'
          : 'The WebSocket upgrade was refused or stripped: a proxy in between does not pass the Upgrade and ' +
            'Connection headers (nginx: proxy_http_version 1.1 and the two proxy_set_header lines; Apache: ' +
            'ProxyPass … upgrade=websocket). The fallbacks cover for it, with more delay.';
      } else if (a.transport === 'xhr-streaming') {
        a.cause = timedOut && by['xhr-polling'].reached
          ? 'The stream was buffered: no byte arrived within ' + (OPEN_TIMEOUT / 1000) + ' s although polling works. ' +
            'A proxy or antivirus holds responses until they end (nginx: proxy_buffering off, and do not ' +
            'ignore X-Accel-Buffering).'
          : timedOut
            ? 'No answer within ' + (OPEN_TIMEOUT / 1000) + ' s.'
            : 'The streaming request failed (' + a.error + ').';
      } else {
        a.cause = anyHTTP ? 'Polling failed although streaming works (' + a.error + ').'
          : timedOut ? 'No answer within ' + (OPEN_TIMEOUT / 1000) + ' s: requests are held or blocked.'
            : 'The polling request failed (' + a.error + ').';
      }
    });
  }

  function verdict(d) {
    var l = d.ladder;
    if (!l.ok) {
      return ['bad', 'Could not connect',
        'No way of connecting worked from this browser, so live updates on this site will not work here. ' +
        'If another network (for example a phone hotspot) works, this network blocks it. Either way, send the ' +
        'report below to the site\'s support.'];
    }
    var name = LABEL[l.transport][0];
    if (l.transport === 'websocket') {
      return ['good', 'All good: connected with WebSocket',
        'Realtime updates reach this browser the fast way (connected in ' + l.connect_ms + ' ms, round trip ' +
        l.rtt_median_ms + ' ms).'];
    }
    return ['slow', 'Works, using a fallback: ' + name,
      'Realtime updates work, but WebSocket does not get through, so connecting took ' + (l.connect_ms / 1000).toFixed(1) +
      ' s and messages take ' + l.rtt_median_ms + ' ms for a round trip. Nothing to fix in your browser; ' +
      'the table below tells the site\'s operators which proxy setting is missing.'];
  }

  function headerRows(h) {
    if (!h) return [];
    return [
      ['Via', h.via ? 'yes' + (h.via_value ? ': ' + h.via_value : '') : 'no'],
      ['X-Forwarded-For', h.x_forwarded_for ? 'yes' : 'no'],
      ['X-Forwarded-Proto', h.x_forwarded_proto ? 'yes: ' + h.x_forwarded_proto : 'no'],
      ['X-Forwarded-Host', h.x_forwarded_host ? 'yes' : 'no'],
      ['Forwarded', h.forwarded ? 'yes' : 'no'],
      ['X-Real-IP', h.x_real_ip ? 'yes' : 'no'],
    ];
  }

  function report(d) {
    var L = [];
    var pad = function (s, n) { s = String(s); while (s.length < n) s += ' '; return s; };
    L.push('sockhop connection check');
    L.push('time:      ' + d.finished_at);
    L.push('page:      ' + location.protocol + '//' + location.host + location.pathname);
    L.push('browser:   ' + navigator.userAgent);
    L.push('client:    sockhop.js ' + d.client_version);
    L.push('result:    ' + (d.ok ? 'connected over ' + d.transport + ' in ' + d.connect_ms + ' ms, ' + d.roundtrips + '/' + ROUNDS +
      ' round trips' : 'NOT CONNECTED' + (d.error ? ' (' + d.error + ')' : '')));
    L.push('');
    L.push(pad('transport', 15) + pad('result', 8) + pad('connect', 10) + pad('rtt', 10) + 'trips');
    d.attempts.forEach(function (a) {
      L.push(pad(a.transport, 15) + pad(a.ok ? 'ok' : 'FAILED', 8) +
        pad(a.reached ? a.connect_ms + 'ms' : a.failed_ms !== null ? '-(' + a.failed_ms + 'ms)' : '-', 10) +
        pad(a.rtt_median_ms !== null ? a.rtt_median_ms + 'ms' : '-', 10) + a.roundtrips + '/' + ROUNDS);
    });
    d.attempts.forEach(function (a) {
      if (!a.ok) L.push('  ' + a.transport + ': ' + (a.error || '') + ' -> ' + a.cause);
    });
    L.push('');
    var hb = d.heartbeat || {};
    L.push('heartbeat:    ' + (hb.server_ms ? 'server pings every ' + hb.server_ms / 1000 + ' s' : 'server interval unknown') + '; ' +
      (hb.learned_ms ? 'this browser learned ' + hb.learned_ms / 1000 + ' s' + (hb.cut_ms ? ' (a proxy cut idle connections after ' +
        (hb.cut_ms / 1000).toFixed(1) + ' s)' : '') : 'no idle cuts learned'));
    L.push('probe info:   HTTP ' + d.probes.info.status + ' in ' + d.probes.info.ms + 'ms' + (d.probes.info.error ? ' ' + d.probes.info.error : ''));
    L.push('probe origin: HTTP ' + d.probes.origin.status + (d.probes.origin.status === 403 ? ' (origin refused)' : d.probes.origin.status === 404 ? ' (ok)' : ''));
    if (d.server_saw) {
      L.push('server saw:   ' + headerRows(d.server_saw).map(function (r) { return r[0] + '=' + r[1]; }).join(', '));
    } else {
      L.push('server saw:   (no transport connected)');
    }
    if (d.app_remembered) L.push('app remembers transport: ' + d.app_remembered);
    return L.join('\n');
  }

  function cell(tr, text, cls, label) {
    var td = document.createElement('td');
    if (cls) td.className = cls;
    if (label) td.setAttribute('data-label', label); // shown on narrow screens, where the head is hidden
    if (text instanceof Node) td.appendChild(text); else td.textContent = text;
    tr.appendChild(td);
    return td;
  }
  function pill(text, cls) {
    var s = document.createElement('span');
    s.className = 'pill ' + cls;
    s.textContent = text;
    return s;
  }

  function renderRows(list) {
    var tb = $('attempts').tBodies[0];
    tb.textContent = '';
    TRANSPORTS.forEach(function (name) {
      var a = list[name];
      var tr = document.createElement('tr');
      tr.id = 'row-' + name;
      var m = document.createElement('div');
      m.className = 'method';
      m.textContent = LABEL[name][0];
      var sm = document.createElement('small');
      sm.textContent = LABEL[name][1];
      m.appendChild(sm);
      cell(tr, m);
      if (!a) {
        cell(tr, pill('waiting', 'skip'));
        cell(tr, '', 'num'); cell(tr, '', 'num'); cell(tr, '', 'why');
      } else if (a === 'running') {
        cell(tr, pill('testing…', 'wait'));
        cell(tr, '', 'num'); cell(tr, '', 'num'); cell(tr, '', 'why');
      } else {
        cell(tr, a.ok ? pill('✓ works', 'ok') : pill('✕ failed', 'bad'));
        cell(tr, a.reached ? a.connect_ms + ' ms'
          : a.failed_ms < 1000 ? 'refused at once (' + a.failed_ms + ' ms)'
            : 'gave up after ' + (a.failed_ms / 1000).toFixed(1) + ' s', 'num', 'Time to connect');
        cell(tr, a.rtt_median_ms !== null ? a.rtt_median_ms + ' ms' : '–', 'num', 'Round trip');
        cell(tr, a.cause || '', 'why');
      }
      tb.appendChild(tr);
    });
  }

  function renderHeaders(h) {
    if (!h) { $('proxy-section').hidden = true; return; }
    var proxied = h.via || h.x_forwarded_for || h.x_forwarded_proto || h.forwarded || h.x_real_ip || h.x_forwarded_host;
    $('proxy-summary').textContent = proxied
      ? 'A proxy sits between your browser and the application server: it added the headers marked "yes". ' +
        'That is normal; the table above shows whether it lets realtime traffic through.'
      : 'The server saw no proxy headers: either your browser talks to it directly, or a proxy in between hides itself.';
    var tb = $('headers').tBodies[0];
    tb.textContent = '';
    headerRows(h).forEach(function (r) {
      var tr = document.createElement('tr');
      cell(tr, r[0], 'hname');
      cell(tr, r[1], '', 'Seen by the server');
      tb.appendChild(tr);
    });
    $('proxy-section').hidden = false;
  }

  function setVerdict(v) {
    $('verdict').className = 'verdict ' + v[0];
    $('verdict-title').textContent = v[1];
    $('verdict-text').textContent = v[2];
  }

  // appHeartbeat is the heartbeat interval the app's client learned behind a proxy that cuts
  // idle connections sooner than the server's pings (client-js heartbeat.ts), or null.
  function appHeartbeat() {
    var keys = [url, mount];
    for (var i = 0; i < keys.length; i++) {
      try {
        var v = JSON.parse(localStorage.getItem('sockhop.heartbeat:' + keys[i]) || 'null');
        if (v && v.u > Date.now() && v.ms > 0) return { learned_ms: v.ms, cut_ms: v.cut || null };
      } catch (_) { /* unreadable */ }
    }
    return null;
  }

  function appRemembered() {
    try {
      var v = JSON.parse(localStorage.getItem('sockhop.transport:' + mount) || 'null');
      return v && v.u > Date.now() ? v.t : null;
    } catch (_) { return null; }
  }

  var running = false;
  function run() {
    if (running) return;
    running = true;
    window.sockhopDiag = undefined;
    $('copy').disabled = true;
    $('again').disabled = true;
    $('copied').hidden = true;
    $('report').value = 'The check is still running…';
    $('proxy-section').hidden = true;
    setVerdict(['running', 'Checking…', 'First: connecting the way this site\'s pages do.']);
    var shown = {};
    renderRows(shown);
    if (typeof sockhop === 'undefined') {
      setVerdict(['bad', 'The check cannot run', 'The sockhop browser client (sockhop.js) did not load: it is turned off on this server or blocked.']);
      window.sockhopDiag = { transport: null, roundtrips: 0, ok: false, connect_ms: null, error: 'sockhop.js did not load', attempts: [] };
      running = false;
      $('again').disabled = false;
      return;
    }
    var d = {
      transport: null, roundtrips: 0, ok: false, connect_ms: null, error: null, attempts: [],
      ladder: null, probes: null, server_saw: null, client_version: sockhop.version,
      app_remembered: appRemembered(), finished_at: null,
      heartbeat: { server_ms: null, learned_ms: null, cut_ms: null },
    };
    probes().then(function (p) {
      d.probes = p;
      return attempt(TRANSPORTS);
    }).then(function (l) {
      d.ladder = l;
      setVerdict(['running', 'Checking…', 'Now trying each way of connecting on its own.']);
      var chain = Promise.resolve();
      TRANSPORTS.forEach(function (name) {
        chain = chain.then(function () {
          shown[name] = 'running';
          renderRows(shown);
          return attempt([name]).then(function (a) {
            d.attempts.push(a);
            shown[name] = a;
          });
        });
      });
      return chain;
    }).then(function () {
      var l = d.ladder;
      d.transport = l.reached ? l.transport : null;
      d.roundtrips = l.roundtrips;
      d.ok = l.ok;
      d.connect_ms = l.connect_ms;
      d.error = l.ok ? null : l.error || 'did not connect';
      var hb = appHeartbeat();
      d.heartbeat = { server_ms: l.ping_ms || null, learned_ms: hb && hb.learned_ms, cut_ms: hb && hb.cut_ms };
      d.attempts.concat([l]).forEach(function (a) { if (!d.server_saw && a.server) d.server_saw = a.server.headers; });
      explain(d);
      d.finished_at = new Date().toISOString();
      renderRows(shown);
      renderHeaders(d.server_saw);
      setVerdict(verdict(d));
      d.report = report(d);
      $('report').value = d.report;
      $('copy').disabled = false;
      $('again').disabled = false;
      running = false;
      window.sockhopDiag = d;
      document.documentElement.setAttribute('data-diag', 'done');
    }).catch(function (e) {
      running = false;
      $('again').disabled = false;
      setVerdict(['bad', 'The check failed', errText(e)]);
      window.sockhopDiag = { transport: null, roundtrips: 0, ok: false, connect_ms: null, error: 'diag: ' + errText(e), attempts: d.attempts };
      document.documentElement.setAttribute('data-diag', 'done');
    });
  }

  $('copy').addEventListener('click', function () {
    var text = $('report').value;
    var shown = function () { $('copied').hidden = false; };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(shown, function () { fallbackCopy(); });
    } else {
      fallbackCopy();
    }
    function fallbackCopy() {
      $('report').focus();
      $('report').select();
      try { if (document.execCommand('copy')) shown(); } catch (_) { /* the text stays selected */ }
    }
  });
  $('again').addEventListener('click', run);
  $('env').textContent = 'client ' + (typeof sockhop !== 'undefined' ? sockhop.version : 'not loaded') + ' · ' +
    location.host + mount;
  run();
})();
