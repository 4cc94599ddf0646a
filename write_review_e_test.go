package lcsock_test

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"

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

// The close that follows socketClosed flushes a blocking Write still in
// progress, as it flushes WriteWithMessage's: nobody asked for that write
// to stop. It was cut with ErrClosed, so a goroutine answering a peer
// that had half-closed lost its answer (listed as known in session 8).
func TestCloseAfterSocketClosedFlushesBlockingWrite(t *testing.T) {
	p := newPeer(t)
	reg, rec := newReg(t, lcsock.Config{})
	id := p.id("")
	c := openConnected(t, reg, rec, p, id)
	answer := bytes.Repeat([]byte("a"), 32<<20) // more than the kernel buffers
	wrote := make(chan error, 1)
	go func() {
		_, err := reg.Write(ctxWait(t), id, answer)
		wrote <- err
	}()
	eventually(t, "the write to be under way", func() bool {
		st, err := reg.Stats(id)
		return err == nil && st.BytesOut > 0
	})
	require.NoError(t, c.(*net.TCPConn).CloseWrite())
	rec.WaitFor(t, lcsock.EventClosed, id, wait)
	require.NoError(t, c.SetReadDeadline(time.Now().Add(wait)))
	got, err := io.ReadAll(c)
	require.NoError(t, err)
	require.Equal(t, len(answer), len(got))
	require.NoError(t, <-wrote)
}
