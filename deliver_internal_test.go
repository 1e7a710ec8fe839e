package sockhop

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/sockhop/sockhop/rooms"
)

type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// TestDeliverRecovers: deliver runs on the Adapter's goroutine (broadcasts from other
// nodes); a panic in it is logged with its stack and the publication dropped, instead of
// ending the process from a goroutine the server does not own. The panic here is a
// member that is no session (nil core), which nothing else can make.
func TestDeliverRecovers(t *testing.T) {
	var log lockedBuf
	srv, err := New(Options{Logger: slog.New(slog.NewTextHandler(&log, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	broken := &Session{srv: srv}
	srv.rooms.Join("r", broken)
	srv.deliver(rooms.Publication{Rooms: []string{"r"}, Data: []byte(`{"t":"ev","n":"x"}`)})
	log.mu.Lock()
	out := log.b.String()
	log.mu.Unlock()
	if !strings.Contains(out, "level=ERROR") || !strings.Contains(out, "deliver panicked") || !strings.Contains(out, "stack=") {
		t.Fatalf("no Error line with a stack; log:\n%s", out)
	}
}
