package lcsock

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// At the end of the stream (README, Differences from LiveCode): the read
// with no condition that takes the last bytes has no end mark; a
// blocking read after it gets io.EOF. The socketClosed is then on its
// way, and a read with a message made before it is handled is refused
// with ErrSocketNotOpen (the engine's "socket is not open"), so that the
// socket's events end with its socketClosed (decisions.md: pending reads
// complete, "then exactly one socketClosed", cases 49–52; the refusal's
// text is case 65's). It was accepted and its event came after the
// socketClosed (found by the Differences audit).
func TestDiffAvailableAtEndOfStream(t *testing.T) {
	var got []Event
	reg, id := openToEndedPeer(t, Config{Dispatch: DispatchPumped, Handler: HandlerFunc(func(ev Event) { got = append(got, ev) })}, "xyz")
	require.NoError(t, reg.ReadWithMessage(id, Available(), nil, "last"))
	err := reg.ReadWithMessage(id, Available(), nil, "after")
	require.ErrorIs(t, err, ErrSocketNotOpen)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	data, err := reg.Read(ctx, id, Available())
	require.Equal(t, io.EOF, err)
	require.Empty(t, data)
	for len(got) < 2 { // last, socketClosed
		_, err := reg.Dispatch(ctx)
		require.NoError(t, err, "events: %v", got)
	}
	reg.DispatchPending() // nothing more
	require.Len(t, got, 2, "events: %v", got)
	last, closed := got[0], got[1]
	require.Equal(t, "last", last.Name)
	require.Equal(t, "xyz", string(last.Data))
	require.False(t, last.EOF)
	require.NoError(t, last.Err)
	require.Empty(t, last.Result())
	require.Equal(t, EventClosed, closed.Kind)
	require.Empty(t, reg.OpenSockets())
}

// A read with a message made before the end of the stream is seen
// completes with "eof", before the socketClosed.
func TestReadBeforeEndSeenGetsEOF(t *testing.T) {
	var got []Event
	reg, id, peer := openToPeer(t, Config{Dispatch: DispatchPumped, Handler: HandlerFunc(func(ev Event) { got = append(got, ev) })})
	require.NoError(t, reg.ReadWithMessage(id, Until("\n"), nil, "line"))
	require.NoError(t, peer.Close())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for len(got) < 2 {
		_, err := reg.Dispatch(ctx)
		require.NoError(t, err, "events: %v", got)
	}
	require.Equal(t, "line", got[0].Name)
	require.Equal(t, "eof", got[0].Result())
	require.Equal(t, EventClosed, got[1].Kind)
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

// A write with a message made from the socketClosed handler (answering a
// peer that half-closed, README) is sent, and its written event comes
// after the socketClosed: the one event that may follow a socket's final
// event (README, "Event ordering and counting guarantees").
func TestWrittenAfterSocketClosed(t *testing.T) {
	var got []Event
	var reg *Registry
	h := HandlerFunc(func(ev Event) {
		got = append(got, ev)
		if ev.Kind == EventClosed {
			require.NoError(t, reg.WriteWithMessage(ev.Socket, []byte("bye\n"), nil, "bye"))
		}
	})
	reg, id, peer := openToPeer(t, Config{Dispatch: DispatchPumped, Handler: h})
	require.NoError(t, peer.(*net.TCPConn).CloseWrite())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for len(got) < 2 {
		_, err := reg.Dispatch(ctx)
		require.NoError(t, err, "events: %v", got)
	}
	require.Equal(t, EventClosed, got[0].Kind)
	require.Equal(t, EventWritten, got[1].Kind)
	require.Equal(t, "bye", got[1].Name)
	require.NoError(t, peer.SetReadDeadline(time.Now().Add(5*time.Second)))
	answer, err := io.ReadAll(peer)
	require.NoError(t, err)
	require.Equal(t, "bye\n", string(answer))
	require.NotContains(t, reg.OpenSockets(), id)
}
