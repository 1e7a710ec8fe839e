package sockjs

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/sockhop/sockhop/events"
	"github.com/sockhop/sockhop/internal/testutil"
)

func TestMain(m *testing.M) { testutil.Main(m) }

func TestParseSend(t *testing.T) {
	tests := []struct {
		body   string
		tooBig bool
		status int
		code   int
		frames int
	}{
		{body: `["a","b\nc"]`, frames: 2},
		{body: `[]`, frames: 0},
		{body: ``, status: http.StatusBadRequest},
		{body: `   `, status: http.StatusBadRequest},
		{body: `{"a":1}`, status: http.StatusBadRequest, code: events.CloseProtocolError},
		{body: `[1]`, status: http.StatusBadRequest, code: events.CloseProtocolError},
		{body: `["unterminated`, status: http.StatusBadRequest, code: events.CloseProtocolError},
		{body: "[\"\xff\"]", status: http.StatusBadRequest, code: events.CloseInvalidPayload},
		{body: `["` + strings.Repeat("x", 11) + `"]`, status: http.StatusRequestEntityTooLarge, code: events.CloseTooBig},
		{tooBig: true, status: http.StatusRequestEntityTooLarge, code: events.CloseTooBig},
	}
	for _, tc := range tests {
		frames, bad := parseSend([]byte(tc.body), tc.tooBig, 10)
		switch {
		case tc.status == 0 && bad != nil:
			t.Errorf("%q: refused %+v", tc.body, bad)
		case tc.status == 0 && len(frames) != tc.frames:
			t.Errorf("%q: %d frames, want %d", tc.body, len(frames), tc.frames)
		case tc.status != 0 && (bad == nil || bad.status != tc.status || bad.Code != tc.code):
			t.Errorf("%q: %+v, want status %d code %d", tc.body, bad, tc.status, tc.code)
		}
	}
}

// FuzzParseSend checks that any xhr_send body is accepted as valid frames within the
// limit or refused with a status, never a panic.
func FuzzParseSend(f *testing.F) {
	for _, s := range []string{`["{\"t\":\"hello\",\"v\":1}"]`, `[]`, `["a","b"]`, `{`, `["\u0000"]`, "[\"\\ud800\"]"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		frames, bad := parseSend(body, false, 64)
		if bad != nil {
			if bad.status < 400 || bad.status > 499 {
				t.Fatalf("status %d", bad.status)
			}
			return
		}
		var strs []string
		if err := json.Unmarshal(body, &strs); err != nil || len(strs) != len(frames) {
			t.Fatalf("accepted %q: %v", body, err)
		}
		for _, fr := range frames {
			if len(fr) > 64 || !events.ValidUTF8(fr) {
				t.Fatalf("accepted a bad frame %q", fr)
			}
		}
	})
}
