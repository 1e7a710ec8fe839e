// The chat page. Every string from the network goes into the page through textContent,
// never innerHTML, so a message cannot inject markup.
//
// The events are typed: ../events.d.ts is generated from the Go handlers (go generate), and
// examples/tsconfig.json type-checks this file against it (client-js's npm test).
'use strict';
/** @typedef {import('../events').Events} Events */
/** @typedef {import('../events').Message} Message */
/** @typedef {import('../events').RoomInfo} RoomInfo */
(function () {
  const MAX = 500;
  /** @type {(id: string) => any} the page's elements are not typed, the events are */
  const $ = (id) => document.getElementById(id);
  const TRANSPORTS = ['websocket', 'xhr-streaming', 'xhr-polling'];
  const params = new URLSearchParams(location.search);
  // keepSession: a reload resumes this tab's session (its nickname and room with it); a
  // closed tab's session ends within about a second. The room's subscription and position
  // are kept over a reload too: when the session is gone by then, the client subscribes
  // again from the last message shown and the server sends what came meanwhile.
  /** @type {import('sockhop').Options} */
  const opts = { keepSession: true };
  const forced = params.get('transport'); // tests force one
  if (forced && TRANSPORTS.includes(forced)) opts.transports = [/** @type {import('sockhop').TransportName} */ (forced)];
  else if (forced) {
    const w = $('warning');
    w.textContent = 'Unknown transport "' + forced + '" in the address (?transport=): use ' + TRANSPORTS.join(', ') + '. Trying all of them.';
    w.hidden = false;
  }
  /** @type {import('sockhop').Socket<Events>} */
  const socket = sockhop.connect('/rt', opts);

  // The nickname: the address's, else this tab's (sessionStorage: kept over a reload), else
  // the last one chosen in this browser (localStorage), else a new guest name. One that is
  // not the address's gives way when taken (a second tab, a session still leaving).
  const tabNick = sessionStorage.getItem('chat.nick');
  const me = {
    nick: params.get('nick') || tabNick || localStorage.getItem('chat.nick') || 'guest' + Math.floor(1000 + Math.random() * 9000),
    room: params.get('room') || sessionStorage.getItem('chat.room') || 'lobby',
  };
  let insist = !!params.get('nick'); // a nickname the user asked for: report, do not change
  $('nick').value = me.nick;
  /** The room whose history the list shows (null: none yet, or one to show again). */
  let shown = null;
  /** @type {import('sockhop').SubscribeResult | null} the room's last subscription */
  let lastSub = null;
  /** @type {Map<string, Message>} the messages in the list, by id: each is shown once */
  const msgs = new Map();
  const chatRoom = (room) => 'chat:' + room; // the sockhop room (the server's Channel "chat:")

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function time(ts) {
    return new Date(ts).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  }
  function scrolled(list) {
    return list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  }
  function append(node) {
    const list = $('messages');
    const stick = scrolled(list);
    list.appendChild(node);
    while (list.children.length > 500) list.firstChild.remove();
    if (stick) list.scrollTop = list.scrollHeight;
  }
  /** @param {Message} m */
  function addMessage(m) {
    if (m.room !== me.room || msgs.has(m.id)) return; // another room's, or shown already
    msgs.set(m.id, m);
    if (msgs.size > 1000) msgs.delete(msgs.keys().next().value);
    typers.delete(m.nick);
    showTyping();
    const li = el('li', 'msg' + (m.kind === 'announcement' ? ' announcement' : m.nick === me.nick ? ' mine' : ''));
    const head = el('div', 'meta');
    head.append(el('span', 'who', m.nick), el('time', 'when', time(m.ts)));
    li.append(head, el('div', 'text', m.text));
    append(li);
  }
  function addNotice(text, cls) {
    append(el('li', 'notice' + (cls ? ' ' + cls : ''), text));
  }
  function showError(text) {
    const e = $('error');
    e.textContent = text;
    e.hidden = !text;
  }
  /** @param {string[]} list */
  function setMembers(list) {
    const ul = $('members');
    ul.replaceChildren(...(list || []).map((n) => {
      const li = el('li', n === me.nick ? 'me' : '', n);
      li.title = n; // the whole name, when the list is too narrow for it
      return li;
    }));
    $('count').textContent = String(list.length);
  }
  /** @param {RoomInfo[]} list */
  function setRooms(list) {
    const ul = $('rooms');
    ul.replaceChildren(...list.map((r) => {
      const li = el('li', r.name === me.room ? 'current' : '');
      const b = el('button', '', '#' + r.name);
      b.type = 'button';
      b.addEventListener('click', () => join(r.name, me.nick));
      li.append(b, el('span', 'count', String(r.members)));
      return li;
    }));
  }

  function variant(nick) {
    return nick.replace(/-\d{1,2}$/, '').slice(0, 17) + '-' + Math.floor(10 + Math.random() * 90);
  }
  // join joins room as nick; it reports whether it did. A nickname the user did not ask for
  // in this tab gives way when taken: first it waits for a session that is leaving (a
  // reload's, a closed tab's: about a second), then it takes a variant (a second tab).
  // The page subscribes to the room itself (through the server's Channel rule for "chat:"),
  // before joining: the join's history then reaches at least where the live messages
  // begin. A subscription that did not recover what was missed shows the history again.
  async function join(room, nick) {
    showError('');
    const old = me.room;
    try {
      const r = (lastSub = await socket.subscribe(chatRoom(room)));
      if (!r.recovered) shown = null;
    } catch (err) {
      showError(err.message);
      return false;
    }
    for (let attempt = 0; ; attempt++) {
      try {
        joined(await socket.emitWithAck('join', { room, nick, subscribe: true }));
        if (old !== room) socket.unsubscribe(chatRoom(old)).catch(() => {});
        return true;
      } catch (err) {
        if (err.code === 'nick_taken' && !insist && attempt < 6) {
          if (attempt === 0) await new Promise((r) => setTimeout(r, 1500));
          else nick = variant(nick);
          continue;
        }
        showError(err.message);
        if (room !== me.room) socket.unsubscribe(chatRoom(room)).catch(() => {});
        return false;
      }
    }
  }
  // joined shows what a join answered.
  function joined(j) {
    const moved = j.room !== shown;
    me.room = j.room;
    me.nick = j.nick;
    $('nick').value = me.nick;
    $('nick').classList.remove('invalid');
    sessionStorage.setItem('chat.nick', me.nick);
    sessionStorage.setItem('chat.room', me.room);
    if (!/-\d{1,2}$/.test(me.nick) || !localStorage.getItem('chat.nick')) localStorage.setItem('chat.nick', me.nick);
    $('room-title').textContent = '#' + me.room;
    document.title = '#' + me.room + ' · sockhop chat';
    if (moved) {
      // The history, then what came before it was answered (a catch-up, live messages).
      const early = [...msgs.values()];
      $('messages').replaceChildren();
      msgs.clear();
      typers.clear();
      showTyping();
      (j.history || []).forEach(addMessage);
      early.forEach(addMessage);
      addNotice('You joined #' + me.room + ' as ' + me.nick, 'self');
      shown = j.room;
    }
    setMembers(j.members || []);
    setRooms(j.rooms);
  }
  // rename asks for another nickname; on an error what the user typed stays, marked.
  async function rename(nick) {
    showError('');
    try {
      const r = await socket.emitWithAck('nick', { nick });
      me.nick = r.nick;
      insist = true; // chosen by the user
      $('nick').value = me.nick;
      $('nick').classList.remove('invalid');
      sessionStorage.setItem('chat.nick', me.nick);
      localStorage.setItem('chat.nick', me.nick);
      return true;
    } catch (err) {
      showError(err.message);
      $('nick').classList.add('invalid');
      return false;
    }
  }

  // say shows the message at once as pending ("waiting for the connection" while offline:
  // the client queues it and sends it after the reconnect), then takes the pending line
  // away when the server has it (its broadcast shows the message), or marks it failed,
  // with a button to send it again.
  const SAY_TIMEOUT = 120000;
  function pendingState() {
    return socket.state === 'connected' ? 'sending…' : 'waiting for the connection…';
  }
  function say(text) {
    showError('');
    const li = el('li', 'msg mine pending');
    const head = el('div', 'meta');
    const state = el('span', 'state', pendingState());
    head.append(el('span', 'who', me.nick), state);
    li.append(head, el('div', 'text', text));
    append(li);
    socket.emitWithAck('say', { text }, { timeout: SAY_TIMEOUT }).then(
      () => li.remove(),
      (err) => {
        li.className = 'msg mine failed';
        state.textContent = 'not sent: ' + err.message;
        const again = el('button', 'retry', 'Send again');
        again.type = 'button';
        again.addEventListener('click', () => {
          li.remove();
          say(text);
        });
        head.append(again);
        showError(err.message);
      },
    );
  }

  socket.on('msg', addMessage);
  socket.on('notice', (n) => {
    if (n.room !== me.room) return;
    if (n.kind === 'join') addNotice(n.nick + ' joined');
    else if (n.kind === 'leave') addNotice(n.nick + ' left');
    else if (n.kind === 'rename') addNotice(n.old + ' is now known as ' + n.nick);
    setMembers(n.members);
  });
  socket.on('rooms', setRooms);
  // A subscription the client made again by itself after a new session (a reload after a
  // long while, a server that ended the session): recovered tells whether the messages
  // missed meanwhile all came; if not, the next join shows the history again.
  socket.on('subscribed', (r) => {
    if (r.room !== chatRoom(me.room)) return;
    lastSub = r;
    if (!r.recovered) shown = null;
  });

  // "typing…": volatile events, dropped by the server rather than delivered late. Each
  // typist shows for 3 s after their last one; this page sends one at most every 2 s.
  /** @type {Map<string, number>} nickname -> when the indicator ends */
  const typers = new Map();
  let typingTimer = null;
  function showTyping() {
    const now = Date.now();
    typers.forEach((until, nick) => until <= now && typers.delete(nick));
    const names = [...typers.keys()];
    $('typing').textContent =
      names.length === 0 ? '' : names.length === 1 ? names[0] + ' is typing…' : names.length === 2 ? names[0] + ' and ' + names[1] + ' are typing…' : 'several people are typing…';
    clearTimeout(typingTimer);
    if (names.length) typingTimer = setTimeout(showTyping, Math.min(...typers.values()) - now + 10);
  }
  socket.on('typing', (t) => {
    if (t.room !== me.room || t.nick === me.nick) return;
    typers.set(t.nick, Date.now() + 3000);
    showTyping();
  });
  let typedAt = 0;
  function typed() {
    const v = $('text').value;
    if (!v.trim() || v.startsWith('/') || socket.state !== 'connected' || Date.now() - typedAt < 2000) return;
    typedAt = Date.now();
    socket.emit('typing'); // never queued for long: only while connected
  }

  // Connection state: the dot and text in the header, the transport next to the room name.
  let countdown = null;
  function status(state, text) {
    $('status').dataset.state = state;
    $('status-text').textContent = text;
  }
  function stopCountdown() {
    if (countdown) clearInterval(countdown);
    countdown = null;
  }
  socket.on('connect', () => {
    stopCountdown();
    document.querySelectorAll('.msg.pending .state').forEach((s) => (s.textContent = 'sending…'));
    status('connected', 'connected');
    $('transport').textContent = 'via ' + socket.transport;
    join(me.room, me.nick); // a new session after a reconnect: join again (idempotent)
  });
  socket.on('transport', (name) => { $('transport').textContent = 'via ' + name; });
  socket.on('disconnect', (info) => {
    status('down', info.reconnect ? 'disconnected' : 'closed (' + info.code + ')');
    document.querySelectorAll('.msg.pending .state').forEach((s) => (s.textContent = pendingState()));
  });
  socket.on('reconnecting', (attempt, delay) => {
    stopCountdown();
    const until = Date.now() + delay;
    const tick = () => {
      const s = Math.max(0, Math.ceil((until - Date.now()) / 1000));
      status('reconnecting', s > 0 ? 'reconnecting in ' + s + ' s' : 'reconnecting…');
      if (s <= 0) stopCountdown();
    };
    tick();
    countdown = setInterval(tick, 250);
  });

  $('say-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const input = $('text');
    const text = input.value.trim();
    if (!text) return;
    let ok = true;
    if (text.startsWith('/nick ')) ok = await rename(text.slice(6).trim());
    else if (text.startsWith('/join ')) ok = await join(text.slice(6).trim().toLowerCase(), me.nick);
    else if ([...text].length > MAX) {
      showError('the message has ' + [...text].length + ' characters; the limit is ' + MAX);
      ok = false;
    } else say(text);
    if (ok) {
      input.value = '';
      typedAt = 0;
      updateCounter();
    }
  });
  $('nick-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const nick = $('nick').value.trim();
    if (nick && nick !== me.nick) rename(nick);
  });
  $('room-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const room = $('room').value.trim().toLowerCase();
    // On an error (a bad name) what the user typed stays, marked.
    if (room) join(room, me.nick).then((ok) => {
      $('room').classList.toggle('invalid', !ok);
      if (ok) $('room').value = '';
    });
  });
  function updateCounter() {
    const n = [...$('text').value.trim()].length;
    const c = $('counter');
    c.textContent = n > MAX - 100 ? n + '/' + MAX : '';
    c.classList.toggle('over', n > MAX);
  }
  $('text').addEventListener('input', () => {
    updateCounter();
    typed();
  });

  // For the browser tests and the console.
  /** @type {any} */ (window).chat = { socket, me, get sub() { return lastSub; } };
})();
