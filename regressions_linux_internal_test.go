//go:build linux

package lcsock

import (
	"errors"
	"net"
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
