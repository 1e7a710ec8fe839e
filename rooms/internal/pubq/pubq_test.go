package pubq

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sockhop/sockhop/internal/testutil"
	"github.com/sockhop/sockhop/rooms"
)

func TestMain(m *testing.M) { testutil.Main(m) }

func TestPut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		done := make(chan struct{})
		q := NewQueue[int](1, time.Second, done)
		ctx := context.Background()
		if err := q.Put(ctx, 1); err != nil {
			t.Fatal(err)
		}
		t0 := time.Now()
		if err := q.Put(ctx, 2); !errors.Is(err, ErrFull) || time.Since(t0) != time.Second {
			t.Fatalf("full queue: %v after %v, want ErrFull after 1s", err, time.Since(t0))
		}
		cctx, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
		defer cancel()
		if err := q.Put(cctx, 2); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("full queue, short ctx: %v", err)
		}
		if err := q.Put(cctx, 2); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("done ctx: %v", err)
		}
		go func() { time.Sleep(time.Millisecond); <-q.C }()
		if err := q.Put(ctx, 2); err != nil {
			t.Fatalf("room made: %v", err)
		}
		go func() { time.Sleep(time.Millisecond); close(done) }()
		if err := q.Put(ctx, 3); !errors.Is(err, rooms.ErrClosed) {
			t.Fatalf("closing: %v", err)
		}
	})
}

func TestWriteErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var buf bytes.Buffer
		w := WriteErrors{Log: slog.New(slog.NewTextHandler(&buf, nil)), Msg: "not sent"}
		for range 5 {
			w.Add(2, errors.New("boom"))
		}
		time.Sleep(time.Second)
		w.Add(1, errors.New("again"))
		if w.Load() != 11 {
			t.Errorf("Load %d, want 11", w.Load())
		}
		lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
		if len(lines) != 2 || !strings.Contains(lines[0], "since_last_log=2") || !strings.Contains(lines[1], "since_last_log=9") {
			t.Errorf("log:\n%s", buf.String())
		}
	})
}

func TestBackoff(t *testing.T) {
	lo, hi := 50*time.Millisecond, 2*time.Second
	for _, tc := range []struct {
		n        int
		from, to time.Duration
	}{
		{-1, 25 * time.Millisecond, 50 * time.Millisecond},
		{0, 25 * time.Millisecond, 50 * time.Millisecond},
		{1, 50 * time.Millisecond, 100 * time.Millisecond},
		{5, 800 * time.Millisecond, 1600 * time.Millisecond},
		{6, time.Second, hi},
		{100, time.Second, hi},
	} {
		for range 100 {
			if d := Backoff(tc.n, lo, hi); d < tc.from || d > tc.to {
				t.Fatalf("Backoff(%d) = %v, want in [%v, %v]", tc.n, d, tc.from, tc.to)
			}
		}
	}
}

func TestDefaults(t *testing.T) {
	var pt, dt, minB, health time.Duration
	maxB := time.Millisecond
	var q int
	Defaults(&pt, &dt, &minB, &maxB, &health, &q)
	if pt != time.Second || dt != 2*time.Second || minB != 50*time.Millisecond || maxB != minB || health != 3*time.Second || q != 8192 {
		t.Errorf("Defaults: %v %v %v %v %v %d", pt, dt, minB, maxB, health, q)
	}
}
