package lcsock_test

import (
	"context"
	"net"
	"testing"

	"github.com/lcsock/lcsock"
	"github.com/stretchr/testify/require"
)

// A nil context given to a blocking verb is an error, not a panic (review
// H: Read, Write, HostNameToAddress, HostAddressToName, Dispatch and
// Shutdown dereferenced it), on TCP and datagram sockets alike.
func TestNilContextIsAnError(t *testing.T) {
	p := newPeer(t)
	reg, rec := newReg(t, lcsock.Config{})
	id := p.id("nilctx")
	openConnected(t, reg, rec, p, id)
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	defer pc.Close()
	dg := pc.LocalAddr().String() + "|dg"
	require.NoError(t, reg.OpenDatagram(dg, nil))
	var nilCtx context.Context
	for _, sid := range []string{id, dg} {
		_, err := reg.Read(nilCtx, sid, lcsock.For(1, lcsock.Chars))
		require.Error(t, err)
		_, err = reg.Write(nilCtx, sid, []byte("x"))
		require.Error(t, err)
	}
	_, err = reg.HostNameToAddress(nilCtx, "localhost")
	require.Error(t, err)
	_, err = reg.HostAddressToName(nilCtx, "127.0.0.1")
	require.Error(t, err)
	pumped, _ := newReg(t, lcsock.Config{Dispatch: lcsock.DispatchPumped})
	_, err = pumped.Dispatch(nilCtx)
	require.Error(t, err)
	require.Error(t, reg.Shutdown(nilCtx))
	require.Equal(t, []string{id, dg}, reg.OpenSockets(), "a refused Shutdown closes nothing")
}
