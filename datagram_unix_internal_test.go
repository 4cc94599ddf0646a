//go:build unix

package lcsock

import (
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
