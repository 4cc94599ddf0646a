package lcsock_test

import (
	"io"
	"testing"

	"github.com/lcsock/lcsock"
	"github.com/stretchr/testify/require"
)

// Write-path findings of review E.

// An empty WriteWithMessage queued behind a write still being sent gets
// its written event after that write's: writes form a FIFO. It was
// announced at once, before the bytes ahead of it were in the kernel.
func TestEmptyWriteWithMessageWaitsForWritesAhead(t *testing.T) {
	reg, rec := newReg(t, lcsock.Config{})
	p := newPeer(t)
	id := p.id("")
	c := openConnected(t, reg, rec, p, id) // the peer does not read yet
	const size = 8 << 20
	require.NoError(t, reg.WriteWithMessage(id, make([]byte, size), nil, "a"))
	require.NoError(t, reg.WriteWithMessage(id, nil, nil, "b"))
	go io.Copy(io.Discard, c)
	ev := rec.WaitFor(t, lcsock.EventWritten, id, wait)
	require.Equal(t, "a", ev.Name)
	ev = rec.WaitFor(t, lcsock.EventWritten, id, wait)
	require.Equal(t, "b", ev.Name)
}

// An empty WriteWithMessage after CloseWrite fails with ErrClosed, as any
// write does then; it was accepted and announced as written.
func TestEmptyWriteWithMessageAfterCloseWriteFails(t *testing.T) {
	reg, rec := newReg(t, lcsock.Config{})
	p := newPeer(t)
	id := p.id("")
	openConnected(t, reg, rec, p, id)
	require.NoError(t, reg.CloseWrite(id))
	err := reg.WriteWithMessage(id, []byte("x"), nil, "x")
	require.ErrorIs(t, err, lcsock.ErrClosed)
	err = reg.WriteWithMessage(id, nil, nil, "e")
	require.ErrorIs(t, err, lcsock.ErrClosed)
}
