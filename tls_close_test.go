package lcsock_test

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lcsock/lcsock"
	"github.com/lcsock/lcsock/lcsocktest"
	"github.com/stretchr/testify/require"
)

// Registry.Close closes every socket at once, TLS ones too, even one
// closed while a write fills the buffers of a peer that reads nothing:
// tls.Conn.Close's close_notify would wait up to 5 s behind the unread
// bytes. (A review reported Close taking ~5 s in such a case; not
// reproduced here, this guards it.) The deadline is well under 5 s.
func TestRegistryCloseDoesNotWaitForTLSCloseNotify(t *testing.T) {
	cert, key := lcsocktest.SelfSigned(t, "localhost")
	pair, err := tls.X509KeyPair(cert, key)
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	peer := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		tc := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{pair}})
		tc.Handshake()
		peer <- tc // and never read
	}()

	reg, rec := newReg(t, lcsock.Config{})
	id := ln.Addr().String()
	require.NoError(t, reg.OpenSecure(id, nil, lcsock.WithMessage("up"), lcsock.Verify(false)))
	rec.WaitFor(t, lcsock.EventConnected, id, wait)
	pc := <-peer
	t.Cleanup(func() { pc.Close() })

	// Fill the send buffers, until a write cut by its deadline breaks
	// the TLS stream: the socket fails and a worker closes the TLS
	// connection, its close_notify stuck behind the unread bytes.
	c, err := reg.Conn(id)
	require.NoError(t, err)
	wrote := make(chan error, 1)
	go func() {
		_, err := c.Write(make([]byte, 64<<20))
		wrote <- err
	}()
	var last uint64
	require.Eventually(t, func() bool { // no progress for a while: the buffers are full
		st, err := reg.Stats(id)
		require.NoError(t, err)
		stalled := st.BytesOut > 0 && st.BytesOut == last
		last = st.BytesOut
		return stalled
	}, wait, 50*time.Millisecond)
	reg.CloseSocket(id) // the TLS write being sent finishes within the flush's bound

	closed := make(chan struct{})
	go func() {
		reg.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(3 * time.Second):
		t.Fatal("Registry.Close waited for a TLS close_notify the peer does not read")
	}
	require.Error(t, <-wrote)
}

// Registry.Close does not wait for the close_notify of a TLS socket that
// failed before it: the worker closing the connection sends close_notify
// with no Write in progress, and tls.Conn.Close waits up to 5 s for it
// when the peer reads nothing and the send buffer is full (a stallConn
// here; a blocking Write cut by its context does it on real TCP). Close
// waited for that worker (found in review C).
func TestRegistryCloseDoesNotWaitForCloseNotifyOfFailedSocket(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	srv := make(chan net.Conn, 1)
	cfg := &tls.Config{Certificates: []tls.Certificate{serverCert(t)}}
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		if err := tls.Server(c, cfg).Handshake(); err != nil {
			c.Close()
			return
		}
		srv <- c
	}()
	raw, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	sc := &stallConn{Conn: raw, stalled: make(chan struct{}), release: make(chan struct{}), closed: make(chan struct{})}
	t.Cleanup(func() { sc.Close() })
	tc := tls.Client(sc, &tls.Config{InsecureSkipVerify: true})
	require.NoError(t, tc.Handshake())
	peer := <-srv

	reg, rec := newReg(t, lcsock.Config{})
	id, err := reg.Adopt("", tc, rec)
	require.NoError(t, err)
	close(sc.stalled) // from now on the peer reads nothing: writes block
	peer.(*net.TCPConn).SetLinger(0)
	peer.Close() // a reset: the socket fails, and a worker closes the connection
	rec.WaitFor(t, lcsock.EventError, id, wait)

	closed := make(chan struct{})
	go func() {
		reg.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(3 * time.Second):
		close(sc.release) // let the close_notify go, and Close return
		<-closed
		t.Fatal("Registry.Close waited for the close_notify of a failed TLS socket")
	}
}

// gateConn's writes, once gated, wait until it is opened (they then go
// through) or closed (they fail); entered is closed when the first one
// waits, and failed counts the writes that failed.
type gateConn struct {
	net.Conn
	gated, entered, open, closed chan struct{}
	enter, close                 sync.Once
	failed                       atomic.Int32
}

func (c *gateConn) Write(p []byte) (int, error) {
	select {
	case <-c.gated:
		c.enter.Do(func() { close(c.entered) })
		select {
		case <-c.open:
		case <-c.closed:
			c.failed.Add(1)
			return 0, net.ErrClosed
		}
	default:
	}
	n, err := c.Conn.Write(p)
	if err != nil {
		c.failed.Add(1)
	}
	return n, err
}

func (c *gateConn) Close() error {
	c.close.Do(func() { close(c.closed) })
	return c.Conn.Close()
}

// Shutdown, unlike Close, lets a TLS socket's close_notify go out (within
// its ctx) before the registry closes: Close cuts the close_notify
// still under way, and Shutdown ends with Close.
func TestShutdownLetsCloseNotifyGoOut(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	cfg := &tls.Config{Certificates: []tls.Certificate{serverCert(t)}}
	srvDone := make(chan struct{})
	go func() {
		defer close(srvDone)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		io.Copy(io.Discard, tls.Server(c, cfg))
	}()
	raw, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	gc := &gateConn{Conn: raw, gated: make(chan struct{}), entered: make(chan struct{}), open: make(chan struct{}), closed: make(chan struct{})}
	t.Cleanup(func() { gc.Close() })
	tc := tls.Client(gc, &tls.Config{InsecureSkipVerify: true})
	require.NoError(t, tc.Handshake())

	reg, err := lcsock.NewRegistry(lcsock.Config{})
	require.NoError(t, err)
	t.Cleanup(func() { reg.Close() })
	_, err = reg.Adopt("", tc, nil)
	require.NoError(t, err)
	close(gc.gated) // the close_notify waits at the gate
	shut := make(chan error, 1)
	go func() { shut <- reg.Shutdown(context.Background()) }()
	select {
	case <-gc.entered:
	case err := <-shut:
		t.Fatalf("Shutdown returned (%v) before the close_notify was written", err)
	case <-time.After(wait):
		t.Fatal("no close_notify")
	}
	select { // a while with the close_notify held: Shutdown must wait for it
	case <-gc.closed:
		t.Fatal("Shutdown cut the close_notify")
	case err := <-shut:
		t.Fatalf("Shutdown returned (%v) with the close_notify unsent", err)
	case <-time.After(200 * time.Millisecond):
	}
	close(gc.open)
	require.NoError(t, <-shut)
	require.Zero(t, gc.failed.Load(), "the close_notify was cut")
	<-srvDone
}
