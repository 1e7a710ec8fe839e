package sockjs

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/sockhop/sockhop/events"
)

// xhrSend guards xhr_send: the body is read here, bounded in size and time, one at a time
// per session, and checked before sockjs-go could decode it.
func (h *Handler) xhrSend(w http.ResponseWriter, r *http.Request, sid string, key *keySum) {
	// Until the body is read, an answer closes the connection: net/http would otherwise
	// read what is left of the body (up to 256 KiB, as slowly as the client sends it)
	// before it sends the answer.
	closeUnread(w, r)
	c := h.conn(sid)
	if c == nil {
		http.Error(w, "sockhop: unknown session", http.StatusNotFound)
		return
	}
	// The key first: a request without it must not hold the session's turn.
	if !c.owns(key) { // made by another request since checkKey looked
		refuseKey(w, r)
		return
	}
	// One body at a time, from before its first byte is read until its frames are handed
	// over: a client's next xhr_send must not overtake the frames of this one, a retry of
	// this one must wait until they are through, and a session holds at most one body.
	if !c.takeTurn(w, r) {
		return
	}
	defer c.giveTurn()
	if !c.isStarted() {
		// The client saw the open frame before sockjs-go's goroutine started the session.
		t := time.NewTimer(h.opts.DisconnectDelay)
		select {
		case <-c.started:
		case <-t.C:
		case <-r.Context().Done():
		}
		t.Stop()
	}
	if !c.isStarted() {
		http.Error(w, "sockhop: unknown session", http.StatusNotFound)
		return
	}
	if h.opts.HoldSend != nil {
		release := h.opts.HoldSend(w, r)
		if release == nil {
			return
		}
		defer release()
	}
	// The body is a JSON array of frames: JSON escaping may make it larger than the frames
	// it carries, so the body gets room for that and each frame is checked on its own.
	max := 2*h.opts.MaxMessageSize + 1024
	if r.ContentLength > max {
		http.Error(w, "sockhop: message too big", http.StatusRequestEntityTooLarge)
		c.Close(events.CloseTooBig, "message too big")
		return
	}
	// The body has a deadline of its own: a client that sends it slowly holds its
	// session's turn, a goroutine and a connection for SendTimeout at most.
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(h.opts.SendTimeout))
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
	_ = rc.SetReadDeadline(time.Time{})
	if err == nil {
		w.Header().Del("Connection")
	}
	var tooBig *http.MaxBytesError
	var ne net.Error
	switch {
	case errors.As(err, &tooBig):
		body = nil // parseSend reports a missing body too big
	case errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout():
		// What arrived of the body is dropped. The transport ends, so that no later body
		// is taken without this one's frames: the client resumes and sends them again.
		http.Error(w, "sockhop: xhr_send body not received within "+h.opts.SendTimeout.String(), http.StatusRequestTimeout)
		c.Close(events.CloseAbnormal, "xhr_send body too slow")
		return
	case err != nil:
		http.Error(w, "sockhop: reading body: "+err.Error(), http.StatusBadRequest)
		return
	}
	frames, bad := parseSend(body, err != nil, h.opts.MaxMessageSize)
	if bad != nil {
		http.Error(w, "sockhop: "+bad.Reason, bad.status)
		if bad.Code != 0 {
			c.Close(bad.Code, bad.Reason)
		}
		return
	}
	// A client numbers its sends (?s=1, 2, …): a browser may send a POST again on a new
	// connection when the first one broke, and the frames must not be handled twice.
	if n := queryUint(r, "s"); n > 0 {
		c.mu.Lock()
		dup := n <= c.lastSend
		if !dup {
			c.lastSend = n
		}
		c.mu.Unlock()
		if dup {
			w.WriteHeader(http.StatusNoContent)
			return
		}
	}
	// The frames go straight to the session's reader: sockjs-go would decode the body a
	// second time and buffer it without bound. Once the body is read the frames are the
	// session's, even if the client gives up on this request: its retry is dropped as a
	// duplicate, so stopping halfway would lose the rest.
	if !c.deliver(frames) {
		// The transport ended: what the reader did not take is not counted as received,
		// so the client sends it again after a resume.
		http.Error(w, "sockhop: session closed", http.StatusNotFound)
		return
	}
	AllowOrigin(w, r)
	hd := w.Header()
	hd["Content-Type"] = hdrTextPlain
	hd["Cache-Control"] = hdrNoStore
	w.WriteHeader(http.StatusNoContent)
}

// sendError is why an xhr_send body was refused: an HTTP status, and the close code the
// session gets (0: the session goes on).
type sendError struct {
	status int
	events.CloseError
}

// parseSend checks an xhr_send body: a JSON array of valid UTF-8 frames of at most max
// bytes each. tooBig says the body was over its own limit.
func parseSend(body []byte, tooBig bool, max int64) ([][]byte, *sendError) {
	refuse := func(status, code int, reason string) *sendError {
		return &sendError{status: status, CloseError: events.CloseError{Code: code, Reason: reason}}
	}
	if tooBig {
		return nil, refuse(http.StatusRequestEntityTooLarge, events.CloseTooBig, "message too big")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, refuse(http.StatusBadRequest, 0, "payload expected")
	}
	if !events.ValidUTF8(body) {
		return nil, refuse(http.StatusBadRequest, events.CloseInvalidPayload, "invalid UTF-8")
	}
	frames, ok := parseFrames(body)
	if !ok {
		return nil, refuse(http.StatusBadRequest, events.CloseProtocolError, "body must be a JSON array of strings")
	}
	// Every frame is valid UTF-8: a piece of the valid body between two quotes, or decoded
	// from escapes (a lone surrogate becomes U+FFFD, as encoding/json makes it).
	for _, f := range frames {
		if int64(len(f)) > max {
			return nil, refuse(http.StatusRequestEntityTooLarge, events.CloseTooBig, "message too big")
		}
	}
	return frames, nil
}

// sendWait is how long an xhr_send waits for the body in flight on its session before it
// is refused (429, Retry-After: sendRetry): long enough for a browser's retry of a body
// whose frames are still being handed over, short enough that a waiting request, whose
// client may be long gone (net/http notices only once the body is read), costs little.
const sendWait = time.Second

// sendRetry is the Retry-After, in seconds, of an xhr_send refused for its session's body
// in flight.
const sendRetry = "1"

// takeTurn makes r its session's body in flight, after waiting up to sendWait for the one
// before it; one more request, while one is in flight and one waits, is refused at once.
// When it reports false it has answered r: 429 with Retry-After, or 404 when the session
// ended.
func (c *Conn) takeTurn(w http.ResponseWriter, r *http.Request) bool {
	select {
	case c.sendTurn <- struct{}{}:
		return true
	default:
	}
	select {
	case c.sendNext <- struct{}{}:
	default:
		refuseBusy(w)
		return false
	}
	defer func() { <-c.sendNext }()
	t := time.NewTimer(sendWait)
	defer t.Stop()
	select {
	case c.sendTurn <- struct{}{}:
		return true
	case <-t.C:
		refuseBusy(w)
	case <-c.ctx.Done():
		http.Error(w, "sockhop: session closed", http.StatusNotFound)
	case <-r.Context().Done(): // nothing of this body was taken: a retry brings it again
	}
	return false
}

func (c *Conn) giveTurn() { <-c.sendTurn }

// refuseBusy answers an xhr_send that found its session's body in flight.
func refuseBusy(w http.ResponseWriter) {
	w.Header().Set("Retry-After", sendRetry)
	http.Error(w, "sockhop: another xhr_send of this session is in flight", http.StatusTooManyRequests)
}

// closeUnread makes the answer to r, whose body may not be read in full, close an HTTP/1
// connection: net/http would otherwise read what is left of the body (up to 256 KiB, as
// slowly as the client sends it) before it sends the answer. (HTTP/2 has no such wait, and
// would take it as a GOAWAY for every stream of the connection.)
func closeUnread(w http.ResponseWriter, r *http.Request) {
	if r.ProtoMajor < 2 {
		w.Header()["Connection"] = hdrClose
	}
}

var hdrClose = []string{"close"}
