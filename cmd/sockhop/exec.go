package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/sockhop/sockhop"
	"github.com/sockhop/sockhop/internal/serve"
)

// execConfig is what the exec flags say.
type execConfig struct {
	listen     serve.Flags
	mount      string
	static     string
	anyOrigin  bool
	maxProcs   int
	maxPerAddr int
	maxLine    int
	binary     bool
	killGrace  time.Duration
	resume     time.Duration
	passenv    string
	trusted    string
	logLevel   string
	program    []string
}

const execUsage = `usage: sockhop exec [flags] -- PROGRAM [ARGS...]

Serves PROGRAM as a realtime service: each session starts PROGRAM; each line it writes to
stdout reaches that client as a "line" event; each "line" event the client sends is written
to its stdin; stderr goes to the log. The program's exit closes the session (1000 for
status 0, 4600 for another status, 4601 for a signal); a closed session ends the program
(stdin closed, SIGTERM to its process group, SIGKILL after -kill-grace).

The page at / is a console that connects with the bundled client on any transport (or
-static DIR's files); the sockhop endpoints are under -mount.

Events: "line" both ways (a string, without its newline); "eof" from the client closes
the program's stdin; "exit" to the client ({"status":N} or {"signal":"terminated"})
just before the close. With -binary: "bytes" both ways (binary messages; base64 in JSON to a client that does
not read binary) instead of "line".

Flags (-flag and --flag are the same):
`

// parseExec reads exec's flags; it returns exitOK with a nil config for -h.
func parseExec(args []string, e *env) (*execConfig, int) {
	c := &execConfig{}
	fs := flag.NewFlagSet("sockhop exec", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), execUsage)
		fs.PrintDefaults()
	}
	c.listen.Register(fs)
	fs.StringVar(&c.mount, "mount", "/rt", "path of the sockhop endpoints (<mount>/ws, <mount>/sockjs/..., <mount>/sockhop.js, <mount>/diag)")
	fs.StringVar(&c.static, "static", "", "serve this directory's files at / instead of the console page")
	fs.BoolVar(&c.anyOrigin, "insecure-allow-any-origin", false, "turn the Origin check off: any web page may open sessions with a visitor's cookies (websocketd's default)")
	fs.IntVar(&c.maxProcs, "max-procs", 100, "most programs running at once; past it a new session is closed with 1013 (try again later); 0 means no limit")
	fs.IntVar(&c.maxPerAddr, "max-per-addr", 10, "most sessions per client address (see -trusted-proxy); past it 429 or 1013; 0 means no limit")
	fs.IntVar(&c.maxLine, "max-line", 64<<10, "longest line in bytes, either way (-binary: the largest chunk); past it the session closes with 1009")
	fs.BoolVar(&c.binary, "binary", false, "pass raw bytes as \"bytes\" events (binary messages) instead of lines")
	fs.DurationVar(&c.killGrace, "kill-grace", 5*time.Second, "after a session closes: how long the program has after SIGTERM before SIGKILL")
	fs.DurationVar(&c.resume, "resume-grace", 0, "how long a session (and its program) waits for a dropped client to come back; 0 means sockhop's 2m")
	fs.StringVar(&c.passenv, "passenv", "PATH,HOME,LANG,LC_ALL,LC_CTYPE,TZ,TMPDIR", "comma-separated variables of sockhop's environment passed to the program")
	fs.StringVar(&c.trusted, "trusted-proxy", "", "comma-separated addresses or CIDR prefixes of reverse proxies whose X-Forwarded-For gives the client's address (REMOTE_ADDR, -max-per-addr)")
	fs.StringVar(&c.logLevel, "log-level", "info", "debug, info, warn or error (the log goes to stderr)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, exitOK
		}
		return nil, exitUsage
	}
	c.program = fs.Args()
	bad := func(format string, a ...any) (*execConfig, int) {
		fmt.Fprintf(e.stderr, "sockhop exec: "+format+"\n", a...)
		return nil, exitUsage
	}
	if len(c.program) == 0 {
		return bad("no program: sockhop exec [flags] -- PROGRAM [ARGS...] (sockhop exec -h for help)")
	}
	if _, err := exec.LookPath(c.program[0]); err != nil {
		return bad("program %q: %v", c.program[0], err)
	}
	if c.mount = "/" + strings.Trim(c.mount, "/"); c.mount == "/" {
		return bad("-mount must not be /: the page is served there")
	}
	if c.static != "" {
		if st, err := os.Stat(c.static); err != nil || !st.IsDir() {
			return bad("-static %q is not a directory", c.static)
		}
	}
	if c.maxLine < 1 || c.maxLine > 16<<20 {
		return bad("-max-line must be between 1 and 16 MiB")
	}
	if c.maxProcs < 0 || c.maxPerAddr < 0 || c.killGrace < 0 || c.resume < 0 {
		return bad("-max-procs, -max-per-addr, -kill-grace and -resume-grace must not be negative")
	}
	if err := c.listen.Check(); err != nil {
		return bad("%v", err)
	}
	return c, exitOK
}

// runExec is `sockhop exec`.
func runExec(ctx context.Context, args []string, e *env) int {
	c, code := parseExec(args, e)
	if c == nil {
		return code
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.logLevel)); err != nil {
		fmt.Fprintf(e.stderr, "sockhop exec: -log-level %q: want debug, info, warn or error\n", c.logLevel)
		return exitUsage
	}
	logger := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: level}))
	a, err := newExecApp(c, logger)
	if err != nil {
		fmt.Fprintln(e.stderr, "sockhop exec:", err)
		return exitUsage
	}
	logger.Info("sockhop exec", "program", strings.Join(c.program, " "), "version", version())
	err = serve.Run(ctx, serve.Config{
		Name: "sockhop", Flags: c.listen, Handler: a.handler, Shutdown: a.shutdown,
		Stdout: e.stdout, Stderr: e.stderr, Logger: logger, Ready: e.ready,
	})
	if err != nil {
		fmt.Fprintln(e.stderr, "sockhop exec:", err)
		return exitFail
	}
	return exitOK
}

// execApp is a running `sockhop exec`: the sockhop server and the programs of its sessions.
type execApp struct {
	cfg     *execConfig
	srv     *sockhop.Server
	log     *slog.Logger
	handler http.Handler
	procs   *procTable
}

// authInfo is what Authenticate keeps of the request that opened a session, for the
// program's environment.
type authInfo struct {
	Query string
	Host  string
	TLS   bool
}

// maxQuery bounds the query string a client sends in its hello.
const maxQuery = 4096

func newExecApp(c *execConfig, logger *slog.Logger) (*execApp, error) {
	a := &execApp{cfg: c, log: logger}
	a.procs = newProcTable(c.maxProcs)
	opts := sockhop.Options{
		AllowedOrigins:         c.listen.AllowedOrigins(), // -allow-origin, from serve.Flags
		InsecureAllowAnyOrigin: c.anyOrigin,
		AllowedHosts:           c.listen.AllowedHosts(),
		TrustedProxies:         serve.SplitList(c.trusted),
		MaxSessionsPerIP:       c.maxPerAddr,
		ResumeGrace:            c.resume,
		Logger:                 logger,
		// A line travels as a JSON string in an envelope: room for escapes (a control
		// character takes 6 bytes) and the envelope; the line's own length is checked
		// after decoding.
		MaxMessageSize: int64(c.maxLine)*2 + 4096,
		Authenticate:   a.authenticate,
	}
	if c.binary {
		opts.MaxMessageSize = int64(c.maxLine)*4/3 + 4096 // base64
	}
	if c.maxPerAddr == 0 {
		opts.MaxSessionsPerIP = -1
	}
	srv, err := sockhop.New(opts)
	if err != nil {
		return nil, err
	}
	a.srv = srv
	srv.OnConnect(a.onConnect)
	srv.OnDisconnect(func(s *sockhop.Session, _ error) {
		if p := a.procs.get(s.ID()); p != nil {
			p.stop(c.killGrace)
		}
	})
	if c.binary {
		sockhop.On(srv, "bytes", func(ctx context.Context, s *sockhop.Session, b []byte) error {
			return a.input(ctx, s, b, false)
		})
	} else {
		sockhop.On(srv, "line", func(ctx context.Context, s *sockhop.Session, line string) error {
			return a.input(ctx, s, []byte(line), true)
		})
	}
	srv.Handle("eof", func(ctx context.Context, s *sockhop.Session, _ json.RawMessage) (any, error) {
		if p := a.procs.get(s.ID()); p != nil {
			p.closeStdin(ctx)
		}
		return nil, nil
	})

	mux := http.NewServeMux()
	mux.Handle(c.mount+"/", srv)
	if c.static != "" {
		mux.Handle("/", http.FileServer(http.Dir(c.static)))
	} else {
		mux.Handle("/", &consoleHandler{mount: c.mount, clientVersion: srv.ClientJSVersion(), program: c.program, binary: c.binary})
	}
	a.handler = mux
	return a, nil
}

// authenticate keeps the query string (the opening request's, or the hello's
// {"query": "..."}, which the console page sends from its own URL), the Host and
// whether the request came over TLS. Anyone may connect: like websocketd, the program
// does its own authentication, with the cookies and headers in its environment.
func (a *execApp) authenticate(r *http.Request, auth json.RawMessage) (sockhop.Identity, error) {
	info := authInfo{Query: r.URL.RawQuery, Host: r.Host, TLS: r.TLS != nil}
	var hello struct {
		Query *string `json:"query"`
	}
	if len(auth) > 0 && json.Unmarshal(auth, &hello) == nil && hello.Query != nil {
		info.Query = strings.TrimPrefix(*hello.Query, "?")
	}
	if len(info.Query) > maxQuery {
		return sockhop.Identity{}, &sockhop.Error{Code: "bad_request", Message: fmt.Sprintf("query string over %d bytes", maxQuery)}
	}
	return sockhop.Identity{Data: info}, nil
}

// onConnect starts the session's program.
func (a *execApp) onConnect(ctx context.Context, s *sockhop.Session) error {
	info, _ := s.Identity().Data.(authInfo)
	p, err := a.procs.start(s.ID(), a.cfg.program, a.environ(s, info))
	switch {
	case errors.Is(err, errTooMany):
		a.log.Warn("refused a session: too many programs running", "max", a.cfg.maxProcs, "session", s.ID())
		return &sockhop.CloseError{Code: 1013, Reason: "too many programs running", Retry: 1000}
	case err != nil:
		a.log.Error("could not start the program", "err", err, "session", s.ID())
		return &sockhop.CloseError{Code: 1011, Reason: "could not start the program"}
	}
	log := a.log.With("session", s.ID(), "pid", p.pid())
	log.Info("program started", "transport", s.Transport(), "remote", s.RemoteAddr())
	go p.run(s, log, a.cfg)
	return nil
}

// input writes what the client sent to the program's stdin: a line gets its newline.
func (a *execApp) input(ctx context.Context, s *sockhop.Session, b []byte, line bool) error {
	if len(b) > a.cfg.maxLine {
		s.Close(1009, fmt.Sprintf("input over %d bytes", a.cfg.maxLine))
		return nil
	}
	p := a.procs.get(s.ID())
	if p == nil {
		return &sockhop.Error{Code: "gone", Message: "the program has exited"}
	}
	if line {
		b = append(b, '\n')
	}
	p.write(ctx, b)
	return nil
}

// shutdown ends every session (1001: reconnect), then waits for their programs.
func (a *execApp) shutdown(ctx context.Context) error {
	err := a.srv.Shutdown(ctx)
	a.procs.stopAll(a.cfg.killGrace)
	if werr := a.procs.wait(ctx); err == nil {
		err = werr
	}
	return err
}
