package main

import (
	"encoding/json"
	"math"
	"os"
	"strings"
	"testing"
)

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

// TestBroadcastBaseline: the broadcast limits of the Targets table are the ratios of the
// run of the code before issue 21 (sockhop websocket ÷ gorilla JSON hub, run by run).
func TestBroadcastBaseline(t *testing.T) {
	b, err := os.ReadFile("../../results/2026-12-02-before-broadcast.json")
	if err != nil {
		t.Fatal(err)
	}
	r := &results{}
	if err := json.Unmarshal(b, r); err != nil {
		t.Fatal(err)
	}
	round := func(v float64) float64 { return math.Round(v*100) / 100 }
	cpu := r.ratio("broadcast", tSockhop.Name, tGorilla.Name, "cpu_s_per_M")
	rate := r.ratio("broadcast", tSockhop.Name, tGorilla.Name, "msg_per_s")
	if !cpu.ok() || !rate.ok() {
		t.Fatal("no broadcast ratios in 2026-12-02-before-broadcast.json")
	}
	if round(cpu.Med) != bcastCPUBeforeMed || round(cpu.Hi) != bcastCPUBeforeWorst {
		t.Errorf("CPU ratio before issue 21: median %.3f, worst %.3f; constants %v, %v", cpu.Med, cpu.Hi, bcastCPUBeforeMed, bcastCPUBeforeWorst)
	}
	if round(rate.Med) != bcastRateBeforeMed || round(rate.Lo) != bcastRateBeforeWorst {
		t.Errorf("rate ratio before issue 21: median %.3f, worst %.3f; constants %v, %v", rate.Med, rate.Lo, bcastRateBeforeMed, bcastRateBeforeWorst)
	}
}

// TestVerdict: a ratio fails only when worse than its baseline by more than its margin,
// in the direction that is worse for it.
func TestVerdict(t *testing.T) {
	lower := guardRatio{Name: "cpu"}                   // lower is better
	higher := guardRatio{Name: "rate", lowerBad: true} // higher is better
	flat := []float64{1, 1, 1, 1, 1}
	for _, c := range []struct {
		g      guardRatio
		ratios []float64
		base   float64
		fail   bool
	}{
		{lower, flat, 1, false},
		{lower, flat, 1 / (1 + guardFloor*0.9), false}, // within the floor
		{lower, flat, 1 / (1 + guardFloor*1.1), true},  // beyond it
		{lower, flat, 2, false},                        // better
		{higher, flat, 1 + guardFloor*0.9, false},
		{higher, flat, 1 + guardFloor*1.1, true},
		{higher, flat, 0.5, false},
		{lower, []float64{1, 1, 2, 2, 3}, 1, false}, // margin guardK × 2/2 covers it
	} {
		v := verdict(c.g, c.ratios, c.base, true)
		if v.fail != c.fail {
			t.Errorf("%s %v against %.3f: fail = %v (margin %.2f, worse %.2f)", c.g.Name, c.ratios, c.base, v.fail, v.margin, v.worse)
		}
	}
	if v := verdict(lower, flat, 0.5, false); v.fail {
		t.Error("a ratio without a baseline failed")
	}
}

// TestWriteKeepsHandWritten: two writes of BENCHMARKS.md keep the hand-written sections
// once each and generate the Scale section once.
func TestWriteKeepsHandWritten(t *testing.T) {
	dir := t.TempDir()
	md := dir + "/BENCHMARKS.md"
	if err := os.WriteFile(md, []byte("# old\n\n## Charts\n\n![a](x.svg)\n\n## Metrics overhead\n\nkept\n\n## Tables\n\nold tables\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := newResults(smokeParams)
	r.add("echo", tSockhop.Name, 1, map[string]float64{"cpu_ms_per_1k": 2})
	r.add("echo", tGorillaRaw.Name, 1, map[string]float64{"cpu_ms_per_1k": 1})
	ss := scenarios(smokeParams, false, false)
	for range 2 {
		if err := r.write(dir+"/results", md, ss); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(md)
	if err != nil {
		t.Fatal(err)
	}
	got := string(b)
	for _, s := range []string{"## Scale", "## Charts", "## Metrics overhead", "## Tables", "old tables"} {
		want := 1
		if s == "old tables" {
			want = 0
		}
		if n := strings.Count(got, s); n != want {
			t.Errorf("%q %d times, want %d:\n%s", s, n, want, got)
		}
	}
	if !strings.Contains(got, "| echo CPU per round trip | — | 2.00× |") {
		t.Errorf("no sockhop ÷ gorilla raw echo ratio in:\n%s", got)
	}
}
