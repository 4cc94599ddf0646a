//go:build !(linux || darwin)

package lcsock_test

import "errors"

// raiseFDLimit is not implemented here; the benchmarks that need many
// sockets skip.
func raiseFDLimit(want uint64) (uint64, error) {
	return 0, errors.New("raising RLIMIT_NOFILE is not implemented on this platform")
}
