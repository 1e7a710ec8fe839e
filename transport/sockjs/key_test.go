package sockjs

import (
	"net/http"
	"strings"
	"testing"
)

// testKey is a session key for tests that make their own requests.
const testKey = "testKey_0123456789-abcdefghij"

func TestRequestKey(t *testing.T) {
	for _, tc := range []struct {
		vals []string
		ok   bool
	}{
		{nil, false},
		{[]string{""}, false},
		{[]string{strings.Repeat("a", 21)}, false},
		{[]string{strings.Repeat("a", 22)}, true},
		{[]string{strings.Repeat("Z", 128)}, true},
		{[]string{strings.Repeat("Z", 129)}, false},
		{[]string{testKey}, true},
		{[]string{testKey + "="}, false},
		{[]string{testKey + " "}, false},
		{[]string{testKey + "é"}, false},
		{[]string{testKey, testKey}, false}, // two headers: which one would be the key?
	} {
		r, _ := http.NewRequest(http.MethodPost, "/", nil)
		for _, v := range tc.vals {
			r.Header.Add(KeyHeader, v)
		}
		if got := requestKey(r) != nil; got != tc.ok {
			t.Errorf("key %q: accepted %v, want %v", tc.vals, got, tc.ok)
		}
	}
	a, _ := http.NewRequest(http.MethodPost, "/", nil)
	a.Header.Set(KeyHeader, testKey)
	b, _ := http.NewRequest(http.MethodPost, "/", nil)
	b.Header.Set(KeyHeader, "T"+testKey[1:]+"x")
	c := &Conn{key: *requestKey(a)}
	if !c.owns(requestKey(a)) || c.owns(requestKey(b)) || c.owns(nil) {
		t.Error("owns: a Conn must own its key and no other")
	}
}
