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
}

// noTransform is the Cache-Control of streams and polls: no-transform keeps compressing
// or rewriting proxies from holding the stream back.
const noTransform = "no-store, no-cache, no-transform, must-revalidate, max-age=0"

func (w *deadlineWriter) WriteHeader(code int) {
	if !w.wroteHeader {
		w.wroteHeader = true
		w.Header().Set("Cache-Control", noTransform) // after sockjs-go set its own
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *deadlineWriter) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	_ = w.rc.SetWriteDeadline(time.Now().Add(w.timeout))
	return w.ResponseWriter.Write(p)
}

func (w *deadlineWriter) Flush() {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	_ = w.rc.SetWriteDeadline(time.Now().Add(w.timeout))
	_ = w.rc.Flush()
}

func (w *deadlineWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
