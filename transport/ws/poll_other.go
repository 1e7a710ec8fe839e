//go:build !linux

package ws

import "net"

// pollConn has no poller here: a reader waits on a goroutine of its own.
type pollConn struct{}

func newPollConn(net.Conn) *pollConn { return nil }

func (*pollConn) arm(func()) bool { return false }

func (*pollConn) close() {}
