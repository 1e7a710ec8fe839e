package sockhop_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sockhop/sockhop"
	"github.com/sockhop/sockhop/client"
)

func TestAuthenticate(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tr string) {
		auth := func(r *http.Request, raw json.RawMessage) (sockhop.Identity, error) {
			var tok struct{ Token string }
			_ = json.Unmarshal(raw, &tok)
			switch {
			case tok.Token == "ann-secret":
				return sockhop.Identity{UserID: "ann"}, nil
			case r.Header.Get("Cookie") == "session=bob":
				return sockhop.Identity{UserID: "bob"}, nil
			case tok.Token == "crash":
				return sockhop.Identity{}, errors.New("db down, details hidden")
			}
			return sockhop.Identity{}, &sockhop.Error{Code: "bad_token", Message: "log in again"}
		}
		srv, url := echoServer(t, sockhop.Options{Authenticate: auth}, func(srv *sockhop.Server) {
			sockhop.OnRequest(srv, "whoami", func(ctx context.Context, s *sockhop.Session, v any) (string, error) {
				return s.Identity().UserID, nil
			})
		})
		ctx := context.Background()
		// Refused: a terminal close with the client-visible reason, and no retry loop.
		for token, want := range map[string]string{"wrong": "log in again", "crash": "unauthorized"} {
			_, err := client.Dial(ctx, url, client.Options{Transports: []string{tr}, Auth: map[string]string{"token": token}})
			var ce *sockhop.CloseError
			if !errors.As(err, &ce) || ce.Code != sockhop.CloseUnauthorized || ce.Err == nil || ce.Err.Message != want {
				t.Fatalf("token %q: %v, want 4501 %q", token, err, want)
			}
			if strings.Contains(err.Error(), "db down") {
				t.Fatalf("internal error leaked: %v", err)
			}
		}
		// Accepted by token in the hello, or by cookie on the request.
		ann := dialClient(t, url, tr, client.Options{Auth: map[string]string{"token": "ann-secret"}})
		bob := dialClient(t, url, tr, client.Options{Header: http.Header{"Cookie": {"session=bob"}}})
		ann2 := client.New(url, client.Options{Transports: []string{tr}, Auth: map[string]string{"token": "ann-secret"}})
		if err := ann2.Connect(ctx); err != nil {
			t.Fatal(err)
		}
		defer ann2.Close()
		for c, want := range map[*client.Client]string{ann: `"ann"`, bob: `"bob"`} {
			if reply, err := c.EmitWithAck(ctx, "whoami", nil); err != nil || string(reply) != want {
				t.Fatalf("whoami: %s %v, want %s", reply, err, want)
			}
		}
		// With a ctx that is done already, DisconnectUser closes nothing.
		done, cancel := context.WithCancel(ctx)
		cancel()
		if n, err := srv.DisconnectUser(done, "ann"); n != 0 || !errors.Is(err, context.Canceled) {
			t.Fatalf("DisconnectUser with a cancelled ctx = %d %v, want 0 and context.Canceled", n, err)
		}
		mustEcho(t, ann)
		// DisconnectUser closes both of ann's sessions for good, and only those.
		if n, err := srv.DisconnectUser(ctx, "ann"); n != 2 || err != nil {
			t.Fatalf("DisconnectUser closed %d sessions (%v), want 2", n, err)
		}
		for _, c := range []*client.Client{ann, ann2} {
			select {
			case <-c.Done():
				if sockhop.CloseCode(c.Err()) != sockhop.CloseKicked {
					t.Fatalf("kicked client ended with %v", c.Err())
				}
			case <-time.After(10 * time.Second):
				t.Fatal("kicked client still running (reconnecting?)")
			}
		}
		mustEcho(t, bob)
	})
}
