package sockhop_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/sockhop/sockhop"
	"github.com/sockhop/sockhop/events"
)

// TestHelloAsksPingInterval: a hello's ping field sets the session's ping interval, clamped
// to [MinPingInterval, PingInterval], and the welcome says the one taken; a hello without
// it (an old client) gets the server's own.
func TestHelloAsksPingInterval(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		_, url := testServer(t, sockhop.Options{PingInterval: 20 * time.Second, MinPingInterval: 6 * time.Second}, nil)
		for _, c := range []struct{ ask, want int64 }{{0, 20000}, {300, 6000}, {-5, 20000}, {8000, 8000}, {60000, 20000}} {
			rc := dialRaw(t, url, tr, nil)
			hello := `{"t":"hello","v":1}`
			if c.ask != 0 {
				hello = fmt.Sprintf(`{"t":"hello","v":1,"ping":%d}`, c.ask)
			}
			rc.send(hello)
			m, err := rc.nextTimeout(10 * time.Second)
			if err != nil || m.T != events.TypeWelcome {
				t.Fatalf("ask %d: %v %+v", c.ask, err, m)
			}
			if m.Ping != c.want {
				t.Errorf("ask %d: welcome ping %d, want %d", c.ask, m.Ping, c.want)
			}
			_ = rc.Close(1000, "")
		}
	})
}

// TestPingIntervalDrivesPings: the interval a hello asked for is the one the server pings
// at, on every transport (on SockJS streams and polls too: sockhop's ping is their
// heartbeat), and a ping carrying ping changes it mid-session: the pong says the one taken.
func TestPingIntervalDrivesPings(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		_, url := testServer(t, sockhop.Options{PingInterval: time.Hour, MinPingInterval: 50 * time.Millisecond}, nil)
		rc := dialRaw(t, url, tr, nil)
		rc.send(`{"t":"hello","v":1,"ping":100}`)
		pings := 0
		var welcome *events.Message
		deadline := time.Now().Add(20 * time.Second) // a bound, not a measurement: pings come every 0.1 s, never every hour
		for pings < 5 && time.Now().Before(deadline) {
			frame, err := rc.ReadFrame()
			if err != nil {
				t.Fatal(err)
			}
			_ = events.Lines(frame, func(l []byte) error {
				m, err := events.Decode(l)
				if err != nil {
					t.Fatalf("bad message %q", l)
				}
				switch m.T {
				case events.TypeWelcome:
					welcome = &m
				case events.TypePing:
					pings++
					rc.send(`{"t":"pong"}`)
				}
				return nil
			})
		}
		if welcome == nil || welcome.Ping != 100 || pings < 5 {
			t.Fatalf("welcome %+v, %d pings", welcome, pings)
		}
		rc.send(`{"t":"ping","ping":250}`)
		for {
			m, err := rc.nextTimeout(10 * time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if m.T == events.TypePong {
				if m.Ping != 250 {
					t.Fatalf("pong %+v, want ping 250", m)
				}
				break
			}
		}
	})
}

// TestGoingAwayGrace: a client's close 1001 ("going away": a page that unloads) keeps its
// session only GoingAwayGrace, not ResumeGrace: it ends with 1001 after it, and a resume
// within it (a reload) gets the same session back.
func TestGoingAwayGrace(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		ended := make(chan int, 4)
		_, url := testServer(t, sockhop.Options{ResumeGrace: time.Hour, GoingAwayGrace: 2 * time.Second}, func(srv *sockhop.Server) {
			srv.OnDisconnect(func(s *sockhop.Session, reason error) { ended <- sockhop.CloseCode(reason) })
		})
		// Gone: the session ends after the grace, not after an hour.
		rc := dialRaw(t, url, tr, nil)
		rc.handshake()
		rc.send(`{"t":"close","code":1001,"reason":"going away"}`)
		select {
		case code := <-ended:
			if code != sockhop.CloseGoingAway {
				t.Fatalf("session ended with %d, want 1001", code)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("a session that went away was kept")
		}
		// Reloaded: a resume within the grace gets the session back.
		rc = dialRaw(t, url, tr, nil)
		w := rc.handshake()
		rc.send(`{"t":"close","code":1001,"reason":"going away"}`)
		rc2 := dialRaw(t, url, tr, nil)
		rc2.send(fmt.Sprintf(`{"t":"hello","v":1,"resume":{"sid":%q,"token":%q,"seq":0}}`, w.SID, w.Token))
		m, err := rc2.nextTimeout(10 * time.Second)
		if err != nil || m.T != events.TypeWelcome || !m.Resumed || m.SID != w.SID {
			t.Fatalf("resume after going away: %v %+v", err, m)
		}
		select {
		case code := <-ended:
			t.Fatalf("the resumed session ended with %d", code)
		case <-time.After(3 * time.Second): // past the grace: the resume holds
		}
	})
}
