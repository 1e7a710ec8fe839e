package testutil

import (
	"bufio"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// RedisInstallHint is the command that installs the redis-server the tests need.
const RedisInstallHint = "apt-get install -y --no-install-recommends redis-server"

// Redis is a redis-server started by a test: a foreground child process on its own free
// loopback port with its own directory, no persistence, stopped by its PID. Its
// [Process] methods start it again on the same port, stop, kill, pause and resume it;
// Start waits until it answers PING.
type Redis struct {
	// Addr is "127.0.0.1:port", fixed for the life of the Redis, across Restart.
	Addr string

	*Process
}

// StartRedis starts a redis-server for t and stops it when t ends. When redis-server is not
// installed it skips t with the apt-get line, or fails t when the CI environment variable
// is "true". Under -short it skips t.
func StartRedis(t testing.TB) *Redis {
	t.Helper()
	p := newProcess(t, "redis-server", []string{"/usr/bin/redis-server", "/usr/local/bin/redis-server"}, RedisInstallHint)
	p.args = func(port int, dir, _ string) []string {
		return []string{
			"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--save", "", "--appendonly", "no", "--dir", dir,
			"--daemonize", "no", "--protected-mode", "no"}
	}
	p.logStdout = true
	p.ready = answersPING
	p.Start()
	return &Redis{Addr: p.addr, Process: p}
}

// URL returns the redis:// URL of the server.
func (r *Redis) URL() string { return "redis://" + r.Addr + "/0" }

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

// answersPING reports whether a PING on c answers +PONG.
func answersPING(c net.Conn) error {
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") {
		return fmt.Errorf("PING answered %q", line)
	}
	return nil
}
