package events

import (
	"encoding/json"
	"testing"
)

// TestAppendPosition: the position spliced into a text and a binary ev decodes as the
// room and position, and leaves the rest of the message as it was.
func TestAppendPosition(t *testing.T) {
	text := AppendPosition(nil, AppendEvent(nil, "news", []byte(`{"a":1}`), 0), "r \"1\"", "ep", 42)
	m, err := Decode(text)
	if err != nil {
		t.Fatalf("%s: %v", text, err)
	}
	if m.Name != "news" || string(m.Data) != `{"a":1}` || m.Room != `r "1"` || m.Pos == nil || *m.Pos != (Position{"ep", 42}) {
		t.Errorf("decoded %s as %+v", text, m)
	}
	if !json.Valid(text) {
		t.Errorf("%s is not JSON", text)
	}
	bin := AppendPosition(nil, AppendBinaryEvent(nil, "blob", []byte{0, '\n', 2}, 0), "r", "ep", 7)
	bm, err := DecodeBinary(bin)
	if err != nil {
		t.Fatalf("%q: %v", bin, err)
	}
	if bm.Name != "blob" || string(bm.B) != "\x00\n\x02" || bm.Room != "r" || bm.Pos == nil || bm.Pos.Offset != 7 {
		t.Errorf("decoded %q as %+v", bin, bm)
	}
	for _, want := range []Message{m, bm} {
		msg := text
		if want.B != nil {
			msg = bin
		}
		if room, pos, ok := PositionOf(msg); !ok || room != want.Room || pos != *want.Pos {
			t.Errorf("PositionOf(%q) = %q %v %v, want %q %v", msg, room, pos, ok, want.Room, *want.Pos)
		}
	}
	tricky := AppendPosition(nil, AppendEvent(nil, "x", []byte(`{"a":",\"room\":1","room":"no"}`), 0), "yes", "e", 3)
	if room, pos, ok := PositionOf(tricky); !ok || room != "yes" || pos.Offset != 3 {
		t.Errorf("PositionOf(%s) = %q %v %v, want the spliced room", tricky, room, pos, ok)
	}
	if _, _, ok := PositionOf(AppendEvent(nil, "x", []byte(`{"room":"r"}`), 0)); ok {
		t.Errorf("PositionOf found a position in a message without one")
	}
	if got := AppendPosition(nil, []byte("junk"), "r", "e", 1); string(got) != "junk" {
		t.Errorf("AppendPosition(junk) = %q, want it unchanged", got)
	}
}
