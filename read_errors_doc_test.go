package lcsock_test

import (
	"io"
	"net"
	"testing"

	"github.com/lcsock/lcsock"
	"github.com/stretchr/testify/require"
)

// A read whose spec cannot be used fails at once, from Read and
// ReadWithMessage alike, with no event: a negative count (ErrBadReadSpec)
// or a For count needing more than Config.MaxReadBuffer (ErrBufferFull).
// A read from a listener gives ErrNotReadable.
func TestReadSpecErrorsAtOnce(t *testing.T) {
	p := newPeer(t)
	reg, rec := newReg(t, lcsock.Config{MaxReadBuffer: 16})
	id := p.id("")
	c := openConnected(t, reg, rec, p, id)
	require.ErrorIs(t, reg.ReadWithMessage(id, lcsock.For(17, lcsock.Chars), nil, "r"), lcsock.ErrBufferFull)
	require.ErrorIs(t, reg.ReadWithMessage(id, lcsock.For(-1, lcsock.Lines), nil, "r"), lcsock.ErrBadReadSpec)
	_, err := reg.Read(ctxWait(t), id, lcsock.For(9, lcsock.UInt2))
	require.ErrorIs(t, err, lcsock.ErrBufferFull)
	_, err = reg.Read(ctxWait(t), id, lcsock.For(-1, lcsock.Chars))
	require.ErrorIs(t, err, lcsock.ErrBadReadSpec)
	port, err := reg.Accept(0, nil, "acc")
	require.NoError(t, err)
	require.ErrorIs(t, reg.ReadWithMessage(itoa(port), lcsock.Available(), nil, "r"), lcsock.ErrNotReadable)
	// No read event came of them: a read that works is the first.
	require.NoError(t, reg.ReadWithMessage(id, lcsock.Until("!"), nil, "ok"))
	_, err = c.Write([]byte("!"))
	require.NoError(t, err)
	ev := rec.WaitFor(t, lcsock.EventRead, id, wait)
	require.Equal(t, "ok", ev.Name)
}

// A pending read cut by a reset (not a clean end of stream) completes
// with what was buffered, EOF set and Err the connection's error, not
// io.EOF; then the owner gets socketError, not socketClosed.
func TestReadEventErrOnReset(t *testing.T) {
	p := newPeer(t)
	reg, rec := newReg(t, lcsock.Config{})
	id := p.id("")
	c := openConnected(t, reg, rec, p, id)
	require.NoError(t, reg.ReadWithMessage(id, lcsock.For(5, lcsock.Chars), nil, "r"))
	_, err := c.Write([]byte("ab"))
	require.NoError(t, err)
	waitBuffered(t, reg, id, 2)
	require.NoError(t, c.(*net.TCPConn).SetLinger(0))
	require.NoError(t, c.Close())
	ev := rec.WaitFor(t, lcsock.EventRead, id, wait)
	require.Equal(t, "ab", string(ev.Data))
	require.True(t, ev.EOF)
	require.Error(t, ev.Err)
	require.NotEqual(t, io.EOF, ev.Err)
	fail := rec.WaitFor(t, lcsock.EventError, id, wait)
	require.Equal(t, lcsock.ErrorText(ev.Err), lcsock.ErrorText(fail.Err))
	require.Zero(t, rec.Count(lcsock.EventClosed, id))
}
