package client

import (
	"bytes"
	"testing"
	"time"

	"github.com/sockhop/sockhop/transport"
)

// TestScaledOpenTimeout: 250 ms + 3 round trips, at least 300 ms, at most the option;
// OpenTimeout itself until a round trip was measured.
func TestScaledOpenTimeout(t *testing.T) {
	const upper = 3 * time.Second
	for _, c := range []struct{ rtt, want time.Duration }{
		{0, upper},
		{time.Millisecond, 300 * time.Millisecond},
		{20 * time.Millisecond, 310 * time.Millisecond},
		{100 * time.Millisecond, 550 * time.Millisecond},
		{time.Second, upper},
	} {
		if got := scaledOpenTimeout(c.rtt, upper); got != c.want {
			t.Errorf("rtt %v: %v, want %v", c.rtt, got, c.want)
		}
	}
	if got := scaledOpenTimeout(10*time.Millisecond, 100*time.Millisecond); got != 100*time.Millisecond {
		t.Errorf("an OpenTimeout under the floor: %v, want it", got)
	}
}

// frames is a transport.Conn that reads the given frames, then fails.
type frames struct {
	transport.Conn
	f [][]byte
}

func (f *frames) ReadFrame() ([]byte, error) {
	if len(f.f) == 0 {
		return nil, transport.ErrClosed
	}
	p := f.f[0]
	f.f = f.f[1:]
	return p, nil
}

// TestWatchedSkips: after a background upgrade, the new transport skips exactly the
// counted messages (events and acks) the old one delivered after the probe's seq, and
// nothing else: pings, pongs and later messages pass, frames emptied are not returned.
func TestWatchedSkips(t *testing.T) {
	in := [][]byte{
		[]byte(`{"t":"ping","r":3}` + "\n" + `{"t":"ev","n":"n","d":1}`),
		[]byte(`{"t":"ack","id":4,"d":2}`),
		[]byte(`{"t":"ev","n":"n","d":3}` + "\n" + `{"t":"pong","r":5}` + "\n" + `{"t":"ev","n":"n","d":4}`),
		[]byte(`{"t":"ev","n":"n","d":5}`),
	}
	w := watch(&frames{f: in}, 3)
	var got [][]byte
	for {
		f, err := w.ReadFrame()
		if err != nil {
			break
		}
		got = append(got, f)
	}
	want := [][]byte{
		[]byte(`{"t":"ping","r":3}`),
		[]byte(`{"t":"pong","r":5}` + "\n" + `{"t":"ev","n":"n","d":4}`),
		[]byte(`{"t":"ev","n":"n","d":5}`),
	}
	if len(got) != len(want) {
		t.Fatalf("frames %q, want %q", got, want)
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Errorf("frame %d: %q, want %q", i, got[i], want[i])
		}
	}
}
