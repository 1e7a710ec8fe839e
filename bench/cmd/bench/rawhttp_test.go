package main

import (
	"bufio"
	"encoding/json"
	"strings"
	"testing"
)

func TestReadResponse(t *testing.T) {
	cases := []struct {
		in     string
		status int
		body   string
		keep   bool
	}{
		{"HTTP/1.1 204 No Content\r\nAccess-Control-Allow-Origin: *\r\n\r\n", 204, "", true},
		{"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\na[\"x\"]", 200, `a["x"]`[:5], true},
		{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n", 200, "abcde", true},
		{"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok", 200, "ok", false},
		{"HTTP/1.1 200 OK\r\n\r\nto the end", 200, "to the end", false},
	}
	for _, c := range cases {
		status, body, keep, err := readResponse(bufio.NewReader(strings.NewReader(c.in)), nil)
		if err != nil || status != c.status || string(body) != c.body || keep != c.keep {
			t.Errorf("%q: got %d %q keep=%v err=%v, want %d %q keep=%v", c.in, status, body, keep, err, c.status, c.body, c.keep)
		}
	}
	for _, bad := range []string{"", "HTTP/1.0 200 OK\r\n\r\n", "HTTP/1.1 2x0 OK\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort"} {
		if _, _, _, err := readResponse(bufio.NewReader(strings.NewReader(bad)), nil); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// TestJSONStrings: appendJSONString writes what encoding/json reads back, and unquoteJSON
// reads what encoding/json writes, or declines.
func TestJSONStrings(t *testing.T) {
	for _, s := range []string{``, `{"t":"ev","n":"echo","d":"0123","id":7}`, "tab\tnl\n\x01\"\\/", "ünï€", `<&>`} {
		var back string
		if err := json.Unmarshal(appendJSONString(nil, []byte(s)), &back); err != nil || back != s {
			t.Errorf("appendJSONString(%q): read back %q, %v", s, back, err)
		}
		enc, _ := json.Marshal(s)
		got, ok := unquoteJSON(enc)
		if ok && string(got) != s {
			t.Errorf("unquoteJSON(%s) = %q, want %q", enc, got, s)
		}
		if !ok && s == `{"t":"ev","n":"echo","d":"0123","id":7}` {
			t.Errorf("unquoteJSON(%s) declined a plain string", enc)
		}
	}
	for _, bad := range []string{`"`, `"a`, `"\x"`, `"\u00"`, "\"a\nb\"", `"a"b"`} {
		if _, ok := unquoteJSON([]byte(bad)); ok {
			t.Errorf("unquoteJSON(%q) accepted", bad)
		}
	}
}
