package serve

import (
	"flag"
	"slices"
	"testing"

	"github.com/sockhop/sockhop"
)

func TestAllowOriginFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
		ok   bool // sockhop.New takes it
	}{
		{nil, nil, true},
		{[]string{"-allow-origin", "https://app.example"}, []string{"https://app.example"}, true},
		{[]string{"-allow-origin", " https://app.example:8443 , *.corp.example,"}, []string{"https://app.example:8443", "*.corp.example"}, true},
		{[]string{"-allow-origin", "*"}, []string{"*"}, false},
		{[]string{"-allow-origin", "[bad"}, []string{"[bad"}, false},
	} {
		var f Flags
		fs := flag.NewFlagSet("x", flag.ContinueOnError)
		f.Register(fs)
		if err := fs.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		if got := f.AllowedOrigins(); !slices.Equal(got, tc.want) {
			t.Errorf("%v: AllowedOrigins %q, want %q", tc.args, got, tc.want)
		}
		called := false
		var o sockhop.Options
		f.Options(func(*sockhop.Options) { called = true })(&o)
		if !called || !slices.Equal(o.AllowedOrigins, tc.want) {
			t.Errorf("%v: Options set %q (next called %v), want %q", tc.args, o.AllowedOrigins, called, tc.want)
		}
		srv, err := sockhop.New(o)
		if (err == nil) != tc.ok {
			t.Errorf("%v: sockhop.New: %v; want ok=%v", tc.args, err, tc.ok)
		}
		if srv != nil {
			_ = srv.Shutdown(t.Context())
		}
	}
}
