package lcsock_test

import (
	"io"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/lcsock/lcsock"
	"github.com/stretchr/testify/require"
)

// Findings of the session-6 review: Shutdown, and closing from a socket's
// own goroutine.

// eventually waits until cond holds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		require.True(t, time.Now().Before(deadline), "waiting for %s", what)
		runtime.Gosched()
	}
}

// Once Shutdown has begun, opens fail with ErrClosed, as after Close, and
// what was open before is flushed. A socket opened while Shutdown
// flushed was not flushed: the final Close dropped it without an event
// (found in review).
func TestOpenDuringShutdownFails(t *testing.T) {
	p := newPeer(t)
	reg, rec := newReg(t, lcsock.Config{})
	id := p.id("")
	c := openConnected(t, reg, rec, p, id) // the peer reads nothing yet: the flush waits
	require.NoError(t, reg.WriteWithMessage(id, make([]byte, 8<<20), nil, "w"))
	ctx := ctxWait(t)
	done := make(chan error, 1)
	go func() { done <- reg.Shutdown(ctx) }()
	eventually(t, "Shutdown to begin", func() bool { return len(reg.OpenSockets()) == 0 })

	require.ErrorIs(t, reg.Open(p.id("late"), nil, lcsock.WithMessage("connected")), lcsock.ErrClosed)
	require.ErrorIs(t, reg.OpenSecure(p.id("late"), nil), lcsock.ErrClosed)
	require.ErrorIs(t, reg.OpenDatagram("127.0.0.1:9", nil), lcsock.ErrClosed)
	_, err := reg.Accept(0, nil, "conn")
	require.ErrorIs(t, err, lcsock.ErrClosed)
	_, err = reg.AcceptDatagram(0, nil, "dg")
	require.ErrorIs(t, err, lcsock.ErrClosed)
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	_, err = reg.Adopt("pipe", a, nil)
	require.ErrorIs(t, err, lcsock.ErrClosed)
	require.Empty(t, reg.OpenSockets())

	go io.Copy(io.Discard, c)
	require.NoError(t, <-done)
	require.Equal(t, 1, rec.Count(lcsock.EventWritten, id), "the write queued before Shutdown is flushed")
}
