package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// server is one running server process, pinned to the server core.
type server struct {
	name string
	cmd  *exec.Cmd
	addr string // host:port
	log  *tailBuffer
	done chan struct{}
}

// cfg locates the binaries; set by main.
var cfg struct {
	peerBin   string // bench/bin/peer
	socketDir string // bench/socketio
	serverCPU string // taskset list for servers, "" = no pinning
	redisBin  string
	natsBin   string
	tmp       string
	peerArgs  string        // extra flags for the Go peers
	hold      time.Duration // idle: keep connections open after measuring
}

// startServer starts a server process by kind (gorilla, sockjs, centrifuge, sockhop,
// socketio) and waits for its READY line.
func startServer(ctx context.Context, kind string, extra ...string) (*server, error) {
	var argv []string
	switch kind {
	case "socketio":
		argv = []string{"node", filepath.Join(cfg.socketDir, "server.js"), "0"}
	default:
		argv = append([]string{cfg.peerBin, "-kind", kind}, extra...)
		argv = append(argv, strings.Fields(cfg.peerArgs)...)
	}
	return startProc(ctx, kind, argv, "READY ")
}

// startProc starts argv pinned to the server core and waits until it prints a line that
// starts with readyPrefix on stdout (the rest of the line is its address); with an empty
// readyPrefix it returns at once.
func startProc(ctx context.Context, name string, argv []string, readyPrefix string) (*server, error) {
	if cfg.serverCPU != "" {
		argv = append([]string{"taskset", "-c", cfg.serverCPU}, argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	s := &server{name: name, cmd: cmd, log: &tailBuffer{}, done: make(chan struct{})}
	cmd.Stderr = s.log
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	running.Store(s, struct{}{})
	go func() { cmd.Wait(); close(s.done); running.Delete(s) }()
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			if strings.HasPrefix(line, readyPrefix) {
				select {
				case ready <- strings.TrimSpace(strings.TrimPrefix(line, readyPrefix)):
				default:
				}
			}
			s.log.Write([]byte(line + "\n"))
		}
	}()
	if readyPrefix == "" { // the caller polls the process's port
		return s, nil
	}
	t := time.NewTimer(30 * time.Second)
	defer t.Stop()
	select {
	case a := <-ready:
		s.addr = a
		return s, nil
	case <-s.done:
		return nil, fmt.Errorf("%s exited before it was ready: %s", name, s.log.String())
	case <-t.C:
		s.stop()
		return nil, fmt.Errorf("%s not ready after 30s: %s", name, s.log.String())
	case <-ctx.Done():
		s.stop()
		return nil, ctx.Err()
	}
}

// running holds the started processes, for stopAll.
var running sync.Map // *server -> struct{}

// stopAll stops every process this harness started (on SIGINT/SIGTERM).
func stopAll() {
	running.Range(func(k, _ any) bool {
		k.(*server).stop()
		return true
	})
}

// pid is the measured process: with taskset in front, taskset execs the server, so the
// PID is the server's.
func (s *server) pid() int { return s.cmd.Process.Pid }

// stop sends SIGTERM, then SIGKILL after 3s, to this process only (by PID).
func (s *server) stop() {
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(3 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

func (s *server) alive() error {
	select {
	case <-s.done:
		return fmt.Errorf("%s exited: %s", s.name, s.log.String())
	default:
		return nil
	}
}

// cpuTime is utime+stime of every thread of pid.
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	i := strings.LastIndexByte(string(b), ')')
	f := strings.Fields(string(b[i+2:]))
	// fields after the command: state is field 3, utime 14, stime 15 (1-based) → 11, 12 here
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	const hz = 100 // USER_HZ on Linux
	return time.Duration(ut+st) * time.Second / hz, nil
}

// rss is VmRSS of pid in bytes.
func rss(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmRSS")
}

// startRedis starts a private redis-server on a free loopback port.
func startRedis(ctx context.Context) (*server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	dir, err := os.MkdirTemp(cfg.tmp, "redis")
	if err != nil {
		return nil, err
	}
	s, err := startProc(ctx, "redis-server", []string{cfg.redisBin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", dir}, "")
	if err != nil {
		return nil, err
	}
	s.addr = fmt.Sprintf("127.0.0.1:%d", port)
	for range 100 { // ready when it accepts connections
		if c, err := net.Dial("tcp", s.addr); err == nil {
			c.Close()
			return s, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.stop()
	return nil, errors.New("redis-server did not accept connections")
}

// startNATS starts a private nats-server on a free loopback port.
func startNATS(ctx context.Context) (*server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	s, err := startProc(ctx, "nats-server", []string{cfg.natsBin, "-a", "127.0.0.1", "-p", strconv.Itoa(port)}, "")
	if err != nil {
		return nil, err
	}
	s.addr = fmt.Sprintf("127.0.0.1:%d", port)
	for range 100 { // ready when it greets a client
		if c, err := net.Dial("tcp", s.addr); err == nil {
			_ = c.SetReadDeadline(time.Now().Add(time.Second))
			line, err := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if err == nil && strings.HasPrefix(line, "INFO ") {
				return s, nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.stop()
	return nil, errors.New("nats-server did not accept connections")
}

// tailBuffer keeps the last 4 KiB of a process's output for error messages.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > 4096 {
		t.buf = t.buf[len(t.buf)-4096:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(t.buf))
}

var _ io.Writer = (*tailBuffer)(nil)

// coreBusy is the non-idle time of CPU cpu (a single number like "0") from /proc/stat.
func coreBusy(cpu string) (time.Duration, error) {
	if _, err := strconv.Atoi(cpu); err != nil {
		return 0, errors.New("no single server CPU")
	}
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 8 || f[0] != "cpu"+cpu {
			continue
		}
		var busy int64
		for i, v := range f[1:] {
			if i == 3 || i == 4 { // idle, iowait
				continue
			}
			n, _ := strconv.ParseInt(v, 10, 64)
			busy += n
		}
		const hz = 100
		return time.Duration(busy) * time.Second / hz, nil
	}
	return 0, errors.New("no cpu" + cpu + " in /proc/stat")
}
