package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
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
	mon  string // nats-server: its monitoring host:port (/varz)
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
	nofile    uint64        // open-file limit the servers need (-nofile of the Go peers)
}

// startServer starts a server process by kind (gorilla, sockjs, centrifuge, sockhop,
// socketio) and waits for its READY line.
func startServer(ctx context.Context, kind string, extra ...string) (*server, error) {
	var argv []string
	switch kind {
	case "socketio":
		argv = []string{"node", filepath.Join(cfg.socketDir, "server.js"), "0"}
	default:
		argv = append([]string{cfg.peerBin, "-kind", kind, "-nofile", strconv.FormatUint(cfg.nofile, 10)}, extra...)
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

// cpuTime is the CPU time of every thread of pid: the sum of the threads' run time from
// /proc/PID/task/*/schedstat (nanoseconds, so the short smoke measurements are not
// rounded to 10 ms ticks), or utime+stime from /proc/PID/stat where schedstat is missing.
// A thread that exited between two readings takes its time with it; the Go peers and Node
// keep their threads.
func cpuTime(pid int) (time.Duration, error) {
	if d, err := schedTime(pid); err == nil {
		return d, nil
	}
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

func schedTime(pid int) (time.Duration, error) {
	dir := fmt.Sprintf("/proc/%d/task", pid)
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	var sum int64
	for _, t := range tasks {
		b, err := os.ReadFile(filepath.Join(dir, t.Name(), "schedstat"))
		if err != nil {
			if errors.Is(err, os.ErrNotExist) { // the thread exited
				continue
			}
			return 0, err
		}
		f := strings.Fields(string(b))
		if len(f) == 0 {
			return 0, errors.New("empty schedstat")
		}
		ns, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, err
		}
		sum += ns
	}
	return time.Duration(sum), nil
}

// rss is VmRSS of pid in bytes.
func rss(pid int) (int64, error) {
	v, err := procInts(fmt.Sprintf("/proc/%d/status", pid), "VmRSS")
	return v[0] << 10, err // in kB
}

// procInts reads the integers of keys from a /proc file of "key: value [unit]" lines, in
// the order of keys; a key missing is an error.
func procInts(path string, keys ...string) ([]int64, error) {
	vals := make([]int64, len(keys))
	b, err := os.ReadFile(path)
	if err != nil {
		return vals, err
	}
	found := 0
	for line := range strings.Lines(string(b)) {
		k, v, ok := strings.Cut(line, ":")
		i := slices.Index(keys, k)
		if !ok || i < 0 {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			return vals, fmt.Errorf("%s: %s has no value", path, k)
		}
		if vals[i], err = strconv.ParseInt(f[0], 10, 64); err != nil {
			return vals, fmt.Errorf("%s: %s: %w", path, k, err)
		}
		found++
	}
	if found != len(keys) {
		return vals, fmt.Errorf("%s has no %s", path, strings.Join(keys, ", "))
	}
	return vals, nil
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
	ln2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		ln.Close()
		return nil, err
	}
	port, mport := ln.Addr().(*net.TCPAddr).Port, ln2.Addr().(*net.TCPAddr).Port
	ln.Close()
	ln2.Close()
	s, err := startProc(ctx, "nats-server", []string{cfg.natsBin, "-a", "127.0.0.1", "-p", strconv.Itoa(port), "-m", strconv.Itoa(mport)}, "")
	if err != nil {
		return nil, err
	}
	s.addr = fmt.Sprintf("127.0.0.1:%d", port)
	s.mon = fmt.Sprintf("127.0.0.1:%d", mport)
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

// brokerBytes is what a Redis or NATS server has read from and written to its clients
// so far, from its own counters: Redis INFO stats (total_net_input_bytes,
// total_net_output_bytes), NATS /varz (in_bytes, out_bytes).
func brokerBytes(ctx context.Context, b *server) (in, out int64, err error) {
	if b.mon != "" {
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+b.mon+"/varz", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, 0, err
		}
		defer resp.Body.Close()
		var v struct {
			InBytes  int64 `json:"in_bytes"`
			OutBytes int64 `json:"out_bytes"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
			return 0, 0, fmt.Errorf("nats /varz: %w", err)
		}
		return v.InBytes, v.OutBytes, nil
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", b.addr)
	if err != nil {
		return 0, 0, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("INFO stats\r\n")); err != nil {
		return 0, 0, err
	}
	br := bufio.NewReader(c)
	head, err := br.ReadString('\n') // $<length>
	if err != nil {
		return 0, 0, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(head, "$")))
	if err != nil || n <= 0 {
		return 0, 0, fmt.Errorf("redis INFO: %q", head)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(br, body); err != nil {
		return 0, 0, err
	}
	in, out = -1, -1
	for line := range strings.SplitSeq(string(body), "\r\n") {
		if v, ok := strings.CutPrefix(line, "total_net_input_bytes:"); ok {
			in, _ = strconv.ParseInt(v, 10, 64)
		}
		if v, ok := strings.CutPrefix(line, "total_net_output_bytes:"); ok {
			out, _ = strconv.ParseInt(v, 10, 64)
		}
	}
	if in < 0 || out < 0 {
		return 0, 0, errors.New("redis INFO stats: no total_net_input_bytes/total_net_output_bytes")
	}
	return in, out, nil
}
