package serve

import (
	"errors"
	"flag"
	"fmt"
	"io"
)

// Exit is what an example's main does with run's error: nothing and status 0 for none or
// for -h (flag.ErrHelp: the usage is printed already), else the error on w, prefixed with
// name, and status 1.
func Exit(w io.Writer, name string, err error) int {
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return 0
	}
	fmt.Fprintf(w, "%s: %v\n", name, err)
	return 1
}
