package lcsock

import (
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fakePeerConn is one end of a net.Pipe that claims a TCP peer address.
type fakePeerConn struct {
	net.Conn
	remote *net.TCPAddr
}

func (c fakePeerConn) RemoteAddr() net.Addr { return c.remote }

// An accepted connection whose peer-derived ID is taken gets "|N"
// (spec/decisions.md, Accept).
func TestAcceptedIDCollision(t *testing.T) {
	var got []Event
	events := make(chan Event, 4)
	reg, err := NewRegistry(Config{Handler: HandlerFunc(func(ev Event) { events <- ev })})
	require.NoError(t, err)
	defer reg.Close()
	port, err := reg.Accept(0, nil, "onConn")
	require.NoError(t, err)
	lsock, err := reg.lookup("test", strconv.Itoa(port))
	require.NoError(t, err)

	taken := newSocket(reg, "127.0.0.1:5000", MakeID("127.0.0.1", 5000, ""), nil, options{})
	require.NoError(t, reg.add(taken, false))
	for range 2 {
		a, b := net.Pipe()
		defer b.Close()
		reg.adopt(fakePeerConn{a, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5000}}, lsock)
		select {
		case ev := <-events:
			got = append(got, ev)
		case <-time.After(5 * time.Second):
			t.Fatal("no accept event")
		}
	}
	require.Equal(t, "127.0.0.1:5000|1", got[0].Socket)
	require.Equal(t, "127.0.0.1:5000|2", got[1].Socket)
	require.Equal(t, []string{strconv.Itoa(port), "127.0.0.1:5000", "127.0.0.1:5000|1", "127.0.0.1:5000|2"}, reg.OpenSockets())
	reg.retire(taken)
}
