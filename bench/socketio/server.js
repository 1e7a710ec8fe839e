// Socket.IO 4.x peer of sockhop's benchmark: join a room (ack), echo (ack with the same
// data), bcast {room, m, s} (emit m events "b" of s bytes to the room, then ack m).
// Listens on 127.0.0.1, port from argv[2] (0 picks one), prints "READY host:port".
'use strict';
const http = require('http');
const { Server } = require('socket.io');

const httpServer = http.createServer();
const io = new Server(httpServer, {
  transports: ['polling', 'websocket'],
  serveClient: false,
  maxHttpBufferSize: 1e6,
});

io.on('connection', (socket) => {
  socket.on('join', (room, ack) => {
    socket.join(room);
    if (typeof ack === 'function') ack(true);
  });
  socket.on('echo', (data, ack) => {
    if (typeof ack === 'function') ack(data);
  });
  socket.on('bcast', (b, ack) => {
    const p = 'x'.repeat(b.s);
    for (let i = 0; i < b.m; i++) io.to(b.room).emit('b', p);
    if (typeof ack === 'function') ack(b.m);
  });
});

httpServer.listen(Number(process.argv[2] || 0), '127.0.0.1', () => {
  const a = httpServer.address();
  process.stdout.write(`READY ${a.address}:${a.port}\n`);
});
process.on('SIGTERM', () => process.exit(0));
