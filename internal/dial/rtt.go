package dial

import (
	"context"
	"io"
	"net/http"
	"strings"
	"time"
)

// MeasureRTT measures a round trip to the server mounted at base: the time from a GET of
// M/sockjs/info (the request sockjs-client makes for the same purpose) to its answer's
// headers. Any answer counts, an error status too: it measures the path, not the
// endpoint. The request opens a connection of its own (and closes it), so the figure
// includes the TCP (and TLS) handshake and errs long, which is the safe side for a timeout
// scaled from it.
func MeasureRTT(ctx context.Context, base string, opts Options) (time.Duration, error) {
	base = strings.TrimRight(base, "/")
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/sockjs/info", nil)
	if err != nil {
		return 0, err
	}
	for k, v := range opts.Header {
		req.Header[k] = v
	}
	// Its connection is not kept for the transports: a pooled connection may have aged
	// past what a proxy or NAT lets live by the time a transport's first POST reuses it,
	// and a POST on a dead reused connection is not retried.
	req.Close = true
	hc := opts.HTTPClient
	if hc == nil {
		t := &http.Transport{Proxy: http.ProxyFromEnvironment}
		defer t.CloseIdleConnections()
		hc = &http.Client{Transport: t}
	}
	start := time.Now()
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	rtt := time.Since(start)
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	return rtt, nil
}
