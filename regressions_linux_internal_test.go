//go:build linux

package lcsock

import (
	"errors"
	"net"
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/require"
)

// inQueue returns the bytes waiting in the kernel's receive queue of the
// socket's connection (SIOCINQ).
func inQueue(t *testing.T, s *socket) int {
	t.Helper()
	var n int32
	var errno syscall.Errno
	err := s.raw.rc.Control(func(fd uintptr) {
		_, _, errno = syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCINQ, uintptr(unsafe.Pointer(&n)))
	})
	require.NoError(t, err)
	require.Zero(t, errno)
	return int(n)
}

// failWhileReaderHolds fails the socket while its reader holds bytes it
// has taken from the kernel but not yet put in the buffer: "abc" is
// buffered, "def" in the reader's hands.
func failWhileReaderHolds(t *testing.T, s *socket, peer net.Conn) {
	t.Helper()
	_, err := peer.Write([]byte("abc"))
	require.NoError(t, err)
	// The reader keeps its buffer while it waits, as unread bytes are in
	// it; with one P, "in a read" means parked in it.
	waitState(t, s, func() bool { return s.raw != nil && s.inRead && len(s.unread()) == 3 })
	s.mu.Lock()
	defer s.mu.Unlock()
	_, err = peer.Write([]byte("def"))
	require.NoError(t, err)
	deadline := time.Now().Add(5 * time.Second)
	for inQueue(t, s) > 0 { // the reader reads them, then waits for s.mu
		require.True(t, time.Now().Before(deadline), "the reader did not read")
		runtime.Gosched()
	}
	require.Len(t, s.unread(), 3, "the bytes are in the reader's hands, not yet buffered")
	s.fail(errInjected)
	require.True(t, s.readerCloses, "the reader closes the connection")
}

var errInjected = errors.New("injected write failure")

// A socket that fails keeps the bytes it received for later reads; the
// bytes its reader had taken from the kernel at that moment join them
// (the reader, handed the close of the connection, used to drop them).
// But a read pending at the failure ends there, with what was buffered:
// nothing is delivered after the end of the stream.
func TestFailAndTheBytesTheReaderHolds(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	t.Run("kept for later reads", func(t *testing.T) {
		events := make(chan Event, 4)
		reg, id, peer := openToPeer(t, Config{Handler: HandlerFunc(func(ev Event) { events <- ev })})
		s, err := reg.lookup("test", id)
		require.NoError(t, err)
		failWhileReaderHolds(t, s, peer)
		waitState(t, s, func() bool { return len(s.unread()) == 6 })
		require.NoError(t, reg.ReadWithMessage(id, UntilEOF(), nil, "got"))
		ev := nextEvent(t, events)
		require.Equal(t, EventRead, ev.Kind)
		require.Equal(t, "abcdef", string(ev.Data))
		require.ErrorIs(t, ev.Err, errInjected)
		require.Equal(t, EventError, nextEvent(t, events).Kind)
	})
	t.Run("a pending read ends at the failure", func(t *testing.T) {
		events := make(chan Event, 4)
		reg, id, peer := openToPeer(t, Config{Handler: HandlerFunc(func(ev Event) { events <- ev })})
		s, err := reg.lookup("test", id)
		require.NoError(t, err)
		require.NoError(t, reg.ReadWithMessage(id, For(6, Chars), nil, "got"))
		failWhileReaderHolds(t, s, peer)
		ev := nextEvent(t, events)
		require.Equal(t, EventRead, ev.Kind)
		require.Equal(t, "abc", string(ev.Data))
		require.ErrorIs(t, ev.Err, errInjected)
		require.Equal(t, EventError, nextEvent(t, events).Kind)
		<-s.finished
	})
}

// wakeReader ends a wait for input on a plain TCP connection by shutting
// down its receiving side: the poller wakes the waiting read, which finds
// the end of the stream; nothing reaches the peer. On a closed connection
// it reports false, and closeConn falls back to a past deadline.
func TestWakeReaderShutsDownReceiving(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	peer, err := ln.Accept()
	require.NoError(t, err)
	defer peer.Close()
	rc, err := c.(*net.TCPConn).SyscallConn()
	require.NoError(t, err)
	r := &rawIO{rc: rc}

	read := make(chan error, 1)
	go func() {
		_, err := c.Read(make([]byte, 16))
		read <- err
	}()
	require.True(t, r.wakeReader())
	select {
	case err := <-read:
		require.Equal(t, "EOF", err.Error())
	case <-time.After(5 * time.Second):
		t.Fatal("the waiting read was not woken")
	}
	// The peer saw nothing: its side is still open both ways.
	peer.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	_, err = peer.Read(make([]byte, 1))
	require.True(t, errors.Is(err, os.ErrDeadlineExceeded), "peer read: %v", err)
	_, err = c.Write([]byte("still writable\n"))
	require.NoError(t, err)

	require.NoError(t, c.Close())
	require.False(t, r.wakeReader())
}
