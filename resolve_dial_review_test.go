package lcsock_test

import (
	"context"
	"net"
	"slices"
	"strings"
	"testing"

	"github.com/lcsock/lcsock"
	"github.com/stretchr/testify/require"
)

// Findings of the review of resolution, dialing and proxies.

// A blocking lookup that the registry's Close ends fails with an error
// wrapping ErrClosed, as every other wait Close ends, and not with
// context.Canceled, which says the caller's ctx ended when it did not;
// a lookup after Close fails the same way (found in review).
func TestLookupEndedByCloseWrapsErrClosed(t *testing.T) {
	dns := newFakeDNS(t)
	dns.hangName("hang.test.")
	dns.hangName("hang2.test.") // not the same name: Go's resolver would share one lookup, which outlives a cancelled caller
	reg, _ := newReg(t, lcsock.Config{Resolver: dns.resolver()})
	ctx := ctxWait(t)
	names := make(chan error, 1)
	go func() {
		_, err := reg.HostNameToAddress(ctx, "hang.test:80|x")
		names <- err
	}()
	addrs := make(chan error, 1)
	go func() {
		_, err := reg.HostAddressToName(ctx, "hang2.test")
		addrs <- err
	}()
	eventually(t, "both lookups to reach the server", func() bool {
		q := dns.questions()
		return slices.Contains(q, "hang.test.") && slices.Contains(q, "hang2.test.")
	})
	require.NoError(t, reg.Close())
	for _, ch := range []chan error{names, addrs} {
		var err error
		select {
		case err = <-ch:
		case <-ctx.Done():
			t.Fatal("a lookup did not end with Close")
		}
		require.ErrorIs(t, err, lcsock.ErrClosed)
		require.ErrorIs(t, err, lcsock.ErrInvalidHostAddress)
		require.NotErrorIs(t, err, context.Canceled)
		require.Equal(t, "invalid host address", lcsock.ErrorText(err))
	}
	require.NoError(t, ctx.Err())

	_, err := reg.HostNameToAddress(ctx, "hang.test")
	require.ErrorIs(t, err, lcsock.ErrClosed)
	require.NotErrorIs(t, err, context.Canceled)
	_, err = reg.HostAddressToName(ctx, "hang.test")
	require.ErrorIs(t, err, lcsock.ErrClosed)
}

// A From address that was bound but whose connect failed — the same
// local port already connected to the same peer, which address reuse
// lets a second socket bind but no connect can use — is "can't connect
// to host", as in the engine, whose bind succeeds and whose connect
// fails; "can't bind to local host and port" is for a bind that failed
// (found in review). Case 82 is the other side: to another peer, the
// second socket connects.
func TestFromBoundButConnectFailedIsErrConnect(t *testing.T) {
	p := newPeer(t)
	reg, rec := newReg(t, lcsock.Config{})
	require.NoError(t, reg.Open(p.id("1"), nil, lcsock.From("127.0.0.1"), lcsock.WithMessage("up")))
	c1 := p.accept()
	rec.WaitFor(t, lcsock.EventConnected, p.id("1"), wait)
	local := c1.RemoteAddr().(*net.TCPAddr).Port
	id := p.id("2")
	require.NoError(t, reg.Open(id, nil, lcsock.From("127.0.0.1:"+itoa(local)), lcsock.WithMessage("up")))
	ev := rec.WaitFor(t, lcsock.EventError, id, wait)
	require.ErrorIs(t, ev.Err, lcsock.ErrConnect)
	require.NotErrorIs(t, ev.Err, lcsock.ErrBind)
	require.True(t, strings.HasPrefix(ev.Params()[1], "can't connect to host: "), ev.Params()[1])

	// A bind that fails is still ErrBind.
	held := newPeer(t)
	id = p.id("3")
	require.NoError(t, reg.Open(id, nil, lcsock.From("127.0.0.1:"+itoa(held.port()))))
	ev = rec.WaitFor(t, lcsock.EventError, id, wait)
	require.ErrorIs(t, ev.Err, lcsock.ErrBind)
}
