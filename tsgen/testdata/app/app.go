// Package app registers events of every kind of type, for tsgen's golden test.
package app

import (
	"context"
	"encoding/json"
	"net/netip"
	"time"

	"github.com/sockhop/sockhop"
	"github.com/sockhop/sockhop/tsgen/testdata/app/other"
)

const sayEvent = "say"

// Base is embedded.
type Base struct {
	ID      string    `json:"id"`
	Created time.Time `json:"created"`
	Hidden  string    `json:"-"`
	Dash    string    `json:"-,"`
	private int
}

// Extra is embedded through a pointer: its fields may be missing.
type Extra struct {
	Note string `json:"note"`
}

type named struct { // an embedded unexported struct still promotes its fields
	Label string
}

// Level is a named basic type.
type Level int

// Tags is a named slice.
type Tags []string

// Message exercises the field rules.
type Message struct {
	Base
	*Extra
	named
	Text     string             `json:"text"`
	Level    Level              `json:"level"`
	Tags     Tags               `json:"tags,omitempty"`
	Count    int64              `json:"count,string"`
	Ok       *bool              `json:"ok,string"`
	Parent   *Message           `json:"parent"`
	Children []*Message         `json:"children"`
	Meta     map[string]any     `json:"meta"`
	Scores   map[int]float64    `json:"scores"`
	Raw      json.RawMessage    `json:"raw"`
	Blob     []byte             `json:"blob"`
	Grid     [2][2]uint8        `json:"grid"`
	When     *time.Time         `json:"when,omitempty"`
	Addr     netip.Addr         `json:"addr"`
	Num      json.Number        `json:"num"`
	Zero     time.Duration      `json:"zero,omitzero"`
	Anon     struct{ X, Y int } `json:"anon"`
	Untagged string
	Other    other.Message `json:"other"`
	Custom   Custom        `json:"custom"`
	Page     Page[Tags]    `json:"page"`
	Quoted   string        `json:"quoted-name"`
}

// Custom has its own encoding.
type Custom struct{ v int }

// MarshalJSON encodes c as a number.
func (c Custom) MarshalJSON() ([]byte, error) { return json.Marshal(c.v) }

// Page is generic.
type Page[T any] struct {
	Items []T    `json:"items"`
	Next  string `json:"next,omitempty"`
}

// Register registers the events.
func Register(srv *sockhop.Server) {
	sockhop.On(srv, sayEvent, func(ctx context.Context, s *sockhop.Session, m Message) error { return nil })
	sockhop.OnRequest(srv, "ask", func(ctx context.Context, s *sockhop.Session, q struct {
		Q string `json:"q"`
	}) (*other.Message, error) {
		return nil, nil
	})
	sockhop.OnRequest(srv, "list", func(context.Context, *sockhop.Session, struct{}) ([]Message, error) { return nil, nil })
	sockhop.On[string](srv, "ping", nil)
	srv.Handle("raw", nil)
	sockhop.Emits[Message](srv, "msg")
	sockhop.Emits[[]other.Message](srv, "batch")
	sockhop.EmitsRequest[string, bool](srv, "confirm")
	sockhop.Emits[any](srv, "any")
	sockhop.OnRequest(srv, "upload", func(context.Context, *sockhop.Session, []byte) ([]byte, error) { return nil, nil })
	sockhop.Emits[[]byte](srv, "frame")
	sockhop.EmitsRequest[[]byte, []byte](srv, "sign")
	sockhop.Emits[Level](srv, "weird name!")
}

// Stamp is an alias of time.Time: a string too.
type Stamp = time.Time

// A and B are embedded side by side in Both.
type A struct {
	Name string
	V    int `json:"v"`
	Q    int `json:"Q"`
}

// B clashes with A.
type B struct {
	Name string
	W    int `json:"v"`
	U    int
	Q    string
}

// Both keeps only what encoding/json keeps of A and B: U (its own, hiding B's) and Q (A's
// tagged one wins); Name and v are ambiguous and dropped.
type Both struct {
	A
	B
	U    string `json:"U"`
	When Stamp  `json:"when"`
}

// RegisterMore registers Both.
func RegisterMore(srv *sockhop.Server) {
	sockhop.Emits[Both](srv, "both")
}
