package sockhop

import (
	"net/netip"
	"sync"
	"time"
)

// pacer spaces out the connections one client address starts: a token bucket per address
// whose tokens may go below zero by up to maxWait's worth, so a connection past the burst
// waits its turn instead of failing, and only a client that keeps coming faster than the
// rate is refused. A refused connection costs the server an HTTP answer, not a session.
type pacer struct {
	rate    float64 // tokens per second
	burst   float64
	maxWait time.Duration

	maxHeld int // connections held per key at most

	mu      sync.Mutex
	buckets map[string]bucket
	waiting counts // connections held per key
	swept   time.Time
}

type bucket struct {
	tokens float64 // below zero: the turns already promised to waiting connections
	at     time.Time
}

// sweepEvery is how often full buckets, which hold nothing a new bucket would not, are
// dropped, so the map grows with the addresses active in that time, not ever seen.
const sweepEvery = 10 * time.Second

func newPacer(rate float64, burst int, maxWait time.Duration) *pacer {
	return &pacer{
		rate: rate, burst: float64(burst), maxWait: maxWait,
		maxHeld: burst + int(rate*maxWait.Seconds()),
		buckets: make(map[string]bucket), waiting: make(counts),
	}
}

// counts is a number per key, for limits on things in progress per client address; the
// caller guards it.
type counts map[string]int

// add counts one more for key and reports true, or false when key is at limit already.
func (c counts) add(key string, limit int) bool {
	if c[key] >= limit {
		return false
	}
	c[key]++
	return true
}

func (c counts) done(key string) {
	if c[key]--; c[key] <= 0 {
		delete(c, key)
	}
}

// hold counts a connection of key's that is made to wait, and reports false when key has
// as many waiting as its turns within maxWait plus its burst: a client that opens
// connections in parallel gets no more held than that.
func (p *pacer) hold(key string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.waiting.add(key, p.maxHeld)
}

func (p *pacer) release(key string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.waiting.done(key)
}

// reserve takes a turn for key at now. It returns how long the caller must wait for it,
// or, when that would be longer than maxWait, false and how long until a retry would be
// within maxWait (no turn is taken then).
func (p *pacer) reserve(key string, now time.Time) (time.Duration, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if now.Sub(p.swept) >= sweepEvery {
		p.sweep(now)
	}
	b := p.refilled(key, now)
	wait := time.Duration(0)
	if b.tokens < 1 {
		wait = time.Duration((1 - b.tokens) / p.rate * float64(time.Second))
	}
	if wait > p.maxWait {
		p.buckets[key] = b
		return wait - p.maxWait, false
	}
	b.tokens--
	p.buckets[key] = b
	return wait, true
}

// charge takes a second's worth of turns from key at now: the price of a connection the
// server closed for abuse, so a client that breaks the rules and reconnects in a loop gets
// in about once a second, not at the full rate.
func (p *pacer) charge(key string, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	b := p.refilled(key, now)
	b.tokens -= p.rate
	p.buckets[key] = b
}

// refilled is key's bucket as of now (a full one for a key not seen lately).
func (p *pacer) refilled(key string, now time.Time) bucket {
	b, ok := p.buckets[key]
	if !ok {
		return bucket{tokens: p.burst, at: now}
	}
	return bucket{tokens: min(p.burst, b.tokens+now.Sub(b.at).Seconds()*p.rate), at: now}
}

func (p *pacer) sweep(now time.Time) {
	p.swept = now
	for k, b := range p.buckets {
		if b.tokens+now.Sub(b.at).Seconds()*p.rate >= p.burst {
			delete(p.buckets, k)
		}
	}
}

// addrKey is what the per-address limits (sessions, handshakes, ConnectRate) count a
// client address as: an IPv4 address (also written as IPv4-mapped IPv6) on its own, an
// IPv6 address by its prefix of bits (Options.IPv6PrefixLen, /64 by default: the block
// one host or home network usually has, so rotating through it gains nothing). Anything
// that is not an address stays as it is.
func addrKey(ip string, bits int) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	if a.Is4() {
		return ip // ParseAddr takes only the canonical dotted quad: ip is a.String()
	}
	if a = a.Unmap(); a.Is4() {
		return a.String()
	}
	p, _ := a.WithZone("").Prefix(bits)
	return p.String()
}
