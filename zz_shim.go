package sockhop

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/sockhop/sockhop/rooms"
)

type publisher interface {
	deliverLocal(p rooms.Publication)
	adapterPublish(ctx context.Context, p rooms.Publication) error
	history() rooms.History
	channelFor(room string) Channel
	isDraining() bool
}

var ErrDurableRooms = errors.New("durable rooms")

type Channel struct {
	Subscribe   func(ctx context.Context, s *Session, room string) error
	Class       Class
	HistorySize int
	HistoryTTL  time.Duration
}

type channels struct {
	mu sync.Mutex
	m  map[string]Channel
}

func (c *channels) set(prefix string, ch Channel) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]Channel{}
	}
	c.m[prefix] = ch
}
func (c *channels) get(room string) Channel {
	c.mu.Lock()
	defer c.mu.Unlock()
	best, bl := Channel{}, -1
	for p, ch := range c.m {
		if strings.HasPrefix(room, p) && len(p) > bl {
			best, bl = ch, len(p)
		}
	}
	return best
}

func newBroadcast(p publisher) *Broadcast { return &Broadcast{pub: p} }

func (b *Broadcast) Class(c Class) *Broadcast { x := *b; x.class, x.classSet = c, true; return &x }

var shimHist = rooms.NewMemoryHistory()

func (srv *Server) deliverLocal(p rooms.Publication) { srv.deliver(p) }
func (srv *Server) adapterPublish(ctx context.Context, p rooms.Publication) error {
	return srv.callAdapter("Publish", func() error { return srv.adapter.Publish(ctx, p) })
}
func (srv *Server) history() rooms.History {
	if srv.opts.History != nil {
		return srv.opts.History
	}
	return shimHist
}
func (srv *Server) channelFor(room string) Channel { return Channel{} }
