package tsgen_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sockhop/sockhop/tsgen"
	"github.com/sockhop/sockhop/tsgen/testdata/app"
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

// TestFieldsMatchEncodingJSON checks the golden file's field names against what
// encoding/json writes for the same types.
func TestFieldsMatchEncodingJSON(t *testing.T) {
	t.Parallel()
	golden, err := os.ReadFile("testdata/app.d.ts")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		iface string
		v     any
	}{
		{"AppMessage", app.Message{Extra: &app.Extra{}, Tags: app.Tags{"x"}, When: &time.Time{}, Zero: 1}}, // no field omitted
		{"Both", app.Both{}},
	} {
		data, err := json.Marshal(tc.v)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatal(err)
		}
		var want []string
		for k := range m {
			want = append(want, k)
		}
		got := interfaceFields(t, string(golden), tc.iface)
		slices.Sort(want)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s: generated fields %q, encoding/json writes %q", tc.iface, got, want)
		}
	}
}

// interfaceFields returns the top-level field names of interface name in src.
func interfaceFields(t *testing.T, src, name string) []string {
	_, body, ok := strings.Cut(src, "export interface "+name+" {\n")
	if !ok {
		t.Fatalf("no interface %s", name)
	}
	body, _, _ = strings.Cut(body, "\n}\n")
	var names []string
	for line := range strings.SplitSeq(body, "\n") {
		if !strings.HasPrefix(line, "  ") || strings.HasPrefix(line, "   ") || line == "  }" || strings.HasPrefix(line, "  };") {
			continue
		}
		field, _, _ := strings.Cut(strings.TrimSpace(line), ": ")
		field = strings.TrimSuffix(field, "?")
		if uq, err := strconv.Unquote(field); err == nil {
			field = uq
		}
		names = append(names, field)
	}
	return names
}
