package sockhop

import (
	"testing"
	"time"
)

func TestPacer(t *testing.T) {
	p := newPacer(10, 2, time.Second) // a turn every 100ms, two at once, debt up to a second
	t0 := time.Unix(1000, 0)
	want := func(at time.Duration, key string, wait time.Duration, ok bool) {
		t.Helper()
		got, gotOK := p.reserve(key, t0.Add(at))
		if got != wait || gotOK != ok {
			t.Fatalf("reserve(%q) at +%v = %v, %v; want %v, %v", key, at, got, gotOK, wait, ok)
		}
	}
	want(0, "a", 0, true) // the burst
	want(0, "a", 0, true)
	for i := 1; i <= 10; i++ { // then a turn each 100ms, promised in order
		want(0, "a", time.Duration(i)*100*time.Millisecond, true)
	}
	want(0, "a", 100*time.Millisecond, false) // a second's debt: refused, retry in 100ms
	want(0, "b", 0, true)                     // another address has its own budget
	want(100*time.Millisecond, "a", time.Second, true)
	want(5*time.Second, "a", 0, true) // the debt paid, the bucket refilled
	want(5*time.Second, "a", 0, true)
	want(5*time.Second, "a", 100*time.Millisecond, true)

	// An abusive close costs a second of turns: 2 - 10 = -8, so the next turn is 900ms away.
	p.charge("d", t0)
	want(0, "d", 900*time.Millisecond, true)
	want(0, "d", time.Second, true)
	want(0, "d", 100*time.Millisecond, false)

	// Full buckets are swept; ones still in debt are kept.
	for range 5 {
		p.reserve("c", t0.Add(sweepEvery-100*time.Millisecond))
	}
	p.reserve("x", t0.Add(sweepEvery)) // sweeps: a and b full again, c still owes
	if _, ok := p.buckets["a"]; ok {
		t.Error("full bucket a not swept")
	}
	if len(p.buckets) != 2 {
		t.Errorf("%d buckets after the sweep, want c and x", len(p.buckets))
	}
	if !p.hold("e") || len(p.waiting) != 1 {
		t.Fatal("hold")
	}
	p.release("e")
	if len(p.waiting) != 0 {
		t.Errorf("waiting %v after release", p.waiting)
	}
}

func TestAddrKey(t *testing.T) {
	for _, tc := range []struct {
		in   string
		bits int
		want string
	}{
		{"192.0.2.7", 64, "192.0.2.7"},
		{"2001:db8:1:2:3:4:5:6", 64, "2001:db8:1:2::/64"},
		{"2001:db8:1:2:ffff::1", 64, "2001:db8:1:2::/64"},
		{"2001:db8:1:2:ffff::1", 48, "2001:db8:1::/48"},
		{"2001:db8:1:2:ffff::1", 128, "2001:db8:1:2:ffff::1/128"},
		{"fe80::1%eth0", 64, "fe80::/64"},
		{"::1", 64, "::/64"},
		{"::ffff:192.0.2.7", 64, "192.0.2.7"},
		{"not an address", 64, "not an address"},
	} {
		if got := addrKey(tc.in, tc.bits); got != tc.want {
			t.Errorf("addrKey(%q, %d) = %q, want %q", tc.in, tc.bits, got, tc.want)
		}
	}
}
