package lcsock_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"github.com/lcsock/lcsock/lcsocktest"
	"io"
	"net"
	"testing"
	"time"

	"github.com/lcsock/lcsock"
	"github.com/stretchr/testify/require"
)

// CloseWrite on an adopted connection that cannot half-close (net.Pipe)
// must not report success while the peer never sees the end of stream.
func TestAdoptPipeCloseWrite(t *testing.T) {
	reg, _ := newReg(t, lcsock.Config{})
	a, b := net.Pipe()
	defer b.Close()
	id, err := reg.Adopt("pipe:1|cw", a, nil)
	require.NoError(t, err)
	err = reg.CloseWrite(id)
	if err != nil {
		require.ErrorIs(t, err, lcsock.ErrCannotHalfClose) // refused: the caller knows
		return
	}
	b.SetReadDeadline(time.Now().Add(wait))
	_, err = b.Read(make([]byte, 1))
	require.ErrorIs(t, err, io.EOF, "CloseWrite reported success: the peer must read end of stream")
}

// Same through the net.Conn view.
func TestConnPipeCloseWrite(t *testing.T) {
	reg, _ := newReg(t, lcsock.Config{})
	a, b := net.Pipe()
	defer b.Close()
	id, err := reg.Adopt("pipe:1|cw", a, nil)
	require.NoError(t, err)
	c, err := reg.Conn(id)
	require.NoError(t, err)
	if err := c.CloseWrite(); err != nil {
		require.ErrorIs(t, err, lcsock.ErrCannotHalfClose)
		return
	}
	b.SetReadDeadline(time.Now().Add(wait))
	_, err = b.Read(make([]byte, 1))
	require.ErrorIs(t, err, io.EOF, "CloseWrite reported success: the peer must read end of stream")
}

// Buffered bytes with InputEOL: a CR at the end of the buffered bytes and
// the LF that starts the stream are one line end.
func TestAdoptBufferedInputEOL(t *testing.T) {
	reg, _ := newReg(t, lcsock.Config{})
	a, b := net.Pipe()
	defer b.Close()
	id, err := reg.Adopt("pipe:1|eol", a, nil, lcsock.Buffered([]byte("one\r\ntwo\r")), lcsock.InputEOL(lcsock.LF))
	require.NoError(t, err)
	go b.Write([]byte("\nthree\r\n"))
	got, err := reg.Read(ctxWait(t), id, lcsock.For(3, lcsock.Lines))
	require.NoError(t, err)
	require.Equal(t, "one\ntwo\nthree\n", string(got))
}

// A net.Conn view of a socket upgraded with Secure: a Read blocked
// before the upgrade and a Write made during it use the TLS stream.
func TestConnDuringSecure(t *testing.T) {
	ca := lcsocktest.NewCA(t)
	certPEM, keyPEM := ca.Issue(t, "localhost")
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	srvErr := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			srvErr <- err
			return
		}
		defer c.Close()
		tc := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{pair}})
		if _, err := tc.Write([]byte("hello\n")); err != nil {
			srvErr <- err
			return
		}
		line := make([]byte, 5)
		_, err = io.ReadFull(tc, line)
		if err == nil && string(line) != "ping\n" {
			err = fmt.Errorf("server got %q", line)
		}
		srvErr <- err
		io.Copy(io.Discard, tc) // until the client closes
	}()
	reg, rec := newReg(t, lcsock.Config{})
	id := ln.Addr().String() + "|starttls"
	require.NoError(t, reg.Open(id, nil, lcsock.WithMessage("up")))
	rec.WaitFor(t, lcsock.EventConnected, id, wait)
	c, err := reg.Conn(id)
	require.NoError(t, err)
	got := make(chan string, 1)
	go func() {
		buf := make([]byte, 64)
		c.SetReadDeadline(time.Now().Add(wait))
		n, err := c.Read(buf)
		if err != nil {
			got <- "error: " + err.Error()
			return
		}
		got <- string(buf[:n])
	}()
	require.NoError(t, reg.Secure(id, lcsock.Verify(false)))
	c.SetWriteDeadline(time.Now().Add(wait))
	_, err = c.Write([]byte("ping\n"))
	require.NoError(t, err)
	require.Equal(t, "hello\n", <-got)
	require.NoError(t, <-srvErr)
	st, err := reg.TLSState(id)
	require.NoError(t, err)
	require.True(t, st.HandshakeComplete)
}

// A blocking datagram Write given up while the name resolves is never
// sent; one closed meanwhile fails with ErrClosed; the order of the
// others is kept.
func TestCase78BlockingWriteGivenUp(t *testing.T) {
	dns := newFakeDNS(t)
	reg, _ := newReg(t, lcsock.Config{Resolver: dns.resolver()})
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	defer pc.Close()
	port := pc.LocalAddr().(*net.UDPAddr).Port
	dns.setAddrs("udp.test.", "127.0.0.1")
	dns.closeGate()
	id := "udp.test:" + itoa(port) + "|g"
	require.NoError(t, reg.OpenDatagram(id, nil))
	require.NoError(t, reg.WriteWithMessage(id, []byte("one"), nil, ""))
	ctx, cancel := context.WithCancel(context.Background())
	res := make(chan error, 1)
	go func() {
		_, err := reg.Write(ctx, id, []byte("cancelled"))
		res <- err
	}()
	require.Eventually(t, func() bool {
		st, err := reg.Stats(id)
		return err == nil && st.QueuedWrites == 2
	}, wait, time.Millisecond)
	cancel()
	require.ErrorIs(t, <-res, context.Canceled)
	require.NoError(t, reg.WriteWithMessage(id, []byte("two"), nil, ""))
	dns.open()
	_, err = reg.Write(ctxWait(t), id, []byte("three"))
	require.NoError(t, err)
	buf := make([]byte, 64)
	for _, want := range []string{"one", "two", "three"} {
		pc.SetReadDeadline(time.Now().Add(wait))
		n, _, err := pc.ReadFrom(buf)
		require.NoError(t, err)
		require.Equal(t, want, string(buf[:n]))
	}

	dns.closeGate()
	id2 := "udp.test:" + itoa(port) + "|closed"
	require.NoError(t, reg.OpenDatagram(id2, nil))
	go func() {
		_, err := reg.Write(ctxWait(t), id2, []byte("never"))
		res <- err
	}()
	require.Eventually(t, func() bool {
		st, err := reg.Stats(id2)
		return err == nil && st.QueuedWrites == 1
	}, wait, time.Millisecond)
	require.NoError(t, reg.CloseSocket(id2))
	require.ErrorIs(t, <-res, lcsock.ErrClosed)
	dns.open()
}
