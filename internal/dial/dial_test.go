package dial

import (
	"context"
	"strings"
	"testing"

	"github.com/sockhop/sockhop/events"
	"github.com/sockhop/sockhop/internal/testutil"
)

func TestMain(m *testing.M) { testutil.Main(m) }

func newTestConn() *sockjsConn {
	c := &sockjsConn{name: "xhr-streaming", frames: make(chan []byte, 1<<16), opts: Options{MaxFrameSize: 1 << 16}}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	return c
}

func TestReadFrames(t *testing.T) {
	c := newTestConn()
	defer c.cancel()
	opens := 0
	body := strings.Repeat("h", 2048) + "\no\nh\na[\"x\",\"y\\nz\"]\nc[4001,\"heartbeat timeout\"]\n"
	again, err := c.readFrames(strings.NewReader(body), func() error { opens++; return nil })
	if again || events.CloseCode(err) != 4001 || opens != 2 || len(c.frames) != 2 {
		t.Fatalf("again %v err %v opens %d frames %d", again, err, opens, len(c.frames))
	}
	again, err = c.readFrames(strings.NewReader("c[2010,\"Another connection still open\"]\n"), func() error { return nil })
	if !again || err != nil {
		t.Fatalf("2010: again %v err %v", again, err)
	}
}

// FuzzReadFrames feeds the client's SockJS parser any response body: it must return (a
// frame, a close, an error) without panicking or hanging.
func FuzzReadFrames(f *testing.F) {
	f.Add([]byte("o\na[\"{}\"]\n"))
	f.Add([]byte("c[1000,\"bye\"]\n"))
	f.Add([]byte("a[\"\\u0000\"]"))
	f.Add([]byte(strings.Repeat("h", 100) + "\nh\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		c := newTestConn()
		defer c.cancel()
		_, _ = c.readFrames(strings.NewReader(string(body)), func() error { return nil })
	})
}
