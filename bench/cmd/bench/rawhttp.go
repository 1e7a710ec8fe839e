package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
)

// rawHTTP is the load generator's HTTP/1.1 client for the SockJS requests that come and go
// with every message (xhr_send, and the polls of xhr-polling): keep-alive connections, a
// request written in one go, the response read by hand. net/http's client (a request
// object, header maps, two goroutines per connection handing each response over) cost the
// load generator about as much CPU per request as the servers it measured spent on it, so
// that it ran at 92-99 % of its core and the servers waited for it. Every server gets the
// same client. The streaming response, one per session, stays with net/http.
type rawHTTP struct {
	addr string // host:port
	ctx  context.Context

	mu   sync.Mutex
	idle []*rawConn
}

type rawConn struct {
	c   net.Conn
	br  *bufio.Reader
	req []byte // the request being written
}

// post sends a POST of body (nil: none) to path with the headers hdr (each "Name: value")
// and returns the status and the whole response body, valid until the next post.
func (h *rawHTTP) post(path string, hdr []string, body []byte, into []byte) (int, []byte, error) {
	rc, err := h.get()
	if err != nil {
		return 0, nil, err
	}
	b := append(rc.req[:0], "POST "...)
	b = append(b, path...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, h.addr...)
	b = append(b, "\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(body)), 10)
	b = append(b, "\r\n"...)
	for _, l := range hdr {
		b = append(append(b, l...), "\r\n"...)
	}
	b = append(append(b, "\r\n"...), body...)
	rc.req = b
	if _, err := rc.c.Write(b); err != nil {
		rc.c.Close()
		return 0, nil, err
	}
	status, out, keep, err := readResponse(rc.br, into)
	if err != nil {
		rc.c.Close()
		return 0, nil, err
	}
	if keep {
		h.put(rc)
	} else {
		rc.c.Close()
	}
	return status, out, nil
}

func (h *rawHTTP) get() (*rawConn, error) {
	h.mu.Lock()
	if n := len(h.idle); n > 0 {
		rc := h.idle[n-1]
		h.idle = h.idle[:n-1]
		h.mu.Unlock()
		return rc, nil
	}
	h.mu.Unlock()
	c, err := dialNoTimeWait(h.ctx, "tcp", h.addr)
	if err != nil {
		return nil, err
	}
	context.AfterFunc(h.ctx, func() { c.Close() }) // a poll waiting when the client closes
	return &rawConn{c: c, br: bufio.NewReaderSize(c, 16<<10)}, nil
}

func (h *rawHTTP) put(rc *rawConn) {
	h.mu.Lock()
	h.idle = append(h.idle, rc)
	h.mu.Unlock()
}

var errBadResponse = errors.New("malformed HTTP response")

// readResponse reads one response: its status, its body appended to into (Content-Length,
// chunked, or up to the end of the connection), and whether the connection may be used
// again.
func readResponse(br *bufio.Reader, into []byte) (status int, body []byte, keep bool, err error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return 0, nil, false, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.1 ")) {
		return 0, nil, false, fmt.Errorf("%w: status line %q", errBadResponse, line)
	}
	status, err = strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, nil, false, fmt.Errorf("%w: status line %q", errBadResponse, line)
	}
	length, chunked, keep := int64(-1), false, true
	for {
		line, err = br.ReadSlice('\n')
		if err != nil {
			return 0, nil, false, err
		}
		if len(line) <= 2 { // the blank line
			break
		}
		name, value, ok := bytes.Cut(bytes.TrimRight(line, "\r\n"), []byte(":"))
		if !ok {
			return 0, nil, false, fmt.Errorf("%w: header %q", errBadResponse, line)
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.ParseInt(string(value), 10, 64); err != nil || length < 0 {
				return 0, nil, false, fmt.Errorf("%w: header %q", errBadResponse, line)
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(value, []byte("chunked"))
		case bytes.EqualFold(name, []byte("Connection")):
			keep = !bytes.EqualFold(value, []byte("close"))
		}
	}
	body = into[:0]
	switch {
	case status == 204 || status == 304 || status/100 == 1:
	case chunked:
		for {
			line, err = br.ReadSlice('\n')
			if err != nil {
				return 0, nil, false, err
			}
			size, err := strconv.ParseInt(string(bytes.TrimRight(line, "\r\n")), 16, 64)
			if err != nil || size < 0 {
				return 0, nil, false, fmt.Errorf("%w: chunk size %q", errBadResponse, line)
			}
			if size == 0 {
				for { // trailers, up to the blank line
					if line, err = br.ReadSlice('\n'); err != nil {
						return 0, nil, false, err
					}
					if len(line) <= 2 {
						return status, body, keep, nil
					}
				}
			}
			if body, err = readN(br, body, size+2); err != nil {
				return 0, nil, false, err
			}
			body = body[:len(body)-2] // the chunk's CRLF
		}
	case length >= 0:
		if body, err = readN(br, body, length); err != nil {
			return 0, nil, false, err
		}
	default: // up to the end of the connection
		rest, err := io.ReadAll(br)
		if err != nil {
			return 0, nil, false, err
		}
		body, keep = append(body, rest...), false
	}
	return status, body, keep, nil
}

// readN appends n bytes from br to b.
func readN(br *bufio.Reader, b []byte, n int64) ([]byte, error) {
	start := len(b)
	b = append(b, make([]byte, n)...)
	_, err := io.ReadFull(br, b[start:])
	return b, err
}
