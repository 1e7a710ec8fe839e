package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
)

func TestBinaryForms(t *testing.T) {
	raw := []byte{0, '\n', 0xff, '{', '}', 'x'}
	msg := AppendBinaryEvent(nil, "file", raw, 3)
	if !IsBinary(msg) || IsBinary(AppendEvent(nil, "file", []byte(`"a\nb"`), 3)) {
		t.Fatal("IsBinary")
	}
	m, err := DecodeBinary(msg)
	if err != nil || m.T != TypeEvent || m.Name != "file" || m.ID != 3 || !bytes.Equal(m.B, raw) {
		t.Fatalf("DecodeBinary: %+v %v", m, err)
	}
	b := TextForm(msg, "b")
	if !json.Valid(b) || IsBinary(b) {
		t.Fatalf("TextForm b: %s", b)
	}
	if m, err = Decode(b); err != nil || !bytes.Equal(m.B, raw) || m.Data != nil || m.ID != 3 {
		t.Fatalf("text form b: %+v %v", m, err)
	}
	d := TextForm(msg, "d")
	var old struct {
		D []byte `json:"d"`
	}
	if err := json.Unmarshal(d, &old); err != nil || !bytes.Equal(old.D, raw) {
		t.Fatalf("text form d (what an old client reads): %s %v", d, err)
	}
	ack := AppendBinaryAck(nil, 9, nil)
	if m, err = DecodeBinary(ack); err != nil || m.T != TypeAck || m.ID != 9 || m.B == nil || len(m.B) != 0 {
		t.Fatalf("empty binary ack: %+v %v", m, err)
	}
	if got := TextForm([]byte(`{"t":"ping"}`), "b"); string(got) != `{"t":"ping"}` {
		t.Fatalf("TextForm of text: %s", got)
	}
}

func TestDecodeBinaryRefuses(t *testing.T) {
	for _, in := range []string{
		``,
		`{"t":"ev","n":"x"}`,                   // no header line
		"{\"t\":\"ping\"}\nxx",                 // not ev or ack
		"{\"t\":\"ev\",\"n\":\"x\",\"d\":1}\n", // d in the header
		"{\"t\":\"ev\",\"n\":\"x\",\"b\":\"\"}\n",
		"{\"t\":\"ack\",\"id\":1,\"e\":{\"code\":\"x\",\"message\":\"\"}}\n",
		"{\"t\":\"ack\"}\n", // no id
		"not json\nxx",
	} {
		if _, err := DecodeBinary([]byte(in)); !errors.Is(err, ErrMalformed) {
			t.Errorf("DecodeBinary(%q) = %v, want ErrMalformed", in, err)
		}
	}
	if _, err := Decode([]byte(`{"t":"ev","n":"x","d":1,"b":"AA=="}`)); !errors.Is(err, ErrMalformed) {
		t.Errorf("d and b: %v", err)
	}
	if _, err := Decode([]byte(`{"t":"ev","n":"x","b":"not base64!"}`)); !errors.Is(err, ErrMalformed) {
		t.Errorf("bad base64: %v", err)
	}
}

// FuzzDecodeBinary checks that any binary frame decodes or fails cleanly, and that what
// decodes re-encodes, in both forms, to the same message.
func FuzzDecodeBinary(f *testing.F) {
	f.Add([]byte("{\"t\":\"ev\",\"n\":\"file\",\"id\":3}\n\x00\x01\xff"))
	f.Add([]byte("{\"t\":\"ack\",\"id\":1}\n"))
	f.Add([]byte("{\"t\":\"ev\",\"n\":\"x\"}\r\n\n\n"))
	f.Add([]byte("{\"t\":\"ev\",\"n\":\"x\",\"d\":null}\nab"))
	f.Fuzz(func(t *testing.T, frame []byte) {
		m, err := DecodeBinary(frame)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error not wrapping ErrMalformed: %v", err)
			}
			return
		}
		if m.B == nil || (m.T != TypeEvent && m.T != TypeAck) {
			t.Fatalf("decoded %+v", m)
		}
		var again []byte
		if m.T == TypeEvent {
			again = AppendBinaryEvent(nil, m.Name, m.B, m.ID)
		} else {
			again = AppendBinaryAck(nil, m.ID, m.B)
		}
		m2, err := DecodeBinary(again)
		if err != nil || m2.T != m.T || m2.Name != m.Name || m2.ID != m.ID || !bytes.Equal(m2.B, m.B) {
			t.Fatalf("re-encoded %q: %+v %v", again, m2, err)
		}
		m3, err := Decode(TextForm(again, "b"))
		if err != nil || m3.T != m.T || m3.Name != m.Name || m3.ID != m.ID || !bytes.Equal(m3.B, m.B) {
			t.Fatalf("text form of %q: %+v %v", again, m3, err)
		}
	})
}
