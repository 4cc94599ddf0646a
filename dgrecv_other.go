//go:build !unix

package lcsock

import (
	"net"
	"net/netip"
)

// datagramReader receives a datagram socket's datagrams into a buffer
// it holds (here the descriptor cannot be waited on without one).
type datagramReader struct {
	uc  *net.UDPConn
	buf []byte
}

func newDatagramReader(uc *net.UDPConn) *datagramReader {
	return &datagramReader{uc: uc, buf: make([]byte, 64<<10)}
}

// next returns the next datagram, a copy the caller keeps, and its
// sender. Its errors are those of UDPConn.ReadFromUDPAddrPort.
func (r *datagramReader) next() ([]byte, netip.AddrPort, error) {
	n, from, err := r.uc.ReadFromUDPAddrPort(r.buf)
	if err != nil {
		return nil, netip.AddrPort{}, err
	}
	return append([]byte(nil), r.buf[:n]...), from, nil
}
