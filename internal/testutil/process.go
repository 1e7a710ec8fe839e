package testutil

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Process is a test server binary (redis-server, nats-server) started by a test: a
// foreground child process on its own free loopback port with its own directory, stopped
// by its PID. [Redis] and [NATS] embed it: they differ only in the command line and in
// how the server shows that it is ready.
type Process struct {
	t    testing.TB
	name string // the binary's name, for messages: "redis-server"
	bin  string
	dir  string
	addr string
	port int
	// args returns the command line after the binary, for the log file at logPath;
	// logStdout sends the child's standard output and error to that file.
	args      func(port int, dir, logPath string) []string
	logStdout bool
	// ready reports whether the server answered as ready on c (deadline set).
	ready func(c net.Conn) error

	mu   sync.Mutex
	cmd  *exec.Cmd     // guarded by mu; nil when stopped
	done chan struct{} // guarded by mu; closed when cmd has exited
	runs int           // guarded by mu
}

// newProcess finds the binary name (on PATH or in one of paths), picks a free loopback
// port and a directory for t, and stops the process when t ends. It does not start it.
// When the binary is not installed it skips t with hint, or fails t when the CI
// environment variable is "true". Under -short it skips t.
func newProcess(t testing.TB, name string, paths []string, hint string) *Process {
	t.Helper()
	ExternalDep(t, name)
	bin, err := exec.LookPath(name)
	if err != nil {
		for _, p := range paths {
			if _, e := os.Stat(p); e == nil {
				bin, err = p, nil
				break
			}
		}
	}
	if err != nil {
		MissingDep(t, name+" is not installed; run: "+hint)
	}
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	p := &Process{
		t:    t,
		name: name,
		bin:  bin,
		dir:  t.TempDir(),
		addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		port: port,
	}
	t.Cleanup(p.Stop)
	return p
}

// Start starts the server again on the same port after Stop or Kill, and waits until it
// answers as ready (failing the test after 10 s). It does nothing while the server runs.
func (p *Process) Start() {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		return
	}
	p.runs++
	logPath := filepath.Join(p.dir, fmt.Sprintf("%s-%d.log", p.name, p.runs))
	var logf *os.File
	if p.logStdout {
		var err error
		if logf, err = os.Create(logPath); err != nil {
			p.t.Fatal(err)
		}
		defer logf.Close() // the child has its own descriptor
	}
	deadline := time.Now().Add(10 * time.Second)
	var lastErr error
	for attempt := 0; time.Now().Before(deadline) && attempt < 50; attempt++ {
		cmd := exec.Command(p.bin, p.args(p.port, p.dir, logPath)...)
		if logf != nil {
			cmd.Stdout, cmd.Stderr = logf, logf
		}
		if err := cmd.Start(); err != nil {
			p.t.Fatalf("testutil: start %s: %v", p.name, err)
		}
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		if lastErr = p.waitReady(done, deadline); lastErr == nil {
			p.cmd, p.done = cmd, done
			return
		}
		stopProcess(cmd, done) // e.g. the port was still held by a dying instance: retry
		time.Sleep(100 * time.Millisecond)
	}
	log, _ := os.ReadFile(logPath)
	p.t.Fatalf("testutil: %s on %s did not come up: %v\n%s", p.name, p.addr, lastErr, log)
}

// Stop stops the server by its PID: SIGTERM, then SIGKILL after 5 s. It does nothing when
// the server is not running.
func (p *Process) Stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		stopProcess(p.cmd, p.done)
		p.cmd, p.done = nil, nil
	}
}

// Kill kills the server at once with SIGKILL, like a crash, and waits until it is gone.
func (p *Process) Kill() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.done
		p.cmd, p.done = nil, nil
	}
}

// Pause freezes the server with SIGSTOP: its sockets stay open but nothing answers, like
// a hung host or a network black hole. Resume (or Stop) undoes it.
func (p *Process) Pause() { p.signal(syscall.SIGSTOP) }

// Resume continues a paused server with SIGCONT.
func (p *Process) Resume() { p.signal(syscall.SIGCONT) }

func (p *Process) signal(sig syscall.Signal) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		_ = p.cmd.Process.Signal(sig)
	}
}

func stopProcess(cmd *exec.Cmd, done chan struct{}) {
	_ = cmd.Process.Signal(syscall.SIGCONT) // a paused server cannot act on SIGTERM
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-done
	}
}

// waitReady waits until a connection to the server passes p.ready, the process exits, or
// deadline passes.
func (p *Process) waitReady(exited <-chan struct{}, deadline time.Time) error {
	err := errors.New("no answer")
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("%s exited: last error: %v", p.name, err)
		default:
		}
		var c net.Conn
		if c, err = net.DialTimeout("tcp", p.addr, 200*time.Millisecond); err == nil {
			_ = c.SetDeadline(time.Now().Add(time.Second))
			err = p.ready(c)
			c.Close()
			if err == nil {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("not ready before deadline: %v", err)
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("testutil: free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
