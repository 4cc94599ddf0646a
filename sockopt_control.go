//go:build unix || windows

package lcsock

import (
	"errors"
	"os"
	"syscall"
)

// control runs f on c's descriptor and returns the error of either.
func control(c syscall.RawConn, f func(fd uintptr) error) error {
	var ferr error
	err := c.Control(func(fd uintptr) { ferr = f(fd) })
	return errors.Join(err, ferr)
}

// failedBind reports whether err is the failure of a bind of the local
// address, whatever the reason: in use, not local, or not allowed (a
// privileged port; on Windows a port in an excluded range).
func failedBind(err error) bool {
	var se *os.SyscallError
	return errors.As(err, &se) && se.Syscall == "bind"
}
