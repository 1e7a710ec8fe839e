package browsertest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"github.com/sockhop/sockhop"
	"github.com/sockhop/sockhop/internal/browser"
	"github.com/sockhop/sockhop/internal/testutil"
)

// binaryPage is what the page runs: it makes 1 MiB of random bytes and checks them
// against what the server says it got and what comes back, both as SHA-256.
const binaryPage = `(async () => {
  const sha = async (u) => Array.from(new Uint8Array(await crypto.subtle.digest('SHA-256', u)), (b) => b.toString(16).padStart(2, '0')).join('');
  const u = new Uint8Array(1 << 20);
  for (let i = 0; i < u.length; i += 65536) crypto.getRandomValues(u.subarray(i, i + 65536));
  const want = await sha(u);
  const binSends = () => window.binSends || 0;
  if (!window.binHooked) {
    window.binHooked = true;
    const send = WebSocket.prototype.send;
    WebSocket.prototype.send = function (d) { if (typeof d != 'string') window.binSends = binSends() + 1; return send.call(this, d); };
  }
  const r = { want, ms: {} };
  let t0 = performance.now();
  const lap = (what) => ((r.ms[what] = Math.round(performance.now() - t0)), (t0 = performance.now()));
  r.up = await s.emitWithAck('bsum', u);                          // Uint8Array up
  lap('up');
  r.blobUp = await s.emitWithAck('bsum', new Blob([u]));          // Blob up
  lap('blob');
  r.bufUp = await s.emitWithAck('bsum', u.buffer);                // ArrayBuffer up
  lap('buffer');
  const echo = await s.emitWithAck('becho', u);                   // up and back down, as an ack
  r.echoType = Object.prototype.toString.call(echo);
  lap('echo');
  r.echo = await sha(echo);
  const got = new Promise((res) => s.once('blob', res));
  t0 = performance.now();
  r.serverSum = await s.emitWithAck('bpull', 1 << 20);             // the server emits its own 1 MiB
  const blob = await got;
  lap('down');
  r.blobType = Object.prototype.toString.call(blob);
  r.down = await sha(blob);
  try {
    s.emit('bsum', new Uint8Array(3 << 20));                        // 4 MiB in base64: over max
    r.tooBig = 'accepted';
  } catch (e) {
    r.tooBig = e.code;
  }
  r.after = await s.emitWithAck('bsum', new Uint8Array([1, 2, 3])); // the session goes on
  r.binSends = binSends();
  return r;
})()`

// TestBinaryMiB sends 1 MiB of random bytes each way on every transport from Chromium:
// Uint8Array, Blob and ArrayBuffer up, a binary ack and a server emit down, each arriving
// intact; bytes over the server's limit are refused with too_big.
func TestBinaryMiB(t *testing.T) {
	br := browser.Start(t)
	testutil.ForEachTransport(t, func(t *testing.T, name string) {
		a := newApp(t, sockhop.Options{MaxMessageSize: 4 << 20, MaxQueueBytes: 8 << 20, ResumeBytes: 8 << 20}, "")
		sum := func(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }
		sockhop.OnRequest(a.srv, "bsum", func(_ context.Context, _ *sockhop.Session, b []byte) (string, error) {
			return sum(b), nil
		})
		sockhop.OnRequest(a.srv, "becho", func(_ context.Context, _ *sockhop.Session, b []byte) ([]byte, error) {
			return b, nil
		})
		sockhop.OnRequest(a.srv, "bpull", func(ctx context.Context, s *sockhop.Session, n int) (string, error) {
			b := make([]byte, n)
			_, _ = rand.Read(b)
			return sum(b), s.Emit(ctx, "blob", b)
		})
		tab := br.Open(t, "binary", a.ts.URL+"/", browser.Viewport{})
		connect(t, tab, map[string]any{"transports": []string{name}})
		var r struct {
			Want, Up, BlobUp, BufUp, Echo, EchoType, ServerSum, Down, BlobType, TooBig, After string
			BinSends                                                                          int
			MS                                                                                map[string]int
		}
		tab.Eval(binaryPage, &r)
		for what, got := range map[string]string{"Uint8Array up": r.Up, "Blob up": r.BlobUp, "ArrayBuffer up": r.BufUp, "echo": r.Echo} {
			if got != r.Want {
				t.Errorf("%s: sha256 %s, want %s", what, got, r.Want)
			}
		}
		if r.Down != r.ServerSum {
			t.Errorf("server emit: the page got sha256 %s, the server sent %s", r.Down, r.ServerSum)
		}
		if r.EchoType != "[object Uint8Array]" || r.BlobType != "[object Uint8Array]" {
			t.Errorf("bytes arrived as %s (ack) and %s (event), want Uint8Array", r.EchoType, r.BlobType)
		}
		if r.TooBig != "too_big" {
			t.Errorf("3 MiB over a 4 MiB limit (base64): %q, want too_big", r.TooBig)
		}
		if r.After != sum([]byte{1, 2, 3}) {
			t.Errorf("after the refusal: %q", r.After)
		}
		// WebSocket carries bytes in binary frames (4 uploads and the last small one); the
		// SockJS transports cannot.
		if want := map[bool]int{true: 5, false: 0}[name == "websocket"]; r.BinSends != want {
			t.Errorf("%d binary WebSocket frames sent, want %d", r.BinSends, want)
		}
		t.Logf("%s: 1 MiB up (Uint8Array, Blob, ArrayBuffer), echoed, and down intact; ms: up %d, Blob up %d, ArrayBuffer up %d, echo (up and down) %d, down %d",
			name, r.MS["up"], r.MS["blob"], r.MS["buffer"], r.MS["echo"], r.MS["down"])
	})
}
