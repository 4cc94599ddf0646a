package lcsock_test

import (
	"errors"
	"testing"

	"github.com/lcsock/lcsock"
	"github.com/stretchr/testify/require"
)

// The error types' methods are safe on nil pointers, as OpError.Error
// promises: errors.Is on a typed nil walks Unwrap (review H: OpError's
// Unwrap, DialError's Unwrap and Timeout, MulticastError's Error and
// Unwrap dereferenced nil).
func TestNilErrorTypesDoNotPanic(t *testing.T) {
	var oe *lcsock.OpError
	var de *lcsock.DialError
	var me *lcsock.MulticastError
	for _, err := range []error{oe, de, me} {
		require.NotPanics(t, func() {
			_ = err.Error()
			_ = errors.Is(err, lcsock.ErrClosed)
			_ = errors.Unwrap(err)
		})
	}
	require.NotPanics(t, func() { _ = oe.Timeout(); _ = de.Timeout() })
}
