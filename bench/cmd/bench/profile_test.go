package main

import (
	"math"
	"os"
	"strings"
	"testing"

	"github.com/google/pprof/profile"
)

// stack builds a sample of v nanoseconds from function names, innermost first.
func stack(v int64, fns ...string) *profile.Sample {
	s := &profile.Sample{Value: []int64{1, v}}
	for _, fn := range fns {
		s.Location = append(s.Location, &profile.Location{Line: []profile.Line{{Function: &profile.Function{Name: fn}}}})
	}
	return s
}

// TestAttribute: samples go to the kernel in a system call, else to the innermost known
// library, the runtime's work to its caller.
func TestAttribute(t *testing.T) {
	p := &profile.Profile{
		SampleType: []*profile.ValueType{{Type: "samples", Unit: "count"}, {Type: "cpu", Unit: "nanoseconds"}},
		Sample: []*profile.Sample{
			// a write from sockhop's writer through sockjs-go and net/http: the kernel's
			stack(40, "internal/runtime/syscall/linux.Syscall6", "syscall.RawSyscall6", "syscall.write", "net/http.(*chunkWriter).flush",
				"github.com/igm/sockjs-go/v3/sockjs.(*httpReceiver).sendFrame", "github.com/sockhop/sockhop/session.(*served).write"),
			// net/http's flush above the system call, called by sockjs-go: net/http's
			stack(20, "bufio.(*Writer).Flush", "net/http.(*response).FlushError", "github.com/igm/sockjs-go/v3/sockjs.(*httpReceiver).sendFrame",
				"github.com/sockhop/sockhop/session.(*served).write"),
			// an allocation in sockhop's handler of a request net/http serves: sockhop's
			stack(15, "runtime.mallocgc", "runtime.newobject", "github.com/sockhop/sockhop/transport/sockjs.(*Handler).xhrSend", "net/http.(*conn).serve"),
			stack(10, "runtime.scanobject", "runtime.gcDrain", "runtime.gcBgMarkWorker"),
			stack(10, "main.newCentrifuge.func2", "github.com/centrifugal/centrifuge.(*Client).handleRPC"),
			stack(5, "runtime.findRunnable", "runtime.schedule"),
		},
	}
	shares, total := attribute(p)
	if total != 100 {
		t.Fatalf("total %v, want 100ns", total)
	}
	want := map[string]float64{ownKernel: 0.40, ownHTTP: 0.20, ownSockhop: 0.15, ownGC: 0.10, ownApp: 0.10, ownRuntime: 0.05}
	for o, w := range want {
		if math.Abs(shares[o]-w) > 1e-9 {
			t.Errorf("%s: %.2f, want %.2f (all: %v)", o, shares[o], w, shares)
		}
	}
	if len(shares) != len(want) {
		t.Errorf("owners %v, want %v", shares, want)
	}
}

// TestProfileFloors: a missed CPU target whose profile leaves too little to sockhop is
// reported out of reach, with what takes the rest.
func TestProfileFloors(t *testing.T) {
	r := newResults(fullParams)
	for run := 1; run <= 3; run++ {
		r.add("fallbacks", tSockhop.Name, run, map[string]float64{"cpu_ms_per_1k": 10})
		r.add("fallbacks", tSockhopPoll.Name, run, map[string]float64{"cpu_ms_per_1k": 45})
		r.add("fallbacks", tSockhopStream.Name, run, map[string]float64{"cpu_ms_per_1k": 25})
	}
	r.Profiles = map[string]map[string]profileShares{"fallbacks": {
		tSockhopPoll.Name:   {Seconds: 4, Share: map[string]float64{ownKernel: 0.4, ownHTTP: 0.35, ownSockhop: 0.15, ownSockjs: 0.1}, Reads: 3.5, Writes: 2.06},
		tSockhopStream.Name: {Seconds: 4, Share: map[string]float64{ownKernel: 0.4, ownHTTP: 0.1, ownSockhop: 0.5}},
	}}
	md := r.profileSection()
	if !strings.Contains(md, "| fallbacks, sockhop xhr-polling | 4.00 | 3.50 / 2.06 |") || !strings.Contains(md, "| fallbacks, sockhop xhr-streaming | 4.00 | – |") {
		t.Errorf("system calls per round trip not shown, or shown where not counted:\n%s", md)
	}
	// polling: 4.5× own WebSocket, floor 4.5 × 0.85 ≈ 3.82 > 3.0
	if !strings.Contains(md, "| 4.50× | 15.0% | 3.82× | **out of reach**") || !strings.Contains(md, "kernel (system calls) 40%, net/http 35%, sockjs-go 10%") {
		t.Errorf("polling floor not reported out of reach:\n%s", md)
	}
	// streaming: 2.5×, floor 1.25 ≤ 2.0
	if !strings.Contains(md, "| 2.50× | 50.0% | 1.25× | within reach") {
		t.Errorf("streaming floor not reported within reach:\n%s", md)
	}
}

// TestSyscallCounts: the counts grow by the reads and writes this process makes.
func TestSyscallCounts(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	before, err := syscallCounts(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1)
	for range 100 {
		if _, err := w.Write(buf); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Read(buf); err != nil {
			t.Fatal(err)
		}
	}
	after, err := syscallCounts(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if d := after[0] - before[0]; d < 100 {
		t.Errorf("reads grew by %d, want at least 100", d)
	}
	if d := after[1] - before[1]; d < 100 {
		t.Errorf("writes grew by %d, want at least 100", d)
	}
	if _, err := syscallCounts(1 << 30); err == nil {
		t.Error("no error for a process that does not exist")
	}
}

// TestWriteProfiles: each profile taken lands in <date>-pprof under the results directory,
// named by scenario and target, readable by pprof, and its path is recorded.
func TestWriteProfiles(t *testing.T) {
	p := &profile.Profile{
		SampleType: []*profile.ValueType{{Type: "samples", Unit: "count"}, {Type: "cpu", Unit: "nanoseconds"}},
		Sample:     []*profile.Sample{stack(40, "github.com/sockhop/sockhop/session.(*served).write")},
	}
	fn := p.Sample[0].Location[0].Line[0].Function
	fn.ID, p.Sample[0].Location[0].ID = 1, 1
	p.Function, p.Location = []*profile.Function{fn}, p.Sample[0].Location
	var buf strings.Builder
	if err := p.Write(&buf); err != nil {
		t.Fatal(err)
	}
	r := &results{Profiles: map[string]map[string]profileShares{
		"fallbacks": {"sockhop xhr-streaming": {Seconds: 1, raw: []byte(buf.String())}, "centrifuge": {Seconds: 1}},
	}}
	dir := t.TempDir()
	if err := r.writeProfiles(dir, "2026-12-03"); err != nil {
		t.Fatal(err)
	}
	ps := r.Profiles["fallbacks"]["sockhop xhr-streaming"]
	if want := "2026-12-03-pprof/fallbacks-sockhop-xhr-streaming.pb.gz"; ps.File != want || ps.raw != nil {
		t.Fatalf("File %q (raw kept: %v), want %q", ps.File, ps.raw != nil, want)
	}
	f, err := os.Open(dir + "/" + ps.File)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := profile.Parse(f)
	if err != nil {
		t.Fatalf("written profile: %v", err)
	}
	if len(got.Sample) != 1 {
		t.Fatalf("written profile: %d samples, want 1", len(got.Sample))
	}
	if f := r.Profiles["fallbacks"]["centrifuge"].File; f != "" {
		t.Fatalf("a profile without data got a file: %q", f)
	}
	if !strings.Contains(r.profileSection(), "`bench/results/"+ps.File+"`") {
		t.Fatal("the profile section does not name the file")
	}
}
