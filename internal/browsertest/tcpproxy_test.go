package browsertest

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sockhop/sockhop/internal/testutil"
)

// tcpProxy forwards TCP connections to a backend; freeze makes every connection open at
// that moment swallow all bytes both ways while staying open, the way a dead NAT entry or
// a hung middlebox does. Later connections pass again.
type tcpProxy struct {
	l       net.Listener
	backend string
	wg      sync.WaitGroup

	mu    sync.Mutex
	pairs []*pair
}

type pair struct {
	a, b   net.Conn
	frozen atomic.Bool
}

func newTCPProxy(t testing.TB, backend string) *tcpProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{l: l, backend: backend}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() { testutil.Bounded(t, 30*time.Second, "the TCP proxy's close", p.close) })
	return p
}

func (p *tcpProxy) addr() string { return p.l.Addr().String() }

func (p *tcpProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.backend)
		if err != nil {
			_ = c.Close()
			continue
		}
		pr := &pair{a: c, b: s}
		p.mu.Lock()
		p.pairs = append(p.pairs, pr)
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(pr, c, s)
		go p.pipe(pr, s, c)
	}
}

// pipe copies src to dst until either side closes; frozen, it reads and drops, and an end
// of src is not passed on either (the peer must find out by itself).
func (p *tcpProxy) pipe(pr *pair, dst, src net.Conn) {
	defer p.wg.Done()
	defer func() {
		_ = src.Close()
		if !pr.frozen.Load() {
			_ = dst.Close()
		}
	}()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !pr.frozen.Load() {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *tcpProxy) freeze() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pr := range p.pairs {
		pr.frozen.Store(true)
	}
}

func (p *tcpProxy) close() {
	_ = p.l.Close()
	p.mu.Lock()
	for _, pr := range p.pairs {
		_ = pr.a.Close()
		_ = pr.b.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}
