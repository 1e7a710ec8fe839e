package testutil

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// RedisInstallHint is the command that installs the redis-server the tests need.
const RedisInstallHint = "apt-get install -y --no-install-recommends redis-server"

// Redis is a redis-server started by a test: a foreground child process on its own free
// loopback port with its own directory, no persistence, stopped by its PID.
type Redis struct {
	// Addr is "127.0.0.1:port", fixed for the life of the Redis, across Restart.
	Addr string

	t    testing.TB
	bin  string
	dir  string
	port int

	mu   sync.Mutex
	cmd  *exec.Cmd     // guarded by mu; nil when stopped
	done chan struct{} // guarded by mu; closed when cmd has exited
	runs int           // guarded by mu
}

// StartRedis starts a redis-server for t and stops it when t ends. When redis-server is not
// installed it skips t with the apt-get line, or fails t when the CI environment variable
// is "true". Under -short it skips t.
func StartRedis(t testing.TB) *Redis {
	t.Helper()
	ExternalDep(t, "redis-server")
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		for _, p := range []string{"/usr/bin/redis-server", "/usr/local/bin/redis-server"} {
			if _, e := os.Stat(p); e == nil {
				bin, err = p, nil
				break
			}
		}
	}
	if err != nil {
		MissingDep(t, "redis-server is not installed; run: "+RedisInstallHint)
	}
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	r := &Redis{
		Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		t:    t,
		bin:  bin,
		dir:  t.TempDir(),
		port: port,
	}
	t.Cleanup(r.Stop)
	r.Start()
	return r
}

// URL returns the redis:// URL of the server.
func (r *Redis) URL() string { return "redis://" + r.Addr + "/0" }

// Start starts the server again on the same port after Stop or Kill, and waits until it
// answers PING (failing the test after 10 s). It does nothing while the server runs.
func (r *Redis) Start() {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd != nil {
		return
	}
	r.runs++
	logPath := filepath.Join(r.dir, fmt.Sprintf("redis-%d.log", r.runs))
	logf, err := os.Create(logPath)
	if err != nil {
		r.t.Fatal(err)
	}
	defer logf.Close() // the child has its own descriptor
	deadline := time.Now().Add(10 * time.Second)
	var lastErr error
	for attempt := 0; time.Now().Before(deadline) && attempt < 50; attempt++ {
		cmd := exec.Command(r.bin,
			"--port", strconv.Itoa(r.port), "--bind", "127.0.0.1",
			"--save", "", "--appendonly", "no", "--dir", r.dir,
			"--daemonize", "no", "--protected-mode", "no")
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			r.t.Fatalf("testutil: start redis-server: %v", err)
		}
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		if lastErr = waitPing(r.Addr, done, deadline); lastErr == nil {
			r.cmd, r.done = cmd, done
			return
		}
		stopProcess(cmd, done) // e.g. the port was still held by a dying instance: retry
		time.Sleep(100 * time.Millisecond)
	}
	log, _ := os.ReadFile(logPath)
	r.t.Fatalf("testutil: redis-server on %s did not come up: %v\n%s", r.Addr, lastErr, log)
}

// Stop stops the server by its PID: SIGTERM, then SIGKILL after 5 s. It does nothing when
// the server is not running.
func (r *Redis) Stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd != nil {
		stopProcess(r.cmd, r.done)
		r.cmd, r.done = nil, nil
	}
}

// Pause freezes the server with SIGSTOP: its sockets stay open but nothing answers, like
// a hung host or a network black hole. Resume (or Stop) undoes it.
func (r *Redis) Pause() { r.signal(syscall.SIGSTOP) }

// Resume continues a paused server with SIGCONT.
func (r *Redis) Resume() { r.signal(syscall.SIGCONT) }

func (r *Redis) signal(sig syscall.Signal) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd != nil {
		_ = r.cmd.Process.Signal(sig)
	}
}

// Kill kills the server at once with SIGKILL, like a crash, and waits until it is gone.
func (r *Redis) Kill() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd != nil {
		_ = r.cmd.Process.Signal(syscall.SIGKILL)
		<-r.done
		r.cmd, r.done = nil, nil
	}
}

// Do sends one command (inline form, arguments without spaces) to the server on a fresh
// connection and returns the first line of the reply, e.g. Do("PING") == "+PONG".
func (r *Redis) Do(args ...string) (string, error) {
	c, err := net.DialTimeout("tcp", r.Addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := fmt.Fprintf(c, "%s\r\n", strings.Join(args, " ")); err != nil {
		return "", err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimRight(line, "\r\n"), err
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

// waitPing waits until a PING on addr answers +PONG, the process exits, or deadline passes.
func waitPing(addr string, exited <-chan struct{}, deadline time.Time) error {
	err := errors.New("no answer")
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("redis-server exited: last error: %v", err)
		default:
		}
		var c net.Conn
		if c, err = net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			_ = c.SetDeadline(time.Now().Add(time.Second))
			var line string
			if _, err = c.Write([]byte("PING\r\n")); err == nil {
				line, err = bufio.NewReader(c).ReadString('\n')
			}
			c.Close()
			if err == nil && strings.HasPrefix(line, "+PONG") {
				return nil
			}
			if err == nil {
				err = fmt.Errorf("PING answered %q", line)
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
