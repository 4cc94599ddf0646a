//go:build unix

package lcsock

import (
	"errors"
	"syscall"
)

// reuseControl sets SO_REUSEADDR (and SO_REUSEPORT where the system
// needs it for that) before a From bind, as the LiveCode engine does, so
// two client sockets may share a local port.
func reuseControl(network, address string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1)
		if serr == nil && soReusePort != 0 {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, soReusePort, 1)
		}
	})
	return errors.Join(err, serr)
}

func isBindError(err error) bool {
	return errors.Is(err, syscall.EADDRINUSE) || errors.Is(err, syscall.EADDRNOTAVAIL)
}

type rawConn = syscall.RawConn

// reuseAfterPick: the system checks the address reuse of the socket
// that holds a port when another binds it, so a socket bound to a port
// the system picked can set reuse after the bind (and must: set before,
// it lets the system pick a port that another reusable socket holds).
const reuseAfterPick = true

// reuseDatagramListener: AcceptDatagram sets address reuse, as the
// LiveCode engine does, so that a datagram socket opened From the
// listener's port can share it — LiveCode's way to send a broadcast and
// receive the answers, which come back to the port it was sent from.
const reuseDatagramListener = true

// setDatagramOptions sets address reuse (From, and datagram listeners:
// SO_REUSEADDR, and SO_REUSEPORT where the system needs it for that) and
// sets SO_BROADCAST on or off.
func setDatagramOptions(c syscall.RawConn, reuse, broadcast bool) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		if reuse {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1)
			if serr == nil && soReusePort != 0 {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, soReusePort, 1)
			}
		}
		if serr == nil {
			// Go turns SO_BROADCAST on for every datagram socket; LiveCode's
			// allowDatagramBroadcasts is off unless asked.
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_BROADCAST, b2i(broadcast))
		}
	})
	return errors.Join(err, serr)
}

// noReuse turns address reuse off before a bind to port 0: Go's
// ListenPacket turns it on for a multicast address (the default
// interface may be one), and set before the bind it lets the system pick
// a port another reusable socket holds.
func noReuse(c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 0)
		if serr == nil && soReusePort != 0 {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, soReusePort, 0)
		}
	})
	return errors.Join(err, serr)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
