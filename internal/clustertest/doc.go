// Package clustertest runs sockhop as a cluster of real processes and checks what
// PROTOCOL.md §7 "Many nodes" promises: three nodes (the program in ./node, built once per
// test run) sharing rooms through a real redis-server or nats-server, behind a real nginx
// that spreads requests round robin with no affinity at all (no ip_hash, no sticky
// cookie), driven by Go clients (package client) and headless Chromium (package
// internal/browser) on every transport.
//
// The tests:
//
//   - TestGoClients: 50 Go clients per transport in one room spread over the nodes, two of
//     them sending 2,000 acked messages each; every client gets every message once, in
//     order per sender.
//   - TestBrowsers: two Chromium pages whose sessions live on different nodes chat, 2,000
//     acked messages each way, per transport.
//   - TestNodeLoss: a node is killed with SIGKILL mid-run; its clients come back on the
//     other nodes within a bound, as new sessions, with every pending ack answered or
//     failed with resume_failed; the survivors forget the dead node's sessions (Members,
//     Presence, presence:leave) within a bound.
//   - TestNodeShutdown: the same with a node stopped gracefully (SIGTERM), as in a rolling
//     deploy: its clients move at once, the others forget it after its goodbye.
//   - TestBrokerOutage: the broker is frozen (SIGSTOP) past the nodes' TTL, then killed and
//     restarted, mid-run: delivery within a node goes on, delivery across nodes comes back
//     after it.
//   - TestDisconnectUser: one node disconnects a user whose sessions live on several
//     nodes: all close with CloseKicked, every node forgets the user.
//   - TestDurableCatchUp: two nodes whose "d:" rooms are durable (node -durable), their
//     histories in the real broker (Redis Streams; NATS with JetStream), per transport: a
//     client subscribed to a durable room loses its node (SIGKILL) while another sends;
//     it comes back on the other node as a new session, subscribes again from its position
//     and gets every message once (recovered true); a client away for longer than the
//     history subscribes from its old position and is told recovered false; the Channel's
//     rule refuses and allows on either node.
//   - TestChatExample: the real examples/chat as three nodes (-redis, the default
//     -advertise) behind the same nginx; chatters on every transport talk across nodes.
//   - TestHarness, TestNginxConf, TestTally: the harness itself.
//
// The 50 clients of TestGoClients run in ./swarm, a process of its own built without the
// race detector (in the test process they would be the bottleneck under -race); the
// nodes run ./node. Both are built once per run. TestNodeLoss, TestNodeShutdown,
// TestBrokerOutage and TestDisconnectUser run in parallel with each other, as they mostly
// wait.
//
// Every process (nodes, broker, nginx, Chromium) is a child of the test on loopback ports,
// stopped by its PID when the test ends. The tests skip under -short and when nginx,
// redis-server, nats-server or the browser are missing (and fail then with CI=true, see
// testutil.MissingDep). Node logs and nginx's error and access logs are printed when a
// test fails.
package clustertest
