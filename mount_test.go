package sockhop_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/sockhop/sockhop"
	"github.com/sockhop/sockhop/client"
)

// TestMounting serves the same server under chi's Mount (path kept), http.StripPrefix
// (path stripped) and a nested chi route, with http.Server timeouts shorter than a
// stream lives, on every transport.
func TestMounting(t *testing.T) {
	if testing.Short() {
		t.Skip("slow (seconds of real time): make test and make gofull run it; make check (-short) does not")
	}
	mounts := map[string]func(srv *sockhop.Server) (http.Handler, string){
		"chi Mount": func(srv *sockhop.Server) (http.Handler, string) {
			r := chi.NewRouter()
			r.Use(middleware.Recoverer)
			r.Mount("/rt", srv)
			return r, "/rt"
		},
		"StripPrefix": func(srv *sockhop.Server) (http.Handler, string) {
			mux := http.NewServeMux()
			mux.Handle("/api/rt/", http.StripPrefix("/api/rt", srv))
			return mux, "/api/rt"
		},
		"nested chi": func(srv *sockhop.Server) (http.Handler, string) {
			r := chi.NewRouter()
			r.Route("/v1", func(r chi.Router) { r.Mount("/live/sockjs-app", srv) })
			return r, "/v1/live/sockjs-app"
		},
	}
	for name, mount := range mounts {
		t.Run(name, func(t *testing.T) {
			forEachTransport(t, func(t *testing.T, tr string) {
				// Pings every 200 ms keep the connection busy past the 1 s server timeouts; the
				// pong timeout is generous, so a loaded machine does not drop the client. With
				// 300 ms timeouts a CI run under -race once lost the xhr-polling session: net/http
				// cancels a request whose background read reaches ReadTimeout before the
				// handler clears the deadline, so a slow start leaves little room.
				srv, err := sockhop.New(sockhop.Options{PingInterval: 200 * time.Millisecond, PongTimeout: 3 * time.Second})
				if err != nil {
					t.Fatal(err)
				}
				sockhop.OnRequest(srv, "echo", func(ctx context.Context, s *sockhop.Session, v any) (any, error) { return v, nil })
				h, path := mount(srv)
				hs := httptest.NewUnstartedServer(h)
				hs.Config.ReadTimeout = time.Second
				hs.Config.WriteTimeout = time.Second
				hs.Start()
				t.Cleanup(func() {
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					defer cancel()
					_ = srv.Shutdown(ctx)
					hs.Close()
				})
				c := dialClient(t, hs.URL+path, tr, client.Options{})
				mustEcho(t, c)
				time.Sleep(2500 * time.Millisecond) // outlive the server's read and write timeouts
				mustEcho(t, c)
				select {
				case <-c.Done():
					t.Fatalf("session ended: %v", c.Err())
				default:
				}
				resp, err := http.Get(hs.URL + path + "/sockhop.js")
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK || resp.Header.Get("ETag") == "" {
					t.Fatalf("sockhop.js: %d etag %q", resp.StatusCode, resp.Header.Get("ETag"))
				}
			})
		})
	}
}
