//go:build unix || windows

package lcsock

import (
	"errors"
	"syscall"
)

// control runs f on c's descriptor and returns the error of either.
func control(c syscall.RawConn, f func(fd uintptr) error) error {
	var ferr error
	err := c.Control(func(fd uintptr) { ferr = f(fd) })
	return errors.Join(err, ferr)
}
