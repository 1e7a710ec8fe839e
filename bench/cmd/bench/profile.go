package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/google/pprof/profile"
)

// A profile pass answers "where does the rest go" for a target that is missed: after the
// measured runs, one more echo run of each target below under a CPU profile, whose
// samples are charged to the innermost library on their stack (owners). From the share
// sockhop's own code takes, the report shows how low a ratio could go were that code
// free: a floor above the target means the target is out of reach on these libraries.

// profiled are the targets profiled, by scenario.
var profiled = []struct {
	sc string
	t  target
}{
	{"echo", tSockhop}, {"echo", tCentrifuge},
	{"fallbacks", tSockhop}, {"fallbacks", tSockhopStream}, {"fallbacks", tSockhopPoll},
	{"fallbacks", tSockjsStream}, {"fallbacks", tSockjsPoll},
	{"connections", tSockhop}, {"connections", tGorillaRaw},
}

// Owners, in the order the report shows them.
const (
	ownKernel  = "kernel (system calls)"
	ownSockhop = "sockhop"
	ownHTTP    = "net/http"
	ownSockjs  = "sockjs-go"
	ownGorilla = "gorilla/websocket"
	ownCentri  = "centrifuge"
	ownApp     = "peer's handler"
	ownGC      = "garbage collector"
	ownRuntime = "Go runtime, other"
)

var owners = []string{ownKernel, ownSockhop, ownHTTP, ownSockjs, ownGorilla, ownCentri, ownApp, ownGC, ownRuntime}

// ownerPrefixes map a function name's prefix to its owner, tried in order.
var ownerPrefixes = []struct{ prefix, owner string }{
	{"github.com/sockhop/", ownSockhop},
	{"github.com/igm/sockjs-go/", ownSockjs},
	{"net/http.", ownHTTP},
	{"github.com/gorilla/websocket.", ownGorilla},
	{"github.com/centrifugal/", ownCentri},
	{"main.", ownApp},
	{"runtime.gcBgMarkWorker", ownGC},
	{"runtime.bgsweep", ownGC},
	{"runtime.bgscavenge", ownGC},
}

// profileWindow is how long each profile samples, after profileWarm of the run.
const (
	profileWarm   = time.Second
	profileWindow = 4 * time.Second
	// profileOpenWindow: the idle scenario opens about 5,000 to 10,000 connections a
	// second, and the largest opens 18,000.
	profileOpenWindow = 2 * time.Second
)

// profilePass profiles each target of profiled that ran (by -only and -targets) and
// records the owners' shares in r.Profiles.
func profilePass(r *results, p params, ran func(sc string, t target) bool) {
	for _, pt := range profiled {
		key := pt.sc // the scenario whose run the profile explains
		if pt.sc == "connections" {
			key = fmt.Sprintf("idle-%d", p.Idle[len(p.Idle)-1])
		}
		if !ran(key, pt.t) {
			continue
		}
		var ps profileShares
		var err error
		switch pt.sc {
		case "connections":
			ps, err = profileOpen(pt.t, p.Idle[len(p.Idle)-1])
		case "fallbacks":
			ps, err = profileEcho(pt.t, p.FallbackClients)
		default:
			ps, err = profileEcho(pt.t, p.EchoClients)
		}
		if err != nil {
			r.profileFail(pt.sc, pt.t.Name, err)
			continue
		}
		if r.Profiles == nil {
			r.Profiles = map[string]map[string]profileShares{}
		}
		if r.Profiles[pt.sc] == nil {
			r.Profiles[pt.sc] = map[string]profileShares{}
		}
		r.Profiles[pt.sc][pt.t.Name] = ps
	}
}

// profileShares is one profile's CPU by owner: shares of Seconds sampled; and the server
// process's read and write system calls (/proc/PID/io syscr, syscw) per round trip over
// the same window.
type profileShares struct {
	Seconds       float64
	Share         map[string]float64
	Reads, Writes float64
	// File is the profile itself (gzipped protobuf, for go tool pprof), relative to the
	// results directory; raw holds it until write puts it there.
	File string `json:",omitempty"`
	// N is the round trips (connections opened) in the profile's window.
	N   int64 `json:",omitempty"`
	raw []byte
}

func (r *results) profileFail(sc, t string, err error) {
	if r.ProfileErrors == nil {
		r.ProfileErrors = map[string]string{}
	}
	r.ProfileErrors[sc+": "+t] = err.Error()
}

// profileEcho runs clients echo clients against a fresh server of t for as long as it
// takes to take a CPU profile of profileWindow, and returns the profile's owners and the
// server's system calls per round trip.
func profileEcho(t target, clients int) (profileShares, error) {
	var ps profileShares
	e, addr, ctx, stop, err := profiledServer(t)
	if err != nil {
		return ps, err
	}
	defer stop()
	st := &stats{}
	cs, err := openMany(ctx, t, e, st, clients, 20, nil)
	if err != nil {
		return ps, err
	}
	defer closeAll(cs)
	// The echo scenario's round trips, each client in a loop until the profile is taken.
	runCtx, stopRun := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- echoRounds(runCtx, cs, -1, nil) }()
	time.Sleep(profileWarm)
	pid := e.procs[0].pid()
	io0, ioErr := syscallCounts(pid)
	n0 := st.rounds.Load()
	prof, perr := fetchProfile(ctx, addr, profileWindow)
	io1, ioErr1 := syscallCounts(pid)
	n1 := st.rounds.Load()
	stopRun()
	if err := <-done; err != nil {
		return ps, err // a client failed before the profile was taken
	}
	if perr != nil {
		return ps, perr
	}
	return shares(ps, prof, io0, io1, errors.Join(ioErr, ioErr1), n1-n0)
}

// writeProfiles puts each profile taken in dir/<date>-pprof/<scenario>-<target>.pb.gz
// and records its path, relative to dir, in File.
func (r *results) writeProfiles(dir, date string) error {
	for sc, byTarget := range r.Profiles {
		for name, ps := range byTarget {
			if ps.raw == nil {
				continue
			}
			rel := filepath.Join(date+"-pprof", sc+"-"+slug(name)+".pb.gz")
			if err := os.MkdirAll(filepath.Join(dir, date+"-pprof"), 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(dir, rel), ps.raw, 0o644); err != nil {
				return err
			}
			ps.File, ps.raw = filepath.ToSlash(rel), nil
			byTarget[name] = ps
		}
	}
	return nil
}

// slug is name with each run of characters other than letters and digits as one "-".
func slug(name string) string {
	var b strings.Builder
	dash := false
	for _, c := range strings.ToLower(name) {
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' {
			b.WriteRune(c)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
	}
	return strings.TrimSuffix(b.String(), "-")
}

// profiledServer starts a fresh server of t that serves net/http/pprof, and returns it
// with that address and a context bounding the profile's run; stop ends both.
func profiledServer(t target) (e *env, addr string, ctx context.Context, stop func(), err error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", nil, nil, err
	}
	addr = l.Addr().String()
	l.Close()
	saved := cfg.peerArgs
	cfg.peerArgs += " -pprof " + addr
	defer func() { cfg.peerArgs = saved }()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	if e, err = startEnv(ctx, t); err != nil {
		cancel()
		return nil, "", nil, nil, err
	}
	return e, addr, ctx, func() { e.stop(); cancel() }, nil
}

// profileOpen opens connections to a fresh server of t, 50 at a time as the idle
// scenario does, while a CPU profile of profileOpenWindow is taken (at most max
// connections: the profile covers the opening only), and returns the profile's owners
// and the server's system calls per connection opened.
func profileOpen(t target, max int) (profileShares, error) {
	var ps profileShares
	e, addr, sctx, stop, err := profiledServer(t)
	if err != nil {
		return ps, err
	}
	defer stop()
	ctx, cancel := context.WithCancel(sctx)
	defer cancel()
	pid := e.procs[0].pid()
	io0, ioErr := syscallCounts(pid)
	type fetched struct {
		p   *profile.Profile
		err error
	}
	got := make(chan fetched, 1)
	go func() {
		p, err := fetchProfile(ctx, addr, profileOpenWindow)
		got <- fetched{p, err}
	}()
	st := &stats{}
	var cs []*Client
	defer func() { closeAll(cs) }()
	for len(got) == 0 && len(cs)+500 <= max { // until the profile is taken, or max
		more, err := openMany(ctx, t, e, st, 500, 50, nil)
		if err != nil {
			cancel()
			<-got
			return ps, err
		}
		cs = append(cs, more...)
	}
	f := <-got // past max, the profile goes on while the opened connections sit idle
	io1, ioErr1 := syscallCounts(pid)
	if f.err != nil {
		return ps, f.err
	}
	return shares(ps, f.p, io0, io1, errors.Join(ioErr, ioErr1), int64(len(cs)))
}

// shares fills ps from the profile p and the server's system call counts before and
// after it, over n operations (round trips, connections).
func shares(ps profileShares, p *profile.Profile, io0, io1 [2]int64, ioErr error, n int64) (profileShares, error) {
	byOwner, total := attribute(p)
	if total == 0 {
		return ps, fmt.Errorf("the profile has no samples")
	}
	ps.Seconds, ps.Share, ps.N = total.Seconds(), byOwner, n
	var buf bytes.Buffer
	if err := p.Write(&buf); err == nil {
		ps.raw = buf.Bytes()
	}
	if ioErr == nil && n > 0 {
		ps.Reads = float64(io1[0]-io0[0]) / float64(n)
		ps.Writes = float64(io1[1]-io0[1]) / float64(n)
	}
	return ps, nil
}

// syscallCounts returns the read and write system calls process pid has made
// (/proc/PID/io: syscr, syscw).
func syscallCounts(pid int) ([2]int64, error) {
	v, err := procInts(fmt.Sprintf("/proc/%d/io", pid), "syscr", "syscw")
	return [2]int64{v[0], v[1]}, err
}

func fetchProfile(ctx context.Context, addr string, d time.Duration) (*profile.Profile, error) {
	url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, int(d.Seconds()))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("profile: %s: %s", resp.Status, b)
	}
	return profile.Parse(resp.Body)
}

// attribute charges each sample to an owner: the kernel when it is in a system call,
// else the innermost function on its stack that belongs to a known library (the Go
// runtime's own work, such as allocating, is its caller's), else the Go runtime. It
// returns the owners' shares and the CPU time sampled.
func attribute(p *profile.Profile) (map[string]float64, time.Duration) {
	vi := -1
	for i, st := range p.SampleType {
		if st.Type == "cpu" {
			vi = i
		}
	}
	if vi < 0 {
		return nil, 0
	}
	byOwner := map[string]int64{}
	var total int64
	for _, s := range p.Sample {
		v := s.Value[vi]
		total += v
		byOwner[owner(s)] += v
	}
	shares := map[string]float64{}
	if total == 0 {
		return shares, 0
	}
	for o, v := range byOwner {
		shares[o] = float64(v) / float64(total)
	}
	return shares, time.Duration(total)
}

func owner(s *profile.Sample) string {
	var fns []string // innermost first
	for _, loc := range s.Location {
		for _, ln := range loc.Line { // inlined functions first
			if ln.Function != nil {
				fns = append(fns, ln.Function.Name)
			}
		}
	}
	for _, fn := range fns[:min(3, len(fns))] {
		if fn == "syscall.RawSyscall6" || fn == "syscall.Syscall6" || strings.HasPrefix(fn, "internal/runtime/syscall") {
			return ownKernel
		}
	}
	for _, fn := range fns {
		for _, op := range ownerPrefixes {
			if strings.HasPrefix(fn, op.prefix) {
				return op.owner
			}
		}
	}
	return ownRuntime
}

// profileSection is the report's "where the CPU goes" and the floors of the ratios.
func (r *results) profileSection() string {
	if len(r.Profiles) == 0 && len(r.ProfileErrors) == 0 {
		return ""
	}
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	w("### Where the CPU goes\n\nAfter the measured runs, one more echo run per target under a CPU profile (%s, after %s of load; the echo and fallbacks scenarios' client counts), and for the connection rate a profile of %s while connections open, 50 at a time as in the idle scenario (rows \"connections\"; the system calls are then per connection opened). Each sample is charged to the kernel when it is in a system call, else to the innermost library on its stack (the Go runtime's work, such as allocating, is charged to its caller); shares of the samples. The server process's read and write system calls per round trip are counted over the same window (/proc/PID/io: syscr, syscw; a read that finds nothing counts too).\n\n", profileWindow, profileWarm, profileOpenWindow)
	w("| scenario, target | CPU sampled s (per round trip or connection) | reads / writes per round trip (connection) |")
	for _, o := range owners {
		w(" %s |", o)
	}
	w("\n|---|---|---|%s\n", strings.Repeat("---|", len(owners)))
	for _, pt := range profiled {
		ps, ok := r.Profiles[pt.sc][pt.t.Name]
		if !ok {
			continue
		}
		w("| %s, %s | %.2f", pt.sc, pt.t.Name, ps.Seconds)
		if ps.N > 0 {
			w(" (%.1f µs each)", ps.Seconds*1e6/float64(ps.N))
		}
		w(" |")
		if ps.Reads+ps.Writes > 0 {
			w(" %.2f / %.2f |", ps.Reads, ps.Writes)
		} else {
			w(" – |")
		}
		for _, o := range owners {
			if v := ps.Share[o]; v > 0 {
				w(" %.1f%% |", 100*v)
			} else {
				w(" – |")
			}
		}
		w("\n")
	}
	var files []string
	for _, pt := range profiled {
		if ps := r.Profiles[pt.sc][pt.t.Name]; ps.File != "" {
			files = append(files, "`bench/results/"+ps.File+"`")
		}
	}
	if len(files) > 0 {
		w("\nThe profiles themselves (read them with `go tool pprof -top FILE`): %s.\n", strings.Join(files, ", "))
	}
	keys := make([]string, 0, len(r.ProfileErrors))
	for k := range r.ProfileErrors {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		w("\n* PROFILE FAILED %s: %s", k, r.ProfileErrors[k])
	}
	var floors []string
	for _, g := range r.goals() {
		if g.issue != "21" || !g.got.ok() || g.le && g.got.Med <= g.limit || !g.le && g.got.Med >= g.limit {
			continue
		}
		sc, tn := profiledFor(g)
		ps, ok := r.Profiles[sc][tn]
		if !ok {
			continue
		}
		mine := ps.Share[ownSockhop]
		// A cost ratio falls by sockhop's share; a rate, bound by the server's CPU, rises
		// by as much.
		floor := g.got.Med * (1 - mine)
		out := floor > g.limit
		if !g.le {
			floor = g.got.Med / (1 - mine)
			out = floor < g.limit
		}
		verdict := "within reach by sockhop's code alone"
		if out {
			verdict = "**out of reach** by sockhop's code alone: the rest is " + othersOf(ps)
		}
		fl := fmt.Sprintf("%.2f", floor)
		if fl == fmt.Sprintf("%.2f", g.limit) { // the verdict is in the third decimal
			fl = fmt.Sprintf("%.3f", floor)
		}
		floors = append(floors, fmt.Sprintf("| %s (%s) | %s | %.2f× | %.1f%% | %s× | %s |", g.figure, tn, g.target, g.got.Med, 100*mine, fl, verdict))
	}
	if len(floors) > 0 {
		w("\n\nFloors of the missed targets: the median ratio were sockhop's share of the target's profile free (ratio × (1 − share); for a rate, the best it could reach: ratio ÷ (1 − share)), everything else as measured.\n\n| figure | target | ratio | sockhop's share | floor | |\n|---|---|---|---|---|---|\n%s\n", strings.Join(floors, "\n"))
	}
	w("\n")
	return b.String()
}

// profiledFor is the scenario and target whose profile a CPU goal is about ("" when none).
func profiledFor(g goal) (sc, t string) {
	switch {
	case strings.HasPrefix(g.figure, "connection rate"):
		return "connections", tSockhop.Name
	case !strings.Contains(g.figure, "CPU per round trip"):
		return "", ""
	case strings.HasPrefix(g.figure, "echo "):
		return "echo", tSockhop.Name
	case strings.HasPrefix(g.figure, "xhr-streaming "):
		return "fallbacks", tSockhopStream.Name
	case strings.HasPrefix(g.figure, "xhr-polling "):
		return "fallbacks", tSockhopPoll.Name
	}
	return "", ""
}

// othersOf names the largest owners of ps other than sockhop.
func othersOf(ps profileShares) string {
	type kv struct {
		k string
		v float64
	}
	var xs []kv
	for _, o := range owners {
		if o != ownSockhop && ps.Share[o] >= 0.03 {
			xs = append(xs, kv{o, ps.Share[o]})
		}
	}
	slices.SortFunc(xs, func(a, b kv) int {
		if a.v > b.v {
			return -1
		}
		if a.v < b.v {
			return 1
		}
		return 0
	})
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = fmt.Sprintf("%s %.0f%%", x.k, 100*x.v)
	}
	return strings.Join(parts, ", ")
}
