package main

import "testing"

// TestHandWritten: the sections between the charts and the tables survive a rewrite, the
// generated ones do not.
func TestHandWritten(t *testing.T) {
	md := "# Benchmarks\n\n## Charts\n\n![a](x.svg)\n\n## Metrics overhead\n\nkept 1\n\n## Delivery classes\n\nkept 2\n\n## Tables\n\ngenerated\n"
	if got, want := handWritten(md), "## Metrics overhead\n\nkept 1\n\n## Delivery classes\n\nkept 2\n\n"; got != want {
		t.Errorf("handWritten = %q, want %q", got, want)
	}
	if got := handWritten("# Benchmarks\n\n## Charts\n\n![a](x.svg)\n\n## Tables\n\ngenerated\n"); got != "" {
		t.Errorf("handWritten of a file without such sections = %q", got)
	}
}
