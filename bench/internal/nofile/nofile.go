// Package nofile raises the open-file limit of the bench processes (the load generator
// and the peers), which hold thousands of connections each.
package nofile

import (
	"fmt"
	"syscall"
)

// Raise raises the soft open-file limit to the hard limit (raising the hard limit needs
// CAP_SYS_RESOURCE) and fails when that is below need; hint says what to do then.
func Raise(need uint64, hint string) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("getrlimit: %w", err)
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			return fmt.Errorf("raise RLIMIT_NOFILE to %d: %w", lim.Max, err)
		}
	}
	if lim.Cur < need {
		return fmt.Errorf("the open-file limit (RLIMIT_NOFILE) is %d, below the %d needed: raise the hard limit (ulimit -Hn, or LimitNOFILE= in systemd)%s", lim.Cur, need, hint)
	}
	return nil
}
