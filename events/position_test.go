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
	if got := AppendPosition(nil, []byte("junk"), "r", "e", 1); string(got) != "junk" {
		t.Errorf("AppendPosition(junk) = %q, want it unchanged", got)
	}
}
