// Command bench is sockhop's benchmark harness and load generator: it starts every peer
// server (pinned to one core), drives the scenarios from this process (pinned to another
// core by the Makefile), reads server CPU and memory from /proc, and writes
// bench/results/<date>.md, the SVG charts and BENCHMARKS.md.
//
//	taskset -c 1 bench -runs 3          # make bench
//	taskset -c 1 bench -smoke           # make bench-smoke: tiny counts, then the ratio guard; exit 1 on any failure or regression
//	taskset -c 1 bench -smoke -write-baseline  # make bench-smoke-baseline
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/sockhop/sockhop/bench/internal/nofile"
)

func main() {
	smoke := flag.Bool("smoke", false, "tiny counts, one run, no report files unless -out is given")
	runs := flag.Int("runs", 0, "repetitions (0: 3, or 1 with -smoke)")
	out := flag.String("out", "", "results directory (bench/results); empty with -smoke = print only")
	md := flag.String("md", "", "BENCHMARKS.md to write (empty = none)")
	only := flag.String("only", "", "comma-separated scenario keys to run (idle-5000, broadcast, echo, fallbacks...)")
	targets := flag.String("targets", "", "comma-separated substrings of target names to run")
	flag.StringVar(&cfg.peerBin, "peer", "bin/peer", "peer server binary")
	flag.StringVar(&cfg.socketDir, "socketio", "socketio", "Socket.IO peer directory (npm ci done)")
	flag.StringVar(&cfg.peerArgs, "peer-args", "", "extra arguments for the Go peers (e.g. \"-pprof 127.0.0.1:6060\")")
	flag.DurationVar(&cfg.hold, "hold", 0, "idle: keep the connections open this long after measuring (for profiling)")
	flag.StringVar(&cfg.serverCPU, "server-cpu", "auto", "taskset CPU list for servers; auto = 0 when the machine has 2+ CPUs; none = no pinning")
	render := flag.String("render", "", "re-render the report from a results JSON file (with -out/-md) instead of measuring")
	guard := flag.Bool("guard", true, "with -smoke: measure the headline ratios and compare them with -baseline")
	baseline := flag.String("baseline", "results/smoke-baseline.json", "the smoke guard's baseline")
	writeBaseline := flag.Bool("write-baseline", false, "with -smoke: measure the guard's ratios and write them to -baseline (make bench-smoke-baseline)")
	echoRounds := flag.Int("echo-rounds", 0, "override the round trips per client of echo and fallbacks (for profiling)")
	profiles := flag.Bool("profiles", true, "after the runs, profile the echo and fallback targets that ran and report where their CPU goes (never with -smoke)")
	cpuProfile := flag.String("cpuprofile", "", "write the load generator's own CPU profile to this file (is the harness the bottleneck?)")
	flag.Parse()
	log.SetFlags(log.Ltime)
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
		defer pprof.StopCPUProfile() // on the normal return; a failed run exits without it
	}

	p := fullParams
	if *smoke {
		p = smokeParams
	}
	if *echoRounds > 0 {
		p.EchoRounds, p.FbRounds = *echoRounds, *echoRounds
	}
	if *runs > 0 {
		p.Runs = *runs
	}
	switch cfg.serverCPU {
	case "auto":
		// runtime.NumCPU counts only the CPUs this process may use (taskset -c 1 makes it
		// 1), so count the machine's.
		cfg.serverCPU = ""
		if onlineCPUs() >= 2 {
			cfg.serverCPU = "0"
		}
	case "none":
		cfg.serverCPU = ""
	}
	var err error
	if cfg.peerBin, err = filepath.Abs(cfg.peerBin); err != nil {
		log.Fatal(err)
	}
	if cfg.tmp, err = os.MkdirTemp("", "sockhop-bench"); err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(cfg.tmp)
	// The idle scenarios need one descriptor per connection in this process and in the
	// server (both ends on one machine, so 18,000 connections are 18,000 here and 18,000
	// there); children inherit the raised limit and the Go peers check it themselves.
	cfg.nofile = 1024
	for _, n := range append(slices.Clone(p.Idle), p.IdleSessions[1]*2) { // an HTTP session can hold 2 connections
		if *only == "" || contains(strings.Split(*only, ","), fmt.Sprintf("idle-%d", n)) || contains(strings.Split(*only, ","), "idle-sessions") {
			cfg.nofile = max(cfg.nofile, uint64(n)+1024)
		}
	}
	if err := nofile.Raise(cfg.nofile, ", or pass -only without the largest idle scenario (it needs its connections + 1024)"); err != nil {
		log.Fatal(err)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-sig
		log.Printf("interrupted: stopping the servers")
		stopAll()
		os.Exit(2)
	}()
	cfg.redisBin, _ = exec.LookPath("redis-server")
	if cfg.redisBin == "" {
		log.Printf("redis-server not found: skipping the two-node Redis broadcast")
	}
	cfg.natsBin = lookNATS()
	if cfg.natsBin == "" {
		log.Printf("nats-server not found: skipping the two-node NATS broadcast")
	}

	if *render != "" {
		b, err := os.ReadFile(*render)
		if err != nil {
			log.Fatal(err)
		}
		res := &results{}
		if err := json.Unmarshal(b, res); err != nil {
			log.Fatal(err)
		}
		ss := scenarios(res.Params, true, true)
		fmt.Println(res.markdown(ss))
		if *out != "" {
			if err := res.write(*out, *md, ss); err != nil {
				log.Fatal(err)
			}
		}
		return
	}
	if *smoke && *writeBaseline {
		if !runGuard(*baseline, true) {
			os.Exit(1)
		}
		return
	}
	ss := scenarios(p, cfg.redisBin != "", cfg.natsBin != "")
	res := newResults(p)
	failed := 0
	start := time.Now()
	for run := 1; run <= p.Runs; run++ {
		for _, sc := range ss {
			if sc.run == nil { // derived from another scenario's measurement
				continue
			}
			if *only != "" && !contains(strings.Split(*only, ","), sc.Key) {
				continue
			}
			for _, t := range sc.Targets {
				if *targets != "" && !matchAny(t.Name, strings.Split(*targets, ",")) {
					continue
				}
				m, err := measure(sc, t, p.Timeout)
				if err != nil {
					failed++
					log.Printf("run %d %s %s: FAIL: %v", run, sc.Key, t.Name, err)
					res.fail(sc.Key, t.Name, err)
					continue
				}
				log.Printf("run %d %s %s: %s", run, sc.Key, t.Name, fmtMetrics(m))
				res.add(sc.Key, t.Name, run, m)
				time.Sleep(p.Pause)
			}
		}
	}
	if *profiles && !*smoke {
		log.Printf("profile pass: where the echo and fallback targets' CPU goes")
		profilePass(res, p, func(sc string, t target) bool {
			return (*only == "" || contains(strings.Split(*only, ","), sc)) && (*targets == "" || matchAny(t.Name, strings.Split(*targets, ",")))
		})
	}
	res.Elapsed = time.Since(start)
	res.Machine = machine()
	report := res.markdown(ss)
	fmt.Println(report)
	if *out != "" {
		if err := res.write(*out, *md, ss); err != nil {
			log.Fatal(err)
		}
	}
	if failed > 0 {
		log.Printf("%d measurements failed", failed)
		os.Exit(1)
	}
	if *smoke && *guard && *only == "" && *targets == "" {
		if !runGuard(*baseline, false) {
			log.Printf("smoke guard: a headline ratio regressed beyond its noise margin (or a measurement failed); if the change is intended, make bench-smoke-baseline")
			os.Exit(1)
		}
	}
}

func measure(sc scenario, t target, timeout time.Duration) (map[string]float64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	e, err := startEnv(ctx, t)
	if err != nil {
		return nil, err
	}
	defer e.stop()
	busy0, _ := coreBusy(cfg.serverCPU)
	cpu0, _ := e.cpu()
	t0 := time.Now()
	m, err := sc.run(ctx, t, e)
	if err != nil {
		return nil, err
	}
	// How much of the server core other processes (other users of a shared machine,
	// Redis) took during the measurement: a noise indicator, not a figure.
	busy1, err1 := coreBusy(cfg.serverCPU)
	cpu1, err2 := e.cpu()
	if err1 == nil && err2 == nil && busy1 > busy0 {
		m["other_pct"] = max(0, float64((busy1-busy0)-(cpu1-cpu0))) / float64(time.Since(t0)) * 100
	}
	return m, nil
}

// lookNATS finds nats-server on PATH or where Debian installs it (/usr/sbin, not on
// every user's PATH); "" when it is not installed.
func lookNATS() string {
	if p, err := exec.LookPath("nats-server"); err == nil {
		return p
	}
	for _, p := range []string{"/usr/sbin/nats-server", "/usr/local/bin/nats-server"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// onlineCPUs counts the machine's CPUs from /proc/cpuinfo.
func onlineCPUs() int {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.NumCPU()
	}
	n := 0
	for line := range strings.SplitSeq(string(b), "\n") {
		if strings.HasPrefix(line, "processor") {
			n++
		}
	}
	return n
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if strings.TrimSpace(x) == s {
			return true
		}
	}
	return false
}

func matchAny(name string, subs []string) bool {
	for _, s := range subs {
		if s = strings.TrimSpace(s); s != "" && strings.Contains(name, s) {
			return true
		}
	}
	return false
}
