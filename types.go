package sockhop

// Emits declares that the server emits event name to clients with data of type T (with
// [Session.Emit], [Broadcast.Emit]). It has no effect when the program runs: it is read
// by `sockhop gen ts` (package github.com/sockhop/sockhop/tsgen), which generates the
// TypeScript event map of the server's handlers and of the events declared here, so that
// the browser's on() handlers are typed. The event name must be a constant for the
// generator to see it. It panics when name is empty, like [Server.Handle].
func Emits[T any](srv *Server, name string) {
	declare(srv, name)
}

// EmitsRequest declares that the server asks clients event name with data of type T and
// expects a reply of type R ([Session.EmitWithAck]), for `sockhop gen ts` like [Emits].
// It has no effect when the program runs, and panics when name is empty.
func EmitsRequest[T, R any](srv *Server, name string) {
	declare(srv, name)
}

func declare(srv *Server, name string) {
	if srv == nil || name == "" {
		panic("sockhop: Emits needs a server and a name")
	}
}
