package redis

import (
	"bytes"
	"slices"
	"testing"

	"github.com/sockhop/sockhop/rooms"
)

func TestWire(t *testing.T) {
	for _, b := range []rooms.Publication{
		{Rooms: []string{"r"}, Data: []byte("x")},
		{Rooms: []string{"", "a:b", string(make([]byte, 300))}, Except: []string{"s1", "s2"}, Data: nil},
		{Rooms: []string{"r"}, Except: []string{"e"}, Data: bytes.Repeat([]byte{0, 1, 0xff, '\n'}, 1000)},
	} {
		enc := encode(nil, "NODEID01", b)
		if len(enc) != encodedLen(b) {
			t.Errorf("encodedLen %d, encode wrote %d", encodedLen(b), len(enc))
		}
		node, ok := decodeHeader(string(enc))
		if !ok || node != "NODEID01" {
			t.Fatalf("header: %q %v", node, ok)
		}
		got, err := decode(string(enc))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got.Rooms, b.Rooms) || !slices.Equal(got.Except, b.Except) || !bytes.Equal(got.Data, b.Data) {
			t.Fatalf("round trip of %+v gave %+v", b, got)
		}
	}
	for _, bad := range []string{"", "\x01short", "\x02NODEID01\x00\x00", "\x01NODEID01\x05a", "\x01NODEID01\x01\x09abc", "\x01NODEID01\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"} {
		if _, err := decode(bad); err == nil {
			t.Errorf("decode(%q) succeeded", bad)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(string(encode(nil, "NODEID01", rooms.Publication{Rooms: []string{"a", "b"}, Except: []string{"x"}, Data: []byte("d")})))
	f.Add("\x01NODEID01\x00\x00")
	f.Fuzz(func(t *testing.T, msg string) {
		b, err := decode(msg)
		if err != nil {
			return
		}
		again, err := decode(string(encode(nil, msg[1:9], b)))
		if err != nil || !slices.Equal(again.Rooms, b.Rooms) || !slices.Equal(again.Except, b.Except) || !bytes.Equal(again.Data, b.Data) {
			t.Fatalf("re-encoding %q changed it", msg)
		}
	})
}
