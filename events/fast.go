package events

import (
	"encoding/base64"
	"encoding/json"
)

// decodeFast parses the envelopes that carry almost all traffic (ev, ack, ping, pong, as
// the clients write them, and a new session's hello) without encoding/json's reflection: a
// flat object whose keys are among t, n, d, id, r, b, v, bin and ping, each at most once,
// with plain ASCII strings. It reports false
// for anything else, changing nothing, and the caller then decodes with encoding/json;
// where it reports true, the Message is the one encoding/json would give (FuzzDecode checks
// this on every input). d is checked as strictly as encoding/json checks it, and copied.
func decodeFast(b []byte, m *Message) bool {
	if len(b) == 0 || b[0] != '{' {
		return false
	}
	var seen [9]bool // t, n, d, id, r, b, v, bin, ping
	i := skipWS(b, 1)
	if i < len(b) && b[i] == '}' {
		return false // {} : no type; the slow path words the error
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return false
		}
		key, j, ok := plainString(b, i)
		if !ok {
			return false
		}
		i = skipWS(b, j)
		if i >= len(b) || b[i] != ':' {
			return false
		}
		i = skipWS(b, i+1)
		var k int
		switch string(key) {
		case "t", "n":
			s, j, ok := plainString(b, i)
			if !ok {
				return false
			}
			if key[0] == 't' {
				k, m.T = 0, typeName(s)
			} else {
				k, m.Name = 1, string(s)
			}
			i = j
		case "d":
			k = 2
			j, ok := skipValue(b, i, 0)
			if !ok {
				return false
			}
			m.Data, i = append(make([]byte, 0, j-i), b[i:j]...), j
		case "b": // binary.go: base64, as encoding/json decodes a []byte
			s, j, ok := plainString(b, i)
			if !ok {
				return false
			}
			v := make([]byte, base64.StdEncoding.DecodedLen(len(s)))
			n, err := base64.StdEncoding.Decode(v, s)
			if err != nil {
				return false // the slow path words the error
			}
			k, m.B, i = 5, v[:n], j
		case "id", "r":
			n, j, ok := smallUint(b, i)
			if !ok {
				return false
			}
			if key[0] == 'i' {
				k, m.ID = 3, n
			} else {
				k, m.R = 4, n
			}
			i = j
		case "v", "bin", "ping": // a hello's ints
			n, j, ok := smallUint(b, i)
			if !ok || j-i > 18 { // 19 digits may overflow an int: encoding/json words that
				return false
			}
			switch key[0] {
			case 'v':
				k, m.V = 6, int(n)
			case 'b':
				k, m.Bin = 7, int(n)
			default:
				k, m.Ping = 8, int64(n)
			}
			i = j
		default:
			return false
		}
		if seen[k] {
			return false // a repeated key: encoding/json keeps the last, let it
		}
		seen[k] = true
		var done bool
		if i, done, ok = next(b, i, '}'); !ok || done {
			return ok && skipWS(b, i) == len(b)
		}
	}
}

// next reads what follows an array element or an object member: the closing bracket end
// (done) or a comma. It returns the index after it, past any whitespace after a comma.
func next(b []byte, i int, end byte) (j int, done, ok bool) {
	i = skipWS(b, i)
	switch {
	case i >= len(b):
		return 0, false, false
	case b[i] == end:
		return i + 1, true, true
	case b[i] == ',':
		return skipWS(b, i+1), false, true
	}
	return 0, false, false
}

// typeName returns the constant for a known type, sparing an allocation.
func typeName(s []byte) string {
	switch string(s) {
	case TypeEvent:
		return TypeEvent
	case TypeAck:
		return TypeAck
	case TypePing:
		return TypePing
	case TypePong:
		return TypePong
	case TypeHello:
		return TypeHello
	}
	return string(s)
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// plainString reads a string of printable ASCII without escapes at b[i] (a quote): its
// content and the index after the closing quote.
func plainString(b []byte, i int) ([]byte, int, bool) {
	if i >= len(b) || b[i] != '"' {
		return nil, 0, false
	}
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			return b[i+1 : j], j + 1, true
		case c < 0x20 || c == '\\' || c >= 0x7f:
			return nil, 0, false
		}
	}
	return nil, 0, false
}

// smallUint reads an unsigned integer of at most 19 digits (no fraction, exponent or
// leading zero) at b[i].
func smallUint(b []byte, i int) (uint64, int, bool) {
	j := i
	var n uint64
	for j < len(b) && b[j] >= '0' && b[j] <= '9' && j-i < 20 {
		n = n*10 + uint64(b[j]-'0')
		j++
	}
	switch {
	case j == i, j-i > 19, j-i > 1 && b[i] == '0':
		return 0, 0, false
	case j < len(b) && (b[j] == '.' || b[j] == 'e' || b[j] == 'E' || b[j] >= '0' && b[j] <= '9'):
		return 0, 0, false
	}
	return n, j, true
}

// skipValue checks the JSON value at b[i] as encoding/json's scanner does and returns the
// index after it. Decode has bounded the nesting before this runs.
func skipValue(b []byte, i, depth int) (int, bool) {
	if i >= len(b) || depth > MaxDepth {
		return 0, false
	}
	switch c := b[i]; {
	case c == '"':
		return skipString(b, i)
	case c == '-' || c >= '0' && c <= '9':
		return skipNumber(b, i)
	case c == 't':
		return literal(b, i, "true")
	case c == 'f':
		return literal(b, i, "false")
	case c == 'n':
		return literal(b, i, "null")
	case c == '[':
		i = skipWS(b, i+1)
		if i < len(b) && b[i] == ']' {
			return i + 1, true
		}
		for {
			j, ok := skipValue(b, i, depth+1)
			if !ok {
				return 0, false
			}
			var done bool
			if i, done, ok = next(b, j, ']'); !ok || done {
				return i, ok
			}
		}
	case c == '{':
		i = skipWS(b, i+1)
		if i < len(b) && b[i] == '}' {
			return i + 1, true
		}
		for {
			if i >= len(b) || b[i] != '"' {
				return 0, false
			}
			j, ok := skipString(b, i)
			if !ok {
				return 0, false
			}
			i = skipWS(b, j)
			if i >= len(b) || b[i] != ':' {
				return 0, false
			}
			j, ok = skipValue(b, skipWS(b, i+1), depth+1)
			if !ok {
				return 0, false
			}
			var done bool
			if i, done, ok = next(b, j, '}'); !ok || done {
				return i, ok
			}
		}
	}
	return 0, false
}

func literal(b []byte, i int, lit string) (int, bool) {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return 0, false
	}
	return i + len(lit), true
}

// skipString checks a string at b[i] (a quote): no control characters, valid escapes.
// Like encoding/json's scanner it lets any other byte through.
func skipString(b []byte, i int) (int, bool) {
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			return j + 1, true
		case c < 0x20:
			return 0, false
		case c == '\\':
			j++
			if j >= len(b) {
				return 0, false
			}
			switch b[j] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if len(b)-j < 5 {
					return 0, false
				}
				for _, h := range b[j+1 : j+5] {
					if !isHex(h) {
						return 0, false
					}
				}
				j += 4
			default:
				return 0, false
			}
		}
	}
	return 0, false
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// skipNumber checks a number at b[i]: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func skipNumber(b []byte, i int) (int, bool) {
	digits := func(i int) int {
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		return i
	}
	if b[i] == '-' {
		i++
	}
	switch {
	case i >= len(b):
		return 0, false
	case b[i] == '0':
		i++
	case b[i] >= '1' && b[i] <= '9':
		i = digits(i)
	default:
		return 0, false
	}
	if i < len(b) && b[i] == '.' {
		j := digits(i + 1)
		if j == i+1 {
			return 0, false
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := digits(i)
		if j == i {
			return 0, false
		}
		i = j
	}
	return i, true
}

// Valid reports whether b is one valid JSON value, as json.Valid does, but without its
// scanner's call per byte: the values sockhop checks (a handler's json.RawMessage reply)
// are checked by the fast path's own scanner first, and only what it cannot take (a value
// nested deeper than MaxDepth, or invalid) goes to encoding/json.
func Valid(b []byte) bool {
	if j, ok := skipValue(b, skipWS(b, 0), 0); ok && skipWS(b, j) == len(b) {
		return true
	}
	return json.Valid(b)
}
