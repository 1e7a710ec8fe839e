package sockhop

import (
	"slices"
	"strings"
	"testing"
)

func TestLastSegments(t *testing.T) {
	for _, path := range []string{"", "ws", "sockhop/ws", "a/b/c", "sockjs/1/abc/xhr_send",
		"app/sockhop/sockjs/1/abc/xhr_send", "a//b", "/"} {
		all := strings.Split(path, "/")
		want := all[max(0, len(all)-4):]
		var dst [4]string
		if got := lastSegments(&dst, path); !slices.Equal(got, want) {
			t.Errorf("lastSegments(%q) = %q, want %q", path, got, want)
		}
	}
}
