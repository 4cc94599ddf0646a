//go:build linux

package lcsock

import (
	"context"
	"errors"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A connect that fails with "cannot assign requested address" when no
// local address was asked for (no From, no default interface) is
// "can't connect to host", not "can't bind to local host and port":
// there is no local address to blame, and the system gives that reason
// to a connect too (its local ports used up, say). Here the socket is
// bound behind the dialer's back to the local end of a connection to
// the same peer, so that the connect itself fails (found in review).
func TestConnectAddrNotAvailWithoutLocalIsNotBind(t *testing.T) {
	r, err := NewRegistry(Config{})
	require.NoError(t, err)
	t.Cleanup(func() { r.Close() })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	port := ln.Addr().(*net.TCPAddr).Port
	first, err := (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}, Control: reuseControl}).Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	t.Cleanup(func() { first.Close() })
	local := first.LocalAddr().(*net.TCPAddr).Port

	d := &net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		return control(c, func(fd uintptr) error {
			if err := setReuse(fd, true); err != nil {
				return err
			}
			return syscall.Bind(int(fd), &syscall.SockaddrInet4{Port: local, Addr: [4]byte{127, 0, 0, 1}})
		})
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := r.dialHost(ctx, d, "127.0.0.1", port)
	if conn != nil {
		conn.Close()
	}
	require.ErrorIs(t, err, syscall.EADDRNOTAVAIL) // the connect's own failure
	var se *net.OpError
	require.ErrorAs(t, err, &se)
	require.NotErrorIs(t, err, ErrBind)
	require.ErrorIs(t, err, ErrConnect)
	var de *DialError
	require.True(t, errors.As(err, &de), "%v", err)
}

// dialError (the datagram open's) blames the local address only for a
// failed bind: the same errno from the connect is "can't connect to
// host", as for TCP opens (bindFailed).
func TestDialErrorBindOnlyForBind(t *testing.T) {
	for _, tc := range []struct {
		syscall string
		errno   syscall.Errno
		want    error
	}{
		{"bind", syscall.EADDRINUSE, ErrBind},
		{"bind", syscall.EADDRNOTAVAIL, ErrBind},
		{"connect", syscall.EADDRNOTAVAIL, ErrConnect},
		{"connect", syscall.EADDRINUSE, ErrConnect},
		{"connect", syscall.ECONNREFUSED, ErrConnect},
	} {
		err := dialError(&net.OpError{Op: "dial", Net: "udp", Err: os.NewSyscallError(tc.syscall, tc.errno)})
		require.ErrorIs(t, err, tc.want, "%s: %v", tc.syscall, tc.errno)
	}
}
