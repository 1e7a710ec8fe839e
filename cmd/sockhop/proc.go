package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/sockhop/sockhop"
)

// Close codes of exec's sessions (besides sockhop's own): the program's exit, in the
// apps' terminal range (4600–4999), so that clients do not start the program again on
// their own.
const (
	closeExited   = 4600 // the program exited with a status other than 0
	closeSignaled = 4601 // the program was killed by a signal
)

// drainTimeout is how long, after the program exits, its output may take to arrive
// (a child it left behind may hold the pipe open: that is cut).
const drainTimeout = 2 * time.Second

// exitAckTimeout bounds the wait for the client's answer to "exit" before the close.
const exitAckTimeout = 5 * time.Second

var errTooMany = errors.New("too many programs running")

// procTable is the programs of the live sessions, by session id.
type procTable struct {
	max int

	mu    sync.Mutex
	procs map[string]*proc // guarded by mu
}

func newProcTable(max int) *procTable {
	return &procTable{max: max, procs: make(map[string]*proc)}
}

func (t *procTable) get(id string) *proc {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.procs[id]
}

// count is how many programs run (or are being reaped).
func (t *procTable) count() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.procs)
}

// start starts argv for session id with env, unless max programs run already. The
// program runs in a process group of its own, so that stopping it reaches its children.
func (t *procTable) start(id string, argv, env []string) (*proc, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.max > 0 && len(t.procs) >= t.max {
		return nil, errTooMany
	}
	p, err := startProc(argv, env)
	if err != nil {
		return nil, err
	}
	t.procs[id] = p
	go func() {
		<-p.done
		t.mu.Lock()
		delete(t.procs, id)
		t.mu.Unlock()
	}()
	return p, nil
}

// stopAll stops every program.
func (t *procTable) stopAll(grace time.Duration) {
	t.mu.Lock()
	ps := make([]*proc, 0, len(t.procs))
	for _, p := range t.procs {
		ps = append(ps, p)
	}
	t.mu.Unlock()
	for _, p := range ps {
		p.stop(grace)
	}
}

// wait waits until every program has been reaped, or ctx ends.
func (t *procTable) wait(ctx context.Context) error {
	for {
		if t.count() == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// proc is one session's program. Its stdio are plain pipes of ours (no copying
// goroutines of os/exec), so that Wait and the readers run independently and a pipe
// held open by a left-behind child can be cut.
type proc struct {
	cmd    *exec.Cmd
	stdout *os.File // read end; owned by run
	stderr *os.File // read end; owned by run
	in     chan []byte
	inDone chan struct{} // closed when writeLoop has returned
	quit   chan struct{} // closed by stop: writeLoop stops, stdin is closed
	done   chan struct{} // closed when the program is reaped and every pipe closed

	stopOnce sync.Once
	eofOnce  sync.Once
	eof      chan struct{} // closed by closeStdin

	mu     sync.Mutex
	exited bool // guarded by mu: reaped, its pid no longer ours to signal
}

func startProc(argv, env []string) (*proc, error) {
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		closeAll(inR, inW)
		return nil, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		closeAll(inR, inW, outR, outW)
		return nil, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, errW
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	err = cmd.Start()
	closeAll(inR, outW, errW) // the child's ends: the child has its copies
	if err != nil {
		closeAll(inW, outR, errR)
		return nil, err
	}
	p := &proc{
		cmd: cmd, stdout: outR, stderr: errR,
		in: make(chan []byte), inDone: make(chan struct{}), quit: make(chan struct{}),
		done: make(chan struct{}), eof: make(chan struct{}),
	}
	go p.writeLoop(inW)
	return p, nil
}

func closeAll(fs ...*os.File) {
	for _, f := range fs {
		_ = f.Close()
	}
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// writeLoop is the only writer of the program's stdin. A program that does not read
// blocks it, and so the session's handler (the client's later lines wait, other
// sessions do not); stop unblocks it by closing the pipe.
func (p *proc) writeLoop(w *os.File) {
	defer close(p.inDone)
	var closeOnce sync.Once
	closeW := func() { closeOnce.Do(func() { _ = w.Close() }) }
	defer closeW()
	go func() {
		select {
		case <-p.quit:
		case <-p.inDone:
			return
		}
		closeW() // unblocks a Write in progress: the program is being stopped
	}()
	// The client's "eof" is not a reason to cut a Write short: the line handed over before
	// it (write returns once the loop took it) must reach the program first, so the loop
	// sees eof only between writes.
	broken := false
	for {
		select {
		case b := <-p.in:
			if broken {
				continue // the program closed its stdin: what the client sends is dropped
			}
			if _, err := w.Write(b); err != nil {
				broken = true
			}
		case <-p.eof:
			return
		case <-p.quit:
			return
		}
	}
}

// write queues b for the program's stdin; it waits while the program does not read,
// until ctx (the session) ends or the program exits.
func (p *proc) write(ctx context.Context, b []byte) {
	select {
	case p.in <- b:
	case <-p.inDone:
	case <-ctx.Done():
	}
}

// closeStdin closes the program's stdin after what was queued before it (the client's
// "eof").
func (p *proc) closeStdin(ctx context.Context) {
	select {
	case <-p.inDone:
		return
	default:
	}
	p.eofOnce.Do(func() { close(p.eof) })
	select {
	case <-p.inDone:
	case <-ctx.Done():
	}
}

// stop ends the program: its stdin is closed and its process group gets SIGTERM, then
// SIGKILL after grace. It does not wait.
func (p *proc) stop(grace time.Duration) {
	p.stopOnce.Do(func() {
		close(p.quit)
		if !p.signal(syscall.SIGTERM) {
			return
		}
		go func() {
			t := time.NewTimer(grace)
			defer t.Stop()
			select {
			case <-p.done:
			case <-t.C:
				p.signal(syscall.SIGKILL)
			}
		}()
	})
}

// signal sends sig to the program's process group, unless the program has been reaped
// (its pid may belong to another process by then). It reports whether it sent it.
func (p *proc) signal(sig syscall.Signal) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.exited {
		return false
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, sig)
	return true
}

// run pumps the program's stdout to the session and its stderr to the log, reaps it,
// and closes the session with the exit status. It returns once everything is closed.
func (p *proc) run(s *sockhop.Session, log *slog.Logger, c *execConfig) {
	defer close(p.done)
	ctx := context.WithoutCancel(s.Context())
	outDone := make(chan error, 1)
	errDone := make(chan struct{})
	go func() {
		if c.binary {
			outDone <- pumpBytes(ctx, p.stdout, s, c.maxLine)
		} else {
			outDone <- pumpLines(ctx, p.stdout, s, c.maxLine)
		}
	}()
	go func() {
		defer close(errDone)
		logLines(p.stderr, log, c.maxLine)
	}()

	// Reading stops at the program's exit, or earlier at a line over the limit: then
	// the program is stopped, and what it writes after is discarded.
	waitErr := make(chan error, 1)
	go func() {
		err := p.cmd.Wait() // reaps the process; the pipes are ours, so this does not wait for them
		p.mu.Lock()
		p.exited = true
		p.mu.Unlock()
		waitErr <- err
	}()
	var outErr, err error
	gotOut := false
	select {
	case outErr = <-outDone:
		gotOut = true
		if outErr != nil {
			p.stop(c.killGrace)
		}
		err = <-waitErr
	case err = <-waitErr:
		select {
		case outErr = <-outDone:
			gotOut = true
		case <-time.After(drainTimeout):
			log.Warn("the program's stdout is still open after it exited (a child holds it): cut")
		}
	}
	closeAll(p.stdout, p.stderr) // unblocks the readers when a left-behind child holds the pipes
	if !gotOut {
		outErr = <-outDone
	}
	<-errDone
	p.stop(0) // closes stdin, stops writeLoop; the process is reaped, so no signal
	<-p.inDone

	code, reason, exit := exitClose(p.cmd.ProcessState, err)
	var tooLong *lineTooLongError
	if errors.As(outErr, &tooLong) {
		code, reason = 1009, tooLong.Error()
	}
	log.Info("program ended", "status", reason, "code", code)
	if s.Err() == nil { // the program ended first: tell the client why, and close
		// With an ack request: clients answer it after their handlers of the lines before
		// it have run, and only then does the close go out. (A client that has the close
		// may drop events it has not handled yet.)
		actx, cancel := context.WithTimeout(ctx, exitAckTimeout)
		_, _ = s.EmitWithAck(actx, "exit", exit)
		cancel()
		s.Close(code, reason)
	}
}

// exitEvent is the data of "exit".
type exitEvent struct {
	Status *int   `json:"status,omitempty"`
	Signal string `json:"signal,omitempty"`
}

// exitClose turns the program's end into a close code, a reason and the "exit" event.
func exitClose(st *os.ProcessState, waitErr error) (int, string, exitEvent) {
	if st == nil {
		return 1011, "program: " + fmt.Sprint(waitErr), exitEvent{}
	}
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		sig := ws.Signal().String()
		return closeSignaled, "program killed by signal: " + sig, exitEvent{Signal: sig}
	}
	status := st.ExitCode()
	if status == 0 {
		return 1000, "program exited", exitEvent{Status: &status}
	}
	return closeExited, fmt.Sprintf("program exited with status %d", status), exitEvent{Status: &status}
}

// lineTooLongError is a line of the program's output over -max-line.
type lineTooLongError struct{ max int }

func (e *lineTooLongError) Error() string {
	return fmt.Sprintf("program wrote a line over %d bytes", e.max)
}

// pumpLines emits each line of r as "line", without its newline (and a \r before it).
// A last line without a newline is sent too. It returns nil at EOF.
func pumpLines(ctx context.Context, r io.Reader, s *sockhop.Session, max int) error {
	br := bufio.NewReaderSize(r, max+2)
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			return &lineTooLongError{max: max}
		}
		if len(line) > 0 {
			text := trimEOL(line)
			if len(text) > max {
				return &lineTooLongError{max: max}
			}
			if eerr := s.Emit(ctx, "line", string(text)); eerr != nil {
				return nil // the session is over; the program is being stopped
			}
		}
		if err != nil {
			return nil
		}
	}
}

func trimEOL(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
		if n := len(b); n > 0 && b[n-1] == '\r' {
			b = b[:n-1]
		}
	}
	return b
}

// pumpBytes emits what r gives as "bytes" events of at most max bytes each, as it comes.
func pumpBytes(ctx context.Context, r io.Reader, s *sockhop.Session, max int) error {
	buf := make([]byte, min(max, 32<<10))
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if eerr := s.Emit(ctx, "bytes", append([]byte(nil), buf[:n]...)); eerr != nil {
				return nil
			}
		}
		if err != nil {
			return nil
		}
	}
}

// logLines logs each line of the program's stderr, cut at max bytes.
func logLines(r io.Reader, log *slog.Logger, max int) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), max+2)
	for sc.Scan() {
		log.Info("stderr", "line", sc.Text())
	}
	if sc.Err() != nil { // a line over max: drain the rest without logging it
		_, _ = io.Copy(io.Discard, r)
	}
}
