//go:build unix

package lcsock

import (
	"syscall"
)

// reuseControl sets address reuse for a From bind (before it, or after
// a bind to a port the system picked: reuseAfterPick), as the LiveCode
// engine does, so two client sockets may share a local port.
func reuseControl(network, address string, c syscall.RawConn) error {
	return control(c, func(fd uintptr) error { return setReuse(fd, true) })
}

// setReuse turns address reuse on or off: SO_REUSEADDR, and SO_REUSEPORT
// where the system needs it for two sockets to share a port.
func setReuse(fd uintptr, on bool) error {
	err := syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_REUSEADDR, b2i(on))
	if err == nil && soReusePort != 0 {
		err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, soReusePort, b2i(on))
	}
	return err
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
	return control(c, func(fd uintptr) error {
		if reuse {
			if err := setReuse(fd, true); err != nil {
				return err
			}
		}
		// Go turns SO_BROADCAST on for every datagram socket; LiveCode's
		// allowDatagramBroadcasts is off unless asked.
		return syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_BROADCAST, b2i(broadcast))
	})
}

// noReuse turns address reuse off before a bind to port 0: Go's
// ListenPacket turns it on for a multicast address (the default
// interface may be one), and set before the bind it lets the system pick
// a port another reusable socket holds.
func noReuse(c syscall.RawConn) error {
	return control(c, func(fd uintptr) error { return setReuse(fd, false) })
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
