package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/sockhop/sockhop/tsgen"
)

const genUsage = `usage: sockhop gen ts [flags] [PACKAGES]

Writes the TypeScript event map of the sockhop server in PACKAGES (default ".", the
package of a go:generate line) for the browser client: connect<Events>(url). It reads the
Go source: every sockhop.On, OnRequest, Handle, Emits and EmitsRequest call with a
constant event name, in any of the packages, main packages included. Nothing runs.

  go get -tool github.com/sockhop/sockhop/cmd/sockhop   # once, in your module
  //go:generate go tool sockhop gen ts -o events.d.ts   # beside the server's code

flags:
`

// runGen runs `sockhop gen`: only "ts" for now.
func runGen(_ context.Context, args []string, e *env) int {
	if len(args) == 0 || args[0] != "ts" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
			fmt.Fprint(e.stdout, genUsage)
			return exitOK
		}
		fmt.Fprint(e.stderr, "sockhop gen: want a target: ts\n\n"+genUsage)
		return exitUsage
	}
	fs := flag.NewFlagSet("sockhop gen ts", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), genUsage)
		fs.PrintDefaults()
	}
	out := fs.String("o", "", "write to this file (written only when its content changes); default standard output")
	tags := fs.String("tags", "", "comma-separated build tags, as in go build -tags")
	check := fs.Bool("check", false, "with -o: write nothing, exit 1 when the file is not what would be generated (for CI)")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if *check && *out == "" {
		fmt.Fprintln(e.stderr, "sockhop gen ts: -check needs -o FILE")
		return exitUsage
	}
	var cfg tsgen.Config
	if *tags != "" {
		cfg.Tags = strings.Split(*tags, ",")
	}
	var buf bytes.Buffer
	if err := tsgen.Generate(&buf, cfg, fs.Args()...); err != nil {
		fmt.Fprintln(e.stderr, "sockhop gen ts:", strings.TrimPrefix(err.Error(), "tsgen: "))
		return exitFail
	}
	if *out == "" {
		_, _ = e.stdout.Write(buf.Bytes())
		return exitOK
	}
	old, err := os.ReadFile(*out)
	if err == nil && bytes.Equal(old, buf.Bytes()) {
		return exitOK
	}
	if *check {
		fmt.Fprintf(e.stderr, "sockhop gen ts: %s is stale: run go generate\n", *out)
		return exitFail
	}
	if err := writeFile(*out, buf.Bytes()); err != nil {
		fmt.Fprintln(e.stderr, "sockhop gen ts:", err)
		return exitFail
	}
	return exitOK
}

// writeFile replaces name with data through a temporary file in the same directory, so
// that a reader never sees half a file.
func writeFile(name string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(name), ".sockhop-gen-*")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(f.Name(), name)
	}
	if err != nil {
		_ = os.Remove(f.Name())
	}
	return err
}
