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

// A connection given to Adopt with a deadline left on it (its owner's
// own protocol before the hand-over, say) must not fail the socket when
// the deadline passes: lcsock has no deadlines but its own, and its
// timeouts only report. Both ends of a net.Pipe, and a TCP connection.
func TestAdoptClearsLeftoverDeadlines(t *testing.T) {
	for _, kind := range []string{"pipe", "tcp"} {
		t.Run(kind, func(t *testing.T) {
			reg, rec := newReg(t, lcsock.Config{})
			var a, b net.Conn
			if kind == "pipe" {
				a, b = net.Pipe()
			} else {
				p := newPeer(t)
				var err error
				a, err = net.Dial("tcp", p.id(""))
				require.NoError(t, err)
				b = p.accept()
			}
			defer b.Close()
			past := time.Unix(1, 0)
			require.NoError(t, a.SetDeadline(past))
			name := "" // named after its TCP peer
			if kind == "pipe" {
				name = "pipe:1|dl"
			}
			id, err := reg.Adopt(name, a, nil)
			require.NoError(t, err)
			go func() {
				b.SetWriteDeadline(time.Now().Add(wait))
				b.Write([]byte("hi"))
			}()
			got, err := reg.Read(ctxWait(t), id, lcsock.For(2, lcsock.Chars))
			require.NoError(t, err, "the deadline left on the adopted connection failed the socket")
			require.Equal(t, "hi", string(got))
			done := make(chan error, 1)
			go func() {
				b.SetReadDeadline(time.Now().Add(wait))
				_, err := io.ReadFull(b, make([]byte, 3))
				done <- err
			}()
			_, err = reg.Write(ctxWait(t), id, []byte("abc"))
			require.NoError(t, err)
			require.NoError(t, <-done)
			require.Equal(t, 0, rec.Count(lcsock.EventError, id), "no socketError")
		})
	}
}
