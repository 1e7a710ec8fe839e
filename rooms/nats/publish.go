package nats

import (
	"context"
	"errors"
	"fmt"
	"time"

	natsgo "github.com/nats-io/nats.go"

	"github.com/sockhop/sockhop/rooms"
	"github.com/sockhop/sockhop/rooms/internal/wire"
)

// pubReq is one publication queued for writeLoop.
type pubReq struct {
	subject string
	payload []byte
}

var (
	errQueueFull  = errors.New("publish queue full")
	errNotStarted = errors.New("adapter not started")
)

// Publish queues p for the nodes subscribed to its rooms: a one-room broadcast goes on the
// room's subject, a multi-room one on the prefix's shared subject. It returns once p is in
// the adapter's publish queue, without waiting for NATS: one writer goroutine hands what
// is queued to the connection in queue order, and nats.go writes it in as few socket
// writes as it can, so broadcasts that one goroutine publishes one after another reach
// every node in that order, even across rooms.
//
// Publish fails at once with an error wrapping [rooms.ErrUnavailable] before Start and
// while the connection is down. When the queue is full (NATS slower than the publishers,
// or hung) Publish waits for room, at most until ctx is done or PublishTimeout passes, and
// then fails with an error wrapping rooms.ErrUnavailable: back-pressure, never unbounded
// memory. A publication larger than the server's max_payload fails at once with
// [natsgo.ErrMaxPayload]. A queued publication that the connection refuses is not
// reported to its caller; it is counted (Stats.WriteErrors) and logged, at most once a
// second.
func (a *Adapter) Publish(ctx context.Context, p rooms.Publication) error {
	if a.stopped.Load() {
		return rooms.ErrClosed
	}
	if len(p.Rooms) == 0 {
		return nil
	}
	nc := a.nc.Load()
	if nc == nil {
		a.publishErrors.Add(1)
		return fmt.Errorf("rooms/nats: publish: %w: %w", rooms.ErrUnavailable, errNotStarted)
	}
	// Nothing here may take nats.go's connection lock: the writer holds it while a write
	// to a hung server blocks, and Publish must still fail fast or wait only for ctx.
	if !a.connected.Load() {
		a.publishErrors.Add(1)
		return fmt.Errorf("rooms/nats: publish: %w: %w", rooms.ErrUnavailable, errDisconnected)
	}
	n := wire.EncodedLen(p)
	if max := a.maxPayload.Load(); max > 0 && int64(n) > max {
		a.publishErrors.Add(1)
		return fmt.Errorf("rooms/nats: publish %d bytes (server limit %d): %w", n, max, natsgo.ErrMaxPayload)
	}
	r := pubReq{subject: a.subjectFor(p.Rooms), payload: wire.Encode(make([]byte, 0, n), a.node, p)}
	select {
	case a.pubq <- r:
		return nil
	default:
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	t := time.NewTimer(a.opts.PublishTimeout)
	defer t.Stop()
	select {
	case a.pubq <- r:
		return nil
	case <-t.C:
		a.publishErrors.Add(1)
		return fmt.Errorf("rooms/nats: publish: %w: %w", rooms.ErrUnavailable, errQueueFull)
	case <-ctx.Done():
		return ctx.Err()
	case <-a.ctx.Done():
		return rooms.ErrClosed
	}
}

// writeLoop hands what Publish queues to the connection, in order. nats.go's own flusher
// goroutine writes the connection's buffer to the socket whenever it is not empty, so
// publications queued together leave in one write. When Close cancels a.ctx, writeLoop
// hands over what is still queued, flushes the connection (bounded by PublishTimeout) and
// returns.
func (a *Adapter) writeLoop() {
	defer a.wg.Done()
	nc := a.nc.Load()
	for {
		select {
		case r := <-a.pubq:
			a.write(nc, r)
		case <-a.ctx.Done():
			for {
				select {
				case r := <-a.pubq:
					a.write(nc, r)
					continue
				default:
				}
				break
			}
			if a.connected.Load() {
				_ = nc.FlushTimeout(a.opts.PublishTimeout)
			}
			return
		}
	}
}

// write hands one publication to the connection. While the adapter knows it is
// disconnected the publication is dropped without trying: nats.go would refuse it anyway
// (the adapter sets no reconnect buffer).
func (a *Adapter) write(nc *natsgo.Conn, r pubReq) {
	if !a.connected.Load() {
		a.writeFailed(errDisconnected)
		return
	}
	if err := nc.Publish(r.subject, r.payload); err != nil {
		a.writeFailed(err)
		return
	}
	a.published.Add(1)
}

// writeFailed counts a queued publication the connection did not take and logs it, at
// most once a second (with the number of failures since the last line).
func (a *Adapter) writeFailed(err error) {
	a.writeErrors.Add(1)
	now := time.Now().UnixNano()
	last := a.lastWriteLog.Load()
	if now-last < int64(time.Second) || !a.lastWriteLog.CompareAndSwap(last, now) {
		return
	}
	total := a.writeErrors.Load()
	a.log.Warn("rooms/nats: queued broadcasts not sent", "err", err,
		"since_last_log", total-a.loggedWriteErrors.Swap(total))
}
