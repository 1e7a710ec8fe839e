// Package bad registers events the generator must refuse, for tsgen's tests.
package bad

import (
	"context"

	"github.com/sockhop/sockhop"
)

type withChan struct {
	C chan int `json:"c"`
}

// Register registers the events.
func Register(srv *sockhop.Server, name string) {
	sockhop.On(srv, name, func(context.Context, *sockhop.Session, string) error { return nil })
	sockhop.Emits[int](srv, "twice")
	sockhop.Emits[string](srv, "twice")
	sockhop.Emits[withChan](srv, "chan")
	register[int](srv)
}

func register[T any](srv *sockhop.Server) {
	sockhop.Emits[T](srv, "generic")
}
