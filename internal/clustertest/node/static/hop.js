// The clustertest browser test drives one sockhop connection per page through window.hop:
// connect (a forced transport, a user, a room), startSend (n acked "say" in order, at most
// `window` unanswered), and tally (what arrived from one sender: lost, duplicated,
// reordered). The Go side polls hop.st.sendResult, since the driver runs one command at a
// time and both pages must send at once.
window.hop = (() => {
  const st = { s: null, said: {}, sendResult: null, resumeFailed: 0, disconnects: 0, errors: [] };

  function record(m) {
    (st.said[m.from] || (st.said[m.from] = [])).push(m.n);
  }

  async function connect(transport, user, room) {
    if (st.s) st.s.close();
    st.said = {};
    const s = sockhop.connect('/rt', {
      transports: [transport], rememberTransport: 0, auth: { user }, openTimeout: 5000,
    });
    st.s = s;
    s.on('said', record);
    s.on('resume-failed', () => { st.resumeFailed++; });
    s.on('disconnect', () => { st.disconnects++; });
    s.on('error', (e) => { if (st.errors.length < 20) st.errors.push(String(e.code || e)); });
    await new Promise((resolve, reject) => {
      s.once('connect', resolve);
      setTimeout(() => reject(new Error('no connect within 15 s')), 15000);
    });
    const who = await s.emitWithAck('whoami');
    await s.emitWithAck('join', { room });
    return { sid: who.sid, node: who.node, transport: s.transport };
  }

  function startSend(room, from, n, window) {
    st.sendResult = null;
    const res = { acked: 0, failed: 0, errors: [], ms: 0 };
    const t0 = performance.now();
    (async () => {
      const inflight = new Set();
      for (let i = 0; i < n; i++) {
        // emitWithAck enqueues at once, in call order: the window only bounds what waits.
        const p = st.s.emitWithAck('say', { room, n: i, from }).then(
          () => { res.acked++; },
          (e) => { res.failed++; if (res.errors.length < 5) res.errors.push(String((e && e.code) || e)); });
        inflight.add(p);
        p.finally(() => inflight.delete(p));
        if (inflight.size >= window) await Promise.race(inflight);
      }
      await Promise.all(inflight);
      res.ms = Math.round(performance.now() - t0);
      st.sendResult = res;
    })().catch((e) => { res.errors.push('send loop: ' + e); st.sendResult = res; });
  }

  function tally(from, n) {
    const got = st.said[from] || [];
    const seen = new Uint32Array(n);
    let last = -1, lost = 0, dup = 0, reordered = 0, bad = 0;
    for (const x of got) {
      if (!Number.isInteger(x) || x < 0 || x >= n) { bad++; continue; }
      if (seen[x]) dup++;
      else if (x < last) reordered++;
      seen[x]++;
      if (x > last) last = x;
    }
    for (let i = 0; i < n; i++) if (!seen[i]) lost++;
    return { got: got.length, lost, dup, reordered, bad };
  }

  function close() {
    if (st.s) st.s.close();
    st.s = null;
    return true;
  }

  return { st, connect, startSend, tally, close };
})();
