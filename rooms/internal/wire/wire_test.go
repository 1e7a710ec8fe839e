package wire

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	"github.com/sockhop/sockhop/rooms"
)

func TestWire(t *testing.T) {
	for _, b := range []rooms.Publication{
		{Rooms: []string{"r"}, Data: []byte("x")},
		{Rooms: []string{"", "a:b", string(make([]byte, 300))}, Except: []string{"s1", "s2"}, Data: nil},
		{Rooms: []string{"r"}, Except: []string{"e"}, Data: bytes.Repeat([]byte{0, 1, 0xff, '\n'}, 1000)},
		{Rooms: []string{"\x00ctl", "a b.c*>", "\xff\xfe"}, Data: []byte("y")},
	} {
		enc := Encode(nil, "NODEID01", b)
		if len(enc) != EncodedLen(b) {
			t.Errorf("EncodedLen %d, Encode wrote %d", EncodedLen(b), len(enc))
		}
		node, ok := Header(string(enc))
		if !ok || node != "NODEID01" {
			t.Fatalf("header: %q %v", node, ok)
		}
		for _, got := range []func() (rooms.Publication, error){
			func() (rooms.Publication, error) { return Decode(string(enc)) },
			func() (rooms.Publication, error) { return Decode(slices.Clone(enc)) },
		} {
			p, err := got()
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(p.Rooms, b.Rooms) || !slices.Equal(p.Except, b.Except) || !bytes.Equal(p.Data, b.Data) {
				t.Fatalf("round trip of %+v gave %+v", b, p)
			}
		}
	}
	for _, bad := range []string{"", "\x01short", "\x02NODEID01\x00\x00", "\x01NODEID01\x05a", "\x01NODEID01\x01\x09abc", "\x01NODEID01\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"} {
		if _, err := Decode(bad); err == nil {
			t.Errorf("Decode(%q) succeeded", bad)
		}
		if _, err := Decode([]byte(bad)); err == nil {
			t.Errorf("Decode([]byte(%q)) succeeded", bad)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(string(Encode(nil, "NODEID01", rooms.Publication{Rooms: []string{"a", "b"}, Except: []string{"x"}, Data: []byte("d")})))
	f.Add("\x01NODEID01\x00\x00")
	f.Fuzz(func(t *testing.T, msg string) {
		b, err := Decode(msg)
		if err != nil {
			return
		}
		again, err := Decode(Encode(nil, msg[1:9], b))
		if err != nil || !slices.Equal(again.Rooms, b.Rooms) || !slices.Equal(again.Except, b.Except) || !bytes.Equal(again.Data, b.Data) {
			t.Fatalf("re-encoding %q changed it", msg)
		}
	})
}

func TestDecodeFrom(t *testing.T) {
	self, other := NewNodeID(), NewNodeID()
	if len(self) != NodeIDLen || self == other {
		t.Fatalf("node IDs %x and %x", self, other)
	}
	p := rooms.Publication{Rooms: []string{"r"}, Data: []byte("x")}
	if _, err := DecodeFrom(Encode(nil, self, p), self); !errors.Is(err, ErrOwn) {
		t.Errorf("own message: %v, want ErrOwn", err)
	}
	if _, err := DecodeFrom("not sockhop", self); !errors.Is(err, ErrMalformed) {
		t.Errorf("foreign message: %v, want ErrMalformed", err)
	}
	got, err := DecodeFrom(string(Encode(nil, other, p)), self)
	if err != nil || !slices.Equal(got.Rooms, p.Rooms) || string(got.Data) != "x" {
		t.Errorf("other node's message: %+v, %v", got, err)
	}
}
