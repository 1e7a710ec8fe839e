package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"os"
	"slices"
	"strings"
	"time"
)

// The smoke guard (make bench-smoke): a few headline ratios of sockhop, measured over a few
// short repetitions, against a committed baseline (results/smoke-baseline.json). Only
// ratios measured in the same repetition are compared, never absolute times, and the
// noise margin comes from the spread the run itself measured:
//
//	margin = max(guardFloor, guardK × (max − min) / median)
//
// over the repetitions' ratios. A ratio fails when it is worse than its baseline by more
// than its margin: median > baseline × (1 + margin) where lower is better, median <
// baseline ÷ (1 + margin) where higher is better.

// guardK and guardFloor were chosen from runs on the 2-core development machine while
// other engineers' builds and tests ran on both cores (see smoke-baseline.json's note
// and BENCHMARKS.md's Method).
const (
	guardK     = 1.5
	guardFloor = 0.25
)

// guardParams are the guard's counts: large enough for the ratios to settle, small enough
// for make bench-smoke to stay under 2 minutes.
var guardParams = struct {
	Reps          int
	Idle          int
	EchoClients   int
	EchoRounds    int
	Settle, Pause time.Duration
}{Reps: 5, Idle: 1000, EchoClients: 10, EchoRounds: 300, Settle: 500 * time.Millisecond, Pause: 100 * time.Millisecond}

// guardRatio is one guarded ratio: a's metric over b's, from scenario sc.
type guardRatio struct {
	Name     string // key in the baseline file
	sc       string // "idle" or "echo"
	a, b     target
	metric   string
	lowerBad bool // a smaller value is worse (rates)
}

var guardRatios = []guardRatio{
	{"idle KiB per connection, sockhop ÷ gorilla raw", "idle", tSockhop, tGorillaRaw, "kib_per_conn", false},
	{"connection rate, sockhop ÷ gorilla raw", "idle", tSockhop, tGorillaRaw, "conn_per_s", true},
	{"echo CPU per round trip, sockhop ÷ gorilla raw", "echo", tSockhop, tGorillaRaw, "cpu_ms_per_1k", false},
	{"xhr-streaming CPU per round trip ÷ sockhop websocket", "echo", tSockhopStream, tSockhop, "cpu_ms_per_1k", false},
	{"xhr-polling CPU per round trip ÷ sockhop websocket", "echo", tSockhopPoll, tSockhop, "cpu_ms_per_1k", false},
}

// smokeBaseline is results/smoke-baseline.json.
type smokeBaseline struct {
	Note   string
	Date   string
	Commit string
	Reps   int
	Ratios map[string]float64
	Spread map[string]float64 // (max − min) / median of the run that wrote the baseline
}

// guardVerdict is one line of the guard's report.
type guardVerdict struct {
	name                   string
	median, lo, hi, spread float64
	base, margin, worse    float64
	hasBase, fail          bool
}

// verdict judges ratios (one per repetition) against base.
func verdict(g guardRatio, ratios []float64, base float64, hasBase bool) guardVerdict {
	st := summarize(ratios)
	v := guardVerdict{name: g.Name, median: st.Med, lo: st.Lo, hi: st.Hi, base: base, hasBase: hasBase}
	if st.Med > 0 {
		v.spread = (st.Hi - st.Lo) / st.Med
	}
	v.margin = max(guardFloor, guardK*v.spread)
	if hasBase && base > 0 && st.Med > 0 {
		v.worse = st.Med / base
		if g.lowerBad {
			v.worse = base / st.Med
		}
		v.fail = v.worse > 1+v.margin
	}
	return v
}

// runGuard measures the guarded ratios; with write it writes the baseline file, else it
// compares with it. It returns false when a ratio regressed or a measurement failed.
func runGuard(baselinePath string, write bool) bool {
	gp := guardParams
	type key struct{ sc, t string }
	samples := map[key][]map[string]float64{}
	measureOne := func(sc string, t target, run func(ctx context.Context, e *env) (map[string]float64, error)) error {
		s := scenario{Key: "guard-" + sc, run: func(ctx context.Context, t target, e *env) (map[string]float64, error) { return run(ctx, e) }}
		m, err := measure(s, t, 60*time.Second)
		if err != nil {
			return fmt.Errorf("%s %s: %w", sc, t.Name, err)
		}
		samples[key{sc, t.Name}] = append(samples[key{sc, t.Name}], m)
		time.Sleep(gp.Pause)
		return nil
	}
	idleTargets := []target{tSockhop, tGorillaRaw}
	echoTargets := []target{tGorillaRaw, tSockhop, tSockhopStream, tSockhopPoll}
	start := time.Now()
	for rep := range gp.Reps {
		// alternate the order, so a drift in the machine's load does not favour one side
		it, et := slices.Clone(idleTargets), slices.Clone(echoTargets)
		if rep%2 == 1 {
			slices.Reverse(it)
			slices.Reverse(et)
		}
		for _, t := range it {
			if err := measureOne("idle", t, func(ctx context.Context, e *env) (map[string]float64, error) {
				return idle(ctx, t, e, gp.Idle, 0, gp.Settle)
			}); err != nil {
				log.Printf("guard: FAIL: %v", err)
				return false
			}
		}
		for _, t := range et {
			if err := measureOne("echo", t, func(ctx context.Context, e *env) (map[string]float64, error) {
				return echo(ctx, t, e, gp.EchoClients, gp.EchoRounds)
			}); err != nil {
				log.Printf("guard: FAIL: %v", err)
				return false
			}
		}
	}
	var base smokeBaseline
	hasFile := false
	if !write {
		b, err := os.ReadFile(baselinePath)
		switch {
		case err == nil:
			if err := json.Unmarshal(b, &base); err != nil {
				log.Printf("guard: FAIL: %s: %v", baselinePath, err)
				return false
			}
			hasFile = true
		case os.IsNotExist(err):
			log.Printf("guard: no baseline %s: printing the ratios only (make bench-smoke-baseline writes one)", baselinePath)
		default:
			log.Printf("guard: FAIL: %v", err)
			return false
		}
	}
	out := smokeBaseline{Date: time.Now().UTC().Format(time.RFC3339), Reps: gp.Reps, Ratios: map[string]float64{}, Spread: map[string]float64{}}
	ok := true
	var b strings.Builder
	fmt.Fprintf(&b, "\nsmoke guard: %d repetitions in %s; margin = max(%.2f, %.1f × (max − min) / median)\n\n", gp.Reps, time.Since(start).Round(time.Second), guardFloor, guardK)
	fmt.Fprintf(&b, "| ratio | median (min–max) | baseline | margin | worse by | verdict |\n|---|---|---|---|---|---|\n")
	for _, g := range guardRatios {
		as, bs := samples[key{g.sc, g.a.Name}], samples[key{g.sc, g.b.Name}]
		var ratios []float64
		for i := range min(len(as), len(bs)) {
			if d := bs[i][g.metric]; d > 0 {
				ratios = append(ratios, as[i][g.metric]/d)
			}
		}
		if len(ratios) == 0 {
			fmt.Fprintf(&b, "| %s | — | | | | FAIL: not measured |\n", g.Name)
			ok = false
			continue
		}
		bv, has := base.Ratios[g.Name]
		v := verdict(g, ratios, bv, has)
		out.Ratios[g.Name], out.Spread[g.Name] = v.median, v.spread
		verdictS, baseS, worseS := "ok", "—", "—"
		switch {
		case write:
			verdictS = "written"
		case !has:
			verdictS = "no baseline"
			if hasFile {
				verdictS = "FAIL: not in the baseline"
				ok = false
			}
		case v.fail:
			verdictS = "FAIL: regressed"
			ok = false
		}
		if has {
			baseS = fmt.Sprintf("%.3f", v.base)
			worseS = fmt.Sprintf("%+.0f%%", (v.worse-1)*100)
		}
		fmt.Fprintf(&b, "| %s | %.3f (%.3f–%.3f) | %s | %.0f%% | %s | %s |\n", g.Name, v.median, v.lo, v.hi, baseS, v.margin*100, worseS, verdictS)
	}
	fmt.Println(b.String())
	if write && ok {
		out.Note = fmt.Sprintf("written by make bench-smoke-baseline (bin/bench -smoke -write-baseline): medians of %d repetitions; regenerate after a change that moves a ratio on purpose", gp.Reps)
		if o, err := gitDescribe(); err == nil {
			out.Commit = o
		}
		raw, _ := json.MarshalIndent(out, "", "  ")
		if err := os.WriteFile(baselinePath, append(raw, '\n'), 0o644); err != nil {
			log.Printf("guard: FAIL: %v", err)
			return false
		}
		log.Printf("guard: wrote %s", baselinePath)
	}
	return ok
}
