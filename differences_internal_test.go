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

// The flush of a closed socket gives up after a timeout interval with
// no progress (README, Differences from LiveCode): the connection
// closes and the unsent writes are dropped without events.
func TestDiffCloseFlushGivesUp(t *testing.T) {
	events := make(chan Event, 16)
	reg, id, _ := openToPeer(t, Config{TimeoutInterval: 50 * time.Millisecond, MaxWriteQueue: 64 << 20,
		Handler: HandlerFunc(func(ev Event) { events <- ev })}) // the peer reads nothing
	s, err := reg.lookup("test", id)
	require.NoError(t, err)
	waitState(t, s, func() bool { return s.state == stateOpen })
	require.NoError(t, reg.WriteWithMessage(id, make([]byte, 32<<20), nil, "never")) // more than the kernel takes
	require.NoError(t, reg.CloseSocket(id))
	select {
	case <-s.finished:
	case <-time.After(5 * time.Second):
		t.Fatal("the flush did not give up")
	}
	s.mu.Lock()
	require.Empty(t, s.writes)
	s.mu.Unlock()
	// A barrier: an event posted after the flush ended is delivered after
	// anything the flush posted.
	require.NoError(t, reg.Open("127.0.0.1:1|barrier", nil))
	for {
		select {
		case ev := <-events:
			require.NotEqual(t, "never", ev.Name, "the dropped write's event fired")
			if ev.Socket == "127.0.0.1:1|barrier" {
				return
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no barrier event")
		}
	}
}
