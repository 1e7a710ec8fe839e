//go:build linux

package ws

import (
	"net"
	"os"
	"sync"
	"syscall"
)

// The read poller: one epoll instance for the process, watched by one goroutine through
// the runtime's own network poller (the epoll descriptor is itself pollable), tells when
// a silent connection has bytes again. A connection is registered once, one-shot: it
// fires at most once per WaitRead, so a reader that is busy is never told twice.

// poller is the process's read poller.
type poller struct {
	epfd  int
	mu    sync.Mutex
	conns map[int32]*pollConn // registered descriptors; guarded by mu
}

var thePoller = sync.OnceValues(func() (*poller, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	if err := syscall.SetNonblock(epfd, true); err != nil {
		syscall.Close(epfd)
		return nil, err
	}
	f := os.NewFile(uintptr(epfd), "sockhop-poller")
	raw, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	p := &poller{epfd: epfd, conns: make(map[int32]*pollConn)}
	go p.run(f, raw)
	return p, nil
})

// run waits for readiness for the life of the process.
func (p *poller) run(f *os.File, raw syscall.RawConn) {
	defer f.Close()
	evs := make([]syscall.EpollEvent, 128)
	for {
		err := raw.Read(func(fd uintptr) bool {
			n, err := syscall.EpollWait(int(fd), evs, 0)
			if err != nil || n <= 0 {
				return false // nothing ready (EINTR too): wait for the descriptor
			}
			for i := range evs[:n] {
				p.mu.Lock()
				pc := p.conns[evs[i].Fd]
				p.mu.Unlock()
				if pc != nil {
					pc.fire()
				}
			}
			return true
		})
		if err != nil {
			return
		}
	}
}

// pollConn is one connection's registration.
type pollConn struct {
	p   *poller
	raw syscall.RawConn
	fd  int32

	mu     sync.Mutex
	added  bool   // in the epoll set; guarded by mu
	closed bool   // guarded by mu
	f      func() // armed: called at the next readiness; guarded by mu
}

// newPollConn returns a registration for c, or nil when c is not a plain socket (a TLS
// connection buffers records the poller cannot see) or there is no poller.
func newPollConn(c net.Conn) *pollConn {
	var sc syscall.Conn
	switch c := c.(type) {
	case *net.TCPConn:
		sc = c
	case *net.UnixConn:
		sc = c
	default:
		return nil
	}
	p, err := thePoller()
	if err != nil {
		return nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	pc := &pollConn{p: p, raw: raw, fd: -1}
	if raw.Control(func(fd uintptr) { pc.fd = int32(fd) }) != nil || pc.fd < 0 {
		return nil
	}
	return pc
}

// arm calls f, on a goroutine of its own, at the next readiness; false when it cannot.
func (pc *pollConn) arm(f func()) bool {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.closed {
		return false
	}
	pc.f = f
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT, Fd: pc.fd}
	op := syscall.EPOLL_CTL_MOD
	if !pc.added {
		op = syscall.EPOLL_CTL_ADD
		pc.p.mu.Lock()
		pc.p.conns[pc.fd] = pc
		pc.p.mu.Unlock()
	}
	var err error
	if cerr := pc.raw.Control(func(fd uintptr) { err = syscall.EpollCtl(pc.p.epfd, op, int(fd), &ev) }); cerr != nil {
		err = cerr
	}
	if err != nil {
		pc.f = nil
		if !pc.added {
			pc.forget()
		}
		return false
	}
	pc.added = true
	return true
}

// fire runs the armed callback, if any.
func (pc *pollConn) fire() {
	pc.mu.Lock()
	f := pc.f
	pc.f = nil
	pc.mu.Unlock()
	if f != nil {
		go f()
	}
}

// close takes the connection out of the poller before it is closed (its descriptor may
// be reused at once), and runs the armed callback, so that a waiting reader sees the
// close.
func (pc *pollConn) close() {
	pc.mu.Lock()
	if pc.closed {
		pc.mu.Unlock()
		return
	}
	pc.closed = true
	f := pc.f
	pc.f = nil
	if pc.added {
		_ = pc.raw.Control(func(fd uintptr) { _ = syscall.EpollCtl(pc.p.epfd, syscall.EPOLL_CTL_DEL, int(fd), nil) })
		pc.forget()
	}
	pc.mu.Unlock()
	if f != nil {
		go f()
	}
}

// forget drops the registration from the poller's table, unless the descriptor belongs
// to another connection by now.
func (pc *pollConn) forget() {
	pc.p.mu.Lock()
	if pc.p.conns[pc.fd] == pc {
		delete(pc.p.conns, pc.fd)
	}
	pc.p.mu.Unlock()
}
