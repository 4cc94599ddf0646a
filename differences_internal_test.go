package lcsock

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// At the end of the stream (README, Differences from LiveCode): the read
// with no condition that takes the last bytes has no end mark, and the
// next one completes empty with io.EOF ("eof"). A read made after the
// socketClosed was sent, before it is handled, is still accepted: it
// completes at once with eof, and its event comes after the socketClosed.
func TestDiffAvailableAtEndOfStream(t *testing.T) {
	var got []Event
	reg, id, peer := openToPeer(t, Config{Dispatch: DispatchPumped, Handler: HandlerFunc(func(ev Event) { got = append(got, ev) })})
	s, err := reg.lookup("test", id)
	require.NoError(t, err)
	_, err = peer.Write([]byte("xyz"))
	require.NoError(t, err)
	require.NoError(t, peer.Close())
	waitState(t, s, func() bool { return s.eof && len(s.unread()) == 3 })
	require.NoError(t, reg.ReadWithMessage(id, Available(), nil, "last"))
	require.NoError(t, reg.ReadWithMessage(id, Available(), nil, "after"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for len(got) < 3 { // last, socketClosed, after
		_, err := reg.Dispatch(ctx)
		require.NoError(t, err, "events: %v", got)
	}
	require.Len(t, got, 3, "events: %v", got)
	last, closed, after := got[0], got[1], got[2]
	require.Equal(t, "last", last.Name)
	require.Equal(t, "xyz", string(last.Data))
	require.False(t, last.EOF)
	require.NoError(t, last.Err)
	require.Empty(t, last.Result())
	require.Equal(t, EventClosed, closed.Kind)
	require.Equal(t, "after", after.Name)
	require.Empty(t, after.Data)
	require.True(t, after.EOF)
	require.Equal(t, io.EOF, after.Err)
	require.Equal(t, "eof", after.Result())
	require.Empty(t, reg.OpenSockets())
}
