package testutil

import (
	"bufio"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// NATSInstallHint is the command that installs the nats-server the tests need.
const NATSInstallHint = "apt-get install -y --no-install-recommends nats-server"

// NATS is a nats-server started by a test: a foreground child process on its own free
// loopback port with its own directory (log files), no JetStream unless
// [StartNATSJetStream] started it, stopped by its PID. It
// offers what [Redis] offers (its [Process] methods): Start again on the same port, Stop,
// Kill, Pause and Resume; Start waits until the server greets a client with INFO.
type NATS struct {
	// Addr is "127.0.0.1:port", fixed for the life of the NATS, across restarts.
	Addr string

	*Process
}

// StartNATS starts a nats-server for t and stops it when t ends. When nats-server is not
// installed it skips t with the apt-get line, or fails t when the CI environment variable
// is "true". Under -short it skips t.
func StartNATS(t testing.TB) *NATS {
	t.Helper()
	return startNATS(t, false)
}

// StartNATSJetStream is [StartNATS] with JetStream on ("-js -sd <its directory>"). Streams
// stored in files survive Stop and Start (the directory stays); streams in memory do not.
func StartNATSJetStream(t testing.TB) *NATS {
	t.Helper()
	return startNATS(t, true)
}

func startNATS(t testing.TB, js bool) *NATS {
	t.Helper()
	// Debian installs it in /usr/sbin, which is not on every user's PATH.
	p := newProcess(t, "nats-server", []string{"/usr/sbin/nats-server", "/usr/bin/nats-server", "/usr/local/bin/nats-server"}, NATSInstallHint)
	p.args = func(port int, dir, logPath string) []string {
		args := []string{"-a", "127.0.0.1", "-p", strconv.Itoa(port),
			"-n", fmt.Sprintf("test-%d", port), "-l", logPath}
		if js {
			args = append(args, "-js", "-sd", filepath.Join(dir, "jetstream"))
		}
		return args
	}
	p.ready = greetsINFO
	p.Start()
	return &NATS{Addr: p.addr, Process: p}
}

// URL returns the nats:// URL of the server.
func (n *NATS) URL() string { return "nats://" + n.Addr }

// greetsINFO reports whether the server greets a client on c with its INFO line.
func greetsINFO(c net.Conn) error {
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "INFO ") {
		return fmt.Errorf("greeted with %q", line)
	}
	return nil
}
