package lcsock_test

import (
	"context"
	"slices"
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
