package sockhop_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sockhop/sockhop"
	"github.com/sockhop/sockhop/client"
	"github.com/sockhop/sockhop/internal/faultproxy"
)

// tokenAuth is an Authenticate hook for tokens "<user>:<n>:<ms>": user ann, credential
// number n, valid for ms milliseconds from the moment it is checked (0: already
// expired). Data is n.
func tokenAuth(r *http.Request, raw json.RawMessage) (sockhop.Identity, error) {
	var tok string
	_ = json.Unmarshal(raw, &tok)
	parts := strings.Split(tok, ":")
	if len(parts) != 3 {
		return sockhop.Identity{}, &sockhop.Error{Code: "bad_token", Message: "bad token"}
	}
	ms, _ := strconv.Atoi(parts[2])
	exp := time.Now().Add(time.Duration(ms) * time.Millisecond)
	if ms == 0 {
		exp = time.Now().Add(-time.Second)
	}
	return sockhop.Identity{UserID: parts[0], Data: parts[1], Expires: exp}, nil
}

func whoami(srv *sockhop.Server) {
	sockhop.OnRequest(srv, "whoami", func(ctx context.Context, s *sockhop.Session, v any) (string, error) {
		id := s.Identity()
		return id.UserID + ":" + id.Data.(string), nil
	})
}

// TestAuthExpiry: at Identity.Expires the session closes with 4003; the Go client calls
// its AuthFunc again and comes back as a new session with the fresh credentials. A
// client whose credentials have expired already is refused for good (4501).
func TestAuthExpiry(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		_, url := echoServer(t, sockhop.Options{Authenticate: tokenAuth}, whoami)
		var calls atomic.Int32
		authFunc := expiringAuth(&calls, time.Second) // the first credentials last 1 s, the next an hour
		c := client.New(url, client.Options{Transports: []string{tr}, AuthFunc: authFunc, MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
		var mu sync.Mutex
		var reasons []error
		c.OnDisconnect(func(err error) { mu.Lock(); reasons = append(reasons, err); mu.Unlock() })
		back := make(chan string, 4)
		c.OnConnect(func() { back <- c.SessionID() })
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.Connect(ctx); err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		first := <-back
		var second string
		select {
		case second = <-back:
		case <-time.After(10 * time.Second):
			t.Fatal("the client did not come back after its credentials expired")
		}
		if second == first {
			t.Fatalf("came back as the same session %s, want a new one", first)
		}
		mu.Lock()
		if len(reasons) != 1 || sockhop.CloseCode(reasons[0]) != sockhop.CloseAuthExpired {
			t.Errorf("disconnects %v, want one with 4003", reasons)
		}
		mu.Unlock()
		if reply, err := c.EmitWithAck(ctx, "whoami", nil); err != nil || string(reply) != `"ann:2"` {
			t.Fatalf("whoami after the refresh: %s %v", reply, err)
		}
		if n := calls.Load(); n != 2 {
			t.Fatalf("AuthFunc called %d times, want 2", n)
		}

		// Credentials that expired already: refused for good, no loop.
		_, err := client.Dial(ctx, url, client.Options{Transports: []string{tr}, Auth: "ann:9:0"})
		var ce *sockhop.CloseError
		if !errors.As(err, &ce) || ce.Code != sockhop.CloseUnauthorized || ce.Err == nil || ce.Err.Code != "credentials_expired" {
			t.Fatalf("expired credentials: %v, want 4501 credentials_expired", err)
		}
	})
}

// TestResumeReauthenticates: a resume runs Authenticate again and replaces the session's
// identity and its expiry: credentials that would have expired are replaced by the
// resume's, and the session outlives the first expiry.
func TestResumeReauthenticates(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		_, url := echoServer(t, sockhop.Options{Authenticate: tokenAuth}, whoami)
		p, err := faultproxy.New(strings.TrimSuffix(strings.TrimPrefix(url, "http://"), "/rt"))
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		var calls atomic.Int32
		const firstLife = 6 * time.Second
		authFunc := expiringAuth(&calls, firstLife)
		c := client.New("http://"+p.Addr()+"/rt", client.Options{Transports: []string{tr}, AuthFunc: authFunc, MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
		back, gone := make(chan string, 4), make(chan error, 4)
		c.OnConnect(func() { back <- c.SessionID() })
		c.OnDisconnect(func(err error) { gone <- err })
		c.OnResumeFailed(func() { t.Error("resume failed") })
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.Connect(ctx); err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		first := <-back
		start := time.Now()
		// A cut between two polls of xhr-polling meets no connection: cut until the client
		// notices one.
	cut:
		for i := 0; ; i++ {
			p.CutAll()
			select {
			case <-gone:
				break cut
			case <-time.After(500 * time.Millisecond):
				if i == 5 {
					t.Fatal("the client noticed none of 6 cuts")
				}
			}
		}
		if id := <-back; id != first {
			t.Fatalf("resumed as %s, want %s", id, first)
		}
		if reply, err := c.EmitWithAck(ctx, "whoami", nil); err != nil || string(reply) != `"ann:2"` {
			t.Fatalf("whoami after the resume: %s %v, want the resume's credentials", reply, err)
		}
		// Past the first credentials' expiry the session goes on.
		time.Sleep(time.Until(start.Add(firstLife + time.Second)))
		select {
		case err := <-gone:
			t.Fatalf("the session dropped (%v) at the replaced credentials' expiry", err)
		default:
		}
		mustEcho(t, c)
		if c.SessionID() != first {
			t.Fatalf("session %s, want %s", c.SessionID(), first)
		}
	})
}

// TestAuthFuncError: a failing AuthFunc fails Connect at once, on the first transport,
// with its error; no transport is dialled without credentials. After a disconnect the
// client calls it again until it succeeds.
func TestAuthFuncError(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		srv, url := echoServer(t, sockhop.Options{Authenticate: tokenAuth}, whoami)
		down := errors.New("token endpoint down")
		var calls atomic.Int32
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := client.Dial(ctx, url, client.Options{AuthFunc: func(context.Context) (any, error) {
			calls.Add(1)
			return nil, down
		}})
		if !errors.Is(err, down) || calls.Load() != 1 {
			t.Fatalf("Dial: %v after %d calls, want the AuthFunc error after 1", err, calls.Load())
		}
		// Connected, then kicked off with a reconnect code while the endpoint is down: the
		// client keeps asking, and comes back once it answers.
		var failing atomic.Bool
		calls.Store(0)
		c := client.New(url, client.Options{Transports: []string{tr}, MinBackoff: 10 * time.Millisecond, MaxBackoff: 20 * time.Millisecond,
			AuthFunc: func(context.Context) (any, error) {
				n := calls.Add(1)
				if failing.Load() {
					return nil, down
				}
				return "ann:" + strconv.Itoa(int(n)) + ":3600000", nil
			}})
		if err := c.Connect(ctx); err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		failing.Store(true)
		srv.Session(c.SessionID()).Close(sockhop.CloseGoingAway, "bye")
		deadline := time.Now().Add(10 * time.Second)
		for calls.Load() < 4 {
			if time.Now().After(deadline) {
				t.Fatalf("AuthFunc called %d times after the disconnect, want it retried", calls.Load())
			}
			time.Sleep(5 * time.Millisecond)
		}
		failing.Store(false)
		for srv.SessionCount() != 1 {
			if time.Now().After(deadline) {
				t.Fatal("the client did not come back once AuthFunc answered")
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
}

// expiringAuth is a client AuthFunc whose first credentials (for tokenAuth) last first,
// and every later one an hour; calls counts its calls.
func expiringAuth(calls *atomic.Int32, first time.Duration) func(context.Context) (any, error) {
	return func(ctx context.Context) (any, error) {
		n := calls.Add(1)
		ms := 3_600_000
		if n == 1 {
			ms = int(first.Milliseconds())
		}
		return "ann:" + strconv.Itoa(int(n)) + ":" + strconv.Itoa(ms), nil
	}
}
