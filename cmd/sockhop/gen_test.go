package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestGenTS runs `sockhop gen ts` on tsgen's test package: it writes tsgen's golden file,
// rewrites a stale one, leaves a fresh one alone, and -check tells them apart.
func TestGenTS(t *testing.T) {
	t.Parallel()
	const pkg = "../../tsgen/testdata/app"
	want, err := os.ReadFile("../../tsgen/testdata/app.d.ts")
	if err != nil {
		t.Fatal(err)
	}
	gen := func(args ...string) (int, string) {
		out := &syncBuf{}
		code := run(context.Background(), append([]string{"gen", "ts"}, args...), &env{stdout: out, stderr: out})
		return code, out.String()
	}
	if code, out := gen(pkg); code != exitOK || out != string(want) {
		t.Fatalf("to stdout: exit %d, output:\n%s", code, tail(out, 2000))
	}
	file := filepath.Join(t.TempDir(), "events.d.ts")
	if err := os.WriteFile(file, []byte("stale"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out := gen("-check", "-o", file, pkg); code != exitFail || !strings.Contains(out, "is stale") {
		t.Errorf("-check on a stale file: exit %d, output %q", code, out)
	}
	if code, out := gen("-o", file, pkg); code != exitOK || out != "" {
		t.Errorf("-o: exit %d, output %q", code, out)
	}
	if got, _ := os.ReadFile(file); string(got) != string(want) {
		t.Errorf("-o wrote:\n%s", got)
	}
	if code, out := gen("-check", "-o", file, pkg); code != exitOK {
		t.Errorf("-check on a fresh file: exit %d, output %q", code, out)
	}
	if code, out := gen("../../tsgen/testdata/bad"); code != exitFail || !strings.Contains(out, "is not a constant") {
		t.Errorf("bad package: exit %d, output %q", code, out)
	}
}
