package lcsock

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Findings of the timeout review.

// A socketTimeout waiting in the queue when its socket is closed locally
// is not delivered: a local close ends the socket's events (as a queued
// socketClosed is dropped), and the timer itself posts none once the
// socket is closed. It was delivered, so a handler that closed the socket
// on socketTimeout could get another one for an ID no longer open (found
// in review).
func TestQueuedSocketTimeoutDroppedByLocalClose(t *testing.T) {
	h := holdFirstRead(t, 64)
	<-h.inHandler
	h.reg.SetTimeoutInterval(20 * time.Millisecond)
	require.NoError(t, h.reg.ReadWithMessage(h.id, For(1, Chars), nil, "second"))
	waitState(t, h.s, func() bool { return h.s.timeoutQueued.Load() }) // a socketTimeout is queued
	close(h.proceed)
	require.NoError(t, <-h.closeErr)
	requireNoTimeoutBeforeMarker(t, h.reg, h.events, h.id)
}

// The same for a datagram socket closed while its name resolves.
func TestQueuedDatagramSocketTimeoutDroppedByLocalClose(t *testing.T) {
	events := make(chan Event, 64)
	inHandler, proceed, closeErr := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	var reg *Registry
	const id = "hang.test:9"
	h := HandlerFunc(func(ev Event) {
		if ev.Kind == EventTimeout && ev.Socket == id {
			select {
			case <-inHandler: // a later one
			default:
				close(inHandler)
				<-proceed
				closeErr <- reg.CloseSocket(id)
				return
			}
		}
		events <- ev
	})
	hang := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		<-ctx.Done() // no answer until the open is given up
		return nil, ctx.Err()
	}}
	reg, err := NewRegistry(Config{Handler: h, Resolver: hang, TimeoutInterval: 20 * time.Millisecond})
	require.NoError(t, err)
	t.Cleanup(func() { reg.Close() })
	require.NoError(t, reg.OpenDatagram(id, nil))
	s, err := reg.lookup("test", id)
	require.NoError(t, err)
	<-inHandler
	waitState(t, s, func() bool { return s.timeoutQueued.Load() }) // another is queued
	close(proceed)
	require.NoError(t, <-closeErr)
	requireNoTimeoutBeforeMarker(t, reg, events, id)
}

// requireNoTimeoutBeforeMarker queues a marker event, on another socket,
// and fails if a socketTimeout of id comes out of events before it.
func requireNoTimeoutBeforeMarker(t *testing.T, reg *Registry, events chan Event, id string) {
	t.Helper()
	requireNoneBeforeMarker(t, reg, events, func(ev Event) bool { return ev.Kind == EventTimeout && ev.Socket == id }, "socketTimeout after the local close")
}

// A read issued while the socket connects, with an interval shorter than
// the open's, gets its first socketTimeout one interval after the
// connection: connected restarts the read's clock, and now arms the
// timer for it. The timer, which had fired for the read while the socket
// was still connecting and was re-armed for the open's next timeout
// A read issued while the socket connects, with an interval shorter than
// the open's, gets its first socketTimeout one interval after the
// connection: connected restarts the read's clock, and now arms the
// timer for it. The timer, which had fired for the read while the socket
// was still connecting and was re-armed for the open's next timeout
// only, sent none before that (here a minute later). The same for a
// write queued while connecting that stalls once connected (found in
// review).
func TestReadIssuedWhileConnectingTimesOutAfterConnect(t *testing.T) {
	t.Run("read", func(t *testing.T) { opIssuedWhileConnecting(t, OpRead) })
	t.Run("write", func(t *testing.T) { opIssuedWhileConnecting(t, OpWrite) })
}

func opIssuedWhileConnecting(t *testing.T, op Op) {
	events := make(chan Event, 64)
	reg, err := NewRegistry(Config{Handler: HandlerFunc(func(ev Event) { events <- ev }), TimeoutInterval: time.Minute, MaxWriteQueue: 64 << 20})
	require.NoError(t, err)
	t.Cleanup(func() { reg.Close() })
	// An HTTP CONNECT proxy that answers when told to: the socket
	// connects then.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	const id = "target.test:80"
	require.NoError(t, reg.Open(id, nil, Proxy("http://"+ln.Addr().String())))
	c, err := ln.Accept()
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	req, err := http.ReadRequest(bufio.NewReader(c))
	require.NoError(t, err)
	require.Equal(t, http.MethodConnect, req.Method)
	s, err := reg.lookup("test", id)
	require.NoError(t, err)

	reg.SetTimeoutInterval(20 * time.Millisecond)
	if op == OpRead {
		require.NoError(t, reg.ReadWithMessage(id, For(1, Chars), nil, "r"))
	} else { // more than the kernel takes: the proxy reads nothing more
		require.NoError(t, reg.WriteWithMessage(id, make([]byte, 32<<20), nil, "w"))
	}
	// The op's timer fires while connecting and is re-armed for the open.
	waitState(t, s, func() bool { return s.timerAt.After(time.Now().Add(10 * time.Second)) })
	_, err = c.Write([]byte("HTTP/1.1 200 OK\r\n\r\n"))
	require.NoError(t, err)
	for {
		ev := nextEvent(t, events)
		if ev.Kind == EventTimeout && ev.Op == op {
			require.Equal(t, id, ev.Socket)
			break
		}
	}
}
