package serve

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"testing"
	"time"

	"github.com/sockhop/sockhop"
)

// TestExitHelp: -h exits 0 with the usage printed, a bad flag 1 with the error.
func TestExitHelp(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var f Flags
	f.Register(fs)
	var out bytes.Buffer
	if code := Exit(&out, "x", fs.Parse([]string{"-h"})); code != 0 || out.Len() != 0 {
		t.Errorf("-h: status %d, output %q; want 0 and nothing", code, out.String())
	}
	if code := Exit(&out, "x", fs.Parse([]string{"-nope"})); code != 1 || !bytes.Contains(out.Bytes(), []byte("x: ")) {
		t.Errorf("-nope: status %d, output %q; want 1 and the error", code, out.String())
	}
	if code := Exit(&out, "x", errors.New("boom")); code != 1 {
		t.Errorf("error: status %d, want 1", code)
	}
}

// TestOpsHeartbeatFlags: -ping-interval, -min-ping-interval and -going-away-grace reach
// sockhop.Options; a negative or sub-second interval is refused.
func TestOpsHeartbeatFlags(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var o Ops
	o.Register(fs)
	if err := fs.Parse([]string{"-ping-interval", "8s", "-min-ping-interval", "3s", "-going-away-grace", "2s"}); err != nil {
		t.Fatal(err)
	}
	if err := o.Check(); err != nil {
		t.Fatal(err)
	}
	var opts sockhop.Options
	o.Apply(&opts)
	if opts.PingInterval != 8*time.Second || opts.MinPingInterval != 3*time.Second || opts.GoingAwayGrace != 2*time.Second {
		t.Errorf("options %v %v %v", opts.PingInterval, opts.MinPingInterval, opts.GoingAwayGrace)
	}
	for _, bad := range []string{"-5s", "10ms"} {
		o = Ops{}
		fs = flag.NewFlagSet("x", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		o.Register(fs)
		if err := fs.Parse([]string{"-ping-interval", bad}); err != nil {
			t.Fatal(err)
		}
		if o.Check() == nil {
			t.Errorf("-ping-interval %s accepted", bad)
		}
	}
}
