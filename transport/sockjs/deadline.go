package sockjs

import (
	"net/http"
	"time"
)

// deadlineWriter renews the connection's write deadline before every write, so a stalled
// peer costs at most the write timeout and http.Server.WriteTimeout does not end a stream.
type deadlineWriter struct {
	http.ResponseWriter
	rc          *http.ResponseController
	timeout     time.Duration
	wroteHeader bool
	renewed     time.Time // when Write last renewed the deadline
	poll        bool      // the request is an xhr poll
	hideLag     bool      // swallow a first write that is sockjs-go's 2010 answer (see forwardReceiver)
	lagged      bool      // it did
}

// another is sockjs-go's answer to a receiving request while it has another one attached.
const another = "c[2010,\"Another connection still open\"]\n"

// noTransform is the Cache-Control of streams and polls: no-transform keeps compressing
// or rewriting proxies from holding the stream back.
const noTransform = "no-store, no-cache, no-transform, must-revalidate, max-age=0"

func (w *deadlineWriter) WriteHeader(code int) {
	if !w.wroteHeader {
		w.wroteHeader = true
		w.Header()["Cache-Control"] = hdrNoTransform // after sockjs-go set its own
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *deadlineWriter) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		if w.hideLag && string(p) == another {
			w.lagged = true
			return len(p), nil
		}
		w.WriteHeader(http.StatusOK)
	}
	w.renewed = time.Now()
	_ = w.rc.SetWriteDeadline(w.renewed.Add(w.timeout))
	return w.ResponseWriter.Write(p)
}

func (w *deadlineWriter) Flush() {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	// sockjs-go flushes right after each frame it writes: the deadline that write set
	// serves for the flush too (one runtime timer change per stream chunk, not two), while
	// at least half the timeout of it is left.
	if now := time.Now(); now.Sub(w.renewed) > w.timeout/2 {
		_ = w.rc.SetWriteDeadline(now.Add(w.timeout))
	}
	_ = w.rc.Flush()
}

func (w *deadlineWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
