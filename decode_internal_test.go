package sockhop

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

// TestDecodeFastPaths: the json.RawMessage and string inputs of On and OnRequest, taken
// without encoding/json, come out as encoding/json gives them, and what encoding/json
// refuses is still refused with bad_request.
func TestDecodeFastPaths(t *testing.T) {
	for _, in := range []string{`"plain"`, `""`, `"caf\u00e9"`, `"tab\tin"`, `"a\"b"`, `"é"`, `{"a":1}`, `null`, `12`, `[1,"x"]`} { // data as the envelope decoders give it: the value's bytes, no space around
		raw, err := decode[json.RawMessage](json.RawMessage(in))
		var wantRaw json.RawMessage
		werr := json.Unmarshal([]byte(in), &wantRaw)
		if err != nil || werr != nil || string(raw) != string(wantRaw) {
			t.Errorf("decode[json.RawMessage](%s) = %s %v, encoding/json %s %v", in, raw, err, wantRaw, werr)
		}
		s, err := decode[string](json.RawMessage(in))
		var want string
		werr = json.Unmarshal([]byte(in), &want)
		var e *Error
		switch {
		case werr == nil && (err != nil || s != want):
			t.Errorf("decode[string](%s) = %q %v, encoding/json %q", in, s, err, want)
		case werr != nil && (!errors.As(err, &e) || e.Code != CodeBadRequest):
			t.Errorf("decode[string](%s) = %q %v, want bad_request (encoding/json: %v)", in, s, err, werr)
		}
		v, err := decode[any](json.RawMessage(in))
		var wantAny any
		_ = json.Unmarshal([]byte(in), &wantAny)
		if err != nil || !reflect.DeepEqual(v, wantAny) {
			t.Errorf("decode[any](%s) = %v %v, want %v", in, v, err, wantAny)
		}
	}
}
