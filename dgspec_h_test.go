package lcsock_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/lcsock/lcsock"
	"github.com/stretchr/testify/require"
)

// A malformed read condition (negative count, unknown unit) on a datagram
// socket is refused with ErrBadReadSpec, as on a TCP socket; a valid one,
// however large, still reads one whole datagram (review H: datagram reads
// accepted any condition, For(-1) included).
func TestDatagramReadRefusesBadSpec(t *testing.T) {
	reg, _ := newReg(t, lcsock.Config{})
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	defer pc.Close()
	id := pc.LocalAddr().String() + "|dg"
	require.NoError(t, reg.OpenDatagram(id, nil))
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	for _, bad := range []lcsock.ReadSpec{lcsock.For(-1, lcsock.Chars), lcsock.For(1, lcsock.Unit(200))} {
		_, err := reg.Read(ctx, id, bad)
		require.ErrorIs(t, err, lcsock.ErrBadReadSpec)
		require.ErrorIs(t, reg.ReadWithMessage(id, bad, nil, "dg"), lcsock.ErrBadReadSpec)
	}
	// The socket still works: a datagram to it is read whole.
	_, err = reg.Write(ctx, id, []byte("ping")) // the peer learns its port
	require.NoError(t, err)
	buf := make([]byte, 16)
	pc.SetReadDeadline(time.Now().Add(wait))
	_, from, err := pc.ReadFrom(buf)
	require.NoError(t, err)
	_, err = pc.WriteTo([]byte("whole datagram"), from)
	require.NoError(t, err)
	data, err := reg.Read(ctx, id, lcsock.For(1<<30, lcsock.Chars))
	require.NoError(t, err)
	require.Equal(t, "whole datagram", string(data))
}
