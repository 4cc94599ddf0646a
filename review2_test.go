package lcsock_test

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/lcsock/lcsock"
	"github.com/stretchr/testify/require"
)

// CloseWrite on an adopted connection that cannot half-close (net.Pipe)
// must not report success while the peer never sees the end of stream.
func TestReview2AdoptPipeCloseWrite(t *testing.T) {
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
func TestReview2ConnPipeCloseWrite(t *testing.T) {
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
func TestReview2AdoptBufferedInputEOL(t *testing.T) {
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
