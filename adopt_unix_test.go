//go:build unix

package lcsock_test

import (
	"crypto/tls"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/lcsock/lcsock"
	"github.com/stretchr/testify/require"
)

// KeepAlive and NoDelay, documented options of Adopt, apply to an adopted
// *tls.Conn's TCP connection too.
func TestAdoptTLSOptions(t *testing.T) {
	p := newPeer(t)
	raw, err := net.Dial("tcp", p.ln.Addr().String())
	require.NoError(t, err)
	p.accept()
	tc := tls.Client(raw, &tls.Config{InsecureSkipVerify: true})
	reg, _ := newReg(t, lcsock.Config{})
	_, err = reg.Adopt("", tc, nil, lcsock.NoDelay(false))
	require.NoError(t, err)
	rc, err := raw.(*net.TCPConn).SyscallConn()
	require.NoError(t, err)
	var v int
	var gerr error
	require.NoError(t, rc.Control(func(fd uintptr) {
		v, gerr = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_NODELAY)
	}))
	require.NoError(t, gerr)
	require.Zero(t, v, "NoDelay(false) on an adopted *tls.Conn")
}

// Closing an adopted connection closes the descriptor lcsock was given
// and nothing more: a copy of it made before (net.TCPConn.File) still
// receives. lcsock's own connections have their receiving side shut
// down to wake the reader on Linux; an adopted one's socket may be
// shared, so it is only closed.
func TestAdoptCloseLeavesSharedSocketOpen(t *testing.T) {
	p := newPeer(t)
	c, err := net.Dial("tcp", p.ln.Addr().String())
	require.NoError(t, err)
	srv := p.accept()
	f, err := c.(*net.TCPConn).File()
	require.NoError(t, err)
	dup, err := net.FileConn(f)
	f.Close()
	require.NoError(t, err)
	defer dup.Close()

	reg, rec := newReg(t, lcsock.Config{})
	id, err := reg.Adopt("", c, nil)
	require.NoError(t, err)
	// A pending read: the reader waits for input in the descriptor.
	require.NoError(t, reg.ReadWithMessage(id, lcsock.Until("\n"), nil, "line"))
	_, err = srv.Write([]byte("one\n"))
	require.NoError(t, err)
	rec.WaitFor(t, lcsock.EventRead, id, wait)
	require.NoError(t, reg.CloseSocket(id))
	require.NoError(t, reg.Close()) // the reader has closed its descriptor

	// The copy still waits for input: its receiving side was not shut
	// down (a read would find the end of the stream at once).
	dup.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	_, err = dup.Read(make([]byte, 1))
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	_, err = srv.Write([]byte("two\n"))
	require.NoError(t, err)
	dup.SetReadDeadline(time.Now().Add(wait))
	got := make([]byte, 4)
	_, err = io.ReadFull(dup, got)
	require.NoError(t, err)
	require.Equal(t, "two\n", string(got))
}
