package main

import (
	"bytes"
	"context"
	"io"
	"regexp"
	"strings"
	"testing"

	"github.com/sockhop/sockhop/internal/testutil"
)

func TestMain(m *testing.M) { testutil.Main(m) }

// TestOutput runs the tool against a minimal echo-protocol server on every transport (the
// echo example itself is a main package and cannot be imported) and over TLS.
func TestOutput(t *testing.T) {
	for _, useTLS := range []bool{false, true} {
		url, hc := startServer(t, useTLS)
		var out bytes.Buffer
		if err := run(context.Background(), []string{"-url", url, "-n", "50"}, &out, hc); err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		if len(lines) != 4 || !regexp.MustCompile(`^transport\s+n\s+p50\s+p90\s+p99\s+max$`).MatchString(lines[0]) {
			t.Fatalf("output:\n%s", out.String())
		}
		row := regexp.MustCompile(`^(websocket|xhr-streaming|xhr-polling)\s+50(\s+\d+\.\d{3}ms){4}$`)
		for i, tr := range testutil.Transports {
			if !row.MatchString(lines[i+1]) || !strings.HasPrefix(lines[i+1], tr) {
				t.Errorf("line %q", lines[i+1])
			}
		}
		if hc != nil {
			hc.CloseIdleConnections()
		}
	}
	var out bytes.Buffer
	url, _ := startServer(t, false)
	if err := run(context.Background(), []string{"-url", url, "-n", "5", "-transport", "xhr-polling"}, &out, nil); err != nil || strings.Count(out.String(), "\n") != 2 {
		t.Fatalf("one transport: %v\n%s", err, out.String())
	}
	if err := run(context.Background(), []string{"-transport", "carrier-pigeon"}, io.Discard, nil); err == nil {
		t.Error("unknown transport accepted")
	}
}
