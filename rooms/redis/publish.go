package redis

import (
	"context"
	"errors"
	"fmt"

	goredis "github.com/redis/go-redis/v9"

	"github.com/sockhop/sockhop/rooms"
)

// pubReq is one Publish waiting for writeLoop.
type pubReq struct {
	channel string
	payload []byte
	done    chan error // cap 1
}

// maxBatch is the most PUBLISH commands writeLoop pipelines in one round trip.
const maxBatch = 256

// Publish sends p to the nodes subscribed to its rooms: a one-room broadcast on the room's
// channel, a multi-room one on the prefix's shared channel. It returns when Redis has
// accepted it. While the adapter is disconnected it fails at once; otherwise a round trip
// is bounded by ctx and PublishTimeout. Errors wrap [rooms.ErrUnavailable] (or are
// ctx's error, or [rooms.ErrClosed]).
//
// Concurrent Publish calls share round trips: a single goroutine pipelines whatever
// broadcasts are waiting into one write, in the order they arrived, so broadcasts that
// one goroutine publishes one after another reach every node in that order.
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
	r, _ := a.reqs.Get().(*pubReq)
	if r == nil {
		r = &pubReq{done: make(chan error, 1)}
	}
	r.channel = a.channelFor(p.Rooms)
	r.payload = encode(make([]byte, 0, encodedLen(p)), a.node, p)
	select {
	case a.pubq <- r:
	case <-ctx.Done():
		return ctx.Err()
	case <-a.ctx.Done():
		return rooms.ErrClosed
	}
	var err error
	select {
	case err = <-r.done:
	case <-ctx.Done():
		return ctx.Err() // r is still writeLoop's: not recycled
	case <-a.ctx.Done():
		return rooms.ErrClosed
	}
	r.channel, r.payload = "", nil
	a.reqs.Put(r)
	if err != nil {
		a.publishErrors.Add(1)
		return fmt.Errorf("rooms/redis: publish: %w: %w", rooms.ErrUnavailable, err)
	}
	a.published.Add(1)
	return nil
}

// writeLoop sends what Publish queues, pipelining up to maxBatch commands per round trip.
func (a *Adapter) writeLoop() {
	defer a.wg.Done()
	batch := make([]*pubReq, 0, maxBatch)
	for {
		batch = batch[:0]
		select {
		case <-a.ctx.Done():
			return
		case r := <-a.pubq:
			batch = append(batch, r)
		}
	fill:
		for len(batch) < maxBatch {
			select {
			case r := <-a.pubq:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		ctx, cancel := context.WithTimeout(a.ctx, a.opts.PublishTimeout)
		if len(batch) == 1 {
			batch[0].done <- a.client.Publish(ctx, batch[0].channel, batch[0].payload).Err()
			cancel()
			continue
		}
		pipe := a.client.Pipeline()
		cmds := make([]*goredis.IntCmd, len(batch))
		for i, r := range batch {
			cmds[i] = pipe.Publish(ctx, r.channel, r.payload)
		}
		_, err := pipe.Exec(ctx)
		cancel()
		for i, r := range batch {
			e := cmds[i].Err()
			if e == nil && err != nil && !errors.Is(err, goredis.Nil) {
				// Exec reports the first failed command; one without an error of its own
				// was not necessarily sent.
				e = err
			}
			r.done <- e
		}
	}
}
