package redis

import (
	"context"
	"errors"
	"fmt"

	goredis "github.com/redis/go-redis/v9"

	"github.com/sockhop/sockhop/rooms"
	"github.com/sockhop/sockhop/rooms/internal/pubq"
	"github.com/sockhop/sockhop/rooms/internal/wire"
)

// pubReq is one publication queued for writeLoop.
type pubReq struct {
	channel string
	payload []byte
}

// maxBatch is the most PUBLISH commands writeLoop pipelines in one round trip.
const maxBatch = 512

// Publish queues p for the nodes subscribed to its rooms: a one-room broadcast goes on the
// room's channel, a multi-room one on the prefix's shared channel. It returns once p is in
// the adapter's publish queue, without waiting for Redis: one writer goroutine sends
// whatever is queued as one pipelined round trip, in queue order, so broadcasts that one
// goroutine publishes one after another reach every node in that order, even across rooms.
//
// Publish fails at once with an error wrapping [rooms.ErrUnavailable] while the adapter
// knows it is disconnected. When the queue is full (Redis slower than the publishers, or
// hung) Publish waits for room, at most until ctx is done or PublishTimeout passes, and
// then fails with an error wrapping rooms.ErrUnavailable: back-pressure, never unbounded
// memory. A queued publication that Redis does not accept is not reported to its caller;
// it is counted (Stats.WriteErrors) and logged, at most once a second.
func (a *Adapter) Publish(ctx context.Context, p rooms.Publication) error {
	if a.closed.Load() {
		return rooms.ErrClosed
	}
	if len(p.Rooms) == 0 {
		return nil
	}
	if !a.connected.Load() {
		a.publishErrors.Add(1)
		return fmt.Errorf("rooms/redis: publish: %w: %w", rooms.ErrUnavailable, errDisconnected)
	}
	r := pubReq{
		channel: a.channelFor(p.Rooms),
		payload: wire.Encode(make([]byte, 0, wire.EncodedLen(p)), a.node, p),
	}
	err := a.pubq.Put(ctx, r)
	if errors.Is(err, pubq.ErrFull) {
		a.publishErrors.Add(1)
		return fmt.Errorf("rooms/redis: publish: %w: %w", rooms.ErrUnavailable, err)
	}
	return err
}

// writeLoop sends what Publish queues, pipelining up to maxBatch commands per round trip.
// When Close cancels a.ctx it sends what is still queued, once, and returns.
func (a *Adapter) writeLoop() {
	defer a.wg.Done()
	batch := make([]pubReq, 0, maxBatch)
	cmds := make([]*goredis.IntCmd, 0, maxBatch)
	for {
		batch = batch[:0]
		closing := false
		select {
		case <-a.ctx.Done():
			closing = true
		case r := <-a.pubq.C:
			batch = append(batch, r)
		}
	fill:
		for len(batch) < maxBatch {
			select {
			case r := <-a.pubq.C:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		if len(batch) > 0 {
			cmds = a.write(batch, cmds[:0])
			clear(batch) // drop the payloads
		}
		if closing {
			return
		}
	}
}

// write sends one batch. While the adapter is disconnected the batch is dropped without
// I/O: a broadcast sent after the outage would arrive late and out of step with what the
// publishers saw fail.
func (a *Adapter) write(batch []pubReq, cmds []*goredis.IntCmd) []*goredis.IntCmd {
	if !a.connected.Load() {
		a.writeFailed(len(batch), errDisconnected)
		return cmds
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(a.ctx), writeBound(a.opts))
	defer cancel()
	if len(batch) == 1 {
		if err := a.client.Publish(ctx, batch[0].channel, batch[0].payload).Err(); err != nil {
			a.writeFailed(1, err)
		} else {
			a.published.Add(1)
		}
		return cmds
	}
	pipe := a.client.Pipeline()
	for _, r := range batch {
		cmds = append(cmds, pipe.Publish(ctx, r.channel, r.payload))
	}
	_, err := pipe.Exec(ctx)
	failed := 0
	var first error
	for _, c := range cmds {
		e := c.Err()
		if e == nil && err != nil && !errors.Is(err, goredis.Nil) {
			// Exec reports the first failed command; one without an error of its own
			// was not necessarily sent.
			e = err
		}
		if e != nil {
			failed++
			if first == nil {
				first = e
			}
		}
	}
	a.published.Add(uint64(len(batch) - failed))
	if failed > 0 {
		a.writeFailed(failed, first)
	}
	clear(cmds)
	return cmds
}

// writeFailed counts n queued publications Redis did not accept and logs it, at most once
// a second (with the number of failures since the last line).
func (a *Adapter) writeFailed(n int, err error) { a.writeErrors.Add(n, err) }
