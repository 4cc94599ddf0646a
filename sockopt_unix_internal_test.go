//go:build unix

package lcsock

import (
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
)

// Every BSD, not only macOS, needs SO_REUSEPORT for two sockets to
// share a port (case 82; Go's net sets it for multicast on the same
// systems): on FreeBSD, OpenBSD, NetBSD and DragonFly soReusePort was 0,
// so From binds (case 82) and datagram listeners could not share a port, and
// noReuse left Go's SO_REUSEPORT on. Runs where it matters; CI
// cross-compiles it.
func TestReusePortOnEveryBSD(t *testing.T) {
	switch runtime.GOOS {
	case "darwin", "ios", "dragonfly", "freebsd", "netbsd", "openbsd":
		require.NotZero(t, soReusePort, "SO_REUSEPORT is needed to share a port here")
	default:
		require.Zero(t, soReusePort, "SO_REUSEADDR alone shares a port here")
	}
}
