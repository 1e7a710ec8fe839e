// Package faultproxy is a TCP proxy for tests that cuts, stalls or refuses the
// connections it forwards, on command or at random moments, so tests can break
// transports the way networks and proxies do.
package faultproxy

import (
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"time"
)

// Proxy forwards connections from its loopback listener to a target address.
type Proxy struct {
	ln     net.Listener
	target string

	mu        sync.Mutex
	pairs     map[*pair]struct{}
	cutMin    time.Duration // random cuts: each connection lives a random time in [cutMin, cutMax)
	cutMax    time.Duration
	stalled   bool
	refusing  bool
	closed    bool
	midCut    bool          // a cut halfway through a read is armed
	midCutAge time.Duration // the youngest connection it may hit
	cuts      int
	accepted  int
	wg        sync.WaitGroup
}

type pair struct {
	client, server net.Conn
	once           sync.Once
	timer          *time.Timer
}

func (p *pair) cut() {
	p.once.Do(func() {
		p.client.Close()
		p.server.Close()
		if p.timer != nil {
			p.timer.Stop()
		}
	})
}

// New starts a proxy on 127.0.0.1 forwarding to target ("host:port").
func New(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{ln: ln, target: target, pairs: make(map[*pair]struct{})}
	p.wg.Go(p.serve)
	return p, nil
}

// Addr is the proxy's listening address.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// RandomCuts makes every connection, current and future, be cut after a random time in
// [min, max). Zero durations turn random cuts off for new connections.
func (p *Proxy) RandomCuts(min, max time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cutMin, p.cutMax = min, max
	for pr := range p.pairs {
		p.armLocked(pr)
	}
}

func (p *Proxy) armLocked(pr *pair) {
	if p.cutMax <= 0 {
		return
	}
	d := p.cutMin + time.Duration(rand.Int64N(int64(p.cutMax-p.cutMin)+1))
	if pr.timer != nil {
		pr.timer.Stop()
	}
	pr.timer = time.AfterFunc(d, func() { p.drop(pr, true) })
}

// CutAll closes every forwarded connection now.
func (p *Proxy) CutAll() {
	p.mu.Lock()
	prs := make([]*pair, 0, len(p.pairs))
	for pr := range p.pairs {
		prs = append(prs, pr)
	}
	p.mu.Unlock()
	for _, pr := range prs {
		p.drop(pr, true)
	}
}

// CutMidResponse arms one cut: the next connection that carries data from the server after
// being open at least age gets half of the bytes of that read, then both ends close. The
// client has seen part of a response (or of a WebSocket frame), so it cannot retry the
// request silently, as a browser does when a connection breaks before any byte arrived.
// The age spares the connections a client opens to reconnect, which would otherwise take
// the cut meant for an established session. Arming again before the cut happened changes
// nothing: at most one cut is pending.
func (p *Proxy) CutMidResponse(age time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.midCut, p.midCutAge = true, age
}

// takeMidCut reports whether the read at hand, on a connection opened at start, is to be
// cut halfway.
func (p *Proxy) takeMidCut(start time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.midCut || time.Since(start) < p.midCutAge {
		return false
	}
	p.midCut = false
	return true
}

// Stall makes the proxy accept new connections and then forward nothing on them (a proxy
// that swallows traffic); false restores forwarding for new connections.
func (p *Proxy) Stall(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stalled = on
}

// Refuse makes the proxy close new connections at once (a server that is down); false
// accepts them again.
func (p *Proxy) Refuse(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refusing = on
}

// Stats returns how many connections were accepted and cut.
func (p *Proxy) Stats() (accepted, cuts int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.accepted, p.cuts
}

func (p *Proxy) drop(pr *pair, counted bool) {
	p.mu.Lock()
	_, live := p.pairs[pr]
	delete(p.pairs, pr)
	if live && counted {
		p.cuts++
	}
	p.mu.Unlock()
	pr.cut()
}

// Close stops the proxy and cuts every connection, then waits for its goroutines.
func (p *Proxy) Close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.ln.Close()
	p.CutAll()
	p.wg.Wait()
}

func (p *Proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Go(func() { p.forward(c) })
	}
}

func (p *Proxy) forward(c net.Conn) {
	p.mu.Lock()
	stalled, closed := p.stalled, p.closed || p.refusing
	p.accepted++
	p.mu.Unlock()
	if closed {
		c.Close()
		return
	}
	s, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		c.Close()
		return
	}
	pr := &pair{client: c, server: s}
	p.mu.Lock()
	if p.closed { // Close ran while this one dialled: its CutAll did not see the pair
		p.mu.Unlock()
		pr.cut()
		return
	}
	p.pairs[pr] = struct{}{}
	p.armLocked(pr)
	p.mu.Unlock()
	if stalled { // hold both ends open, forward nothing, until cut or closed
		buf := make([]byte, 4096)
		for {
			if _, err := c.Read(buf); err != nil {
				break
			}
		}
		p.drop(pr, false)
		return
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		_, _ = io.Copy(s, c)
		p.drop(pr, false)
	})
	start := time.Now()
	buf := make([]byte, 32<<10)
	for {
		n, err := s.Read(buf)
		if n > 1 && p.takeMidCut(start) {
			_, _ = c.Write(buf[:n/2])
			p.drop(pr, true)
			break
		}
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	p.drop(pr, false)
	wg.Wait()
}
