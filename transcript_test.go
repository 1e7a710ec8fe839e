package sockhop_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sockhop/sockhop"
	"github.com/sockhop/sockhop/events"
)

// transcriptServer registers the handlers testdata/protocol/README.md names.
func transcriptServer(srv *sockhop.Server) {
	sockhop.OnRequest(srv, "echo", func(ctx context.Context, s *sockhop.Session, v json.RawMessage) (json.RawMessage, error) {
		return v, nil
	})
	sockhop.On(srv, "greet", func(ctx context.Context, s *sockhop.Session, name string) error {
		return s.Emit(ctx, "greeting", "hello, "+name)
	})
	sockhop.OnRequest(srv, "fail", func(ctx context.Context, s *sockhop.Session, v any) (any, error) {
		return nil, &sockhop.Error{Code: "nope", Message: "no"}
	})
	sockhop.OnRequest(srv, "typed", func(ctx context.Context, s *sockhop.Session, v struct{ N int }) (int, error) {
		return v.N + 1, nil
	})
}

// TestTranscripts replays testdata/protocol/*.txt on every transport.
func TestTranscripts(t *testing.T) {
	files, err := filepath.Glob("testdata/protocol/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no transcripts: %v", err)
	}
	forEachTransport(t, func(t *testing.T, tr string) {
		_, url := testServer(t, sockhop.Options{}, transcriptServer)
		for _, f := range files {
			t.Run(filepath.Base(f), func(t *testing.T) {
				b, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				replay(t, dialRaw(t, url, tr, nil), string(b))
			})
		}
	})
}

func replay(t *testing.T, c *rawConn, script string) {
	var frame []string
	flush := func() {
		if frame != nil {
			c.send(strings.Join(frame, "\n"))
			frame = nil
		}
	}
	for i, line := range strings.Split(script, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, ">+ "):
			frame = append(frame, line[3:])
		case strings.HasPrefix(line, "> "):
			flush()
			frame = []string{line[2:]}
		case strings.HasPrefix(line, "<close "):
			flush()
			want, _ := strconv.Atoi(line[len("<close "):])
			if got := c.closeCode(); got != want {
				t.Fatalf("line %d: closed with %d, want %d", i+1, got, want)
			}
		case strings.HasPrefix(line, "< "):
			flush()
			got, err := c.nextTimeout(10 * time.Second)
			if err != nil {
				t.Fatalf("line %d: want %s, got error %v", i+1, line[2:], err)
			}
			if !matches(t, line[2:], got) {
				t.Fatalf("line %d: got %s, want %s", i+1, events.Encode(got), line[2:])
			}
		default:
			t.Fatalf("line %d: cannot parse %q", i+1, line)
		}
	}
	flush()
}

// matches reports whether every field of the expected JSON object equals got's, "*"
// matching anything; nested objects match the same way.
func matches(t *testing.T, want string, got *events.Message) bool {
	var w, g map[string]any
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad expectation %s: %v", want, err)
	}
	_ = json.Unmarshal(events.Encode(got), &g)
	if got.T == events.TypeWelcome { // Encode omits false
		g["resumed"] = got.Resumed
	}
	return subset(w, g)
}

func subset(want, got any) bool {
	if s, ok := want.(string); ok && s == "*" {
		return got != nil
	}
	wm, ok := want.(map[string]any)
	if !ok {
		wb, _ := json.Marshal(want)
		gb, _ := json.Marshal(got)
		return bytes.Equal(wb, gb) || reflect.DeepEqual(want, got)
	}
	gm, ok := got.(map[string]any)
	if !ok {
		return false
	}
	for k, v := range wm {
		if !subset(v, gm[k]) {
			return false
		}
	}
	return true
}
