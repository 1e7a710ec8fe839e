package clustertest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sockhop/sockhop/internal/testutil"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
	if code == 0 {
		// The leak check of testutil.Main, which exits before the build dir could go:
		// the servers run in child processes, so only the test's clients can leak.
		deadline := time.Now().Add(testutil.Grace)
		leaks := testutil.Leaks()
		for len(leaks) > 0 && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
			leaks = testutil.Leaks()
		}
		if len(leaks) > 0 {
			fmt.Fprintf(os.Stderr, "clustertest: %d goroutine(s) leaked by the tests:\n\n%s\n", len(leaks), strings.Join(leaks, "\n\n"))
			code = 1
		}
	}
	os.Exit(code)
}

var (
	buildOnce sync.Once
	buildDir  string // removed by TestMain
	buildErr  error
)

// program builds ./node, ./swarm and examples/chat once per test run (without -race: the
// nodes are the system under test and swarm its load, and the race detector runs in the
// packages' own tests) and returns the path of the one named.
func program(t testing.TB, name string) string {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		testutil.MissingDep(t, "no go command to build internal/clustertest/node and swarm")
	}
	buildOnce.Do(func() {
		if buildDir, buildErr = os.MkdirTemp("", "sockhop-clustertest-"); buildErr != nil {
			return
		}
		cmd := exec.Command("go", "build", "-o", buildDir+"/", "./internal/clustertest/node", "./internal/clustertest/swarm", "./examples/chat")
		cmd.Dir = testutil.RepoRoot(t)
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build %v: %v\n%s", cmd.Args[4:], err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(buildDir, name)
}

// process is a child of the test, in the foreground, stopped by its PID when the test
// ends: SIGTERM, then SIGKILL after a grace period.
type process struct {
	name   string
	cmd    *exec.Cmd
	out    testutil.SyncBuffer // stdout and stderr
	exited chan struct{}
	once   sync.Once
}

// startProcess runs args as a child of the test.
func startProcess(t testing.TB, name string, args ...string) *process {
	t.Helper()
	p := &process{name: name, cmd: exec.Command(args[0], args[1:]...), exited: make(chan struct{})}
	p.cmd.Stdout = &p.out
	p.cmd.Stderr = &p.out
	p.cmd.WaitDelay = 5 * time.Second // a child that outlives the process must not hold Wait by the output pipe
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	go func() {
		_ = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(p.stop)
	return p
}

// pid is the process's id.
func (p *process) pid() int { return p.cmd.Process.Pid }

// alive reports whether the process has not exited.
func (p *process) alive() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// stop ends the process by its PID: SIGTERM, then SIGKILL after 5 s.
func (p *process) stop() {
	p.once.Do(func() {
		if !p.alive() {
			return
		}
		_ = syscall.Kill(p.pid(), syscall.SIGCONT) // a frozen process cannot act on SIGTERM
		_ = syscall.Kill(p.pid(), syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(p.pid(), syscall.SIGKILL)
			<-p.exited
		}
	})
}

// kill ends the process at once by its PID with SIGKILL, like a crash, and waits until it
// is gone.
func (p *process) kill() {
	p.once.Do(func() {
		_ = syscall.Kill(p.pid(), syscall.SIGKILL)
		<-p.exited
	})
}

// waitOutput waits until the process's output contains want and returns the output, or
// fails t when the process exits first or time is up.
func (p *process) waitOutput(t testing.TB, want string, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if out := p.out.String(); strings.Contains(out, want) {
			return out
		}
		select {
		case <-p.exited:
			t.Fatalf("%s exited before printing %q:\n%s", p.name, want, p.out.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not print %q within %v:\n%s", p.name, want, timeout, p.out.String())
		}
	}
}

// waitListening waits until addr accepts TCP connections, or fails t (with the process's
// output and logFile) when the process exits or time is up.
func (p *process) waitListening(t testing.TB, addr, logFile string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		log, _ := os.ReadFile(logFile)
		select {
		case <-p.exited:
			t.Fatalf("%s exited before listening on %s:\n%s\n%s", p.name, addr, p.out.String(), log)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not listen on %s after 10s:\n%s\n%s", p.name, addr, p.out.String(), log)
		}
	}
}

// lookProgram finds an installed program, in /usr/sbin too (not on every PATH).
func lookProgram(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/usr/local/sbin", "/usr/local/bin"} {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", errors.New(name + " is not installed")
}
