package lcsock

import (
	"net"
	"strconv"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// A datagram that the listener's receiver read just before CloseSocket
// took the listener must not make a new pseudo-socket afterwards: it
// would stay in OpenSockets for good, bound to a closed connection.
func TestCase73ListenerCloseLeavesNoPseudoSocket(t *testing.T) {
	for i := 0; i < 50; i++ {
		reg, err := NewRegistry(Config{Handler: HandlerFunc(func(Event) {})})
		require.NoError(t, err)
		port, err := reg.AcceptDatagram(0, nil, "dg")
		require.NoError(t, err)
		c, err := net.Dial("udp", "127.0.0.1:"+strconv.Itoa(port))
		require.NoError(t, err)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				c.Write([]byte("x"))
			}
		}()
		// Wait until the sender's socket exists: the receiver is busy.
		for {
			if len(reg.OpenSockets()) > 1 {
				break
			}
		}
		require.NoError(t, reg.CloseSocket(strconv.Itoa(port)))
		reg.wg.Wait() // the receiver has ended
		close(stop)
		wg.Wait()
		c.Close()
		require.Empty(t, reg.OpenSockets(), "iteration %d", i)
		reg.mu.Lock()
		live := len(reg.live)
		reg.mu.Unlock()
		require.Zero(t, live, "iteration %d", i)
		reg.Close()
	}
}
