package nats_test

import (
	"context"
	"log"
	"log/slog"
	"time"

	"github.com/sockhop/sockhop/rooms"
	"github.com/sockhop/sockhop/rooms/nats"
)

// A node that shares rooms with other nodes through NATS. A sockhop Server does all of
// this itself when given the adapter; the calls are shown here as the server makes them.
func ExampleNew() {
	a, err := nats.New(nats.Options{
		URL:           "nats://127.0.0.1:4222",
		SubjectPrefix: "chat",
		Logger:        slog.Default(),
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	defer a.Close(ctx)

	// Broadcasts from other nodes: fan out to local members (enqueue only).
	err = a.Start(ctx, func(b rooms.Publication) { /* idx.Each(b.Rooms, ...) */ })
	if err != nil {
		log.Fatal(err)
	}
	// The room "lobby" got its first local member.
	if err := a.Subscribe(ctx, "lobby"); err != nil {
		log.Print(err) // NATS down: kept, subscribed on reconnection
	}
	// A broadcast: delivered locally by the server, and to the other nodes here.
	pctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if err := a.Publish(pctx, rooms.Publication{Rooms: []string{"lobby"}, Data: []byte(`{"t":"ev","n":"chat","d":"hi"}`)}); err != nil {
		log.Print(err) // errors.Is(err, rooms.ErrUnavailable): other nodes miss it
	}
	log.Printf("%+v", a.Stats())
}
