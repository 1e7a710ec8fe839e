package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"

	"github.com/sockhop/sockhop/internal/serve"
)

// Exit statuses of the command.
const (
	exitOK    = 0 // exec stopped by a signal; diag connected
	exitFail  = 1 // exec could not serve; diag: nothing connected
	exitUsage = 2 // bad flags or arguments
	exitSlow  = 3 // diag -strict: connected, but only with a fallback
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], &env{stdout: os.Stdout, stderr: os.Stderr})
	stop()
	os.Exit(code)
}

// env is what a subcommand reads and writes besides its arguments, so that tests run the
// command in-process.
type env struct {
	stdout, stderr io.Writer
	// ready, when set, is called by exec once it listens.
	ready func(serve.Info)
}

const usage = `sockhop: realtime services that get through proxies

usage:
  sockhop exec [flags] -- PROGRAM [ARGS...]   serve PROGRAM, one process per session
  sockhop diag [flags] URL                    check a sockhop mount from this terminal
  sockhop gen ts [flags] [PACKAGES]           write the TypeScript event map of a server
  sockhop version                             print the version
  sockhop help [COMMAND]                      help on a command (or COMMAND -h)

examples:
  sockhop exec -- ./counter.sh                # open http://127.0.0.1:8080/
  sockhop diag https://app.example/rt
  sockhop gen ts -o static/events.d.ts        # in a go:generate line

exit status: 0 ok, 1 failure (diag: nothing connected), 2 usage error,
3 diag -strict: only a fallback connected.
`

// run runs the command line args (without the program name) and returns the exit status.
func run(ctx context.Context, args []string, e *env) int {
	if len(args) == 0 {
		fmt.Fprint(e.stderr, usage)
		return exitUsage
	}
	switch args[0] {
	case "exec":
		return runExec(ctx, args[1:], e)
	case "diag":
		return runDiag(ctx, args[1:], e)
	case "gen":
		return runGen(ctx, args[1:], e)
	case "version", "-version", "--version":
		fmt.Fprintln(e.stdout, versionLine())
		return exitOK
	case "help", "-h", "-help", "--help":
		if len(args) > 1 && args[1] != "help" {
			return run(ctx, []string{args[1], "-h"}, e)
		}
		fmt.Fprint(e.stdout, usage)
		return exitOK
	}
	fmt.Fprintf(e.stderr, "sockhop: unknown command %q\n\n%s", args[0], usage)
	return exitUsage
}

// version is the module version the binary was built from: "v1.2.3" for go install
// ...@v1.2.3, "(devel)" for a build in the repository.
func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

// versionLine is what `sockhop version` prints: the version, the commit when the build
// recorded it, and the Go version.
func versionLine() string {
	s := "sockhop " + version()
	if bi, ok := debug.ReadBuildInfo(); ok {
		var rev, dirty string
		for _, kv := range bi.Settings {
			switch kv.Key {
			case "vcs.revision":
				rev = kv.Value
			case "vcs.modified":
				if kv.Value == "true" {
					dirty = "+dirty"
				}
			}
		}
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if rev != "" {
			s += " (" + rev + dirty + ")"
		}
	}
	return s + " " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH
}
