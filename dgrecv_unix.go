//go:build unix

package lcsock

import (
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"syscall"
)

// datagramReader receives a datagram socket's datagrams without holding
// a buffer while it waits: it waits for input on the descriptor as the
// TCP reader does, and takes a 64 KiB buffer from dgBufs only for the
// receive itself (an idle socket holds no large buffer).
type datagramReader struct {
	uc    *net.UDPConn
	rc    syscall.RawConn
	rcErr error // uc.SyscallConn's: uc is closed
	fn    func(fd uintptr) bool
	// The receive's results, set by fn.
	bp  *[]byte
	n   int
	sa  syscall.Sockaddr
	err error
}

var dgBufs = sync.Pool{New: func() any {
	b := make([]byte, 64<<10)
	return &b
}}

func newDatagramReader(uc *net.UDPConn) *datagramReader {
	r := &datagramReader{uc: uc}
	r.rc, r.rcErr = uc.SyscallConn()
	r.fn = func(fd uintptr) bool {
		bp := dgBufs.Get().(*[]byte)
		for {
			r.n, r.sa, r.err = syscall.Recvfrom(int(fd), *bp, 0)
			if r.err != syscall.EINTR {
				break
			}
		}
		if r.err == syscall.EAGAIN {
			dgBufs.Put(bp)
			return false // wait for input, holding no buffer
		}
		r.bp = bp
		return true
	}
	return r
}

// next returns the next datagram, a copy the caller keeps, and its
// sender. Its errors are those of UDPConn.ReadFromUDPAddrPort.
func (r *datagramReader) next() ([]byte, netip.AddrPort, error) {
	if r.rcErr != nil {
		return nil, netip.AddrPort{}, r.rcErr
	}
	if err := r.rc.Read(r.fn); err != nil {
		return nil, netip.AddrPort{}, err // closed
	}
	bp := r.bp
	r.bp = nil
	defer dgBufs.Put(bp)
	if r.err != nil { // ICMP port unreachable, say
		return nil, netip.AddrPort{}, &net.OpError{Op: "read", Net: "udp", Source: r.uc.LocalAddr(), Err: os.NewSyscallError("recvfrom", r.err)}
	}
	return append([]byte(nil), (*bp)[:r.n]...), sockaddrAddrPort(r.sa), nil
}

// sockaddrAddrPort converts a received datagram's sender address, as
// UDPConn.ReadFromUDPAddrPort gives it (an IPv4 sender on a dual-stack
// socket in its IPv4-mapped form; a zone by its interface's name).
func sockaddrAddrPort(sa syscall.Sockaddr) netip.AddrPort {
	switch sa := sa.(type) {
	case *syscall.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port))
	case *syscall.SockaddrInet6:
		a := netip.AddrFrom16(sa.Addr)
		if sa.ZoneId != 0 {
			zone := strconv.FormatUint(uint64(sa.ZoneId), 10)
			if ifi, err := net.InterfaceByIndex(int(sa.ZoneId)); err == nil {
				zone = ifi.Name
			}
			a = a.WithZone(zone)
		}
		return netip.AddrPortFrom(a, uint16(sa.Port))
	}
	return netip.AddrPort{}
}
