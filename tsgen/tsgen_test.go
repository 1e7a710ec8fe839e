package tsgen_test

import (
	"bytes"
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/sockhop/sockhop/tsgen"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// TestGolden generates the declarations of testdata/app, which registers events of every
// kind of type, and compares them with testdata/app.d.ts (client-js's npm test compiles
// that file, so it is valid TypeScript too).
func TestGolden(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	if err := tsgen.Generate(&buf, tsgen.Config{}, "./testdata/app"); err != nil {
		t.Fatal(err)
	}
	const golden = "testdata/app.d.ts"
	if *update {
		if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got := buf.String(); got != string(want) {
		t.Errorf("generated:\n%s\nwant (go test ./tsgen -update to accept):\n%s", got, want)
	}
}

// TestRefused checks that what the generator cannot type is an error naming the place.
func TestRefused(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	err := tsgen.Generate(&buf, tsgen.Config{}, "./testdata/bad")
	if err == nil {
		t.Fatalf("no error; generated:\n%s", buf.String())
	}
	for _, want := range []string{
		"bad.go:16:2: the event name of sockhop.On is not a constant",
		"bad.go:18:2: event \"twice\" is also registered with other types at",
		"bad.go:24:2: sockhop.Emits(\"generic\") has type T, a type parameter",
		"type chan int cannot be encoded as JSON",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if buf.Len() != 0 {
		t.Errorf("wrote %d bytes despite the error", buf.Len())
	}
	if err := tsgen.Generate(&buf, tsgen.Config{}, "./testdata/nosuch"); err == nil {
		t.Error("no error for a missing package")
	}
}

// TestExamples fails when an example's committed events.d.ts (which its page's script is
// type-checked against) is not what its Go code generates now.
func TestExamples(t *testing.T) {
	t.Parallel()
	for _, ex := range []string{"chat", "ticker", "echo"} {
		t.Run(ex, func(t *testing.T) {
			t.Parallel()
			dir := "../examples/" + ex
			var buf bytes.Buffer
			if err := tsgen.Generate(&buf, tsgen.Config{Dir: dir}); err != nil {
				t.Fatal(err)
			}
			committed, err := os.ReadFile(dir + "/events.d.ts")
			if err != nil {
				t.Fatal(err)
			}
			if buf.String() != string(committed) {
				t.Errorf("examples/%s/events.d.ts is stale: run go generate ./examples/%s; generated:\n%s", ex, ex, buf.String())
			}
		})
	}
}
