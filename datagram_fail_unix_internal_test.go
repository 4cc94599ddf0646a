//go:build unix

package lcsock

import (
	"context"
	"net"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A datagram socket that fails keeps the datagrams already queued for
// Read, as a TCP socket keeps its buffered bytes: they were dropped with
// the socket (found in review). These tests fail an OpenDatagram socket
// for real: its peer sends datagrams that wait in the queue, then goes
// away, and a write to it brings back ICMP port unreachable, which the
// socket's next receive reports.

// failedDatagram opens a datagram socket to a UDP peer on loopback, with
// opts (without WithMessage, what the peer sends waits for Read); once
// the peer's data is queued, or posted as events, it closes the peer and
// writes to it, and returns when the socket has taken in the failure.
// Events go to the channel (cfg's Handler, if set, is replaced).
func failedDatagram(t *testing.T, cfg Config, opts []Option, data ...string) (*Registry, string, *socket, chan Event) {
	t.Helper()
	events := make(chan Event, 64)
	cfg.Handler = HandlerFunc(func(ev Event) { events <- ev })
	reg, err := NewRegistry(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { reg.Close() })
	peer, err := net.ListenPacket("udp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer peer.Close()
	id := peer.LocalAddr().String()
	require.NoError(t, reg.OpenDatagram(id, nil, opts...))
	s, err := reg.lookup("test", id)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = reg.Write(ctx, id, []byte("hello")) // tells the peer where to send
	require.NoError(t, err)
	require.NoError(t, peer.SetReadDeadline(time.Now().Add(5*time.Second)))
	_, from, err := peer.ReadFrom(make([]byte, 64))
	require.NoError(t, err)
	for _, d := range data {
		_, err := peer.WriteTo([]byte(d), from)
		require.NoError(t, err)
	}
	waitState(t, s, func() bool { return len(s.dg.queue)+int(s.dg.undelivered.Load()) == len(data) })
	require.NoError(t, peer.Close())
	_, err = reg.Write(ctx, id, []byte("anyone?")) // answered by ICMP port unreachable
	require.NoError(t, err)
	waitState(t, s, func() bool { return s.rerr != nil })
	return reg, id, s, events
}

// requireNoMoreEvents closes the registry, which waits for the delivery
// of the events posted so far to end, and checks none is left.
func requireNoMoreEvents(t *testing.T, reg *Registry, events chan Event) {
	t.Helper()
	require.NoError(t, reg.Close())
	select {
	case ev := <-events:
		t.Fatalf("unexpected event %v", ev)
	default:
	}
}

// requireFailureEvent waits for the socket's socketError, which carries
// the ICMP report.
func requireFailureEvent(t *testing.T, events chan Event, id string) {
	t.Helper()
	ev := nextEvent(t, events)
	require.Equal(t, EventError, ev.Kind, "%v", ev)
	require.Equal(t, id, ev.Socket)
	require.ErrorIs(t, ev.Err, syscall.ECONNREFUSED)
}

// Blocking Read after the failure: the queued datagrams, in order; the
// socket stays listed (and its Stats readable) until the last is read,
// then ends with one socketError. Writes fail as on a failed TCP socket.
func TestDatagramFailureKeepsQueueForRead(t *testing.T) {
	reg, id, _, events := failedDatagram(t, Config{}, nil, "one", "two", "three")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	require.Contains(t, reg.OpenSockets(), id, "listed while datagrams wait to be read")
	st, err := reg.Stats(id)
	require.NoError(t, err)
	require.Equal(t, "open", st.State)
	_, err = reg.Write(ctx, id, []byte("more"))
	require.ErrorIs(t, err, ErrClosed)
	require.ErrorIs(t, reg.WriteWithMessage(id, []byte("more"), nil, "sent"), ErrClosed)

	for _, want := range []string{"one", "two", "three"} {
		require.Contains(t, reg.OpenSockets(), id, "no socketError before the queue is drained")
		got, err := reg.Read(ctx, id, ReadSpec{})
		require.NoError(t, err)
		require.Equal(t, want, string(got))
	}
	requireFailureEvent(t, events, id)
	require.NotContains(t, reg.OpenSockets(), id)
	_, err = reg.Read(ctx, id, ReadSpec{})
	require.ErrorIs(t, err, ErrSocketNotOpen)
	requireNoMoreEvents(t, reg, events)
}

// ReadWithMessage after the failure: the queued datagrams come as
// events, in order, then the socketError.
func TestDatagramFailureKeepsQueueForReadWithMessage(t *testing.T) {
	reg, id, _, events := failedDatagram(t, Config{}, nil, "one", "two", "three")
	require.NoError(t, reg.ReadWithMessage(id, ReadSpec{}, nil, "dg"))
	for _, want := range []string{"one", "two", "three"} {
		ev := nextEvent(t, events)
		require.Equal(t, EventDatagram, ev.Kind, "%v", ev)
		require.Equal(t, "dg", ev.Name)
		require.Equal(t, want, string(ev.Data))
		require.Equal(t, id, ev.Listener)
	}
	requireFailureEvent(t, events, id)
	require.NotContains(t, reg.OpenSockets(), id)
	requireNoMoreEvents(t, reg, events)
}

// The same in a pumped registry, where the events wait for Dispatch:
// the datagrams and then the socketError, once each.
func TestDatagramFailureKeepsQueuePumped(t *testing.T) {
	reg, id, _, events := failedDatagram(t, Config{Dispatch: DispatchPumped}, nil, "one", "two")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	got, err := reg.Read(ctx, id, ReadSpec{})
	require.NoError(t, err)
	require.Equal(t, "one", string(got))
	require.Zero(t, reg.DispatchPending(), "no socketError while a datagram waits")
	require.NoError(t, reg.ReadWithMessage(id, ReadSpec{}, nil, "dg"))
	require.Equal(t, 2, reg.DispatchPending())
	ev := nextEvent(t, events)
	require.Equal(t, "two", string(ev.Data))
	requireFailureEvent(t, events, id)
	requireNoMoreEvents(t, reg, events)
}

// Datagram events posted before the failure and not yet delivered are
// delivered, then the socketError (this held before the fix too).
func TestDatagramFailureAfterEventsPosted(t *testing.T) {
	reg, id, _, events := failedDatagram(t, Config{Dispatch: DispatchPumped}, []Option{WithMessage("dg")}, "one", "two")
	require.NotContains(t, reg.OpenSockets(), id, "nothing queued: it ends at once")
	require.Equal(t, 3, reg.DispatchPending())
	for _, want := range []string{"one", "two"} {
		ev := nextEvent(t, events)
		require.Equal(t, EventDatagram, ev.Kind, "%v", ev)
		require.Equal(t, want, string(ev.Data))
	}
	requireFailureEvent(t, events, id)
	requireNoMoreEvents(t, reg, events)
}

// CloseSocket, Shutdown and Registry.Close while the queue still holds
// datagrams: the socket ends at once, as a local close does, with no
// socketError, and nothing waits for the queue.
func TestDatagramFailureThenClose(t *testing.T) {
	t.Run("CloseSocket", func(t *testing.T) {
		reg, id, s, events := failedDatagram(t, Config{}, nil, "one", "two")
		require.NoError(t, reg.CloseSocket(id))
		require.NotContains(t, reg.OpenSockets(), id)
		<-s.finished
		_, err := reg.Read(context.Background(), id, ReadSpec{})
		require.ErrorIs(t, err, ErrSocketNotOpen)
		require.ErrorIs(t, reg.CloseSocket(id), ErrSocketNotOpen)
		requireNoMoreEvents(t, reg, events)
	})
	t.Run("Shutdown", func(t *testing.T) {
		reg, _, s, events := failedDatagram(t, Config{}, nil, "one", "two")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		require.NoError(t, reg.Shutdown(ctx))
		<-s.finished
		requireNoMoreEvents(t, reg, events)
	})
	t.Run("Close", func(t *testing.T) {
		reg, _, s, events := failedDatagram(t, Config{}, nil, "one", "two")
		require.NoError(t, reg.Close())
		<-s.finished
		requireNoMoreEvents(t, reg, events)
	})
}

// A listener's sockets do not fail this way: the listener's connection
// is not connected, and the kernel reports ICMP errors only to connected
// UDP sockets (on Linux, unless IP_RECVERR is set, which lcsock does
// not). A reply to a sender that has gone leaves the listener and the
// sender's socket open, with its queued datagrams readable.
func TestDatagramListenerIgnoresPortUnreachable(t *testing.T) {
	events := make(chan Event, 64)
	reg, err := NewRegistry(Config{Handler: HandlerFunc(func(ev Event) { events <- ev })})
	require.NoError(t, err)
	defer reg.Close()
	port, err := reg.AcceptDatagram(0, nil, "") // no message: datagrams wait for Read
	require.NoError(t, err)
	to := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}
	gone, err := net.ListenPacket("udp4", "127.0.0.1:0")
	require.NoError(t, err)
	sender := gone.LocalAddr().String()
	for _, d := range []string{"one", "two"} {
		_, err := gone.WriteTo([]byte(d), to)
		require.NoError(t, err)
	}
	l, err := reg.lookup("test", strconv.Itoa(port))
	require.NoError(t, err)
	waitState(t, l, func() bool { return l.bytesIn == 6 })
	require.NoError(t, gone.Close())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = reg.Write(ctx, sender, []byte("anyone?"))
	require.NoError(t, err)

	// Another sender's datagram, sent after the ICMP report was provoked,
	// still reaches the listener.
	other, err := net.ListenPacket("udp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer other.Close()
	_, err = other.WriteTo([]byte("three"), to)
	require.NoError(t, err)
	waitState(t, l, func() bool { return l.bytesIn == 11 })
	got, err := reg.Read(ctx, other.LocalAddr().String(), ReadSpec{})
	require.NoError(t, err)
	require.Equal(t, "three", string(got))
	for _, want := range []string{"one", "two"} {
		got, err := reg.Read(ctx, sender, ReadSpec{})
		require.NoError(t, err)
		require.Equal(t, want, string(got))
	}
	require.Contains(t, reg.OpenSockets(), sender)
	require.Contains(t, reg.OpenSockets(), strconv.Itoa(port))
	requireNoMoreEvents(t, reg, events)
}
