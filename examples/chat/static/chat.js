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
  const params = new URLSearchParams(location.search);
  /** @type {import('sockhop').Options} */
  const opts = {};
  if (params.get('transport')) opts.transports = [/** @type {import('sockhop').TransportName} */ (params.get('transport'))]; // tests force one
  /** @type {import('sockhop').Socket<Events>} */
  const socket = sockhop.connect('/rt', opts);

  const me = {
    nick: params.get('nick') || localStorage.getItem('chat.nick') || 'guest' + Math.floor(1000 + Math.random() * 9000),
    room: params.get('room') || 'lobby',
  };
  $('nick').value = me.nick;

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
    const li = el('li', 'msg' + (m.nick === me.nick ? ' mine' : ''));
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
    ul.replaceChildren(...(list || []).map((n) => el('li', n === me.nick ? 'me' : '', n)));
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

  async function join(room, nick) {
    showError('');
    try {
      const j = await socket.emitWithAck('join', { room, nick });
      const moved = j.room !== me.room || !$('messages').children.length;
      me.room = j.room;
      me.nick = j.nick;
      $('nick').value = me.nick;
      localStorage.setItem('chat.nick', me.nick);
      $('room-title').textContent = '#' + me.room;
      document.title = '#' + me.room + ' · sockhop chat';
      if (moved) {
        $('messages').replaceChildren();
        (j.history || []).forEach(addMessage);
        addNotice('You joined #' + me.room + ' as ' + me.nick, 'self');
      }
      setMembers(j.members || []);
      setRooms(j.rooms);
    } catch (err) {
      showError(err.message);
    }
  }
  async function rename(nick) {
    showError('');
    try {
      const r = await socket.emitWithAck('nick', { nick });
      me.nick = r.nick;
      $('nick').value = me.nick;
      localStorage.setItem('chat.nick', me.nick);
    } catch (err) {
      showError(err.message);
      $('nick').value = me.nick;
    }
  }
  async function say(text) {
    showError('');
    try {
      await socket.emitWithAck('say', { text });
      return true;
    } catch (err) {
      showError(err.message);
      return false;
    }
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
    status('connected', 'connected');
    $('transport').textContent = 'via ' + socket.transport;
    join(me.room, me.nick); // a new session after a reconnect: join again (idempotent)
  });
  socket.on('transport', (name) => { $('transport').textContent = 'via ' + name; });
  socket.on('disconnect', (info) => {
    status('down', info.reconnect ? 'disconnected' : 'closed (' + info.code + ')');
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
    if (text.startsWith('/nick ')) await rename(text.slice(6).trim());
    else if (text.startsWith('/join ')) await join(text.slice(6).trim(), me.nick);
    else ok = await say(text);
    if (ok) {
      input.value = '';
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
    if (room) join(room, me.nick).then(() => { $('room').value = ''; });
  });
  function updateCounter() {
    const n = [...$('text').value.trim()].length;
    const c = $('counter');
    c.textContent = n > MAX - 100 ? n + '/' + MAX : '';
    c.classList.toggle('over', n > MAX);
  }
  $('text').addEventListener('input', updateCounter);

  /** @type {any} */ (window).chat = { socket, me }; // for the browser tests and the console
})();
