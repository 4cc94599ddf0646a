//go:build windows

package lcsock

import (
	"syscall"
)

// reuseControl sets SO_REUSEADDR before a From bind, as the LiveCode
// engine does, so two client sockets may share a local port.
func reuseControl(network, address string, c syscall.RawConn) error {
	return control(c, func(fd uintptr) error { return setReuse(fd, true) })
}

// setReuse turns SO_REUSEADDR on or off.
func setReuse(fd uintptr, on bool) error {
	return syscall.SetsockoptInt(syscall.Handle(fd), syscall.SOL_SOCKET, syscall.SO_REUSEADDR, b2i(on))
}

type rawConn = syscall.RawConn

// reuseAfterPick is false on Windows: only the reuse of the socket that
// binds second counts, so From sets it before the bind, as it always
// did.
const reuseAfterPick = false

// reuseDatagramListener is false on Windows, where SO_REUSEADDR would
// let the listener bind a port another socket holds; SO_REUSEADDR on a
// socket opened From the listener's port is enough for it to share it.
const reuseDatagramListener = false

// setDatagramOptions sets address reuse (From) and sets SO_BROADCAST on
// or off.
func setDatagramOptions(c syscall.RawConn, reuse, broadcast bool) error {
	return control(c, func(fd uintptr) error {
		if reuse {
			if err := setReuse(fd, true); err != nil {
				return err
			}
		}
		// Go turns SO_BROADCAST on for every datagram socket; LiveCode's
		// allowDatagramBroadcasts is off unless asked.
		return syscall.SetsockoptInt(syscall.Handle(fd), syscall.SOL_SOCKET, syscall.SO_BROADCAST, b2i(broadcast))
	})
}

// noReuse turns address reuse off before a bind to port 0: Go's
// ListenPacket turns it on for a multicast address (the default
// interface may be one), and a datagram listener does not set it here.
func noReuse(c syscall.RawConn) error {
	return control(c, func(fd uintptr) error { return setReuse(fd, false) })
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
