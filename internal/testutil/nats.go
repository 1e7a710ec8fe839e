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

// NATSInstallHint is the command that installs the nats-server the tests need.
const NATSInstallHint = "apt-get install -y --no-install-recommends nats-server"

// NATS is a nats-server started by a test: a foreground child process on its own free
// loopback port with its own directory (log files), no JetStream, stopped by its PID. It
// offers what [Redis] offers: Start again on the same port, Stop, Kill, Pause and Resume.
type NATS struct {
	// Addr is "127.0.0.1:port", fixed for the life of the NATS, across restarts.
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

// StartNATS starts a nats-server for t and stops it when t ends. When nats-server is not
// installed it skips t with the apt-get line, or fails t when the CI environment variable
// is "true". Under -short it skips t.
func StartNATS(t testing.TB) *NATS {
	t.Helper()
	ExternalDep(t, "nats-server")
	bin, err := exec.LookPath("nats-server")
	if err != nil {
		// Debian installs it in /usr/sbin, which is not on every user's PATH.
		for _, p := range []string{"/usr/sbin/nats-server", "/usr/bin/nats-server", "/usr/local/bin/nats-server"} {
			if _, e := os.Stat(p); e == nil {
				bin, err = p, nil
				break
			}
		}
	}
	if err != nil {
		MissingDep(t, "nats-server is not installed; run: "+NATSInstallHint)
	}
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	n := &NATS{
		Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		t:    t,
		bin:  bin,
		dir:  t.TempDir(),
		port: port,
	}
	t.Cleanup(n.Stop)
	n.Start()
	return n
}

// URL returns the nats:// URL of the server.
func (n *NATS) URL() string { return "nats://" + n.Addr }

// Start starts the server again on the same port after Stop or Kill, and waits until it
// greets a client with INFO (failing the test after 10 s). It does nothing while the server
// runs.
func (n *NATS) Start() {
	n.t.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd != nil {
		return
	}
	n.runs++
	logPath := filepath.Join(n.dir, fmt.Sprintf("nats-%d.log", n.runs))
	deadline := time.Now().Add(10 * time.Second)
	var lastErr error
	for attempt := 0; time.Now().Before(deadline) && attempt < 50; attempt++ {
		cmd := exec.Command(n.bin, "-a", "127.0.0.1", "-p", strconv.Itoa(n.port),
			"-n", fmt.Sprintf("test-%d", n.port), "-l", logPath)
		if err := cmd.Start(); err != nil {
			n.t.Fatalf("testutil: start nats-server: %v", err)
		}
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		if lastErr = waitINFO(n.Addr, done, deadline); lastErr == nil {
			n.cmd, n.done = cmd, done
			return
		}
		stopProcess(cmd, done) // e.g. the port was still held by a dying instance: retry
		time.Sleep(100 * time.Millisecond)
	}
	log, _ := os.ReadFile(logPath)
	n.t.Fatalf("testutil: nats-server on %s did not come up: %v\n%s", n.Addr, lastErr, log)
}

// Stop stops the server by its PID: SIGTERM, then SIGKILL after 5 s. It does nothing when
// the server is not running.
func (n *NATS) Stop() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd != nil {
		stopProcess(n.cmd, n.done)
		n.cmd, n.done = nil, nil
	}
}

// Kill kills the server at once with SIGKILL, like a crash, and waits until it is gone.
func (n *NATS) Kill() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd != nil {
		_ = n.cmd.Process.Signal(syscall.SIGKILL)
		<-n.done
		n.cmd, n.done = nil, nil
	}
}

// Pause freezes the server with SIGSTOP: its sockets stay open but nothing answers, like
// a hung host or a network black hole. Resume (or Stop) undoes it.
func (n *NATS) Pause() { n.signal(syscall.SIGSTOP) }

// Resume continues a paused server with SIGCONT.
func (n *NATS) Resume() { n.signal(syscall.SIGCONT) }

func (n *NATS) signal(sig syscall.Signal) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd != nil {
		_ = n.cmd.Process.Signal(sig)
	}
}

// waitINFO waits until a connection to addr is greeted with the server's INFO line, the
// process exits, or deadline passes.
func waitINFO(addr string, exited <-chan struct{}, deadline time.Time) error {
	err := errors.New("no answer")
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("nats-server exited: last error: %v", err)
		default:
		}
		var c net.Conn
		if c, err = net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			_ = c.SetDeadline(time.Now().Add(time.Second))
			var line string
			line, err = bufio.NewReader(c).ReadString('\n')
			c.Close()
			if err == nil && strings.HasPrefix(line, "INFO ") {
				return nil
			}
			if err == nil {
				err = fmt.Errorf("greeted with %q", line)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("not ready before deadline: %v", err)
}
