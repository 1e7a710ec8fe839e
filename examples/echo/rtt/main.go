// Command rtt measures sockhop round-trip times: it sends n "rtt" requests one after the
// other over each transport and prints p50, p90, p99 and max per transport.
//
//	go run ./examples/echo/rtt -url http://127.0.0.1:8080/rt -transport websocket -n 1000
//
// Without -transport it measures websocket, xhr-streaming and xhr-polling in turn.
package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/sockhop/sockhop/client"

	"github.com/sockhop/sockhop/internal/serve"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if code := serve.Exit(os.Stderr, "rtt", run(ctx, os.Args[1:], os.Stdout, nil)); code != 0 { // -h exits 0
		os.Exit(code)
	}
}

// run measures; hc, when set, carries the requests (tests pass one trusting their
// certificate).
func run(ctx context.Context, args []string, stdout io.Writer, hc *http.Client) error {
	fs := flag.NewFlagSet("rtt", flag.ContinueOnError)
	fs.SetOutput(stdout)
	url := fs.String("url", "http://127.0.0.1:8080/rt", "sockhop URL of the echo server")
	transport := fs.String("transport", "", "websocket, xhr-streaming or xhr-polling (default: all three)")
	n := fs.Int("n", 1000, "round trips per transport")
	size := fs.Int("size", 16, "payload bytes per request")
	insecure := fs.Bool("insecure", false, "accept any TLS certificate (for -tls-self-signed servers)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *n < 1 {
		return fmt.Errorf("-n must be at least 1")
	}
	transports := []string{client.WebSocket, client.XHRStreaming, client.XHRPolling}
	if *transport != "" {
		if !slices.Contains(transports, *transport) {
			return fmt.Errorf("unknown -transport %q", *transport)
		}
		transports = []string{*transport}
	}
	if hc == nil && *insecure {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // asked for by -insecure
		hc = &http.Client{Transport: tr}
		defer tr.CloseIdleConnections()
	}
	fmt.Fprintf(stdout, "%-14s %6s %9s %9s %9s %9s\n", "transport", "n", "p50", "p90", "p99", "max")
	payload := strings.Repeat("x", *size)
	for _, name := range transports {
		rtts, err := measure(ctx, *url, name, *n, payload, hc)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		slices.Sort(rtts)
		fmt.Fprintf(stdout, "%-14s %6d %9s %9s %9s %9s\n", name, len(rtts),
			ms(pct(rtts, 50)), ms(pct(rtts, 90)), ms(pct(rtts, 99)), ms(rtts[len(rtts)-1]))
	}
	return nil
}

func measure(ctx context.Context, url, transport string, n int, payload string, hc *http.Client) ([]time.Duration, error) {
	dctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	c, err := client.Dial(dctx, url, client.Options{Transports: []string{transport}, HTTPClient: hc, NoReconnect: true})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	for range min(n/10, 50) { // warm up: connections, buffers, the scheduler
		if _, err := c.EmitWithAck(ctx, "rtt", payload); err != nil {
			return nil, err
		}
	}
	rtts := make([]time.Duration, 0, n)
	for range n {
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		start := time.Now()
		_, err := c.EmitWithAck(rctx, "rtt", payload)
		d := time.Since(start)
		cancel()
		if err != nil {
			return nil, err
		}
		rtts = append(rtts, d)
	}
	return rtts, nil
}

// pct is the p-th percentile of sorted (nearest rank).
func pct(sorted []time.Duration, p int) time.Duration {
	i := (len(sorted)*p + 99) / 100
	return sorted[max(i-1, 0)]
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%.3fms", float64(d)/float64(time.Millisecond))
}
