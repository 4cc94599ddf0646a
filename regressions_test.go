package lcsock_test

import (
	"io"
	"net"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/lcsock/lcsock"
	"github.com/lcsock/lcsock/lcsocktest"
	"github.com/stretchr/testify/require"
)

// A connection the client resets while it waits in the backlog must end
// with socketError (connection reset), not socketClosed: the reset is
// reported by the first read only, which tryRead (in adopt) makes.
func TestCase25AcceptResetBeforeAccept(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("on Windows Go's Accept skips a connection reset before it is accepted (internal/poll: WSAECONNRESET from AcceptEx is retried): there is nothing to announce")
	}
	reg, rec := newReg(t, lcsock.Config{})
	port, err := reg.Accept(0, nil, "onConn", lcsock.MaxConnections(1))
	require.NoError(t, err)
	c1, err := net.Dial("tcp", "127.0.0.1:"+itoa(port))
	require.NoError(t, err)
	defer c1.Close()
	first := rec.WaitFor(t, lcsock.EventAccepted, "", wait).Socket
	// The second connection waits in the backlog (the listener is at its
	// limit) and is reset there.
	c2, err := net.Dial("tcp", "127.0.0.1:"+itoa(port))
	require.NoError(t, err)
	second := c2.LocalAddr().String()
	require.NoError(t, c2.(*net.TCPConn).SetLinger(0))
	require.NoError(t, c2.Close())
	require.NoError(t, reg.CloseSocket(first)) // frees the slot: the second is accepted
	rec.WaitFor(t, lcsock.EventAccepted, second, wait)
	ev, ok := rec.Next(lcsock.EventError, second, wait)
	require.True(t, ok, "want socketError for the reset connection; events: %v", rec.Events())
	requireReset(t, ev.Err)
	require.Zero(t, rec.Count(lcsock.EventClosed, second))
}

// A Conn whose deadline was never set must not report
// os.ErrDeadlineExceeded: here the socket's TLS handshake times out
// (HandshakeTimeout), which is the socket failing, not the Conn's deadline.
func TestConnHandshakeTimeoutIsNotDeadline(t *testing.T) {
	reg, rec := newReg(t, lcsock.Config{})
	p := newPeer(t)
	id := p.id("")
	require.NoError(t, reg.OpenSecure(id, nil, lcsock.Verify(false), lcsock.HandshakeTimeout(50*time.Millisecond)))
	c, err := reg.Conn(id)
	require.NoError(t, err)
	_ = p.accept() // never answers the ClientHello
	_, err = c.Read(make([]byte, 10))
	require.Error(t, err)
	require.NotErrorIs(t, err, os.ErrDeadlineExceeded, "no deadline was set on the Conn: %v", err)
	require.ErrorIs(t, err, lcsock.ErrHandshake)
	rec.WaitFor(t, lcsock.EventError, id, wait)
}

// nilAddrConn is a connection that knows no remote address, as some
// wrappers and mocks do.
type nilAddrConn struct{ net.Conn }

func (nilAddrConn) RemoteAddr() net.Addr { return nil }

// Adopt without an ID of a connection with no remote address is an
// error (ErrBadID), not a panic.
func TestAdoptNilRemoteAddr(t *testing.T) {
	reg, _ := newReg(t, lcsock.Config{})
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	_, err := reg.Adopt("", nilAddrConn{a}, nil)
	require.ErrorIs(t, err, lcsock.ErrBadID)
}

// With LendReadData, a read whose handler is nil (and no Config.Handler)
// has its event dropped, as without lending; it must not be dispatched
// to a nil handler, whose panic would take the socket down.
func TestLendNilHandler(t *testing.T) {
	reg, err := lcsock.NewRegistry(lcsock.Config{LendReadData: true})
	require.NoError(t, err)
	t.Cleanup(func() { reg.Close() })
	owner := &lcsocktest.Recorder{}
	p := newPeer(t)
	id := p.id("")
	require.NoError(t, reg.Open(id, owner, lcsock.WithMessage("connected")))
	c := p.accept()
	owner.WaitFor(t, lcsock.EventConnected, id, wait)
	require.NoError(t, reg.ReadWithMessage(id, lcsock.For(5, lcsock.Chars), nil, "dropped"))
	_, err = c.Write([]byte("hello world"))
	require.NoError(t, err)
	got, err := reg.Read(ctxWait(t), id, lcsock.For(6, lcsock.Chars))
	require.NoError(t, err)
	require.Equal(t, " world", string(got))
	// Flush the dispatcher: a write event queued now comes after the
	// dropped read's.
	require.NoError(t, reg.WriteWithMessage(id, []byte("x"), owner, "sent"))
	owner.WaitFor(t, lcsock.EventWritten, id, wait)
	require.Zero(t, owner.Count(lcsock.EventError, id), "events: %v", owner.Events())
	require.Equal(t, []string{id}, reg.OpenSockets())
}

// A blocking Read cut by closing a socket still connecting fails with a
// read error, not one labelled "write" (found in review B: finish handed
// the writes' error to the reads too).
func TestReadCutByCloseWhileConnectingSaysRead(t *testing.T) {
	dns := newFakeDNS(t)
	dns.hangName("slow.test.")
	reg, _ := newReg(t, lcsock.Config{Resolver: dns.resolver()})
	id := "slow.test:80"
	require.NoError(t, reg.Open(id, nil))
	res := make(chan error, 1)
	go func() {
		_, err := reg.Read(ctxWait(t), id, lcsock.For(1, lcsock.Chars))
		res <- err
	}()
	require.Eventually(t, func() bool {
		st, err := reg.Stats(id)
		return err == nil && st.PendingReads == 1
	}, wait, time.Millisecond)
	require.NoError(t, reg.CloseSocket(id))
	err := <-res
	require.ErrorIs(t, err, lcsock.ErrClosed)
	var oe *lcsock.OpError
	require.ErrorAs(t, err, &oe)
	require.Equal(t, "read", oe.Op)
}

// A nil HandlerFunc is no handler, as a nil Handler is: its events go to
// Config.Handler (or are dropped without one). It was called, and its
// panic closed the socket with a socketError (review D2).
func TestNilHandlerFuncMeansConfigHandler(t *testing.T) {
	for _, withDefault := range []bool{true, false} {
		rec := &lcsocktest.Recorder{}
		cfg := lcsock.Config{Handler: lcsock.HandlerFunc(nil)}
		if withDefault {
			cfg.Handler = rec
		}
		reg, err := lcsock.NewRegistry(cfg)
		require.NoError(t, err)
		t.Cleanup(func() { reg.Close() })
		p := newPeer(t)
		id := p.id("")
		var none lcsock.HandlerFunc
		require.NoError(t, reg.Open(id, none, lcsock.WithMessage("connected")))
		c := p.accept()
		require.NoError(t, reg.ReadWithMessage(id, lcsock.For(5, lcsock.Chars), none, "got"))
		_, err = c.Write([]byte("hello"))
		require.NoError(t, err)
		if withDefault {
			rec.WaitFor(t, lcsock.EventConnected, id, wait)
			ev := rec.WaitFor(t, lcsock.EventRead, id, wait)
			require.Equal(t, "hello", string(ev.Data))
		} else {
			// Without a default handler the events are dropped; the
			// socket stays open and usable.
			require.NoError(t, reg.WriteWithMessage(id, []byte("x"), none, "sent"))
			got := make([]byte, 1)
			_, err = io.ReadFull(c, got)
			require.NoError(t, err)
		}
		require.Equal(t, []string{id}, reg.OpenSockets())
		require.Zero(t, rec.Count(lcsock.EventError, id), "events: %v", rec.Events())
	}
}

// A handler that calls runtime.Goexit (t.FailNow in a handler, say) ends
// the dispatcher's goroutine, but not delivery: the events after it,
// queued already or to come, still reach their handlers, and Close
// returns. Every later event was queued and never delivered (review D2).
func TestHandlerGoexitDeliveryGoesOn(t *testing.T) {
	reg, rec := newReg(t, lcsock.Config{})
	p := newPeer(t)
	id := p.id("")
	c := openConnected(t, reg, rec, p, id)
	exit := lcsock.HandlerFunc(func(lcsock.Event) { runtime.Goexit() })
	require.NoError(t, reg.WriteWithMessage(id, []byte("a"), exit, "exits"))
	require.NoError(t, reg.WriteWithMessage(id, []byte("b"), rec, "queued behind"))
	rec.WaitFor(t, lcsock.EventWritten, id, wait)
	require.NoError(t, reg.ReadWithMessage(id, lcsock.For(2, lcsock.Chars), rec, "later"))
	_, err := c.Write([]byte("hi"))
	require.NoError(t, err)
	ev := rec.WaitFor(t, lcsock.EventRead, id, wait)
	require.Equal(t, "hi", string(ev.Data))
	require.NoError(t, reg.Close())
}
