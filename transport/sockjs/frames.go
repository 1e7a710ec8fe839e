package sockjs

import (
	"unicode/utf16"
	"unicode/utf8"
)

// parseFrames decodes body, a JSON array of strings and valid UTF-8, into its frames, as
// encoding/json decodes it into a []string (null, as a body or an element, is nothing and
// an empty frame), in one pass and without reflection. A string without escapes is not
// copied: its frame is a piece of body (with no room to append into body). It reports false
// when body is not such an array.
func parseFrames(body []byte) ([][]byte, bool) {
	i := skipSpace(body, 0)
	if hasLiteral(body, i, "null") {
		return nil, skipSpace(body, i+4) == len(body)
	}
	if i == len(body) || body[i] != '[' {
		return nil, false
	}
	i = skipSpace(body, i+1)
	if i < len(body) && body[i] == ']' {
		return [][]byte{}, skipSpace(body, i+1) == len(body)
	}
	n := 1
	for _, b := range body[i:] {
		if b == ',' {
			n++ // at least one comma between each two frames: an upper bound
		}
	}
	frames := make([][]byte, 0, n)
	for {
		var f []byte
		switch {
		case i < len(body) && body[i] == '"':
			var ok bool
			if f, i, ok = parseString(body, i+1); !ok {
				return nil, false
			}
		case hasLiteral(body, i, "null"):
			f, i = body[i:i:i], i+4
		default:
			return nil, false
		}
		frames = append(frames, f)
		i = skipSpace(body, i)
		if i == len(body) {
			return nil, false
		}
		switch body[i] {
		case ',':
			i = skipSpace(body, i+1)
		case ']':
			return frames, skipSpace(body, i+1) == len(body)
		default:
			return nil, false
		}
	}
}

// parseString decodes the JSON string in body that starts at i, after its opening quote;
// it returns it and the index after its closing quote.
func parseString(body []byte, i int) ([]byte, int, bool) {
	start := i
	for i < len(body) {
		switch b := body[i]; {
		case b == '"':
			return body[start:i:i], i + 1, true
		case b == '\\':
			return unescape(body, start, i)
		case b < 0x20:
			return nil, 0, false
		}
		i++
	}
	return nil, 0, false
}

// unescape decodes the JSON string of body that starts at start and has its first escape
// at i, into a new slice, as encoding/json does: a \u escape of half a surrogate pair that
// is not followed by its other half is U+FFFD.
func unescape(body []byte, start, i int) ([]byte, int, bool) {
	out := make([]byte, i-start, len(body)-start)
	copy(out, body[start:i])
	for i < len(body) {
		b := body[i]
		switch {
		case b == '"':
			return out, i + 1, true
		case b < 0x20:
			return nil, 0, false
		case b != '\\':
			out = append(out, b)
			i++
			continue
		}
		if i+1 == len(body) {
			return nil, 0, false
		}
		switch body[i+1] {
		case '"', '\\', '/':
			out = append(out, body[i+1])
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := hex4(body, i+2)
			if !ok {
				return nil, 0, false
			}
			i += 6
			if utf16.IsSurrogate(r) {
				if r2, ok := hex4(body, i+2); ok && i+1 < len(body) && body[i] == '\\' && body[i+1] == 'u' {
					if pair := utf16.DecodeRune(r, r2); pair != utf8.RuneError {
						out = utf8.AppendRune(out, pair)
						i += 6
						continue
					}
				}
				r = utf8.RuneError
			}
			out = utf8.AppendRune(out, r)
			continue
		default:
			return nil, 0, false
		}
		i += 2
	}
	return nil, 0, false
}

// hex4 decodes the four hex digits of body at i.
func hex4(body []byte, i int) (rune, bool) {
	if i+4 > len(body) {
		return 0, false
	}
	var r rune
	for _, c := range body[i : i+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// skipSpace returns the index of the first byte of body at or after i that is not JSON
// white space.
func skipSpace(body []byte, i int) int {
	for i < len(body) {
		switch body[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

func hasLiteral(body []byte, i int, lit string) bool {
	return len(body)-i >= len(lit) && string(body[i:i+len(lit)]) == lit
}
