//go:build unix

package lcsock

import (
	"context"
	"net"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Case 81: SO_BROADCAST is set only when Broadcast(true) is asked
// (LiveCode's allowDatagramBroadcasts), whatever the kernel then does
// with a broadcast address.
func TestCase81BroadcastOption(t *testing.T) {
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer pc.Close()
	reg, err := NewRegistry(Config{})
	require.NoError(t, err)
	defer reg.Close()
	for _, on := range []bool{false, true} {
		id := pc.LocalAddr().String() + "|" + map[bool]string{false: "off", true: "on"}[on]
		opts := []Option{}
		if on {
			opts = append(opts, Broadcast(true))
		}
		require.NoError(t, reg.OpenDatagram(id, nil, opts...))
		s, err := reg.lookup("test", id)
		require.NoError(t, err)
		var uc *net.UDPConn
		deadline := time.Now().Add(5 * time.Second)
		for uc == nil { // the socket is made in the background
			s.mu.Lock()
			uc = s.dg.uc
			s.mu.Unlock()
			require.True(t, time.Now().Before(deadline))
			runtime.Gosched()
		}
		rc, err := uc.SyscallConn()
		require.NoError(t, err)
		var v int
		var gerr error
		require.NoError(t, rc.Control(func(fd uintptr) {
			v, gerr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_BROADCAST)
		}))
		require.NoError(t, gerr)
		require.Equal(t, on, v != 0, "SO_BROADCAST with Broadcast(%v)", on)
	}
}

// A blocking Read on a datagram socket that fails (ICMP port
// unreachable) returns the socket's error, as the socketError carries
// and as a TCP Read would: it returned ErrClosed (found in review).
func TestDatagramReadGetsTheSocketsError(t *testing.T) {
	dead, err := net.ListenPacket("udp4", "127.0.0.1:0")
	require.NoError(t, err)
	id := dead.LocalAddr().String()
	require.NoError(t, dead.Close())
	events := make(chan Event, 4)
	reg, err := NewRegistry(Config{Handler: HandlerFunc(func(ev Event) { events <- ev })})
	require.NoError(t, err)
	defer reg.Close()
	require.NoError(t, reg.OpenDatagram(id, nil))
	s, err := reg.lookup("test", id)
	require.NoError(t, err)
	got := make(chan error, 1)
	go func() {
		_, err := reg.Read(context.Background(), id, ReadSpec{})
		got <- err
	}()
	waitState(t, s, func() bool { return len(s.dg.waiters) == 1 })
	_, err = reg.Write(context.Background(), id, []byte("anyone?"))
	require.NoError(t, err)
	select {
	case err = <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("Read did not return")
	}
	require.ErrorIs(t, err, syscall.ECONNREFUSED)
	require.NotErrorIs(t, err, ErrClosed)
}
