// Package pubq holds what the multi-node adapters (rooms/redis, rooms/nats) share around
// their queued Publish: the bounded publish queue with its back-pressure, the count and
// rate-limited log of queued publications that were not sent, and the reconnection
// back-off. Each adapter keeps its own writer goroutine, which is where the backends
// differ (Redis pipelines PUBLISH commands, nats.go buffers and flushes by itself).
package pubq

import (
	"context"
	"errors"
	"log/slog"
	mrand "math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/sockhop/sockhop/rooms"
)

// ErrFull is returned by [Queue.Put] when the queue stayed full for the queue's timeout.
var ErrFull = errors.New("publish queue full")

// Queue is a bounded queue from the Publish callers to one writer goroutine.
type Queue[T any] struct {
	// C is the queue; the writer goroutine receives from it. Nobody closes it.
	C       chan T
	timeout time.Duration
	done    <-chan struct{}
}

// NewQueue returns a queue of size elements. A Put that finds it full waits at most
// timeout; done (the adapter's Close) ends such waits with [rooms.ErrClosed].
func NewQueue[T any](size int, timeout time.Duration, done <-chan struct{}) *Queue[T] {
	return &Queue[T]{C: make(chan T, size), timeout: timeout, done: done}
}

// Put queues v without blocking when there is room. When the queue is full it waits for
// room, at most until ctx is done (returning ctx.Err()), the queue's timeout passes
// (returning [ErrFull]) or the adapter closes (returning [rooms.ErrClosed]):
// back-pressure, never unbounded memory.
func (q *Queue[T]) Put(ctx context.Context, v T) error {
	select {
	case q.C <- v:
		return nil
	default:
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	t := time.NewTimer(q.timeout)
	defer t.Stop()
	select {
	case q.C <- v:
		return nil
	case <-t.C:
		return ErrFull
	case <-ctx.Done():
		return ctx.Err()
	case <-q.done:
		return rooms.ErrClosed
	}
}

// WriteErrors counts queued publications the backend did not take and logs them, at most
// once a second (with the number of failures since the last line). The zero value counts
// without logging; set Log and Msg before use to log.
type WriteErrors struct {
	// Log receives the Warn lines; Msg is their message.
	Log *slog.Logger
	Msg string

	n       atomic.Uint64
	lastLog atomic.Int64  // unix ns of the last log line
	logged  atomic.Uint64 // n at that line
}

// Add counts n failures, the first of which failed with err.
func (w *WriteErrors) Add(n int, err error) {
	w.n.Add(uint64(n))
	if w.Log == nil {
		return
	}
	now := time.Now().UnixNano()
	last := w.lastLog.Load()
	if now-last < int64(time.Second) || !w.lastLog.CompareAndSwap(last, now) {
		return
	}
	total := w.n.Load()
	w.Log.Warn(w.Msg, "err", err, "since_last_log", total-w.logged.Swap(total))
}

// Load returns the number of failures counted so far.
func (w *WriteErrors) Load() uint64 { return w.n.Load() }

// Backoff returns the wait before reconnection attempt n (0, 1, ...): exponential from
// lo up to hi, with "equal jitter" (half fixed, half random) so nodes do not reconnect
// in lockstep after the server restarts. A negative n counts as 0.
func Backoff(n int, lo, hi time.Duration) time.Duration {
	d := hi
	if n < 30 {
		if e := lo << max(n, 0); e > 0 && e < d {
			d = e
		}
	}
	return d/2 + mrand.N(d/2+1)
}

// Defaults fills in the zero options that both adapters share, with the defaults their
// Options document: PublishTimeout 1s, DialTimeout 2s, back-off from 50ms to 2s (the
// maximum raised to the minimum when it is lower), HealthInterval 3s, PublishQueue 8192.
func Defaults(publishTimeout, dialTimeout, minBackoff, maxBackoff, healthInterval *time.Duration, publishQueue *int) {
	setDefault(publishTimeout, time.Second)
	setDefault(dialTimeout, 2*time.Second)
	setDefault(minBackoff, 50*time.Millisecond)
	setDefault(maxBackoff, 2*time.Second)
	setDefault(healthInterval, 3*time.Second)
	if *maxBackoff < *minBackoff {
		*maxBackoff = *minBackoff
	}
	if *publishQueue <= 0 {
		*publishQueue = 8192
	}
}

func setDefault(d *time.Duration, v time.Duration) {
	if *d <= 0 {
		*d = v
	}
}
