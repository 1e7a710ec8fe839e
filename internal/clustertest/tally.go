package clustertest

import (
	"slices"
	"sync"
)

// Tally counts what one receiver got from each sender: a message numbered n from a sender
// is lost when it never arrived, duplicated when it arrived again, reordered when it
// arrived after a later one from the same sender: one with a higher seq (the order the
// sender's node handled them) when the node numbered them, else a higher n. It is safe
// for concurrent use. The tests and the swarm program (./swarm) share it.
type Tally struct {
	mu      sync.Mutex
	streams map[string]*stream // guarded by mu
}

type stream struct {
	seen                []uint8
	last                int // the highest order key so far
	got, dup, reordered int
}

// Counts is what a Tally says of one sender (or, added up, of many).
type Counts struct {
	Got, Lost, Dup, Reordered int
}

// OK reports whether nothing was lost, duplicated or reordered.
func (c Counts) OK() bool { return c.Lost == 0 && c.Dup == 0 && c.Reordered == 0 }

// Add adds o to c.
func (c *Counts) Add(o Counts) {
	c.Got += o.Got
	c.Lost += o.Lost
	c.Dup += o.Dup
	c.Reordered += o.Reordered
}

// NewTally returns an empty Tally.
func NewTally() *Tally { return &Tally{streams: make(map[string]*stream)} }

// Add records message n from sender from, which its node numbered seq (0: not numbered).
// A negative n (a message that could not be decoded) counts as reordered.
func (ta *Tally) Add(from string, n, seq int) {
	ta.mu.Lock()
	defer ta.mu.Unlock()
	s := ta.streams[from]
	if s == nil {
		s = &stream{last: -1}
		ta.streams[from] = s
	}
	s.got++
	if n < 0 {
		s.reordered++
		return
	}
	if n >= len(s.seen) {
		s.seen = slices.Grow(s.seen, n+1-len(s.seen))[:n+1]
	}
	order := n
	if seq > 0 {
		order = seq
	}
	switch {
	case s.seen[n] > 0:
		s.dup++
	case order < s.last:
		s.reordered++
	}
	if s.seen[n] < 255 {
		s.seen[n]++
	}
	s.last = max(s.last, order)
}

// Got returns how many messages arrived from sender from.
func (ta *Tally) Got(from string) int {
	ta.mu.Lock()
	defer ta.mu.Unlock()
	if s := ta.streams[from]; s != nil {
		return s.got
	}
	return 0
}

// Count returns the counts of sender from, which sent the numbers 0 to sent-1.
func (ta *Tally) Count(from string, sent int) Counts {
	ta.mu.Lock()
	defer ta.mu.Unlock()
	s := ta.streams[from]
	if s == nil {
		return Counts{Lost: sent}
	}
	c := Counts{Got: s.got, Dup: s.dup, Reordered: s.reordered}
	for i := range sent {
		if i >= len(s.seen) || s.seen[i] == 0 {
			c.Lost++
		}
	}
	return c
}
