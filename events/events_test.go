package events

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestDecode(t *testing.T) {
	tests := []struct {
		in      string
		wantErr bool
		want    Message
	}{
		{in: `{"t":"hello","v":1}`, want: Message{T: TypeHello, V: 1}},
		{in: `{"t":"ev","n":"chat","d":{"a":1}}`, want: Message{T: TypeEvent, Name: "chat", Data: json.RawMessage(`{"a":1}`)}},
		{in: `{"t":"ev","n":"chat","id":9007199254740991}`, want: Message{T: TypeEvent, Name: "chat", ID: MaxID}},
		{in: `{"t":"ack","id":3,"e":{"code":"x","message":"y"}}`, want: Message{T: TypeAck, ID: 3, Err: &ErrorBody{Code: "x", Message: "y"}}},
		{in: `{"t":"ping","r":5,"future":true}`, want: Message{T: TypePing, R: 5}},
		{in: `{"t":"close","code":1001,"reason":"bye","retry":300}`, want: Message{T: TypeClose, Code: 1001, Reason: "bye", Retry: 300}},
		{in: ``, wantErr: true},
		{in: `[]`, wantErr: true},
		{in: `{"t":"ev","n":`, wantErr: true},
		{in: `{"t":"zap"}`, wantErr: true},
		{in: `{"n":"x"}`, wantErr: true},
		{in: `{"t":"ev"}`, wantErr: true},
		{in: `{"t":"ev","n":"` + strings.Repeat("x", 257) + `"}`, wantErr: true},
		{in: `{"t":"ev","n":"x","id":9007199254740992}`, wantErr: true},
		{in: `{"t":"ack"}`, wantErr: true},
		{in: `{"t":"ack","id":-1}`, wantErr: true},
		{in: `{"t":"ev","n":"x","d":}`, wantErr: true},
		{in: `{"t":"ev","n":"x","d":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}`, wantErr: true},
		{in: `{"t":"ev","n":"x","d":"` + strings.Repeat("[", 40) + `"}`, want: Message{T: TypeEvent, Name: "x", Data: json.RawMessage(`"` + strings.Repeat("[", 40) + `"`)}},
	}
	for _, tc := range tests {
		got, err := Decode([]byte(tc.in))
		if tc.wantErr {
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("Decode(%.40q): err %v, want ErrMalformed", tc.in, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("Decode(%q): %v", tc.in, err)
			continue
		}
		gb, _ := json.Marshal(got)
		wb, _ := json.Marshal(tc.want)
		if string(gb) != string(wb) {
			t.Errorf("Decode(%q) = %s, want %s", tc.in, gb, wb)
		}
	}
}

func TestAppendRoundTrip(t *testing.T) {
	names := []string{"chat", "with \"quotes\"", "<script>", "ünïcödé", "line\nbreak"}
	for _, n := range names {
		b := AppendEvent(nil, n, []byte(`{"x":[1,2]}`), 42)
		if strings.Contains(string(b), "\n") {
			t.Fatalf("encoded event holds a raw newline: %s", b)
		}
		m, err := Decode(b)
		if err != nil || m.Name != n || m.ID != 42 || string(m.Data) != `{"x":[1,2]}` {
			t.Fatalf("round trip of %q: %+v %v", n, m, err)
		}
	}
	b := AppendAck(nil, 7, nil, &ErrorBody{Code: "c", Message: "m\"m"})
	if m, err := Decode(b); err != nil || m.Err == nil || m.Err.Message != `m"m` || m.ID != 7 {
		t.Fatalf("ack round trip: %s %+v %v", b, m, err)
	}
	b = AppendWelcome(nil, Welcome{SID: "s", Token: "t", Ping: 25000, Pong: 20000, Max: 65536})
	if !strings.Contains(string(b), `"resumed":false`) {
		t.Fatalf("welcome must state resumed:false: %s", b)
	}
	if m, err := Decode(b); err != nil || m.SID != "s" || m.Max != 65536 {
		t.Fatalf("welcome round trip: %+v %v", m, err)
	}
}

func TestLines(t *testing.T) {
	var got []string
	err := Lines([]byte("a\n\nb\r\nc\n"), func(l []byte) error { got = append(got, string(l)); return nil })
	if err != nil || strings.Join(got, ",") != "a,b,c" {
		t.Fatalf("Lines = %q %v", got, err)
	}
	stop := errors.New("stop")
	n := 0
	if err := Lines([]byte("a\nb"), func([]byte) error { n++; return stop }); err != stop || n != 1 {
		t.Fatalf("Lines did not stop at the first error: %v %d", err, n)
	}
}

func TestReconnectRanges(t *testing.T) {
	for code, want := range map[int]bool{
		1000: false, 1001: true, 1002: false, 1003: false, 1006: true, 1007: false, 1008: false,
		1009: false, 1011: true, 1013: true, 4000: true, 4001: true, 4499: true, 4500: false,
		4503: false, 4999: false, 4100: true, 4600: false,
	} {
		if got := Reconnect(code); got != want {
			t.Errorf("Reconnect(%d) = %v, want %v", code, got, want)
		}
	}
}

// fastCases are lines and whether the fast path takes them; FuzzDecode checks that what
// it takes, it decodes as encoding/json does.
var fastCases = []struct {
	in   string
	fast bool
}{
	{`{"t":"ev","n":"echo","d":{"a":[1,-2.5e+3,true,false,null,"x\u00e9\n"]},"id":42}`, true},
	{`{"t":"ack","id":7,"d":"ok"}`, true},
	{`{"t":"ping","r":12}`, true},
	{` {"t":"pong"}`, false}, // Decode wants '{' first
	{`{ "t" : "ev" , "n" : "a b" , "d" : [ 1 , { } , [ ] ] } `, true},
	{`{"t":"ev","n":"x","d":null}`, true},
	{`{"t":"ev","n":"x","d":"café ☕"}`, true},
	{`{"t":"ev","n":"café"}`, false}, // non-ASCII name
	{`{"t":"ev","n":"a\"b"}`, false}, // escape in the name
	{`{"t":"hello","v":1,"bin":1}`, true},
	{`{"t":"ping","ping":25000}`, true},
	{`{"t":"hello","v":1,"resume":{"sid":"a","token":"b","seq":3}}`, false}, // other keys
	{`{"t":"hello","v":1234567890123456789}`, false},                        // 19 digits: may overflow
	{`{"t":"hello","v":-1}`, false},
	{`{"t":"hello","v":1,"v":2}`, false},
	{`{"T":"ev","n":"x"}`, false},          // encoding/json matches keys case-insensitively
	{`{"t":"ev","t":"ack","id":1}`, false}, // repeated key
	{`{"t":"ev","n":"x","id":01}`, false},  // leading zero
	{`{"t":"ev","n":"x","id":1.0}`, false}, // fraction
	{`{"t":"ev","n":"x","id":18446744073709551616}`, false},
	{`{"t":"ev","n":"x","d":[1,]}`, false}, // bad JSON inside d
	{`{"t":"ev","n":"x","d":"\x"}`, false}, // bad escape
	{`{"t":"ev","n":"x","d":01}`, false},
	{`{"t":"ev","n":"x"} {}`, false}, // trailing value
	{`{"t":"ev","n":"x",}`, false},
	{`{}`, false},
}

func TestDecodeFast(t *testing.T) {
	for _, c := range fastCases {
		var m Message
		if got := decodeFast([]byte(c.in), &m); got != c.fast {
			t.Errorf("decodeFast(%s) = %v, want %v", c.in, got, c.fast)
			continue
		}
		if !c.fast {
			continue
		}
		var want Message
		if err := json.Unmarshal([]byte(c.in), &want); err != nil || !reflect.DeepEqual(m, want) {
			t.Errorf("decodeFast(%s) = %+v, encoding/json %+v (%v)", c.in, m, want, err)
		}
	}
}

// FuzzLines checks that splitting any frame yields lines that, joined back, give the
// frame's non-empty content.
func FuzzLines(f *testing.F) {
	f.Add([]byte("a\nb\r\n\nc"))
	f.Add([]byte("{\"t\":\"ping\"}\n{\"t\":\"pong\"}"))
	f.Fuzz(func(t *testing.T, frame []byte) {
		var n int
		err := Lines(frame, func(l []byte) error {
			if len(l) == 0 || strings.ContainsRune(string(l), '\n') {
				t.Fatalf("bad line %q", l)
			}
			n += len(l)
			return nil
		})
		if err != nil || n > len(frame) {
			t.Fatalf("Lines: %v, %d bytes of %d", err, n, len(frame))
		}
	})
}

// FuzzDecode checks that any line decodes or fails cleanly, and that what decodes
// re-encodes to something that decodes the same way.
func FuzzDecode(f *testing.F) {
	seeds, _ := filepath.Glob("../testdata/protocol/*.txt")
	for _, p := range seeds {
		b, _ := os.ReadFile(p)
		for _, l := range strings.Split(string(b), "\n") {
			if len(l) > 2 && (l[0] == '>' || l[0] == '<') {
				f.Add([]byte(strings.TrimSpace(l[1:])))
			}
		}
	}
	f.Add([]byte(`{"t":"ev","n":"x","d":{"deep":[[[[1]]]]},"id":1}`))
	f.Add([]byte(`{"t":"ev","n":"x","b":"AAEC/w==","id":2}`))
	f.Add([]byte(`{"b":"","t":"ack","id":2}`))
	f.Add([]byte(`{"t":"ack","id":2,"b":"AAE"}`))
	for _, c := range fastCases {
		f.Add([]byte(c.in))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		// Where the fast path decodes, it must agree with encoding/json exactly.
		var fast, slow Message
		if decodeFast(line, &fast) {
			if err := json.Unmarshal(line, &slow); err != nil || !reflect.DeepEqual(fast, slow) {
				t.Fatalf("fast path on %q:\n%+v\nencoding/json: %+v %v", line, fast, slow, err)
			}
		}
		m, err := Decode(line)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error not wrapping ErrMalformed: %v", err)
			}
			return
		}
		if m.T == TypeEvent {
			b := AppendEvent(nil, m.Name, m.Data, m.ID)
			m2, err := Decode(b)
			if err != nil || m2.Name != m.Name || m2.ID != m.ID {
				t.Fatalf("re-encoded %s: %+v %v", b, m2, err)
			}
		}
		_ = Lines(line, func([]byte) error { return nil })
	})
}

// FuzzValid checks that Valid agrees with json.Valid on any input, and that the events
// Append* build from what it accepts decode.
func FuzzValid(f *testing.F) {
	for _, c := range fastCases {
		f.Add([]byte(c.in))
	}
	for _, s := range []string{` null `, `"caf\u00e9"`, `[1,2.5e-3,{"a":[true,false]}]`, "\"\x01\"",
		`{"a":1,}`, `01`, `-`, `1.`, `"\x"`, strings.Repeat("[", 40) + strings.Repeat("]", 40), "\t{}\n", ``} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := Valid(b), json.Valid(b); got != want {
			t.Fatalf("Valid(%q) = %v, json.Valid %v", b, got, want)
		}
		if Valid(b) && depth(b) <= MaxDepth-1 {
			if m, err := Decode(AppendAck(nil, 7, b, nil)); err != nil || m.ID != 7 {
				t.Fatalf("ack with %q: %+v %v", b, m, err)
			}
		}
	})
}

// BenchmarkValid: a reply's JSON checked by Valid and by json.Valid.
func BenchmarkValid(b *testing.B) {
	data := []byte(`{"seq":1234,"text":"hello, world","at":1763891234567,"items":[1,2,3],"ok":true}`)
	b.Run("events", func(b *testing.B) {
		for b.Loop() {
			if !Valid(data) {
				b.Fatal("invalid")
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		for b.Loop() {
			if !json.Valid(data) {
				b.Fatal("invalid")
			}
		}
	})
}

// BenchmarkAppend encodes an ack and an acked event with a 32-byte string, from nothing
// as Session.Reply and Emit do.
func BenchmarkAppend(b *testing.B) {
	data := []byte(`"0123456789abcdef0123456789abcdef"`)
	b.Run("ack", func(b *testing.B) {
		b.ReportAllocs()
		for i := uint64(1); b.Loop(); i++ {
			_ = AppendAck(nil, i+1e6, data, nil)
		}
	})
	b.Run("event", func(b *testing.B) {
		b.ReportAllocs()
		for i := uint64(1); b.Loop(); i++ {
			_ = AppendEvent(nil, "echo", data, i+1e6)
		}
	})
}

// BenchmarkDecode decodes the messages of an echo exchange: an acked event from a client,
// a ping, and an ack carrying an object. "encoding-json" is the general path alone, for the
// ratio.
func BenchmarkDecode(b *testing.B) {
	lines := [][]byte{
		[]byte(`{"t":"ev","n":"echo","d":{"seq":1234,"text":"hello, world","at":1763891234567},"id":77}`),
		[]byte(`{"t":"ping","r":4096}`),
		[]byte(`{"t":"ack","id":12,"d":{"ok":true,"items":[1,2,3],"note":"caf\u00e9"}}`),
	}
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if _, err := Decode(lines[i%len(lines)]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			var m Message
			if err := json.Unmarshal(lines[i%len(lines)], &m); err != nil {
				b.Fatal(err)
			}
		}
	})
}
