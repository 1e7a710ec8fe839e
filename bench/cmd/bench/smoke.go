package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"os"
	"slices"
	"strings"
	"sync"
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
// other engineers' builds, tests and benchmarks kept both cores busy (other work took
// 40-90 % of the server core). Over 5 make bench-smoke runs against the committed
// baseline, the repetitions' own spread ((max − min) / median) was 2-11 % for idle KiB per
// connection, 19-72 % for the connection rate, 7-22 % for echo CPU, 12-38 % for
// xhr-streaming and 5-41 % for xhr-polling, and the medians moved from the baseline by at
// most 1 %, 3 %, 5 %, 16 % and 7 % in the worse direction. k = 1.5 turns the spread into
// a margin about twice the movement seen; the floor keeps a run whose repetitions
// happened to agree from failing on the movement between runs. On the quiet machine, with
// the baseline rewritten after issue 21, the echo ratio moved by +19 % between a baseline
// run and the next (1.125 → 1.334, repetitions 1.14-1.40): the floor is 40 %, twice the
// largest movement seen. So a regression beyond 40 % fails when the repetitions agree; a
// noisier run widens its own margin. The ratios also move between machines of the same
// kind: on the evening's VM (another kernel build) the code of the morning's baseline
// (c7fd7a2) measured xhr-streaming ÷ websocket 3.07-3.10 against the baseline's 2.14, and
// one check in five failed there on no change at all; the baseline was rewritten there
// (medians of 10 repetitions), with the code after issue 21's handshake work measuring
// the same as c7fd7a2's.
const (
	guardK     = 1.5
	guardFloor = 0.40
)

// guardParams are the guard's counts: large enough for the ratios to settle, small enough
// for make bench-smoke to stay under 2 minutes.
var guardParams = struct {
	Reps          int
	Idle          int
	EchoClients   int
	EchoRounds    int
	Settle, Pause time.Duration
}{Reps: 5, Idle: 1500, EchoClients: 10, EchoRounds: 200, Settle: 500 * time.Millisecond, Pause: 100 * time.Millisecond}

// guardRatio is one guarded ratio: a's metric over b's, from scenario sc.
type guardRatio struct {
	Name     string // key in the baseline file
	sc       string // "idle" or "echo"
	a, b     target
	metric   string
	lowerBad bool // a smaller value is worse (rates)
	direct   bool // metric is already a's ratio to b, measured pairwise in guardRep
}

var guardRatios = []guardRatio{
	{"idle KiB per connection, sockhop ÷ gorilla raw", "idle", tSockhop, tGorillaRaw, "kib_per_conn", false, false},
	{"connection rate, sockhop ÷ gorilla raw", "idle", tSockhop, tGorillaRaw, "conn_rate_ratio", true, true},
	{"echo CPU per round trip, sockhop ÷ gorilla raw", "echo", tSockhop, tGorillaRaw, "cpu_ms_per_1k", false, false},
	{"xhr-streaming CPU per round trip ÷ sockhop websocket", "echo", tSockhopStream, tSockhop, "cpu_ms_per_1k", false, false},
	{"xhr-polling CPU per round trip ÷ sockhop websocket", "echo", tSockhopPoll, tSockhop, "cpu_ms_per_1k", false, false},
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
	start := time.Now()
	reps := gp.Reps
	if write {
		reps *= 2 // a baseline from twice the repetitions: its median moves less than a check's
	}
	for rep := range reps {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		got, err := guardRep(ctx, rep)
		cancel()
		if err != nil {
			log.Printf("guard: FAIL: repetition %d: %v", rep+1, err)
			return false
		}
		for k, m := range got {
			log.Printf("guard %d %s %s: %s", rep+1, k[0], k[1], fmtMetrics(m))
			samples[key{k[0], k[1]}] = append(samples[key{k[0], k[1]}], m)
		}
		time.Sleep(gp.Pause)
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
	out := smokeBaseline{Date: time.Now().UTC().Format(time.RFC3339), Reps: reps, Ratios: map[string]float64{}, Spread: map[string]float64{}}
	ok := true
	var b strings.Builder
	fmt.Fprintf(&b, "\nsmoke guard: %d repetitions in %s; margin = max(%.2f, %.1f × (max − min) / median)\n\n", reps, time.Since(start).Round(time.Second), guardFloor, guardK)
	fmt.Fprintf(&b, "| ratio | median (min–max) | baseline | margin | worse by | verdict |\n|---|---|---|---|---|---|\n")
	for _, g := range guardRatios {
		as, bs := samples[key{g.sc, g.a.Name}], samples[key{g.sc, g.b.Name}]
		var ratios []float64
		for i := range min(len(as), len(bs)) {
			if g.direct {
				ratios = append(ratios, as[i][g.metric])
			} else if d := bs[i][g.metric]; d > 0 {
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
		out.Note = fmt.Sprintf("written by make bench-smoke-baseline (bin/bench -smoke -write-baseline): medians of %d repetitions; regenerate after a change that moves a ratio on purpose", reps)
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

// guardRep is one repetition of the guard. Both servers (the raw gorilla hub and sockhop)
// run side by side and the measurements are interleaved in small chunks, alternating
// which target goes first, so that a burst of other work on the shared machine falls on
// both sides of a ratio instead of on one. Only one target is busy at a time, so each
// chunk's CPU is its server's. The result is keyed by {"idle"|"echo", target name}.
func guardRep(ctx context.Context, rep int) (map[[2]string]map[string]float64, error) {
	gp := guardParams
	raw, err := startEnv(ctx, tGorillaRaw)
	if err != nil {
		return nil, err
	}
	defer raw.stop()
	sh, err := startEnv(ctx, tSockhop)
	if err != nil {
		return nil, err
	}
	defer sh.stop()
	envOf := func(t target) *env {
		if t == tGorillaRaw {
			return raw
		}
		return sh
	}
	order := func(ts []target, i int) []target { // rotate by i
		i %= len(ts)
		return append(slices.Clone(ts[i:]), ts[:i]...)
	}
	out := map[[2]string]map[string]float64{}

	// idle: chunks of 100 connections to each server in turn
	time.Sleep(gp.Settle / 2)
	idleTs := []target{tSockhop, tGorillaRaw}
	r0 := map[target]int64{}
	for _, t := range idleTs {
		if r0[t], err = rss(envOf(t).procs[0].pid()); err != nil {
			return nil, err
		}
	}
	el, cpu := map[target]time.Duration{}, map[target]time.Duration{}
	chunkEl := map[target][]time.Duration{}
	conns := map[target][]*Client{}
	defer func() {
		for _, cs := range conns {
			closeAll(cs)
		}
	}()
	const chunk = 100
	st := &stats{}
	for i := 0; i*chunk < gp.Idle; i++ {
		for _, t := range order(idleTs, i+rep) {
			e := envOf(t)
			c0, err := e.cpu()
			if err != nil {
				return nil, err
			}
			t0 := time.Now()
			cs, err := openMany(ctx, t, e, st, min(chunk, gp.Idle-i*chunk), 50, nil)
			if err != nil {
				return nil, err
			}
			el[t] += time.Since(t0)
			chunkEl[t] = append(chunkEl[t], time.Since(t0))
			c1, err := e.cpu()
			if err != nil {
				closeAll(cs)
				return nil, err
			}
			cpu[t] += c1 - c0
			conns[t] = append(conns[t], cs...)
		}
	}
	time.Sleep(gp.Settle)
	// The connection rate ratio is the median over chunks of sockhop's rate over the raw
	// hub's in the same chunk (equal sizes: the raw hub's time over sockhop's): a burst
	// of other work on the machine spoils a chunk or two, not the repetition.
	var pair []float64
	for i := range min(len(chunkEl[tSockhop]), len(chunkEl[tGorillaRaw])) {
		if d := chunkEl[tSockhop][i]; d > 0 {
			pair = append(pair, float64(chunkEl[tGorillaRaw][i])/float64(d))
		}
	}
	for _, t := range idleTs {
		r1, err := rss(envOf(t).procs[0].pid())
		if err != nil {
			return nil, err
		}
		out[[2]string{"idle", t.Name}] = map[string]float64{
			"kib_per_conn":    float64(r1-r0[t]) / float64(gp.Idle) / 1024,
			"conn_per_s":      float64(gp.Idle) / el[t].Seconds(),
			"cpu_ms_per_conn": cpu[t].Seconds() * 1000 / float64(gp.Idle),
		}
		closeAll(conns[t])
		delete(conns, t)
	}
	out[[2]string{"idle", tSockhop.Name}]["conn_rate_ratio"] = summarize(pair).Med
	time.Sleep(gp.Settle / 2)

	// echo: each target's clients make rounds in chunks, one target at a time
	echoTs := []target{tGorillaRaw, tSockhop, tSockhopStream, tSockhopPoll}
	clients := map[target][]*Client{}
	defer func() {
		for _, cs := range clients {
			closeAll(cs)
		}
	}()
	data := []byte(`"0123456789abcdef0123456789abcdef"`)
	rounds := func(t target, k int) error {
		var wg sync.WaitGroup
		errs := make([]error, len(clients[t]))
		for i, c := range clients[t] {
			wg.Go(func() {
				for j := range k {
					got, err := c.Call(ctx, "echo", data)
					if err == nil && string(got) != string(data) {
						err = fmt.Errorf("echo %s, want %s", got, data)
					}
					if err != nil {
						errs[i] = fmt.Errorf("%s client %d round %d: %w", t.Name, i, j, err)
						return
					}
				}
			})
		}
		wg.Wait()
		return errors.Join(errs...)
	}
	for _, t := range echoTs {
		cs, err := openMany(ctx, t, envOf(t), st, gp.EchoClients, 10, nil)
		if err != nil {
			return nil, err
		}
		clients[t] = cs
		if err := rounds(t, 5); err != nil { // warm up
			return nil, err
		}
	}
	const echoChunk = 30
	ecpu := map[target]time.Duration{}
	for i := 0; i*echoChunk < gp.EchoRounds; i++ {
		for _, t := range order(echoTs, i+rep) {
			e := envOf(t)
			c0, err := e.cpu()
			if err != nil {
				return nil, err
			}
			if err := rounds(t, min(echoChunk, gp.EchoRounds-i*echoChunk)); err != nil {
				return nil, err
			}
			c1, err := e.cpu()
			if err != nil {
				return nil, err
			}
			ecpu[t] += c1 - c0
		}
	}
	if err := errors.Join(raw.alive(), sh.alive()); err != nil {
		return nil, err
	}
	for _, t := range echoTs {
		out[[2]string{"echo", t.Name}] = map[string]float64{"cpu_ms_per_1k": ecpu[t].Seconds() * 1000 / (float64(gp.EchoClients*gp.EchoRounds) / 1000)}
	}
	return out, nil
}
