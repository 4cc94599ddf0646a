//go:build linux || darwin

package lcsock_test

import "syscall"

// raiseFDLimit raises RLIMIT_NOFILE to at least want where the process is
// allowed to (the hard limit too, when privileged) and returns the soft
// limit in force afterwards.
func raiseFDLimit(want uint64) (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	if lim.Cur >= want {
		return lim.Cur, nil
	}
	next := lim
	next.Cur = want
	if next.Max < want {
		next.Max = want // needs CAP_SYS_RESOURCE
	}
	err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &next)
	if err != nil && lim.Cur < lim.Max {
		// Unprivileged: go as far as the hard limit allows.
		next = lim
		next.Cur = lim.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &next)
	}
	if gerr := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); gerr != nil {
		return 0, gerr
	}
	return lim.Cur, err
}
