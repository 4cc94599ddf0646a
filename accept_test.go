package lcsock_test

import (
	"bytes"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lcsock/lcsock"
	"github.com/lcsock/lcsock/lcsocktest"
	"github.com/stretchr/testify/require"
)

// echoServer starts a listener in reg that echoes whatever it reads on
// every accepted socket, and returns its port and the recorder that sees
// its events.
func echoServer(t *testing.T, reg *lcsock.Registry, opts ...lcsock.Option) (int, *lcsocktest.Recorder) {
	t.Helper()
	rec := echoRecorder(reg)
	port, err := reg.Accept(0, rec, "onConn", opts...)
	require.NoError(t, err)
	return port, rec
}

// echoRecorder records a server's events and echoes what its accepted
// sockets read.
func echoRecorder(reg *lcsock.Registry) *lcsocktest.Recorder {
	rec := &lcsocktest.Recorder{}
	rec.OnEvent = func(ev lcsock.Event) {
		switch ev.Kind {
		case lcsock.EventAccepted:
			reg.ReadWithMessage(ev.Socket, lcsock.Available(), rec, "echo")
		case lcsock.EventRead:
			if len(ev.Data) > 0 {
				reg.WriteWithMessage(ev.Socket, ev.Data, nil, "")
			}
			if ev.Err == nil {
				reg.ReadWithMessage(ev.Socket, lcsock.Available(), rec, "echo")
			}
		}
	}
	return rec
}

// Cases 18, 19: the listener is named by its real port.
func TestCase18And19AcceptPort(t *testing.T) {
	reg, _ := newReg(t, lcsock.Config{})
	port, err := reg.Accept(0, nil, "onConn")
	require.NoError(t, err)
	require.Greater(t, port, 1024)
	require.Equal(t, []string{strconv.Itoa(port)}, reg.OpenSockets())
	require.NotContains(t, reg.OpenSockets(), "0")
	// Case 18: a fixed port is returned as given. Reuse the freed port.
	require.NoError(t, reg.CloseSocket(strconv.Itoa(port)))
	got, err := reg.Accept(port, nil, "onConn")
	require.NoError(t, err)
	require.Equal(t, port, got)
	require.Equal(t, []string{strconv.Itoa(port)}, reg.OpenSockets())
}

// Case 20: an accepted socket is named peerIP:peerPort; the accept event
// has (new ID, listener port).
func TestCase20AcceptedName(t *testing.T) {
	reg, rec := newReg(t, lcsock.Config{})
	port, err := reg.Accept(0, nil, "onConn")
	require.NoError(t, err)
	c, err := net.Dial("tcp", "127.0.0.1:"+itoa(port))
	require.NoError(t, err)
	defer c.Close()
	ev := rec.WaitFor(t, lcsock.EventAccepted, "", wait)
	want := c.LocalAddr().String() // 127.0.0.1:E
	require.Equal(t, "onConn", ev.Name)
	require.Equal(t, []string{want, strconv.Itoa(port)}, ev.Params())
	require.Equal(t, []string{strconv.Itoa(port), want}, reg.OpenSockets())
	a, err := reg.HostAddress(want)
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1", a)
	a, err = reg.PeerAddress(want) // case 103
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1", a)
	a, err = reg.HostAddress(strconv.Itoa(port))
	require.NoError(t, err)
	require.NotEmpty(t, a)
}

// Case 21: a port out of range is refused. Case 22: a port in use is a
// clear error and nothing is left open.
func TestCase21And22BadPorts(t *testing.T) {
	reg, _ := newReg(t, lcsock.Config{})
	got, err := reg.Accept(70000, nil, "onConn")
	require.ErrorIs(t, err, lcsock.ErrInvalidPort)
	require.Equal(t, "not a valid port", lcsock.ErrorText(err))
	require.Zero(t, got)
	_, err = reg.Accept(-1, nil, "onConn")
	require.ErrorIs(t, err, lcsock.ErrInvalidPort)
	held, err := net.Listen("tcp", ":0")
	require.NoError(t, err)
	defer held.Close()
	got, err = reg.Accept(held.Addr().(*net.TCPAddr).Port, nil, "onConn")
	require.ErrorIs(t, err, lcsock.ErrListen)
	require.Zero(t, got) // LiveCode's "it" is empty
	require.Equal(t, "Error binding socket", lcsock.ErrListen.Error())
	// The result is the engine's text, then the system's reason.
	require.True(t, strings.HasPrefix(lcsock.ErrorText(err), "Error binding socket: "), lcsock.ErrorText(err))
	require.Empty(t, reg.OpenSockets())
	// Listening twice on one port in the same registry.
	port, err := reg.Accept(0, nil, "a")
	require.NoError(t, err)
	_, err = reg.Accept(port, nil, "b")
	require.Error(t, err)
	require.Equal(t, []string{strconv.Itoa(port)}, reg.OpenSockets())
}

// Case 23: reading from (or writing to) a listener is refused.
func TestCase23ReadFromListener(t *testing.T) {
	reg, _ := newReg(t, lcsock.Config{})
	port, err := reg.Accept(0, nil, "onConn")
	require.NoError(t, err)
	got, err := reg.Read(ctxWait(t), strconv.Itoa(port), lcsock.For(1, lcsock.Chars))
	require.ErrorIs(t, err, lcsock.ErrNotReadable)
	require.Empty(t, got)
	require.Equal(t, []string{strconv.Itoa(port)}, reg.OpenSockets()) // the listener is unharmed
	require.Equal(t, "can't read from this socket", lcsock.ErrorText(err))
	require.ErrorIs(t, reg.ReadWithMessage(strconv.Itoa(port), lcsock.Available(), nil, "x"), lcsock.ErrNotReadable)
	_, err = reg.Write(ctxWait(t), strconv.Itoa(port), []byte("x"))
	require.ErrorIs(t, err, lcsock.ErrNotWritable)
	// Secure, CloseWrite and TLSState say why: a listener has no
	// connection (Secure read "can't write to this socket" alone).
	err = reg.Secure(strconv.Itoa(port))
	require.ErrorIs(t, err, lcsock.ErrNotWritable)
	require.ErrorContains(t, err, "a listener has no connection")
	require.ErrorContains(t, reg.CloseWrite(strconv.Itoa(port)), "a listener has no connection")
	_, err = reg.TLSState(strconv.Itoa(port))
	require.ErrorContains(t, err, "a listener has no connection")
}

// Case 24: closing the listener refuses new connections and leaves the
// accepted ones open.
func TestCase24CloseListener(t *testing.T) {
	reg, rec := newReg(t, lcsock.Config{})
	port, err := reg.Accept(0, nil, "onConn")
	require.NoError(t, err)
	c, err := net.Dial("tcp", "127.0.0.1:"+itoa(port))
	require.NoError(t, err)
	defer c.Close()
	acc := rec.WaitFor(t, lcsock.EventAccepted, "", wait).Socket
	require.NoError(t, reg.CloseSocket(strconv.Itoa(port)))
	require.Equal(t, []string{acc}, reg.OpenSockets())
	_, err = net.Dial("tcp", "127.0.0.1:"+itoa(port))
	require.Error(t, err)
	_, err = reg.Write(ctxWait(t), acc, []byte("still here"))
	require.NoError(t, err)
	require.Equal(t, "still here", string(readN(t, c, 10)))
}

// Case 25: the life-cycle events of an accepted socket go to the handler
// given to Accept.
func TestCase25AcceptedEventsToAcceptHandler(t *testing.T) {
	reg, def := newReg(t, lcsock.Config{TimeoutInterval: 20 * time.Millisecond})
	acceptRec := &lcsocktest.Recorder{}
	port, err := reg.Accept(0, acceptRec, "onConn")
	require.NoError(t, err)
	c, err := net.Dial("tcp", "127.0.0.1:"+itoa(port))
	require.NoError(t, err)
	acc := acceptRec.WaitFor(t, lcsock.EventAccepted, "", wait).Socket
	require.NoError(t, reg.ReadWithMessage(acc, lcsock.Until("\n"), def, "line"))
	c.Write([]byte("partial"))
	acceptRec.WaitFor(t, lcsock.EventTimeout, acc, wait)
	c.Close()
	require.Equal(t, "partial", string(def.WaitFor(t, lcsock.EventRead, acc, wait).Data))
	acceptRec.WaitFor(t, lcsock.EventClosed, acc, wait)
	require.Zero(t, def.Count(lcsock.EventClosed, ""))
	require.Zero(t, def.Count(lcsock.EventTimeout, ""))

	// socketError too: a second client resets its connection.
	c2, err := net.Dial("tcp", "127.0.0.1:"+itoa(port))
	require.NoError(t, err)
	acc2 := acceptRec.WaitFor(t, lcsock.EventAccepted, "", wait).Socket
	require.NoError(t, reg.ReadWithMessage(acc2, lcsock.Until("\n"), def, "line"))
	require.NoError(t, c2.(*net.TCPConn).SetLinger(0))
	c2.Close() // RST
	ev := acceptRec.WaitFor(t, lcsock.EventError, acc2, wait)
	require.Equal(t, "socketError", ev.Name)
	require.Equal(t, acc2, ev.Params()[0])
	require.NotEmpty(t, ev.Params()[1])
	require.Zero(t, def.Count(lcsock.EventError, ""))
}

// Case 85: with a default interface the listener answers only there.
func TestCase85AcceptOnDefaultInterface(t *testing.T) {
	probe, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skip("127.0.0.2 is not a loopback address here:", err)
	}
	probe.Close()
	reg, rec := newReg(t, lcsock.Config{DefaultInterface: "127.0.0.1"})
	port, err := reg.Accept(0, nil, "onConn")
	require.NoError(t, err)
	_, err = net.Dial("tcp", "127.0.0.2:"+itoa(port))
	require.Error(t, err, "the listener must not answer on 127.0.0.2")
	c, err := net.Dial("tcp", "127.0.0.1:"+itoa(port))
	require.NoError(t, err)
	defer c.Close()
	rec.WaitFor(t, lcsock.EventAccepted, "", wait)
	// Without a default interface it answers on every address.
	reg2, rec2 := newReg(t, lcsock.Config{})
	port2, err := reg2.Accept(0, nil, "onConn")
	require.NoError(t, err)
	c2, err := net.Dial("tcp", "127.0.0.2:"+itoa(port2))
	require.NoError(t, err)
	defer c2.Close()
	rec2.WaitFor(t, lcsock.EventAccepted, "", wait)
}

// Client and server in one registry: open, echo, close both ways.
func TestClientServerOneRegistry(t *testing.T) {
	reg, rec := newReg(t, lcsock.Config{})
	port, srv := echoServer(t, reg)
	id := "127.0.0.1:" + itoa(port) + "|cli"
	require.NoError(t, reg.Open(id, nil, lcsock.WithMessage("up")))
	rec.WaitFor(t, lcsock.EventConnected, id, wait)
	_, err := reg.Write(ctxWait(t), id, []byte("hello\n"))
	require.NoError(t, err)
	got, err := reg.Read(ctxWait(t), id, lcsock.Until("\n"))
	require.NoError(t, err)
	require.Equal(t, "hello\n", string(got))
	// Client closes: the server socket gets one socketClosed.
	acc := srv.WaitFor(t, lcsock.EventAccepted, "", wait).Socket
	require.NoError(t, reg.CloseSocket(id))
	srv.WaitFor(t, lcsock.EventClosed, acc, wait)
	barrier(t, reg, rec)
	require.Equal(t, 1, srv.Count(lcsock.EventClosed, acc))
	require.Zero(t, rec.Count(lcsock.EventClosed, id)) // local close: no event
	require.Equal(t, []string{strconv.Itoa(port)}, reg.OpenSockets())
}

// Server closes: the client gets socketClosed. Across two registries.
func TestServerClosesAcrossRegistries(t *testing.T) {
	server, srv := newReg(t, lcsock.Config{})
	client, cli := newReg(t, lcsock.Config{})
	port, err := server.Accept(0, nil, "onConn")
	require.NoError(t, err)
	id := "127.0.0.1:" + itoa(port)
	require.NoError(t, client.Open(id, nil, lcsock.WithMessage("up")))
	acc := srv.WaitFor(t, lcsock.EventAccepted, "", wait).Socket
	cli.WaitFor(t, lcsock.EventConnected, id, wait)
	require.NoError(t, server.WriteWithMessage(acc, []byte("bye\n"), nil, ""))
	require.NoError(t, server.CloseSocket(acc))
	require.NoError(t, client.ReadWithMessage(id, lcsock.Until("\n"), nil, "line"))
	require.Equal(t, "bye\n", string(cli.WaitFor(t, lcsock.EventRead, id, wait).Data))
	waitClosed(t, client, cli, id)
	require.Empty(t, client.OpenSockets())
}

// A client that closes with a pending read on the server side: the read
// gets its data, then one socketClosed.
func TestClientCloseAfterPendingReads(t *testing.T) {
	server, srv := newReg(t, lcsock.Config{})
	port, err := server.Accept(0, nil, "onConn")
	require.NoError(t, err)
	c, err := net.Dial("tcp", "127.0.0.1:"+itoa(port))
	require.NoError(t, err)
	acc := srv.WaitFor(t, lcsock.EventAccepted, "", wait).Socket
	require.NoError(t, server.ReadWithMessage(acc, lcsock.Until("\n"), nil, "l1"))
	require.NoError(t, server.ReadWithMessage(acc, lcsock.Until("\n"), nil, "l2"))
	c.Write([]byte("one\ntw"))
	c.Close()
	e1 := srv.WaitFor(t, lcsock.EventRead, acc, wait)
	e2 := srv.WaitFor(t, lcsock.EventRead, acc, wait)
	waitClosed(t, server, srv, acc)
	require.Equal(t, "one\n", string(e1.Data))
	require.Equal(t, "tw", string(e2.Data))
	requireOrder(t, srv, acc, lcsock.EventRead, lcsock.EventClosed)
}

// 100 clients at once each get a distinct ID and their own echo.
func TestHundredClients(t *testing.T) {
	server, srv := newReg(t, lcsock.Config{})
	port, _ := echoServer(t, server)
	_ = srv
	client, cli := newReg(t, lcsock.Config{})
	const n = 100
	for i := range n {
		require.NoError(t, client.Open(fmt.Sprintf("127.0.0.1:%d|c%d", port, i), nil))
	}
	for i := range n {
		id := fmt.Sprintf("127.0.0.1:%d|c%d", port, i)
		require.NoError(t, client.WriteWithMessage(id, []byte(fmt.Sprintf("msg %d\n", i)), nil, ""))
		require.NoError(t, client.ReadWithMessage(id, lcsock.Until("\n"), nil, "line"))
	}
	for i := range n {
		id := fmt.Sprintf("127.0.0.1:%d|c%d", port, i)
		ev := cli.WaitFor(t, lcsock.EventRead, id, wait)
		require.Equal(t, fmt.Sprintf("msg %d\n", i), string(ev.Data))
	}
	ids := map[string]bool{}
	for _, id := range server.OpenSockets() {
		ids[id] = true
	}
	require.Len(t, ids, n+1) // the listener and n distinct accepted IDs
}

// MaxConnections pauses accepting at the limit instead of failing.
func TestMaxConnectionsPauses(t *testing.T) {
	reg, rec := newReg(t, lcsock.Config{})
	port, err := reg.Accept(0, nil, "onConn", lcsock.MaxConnections(2))
	require.NoError(t, err)
	var conns []net.Conn
	for range 3 {
		c, err := net.Dial("tcp", "127.0.0.1:"+itoa(port)) // the third waits in the backlog
		require.NoError(t, err)
		defer c.Close()
		conns = append(conns, c)
	}
	first := rec.WaitFor(t, lcsock.EventAccepted, "", wait).Socket
	rec.WaitFor(t, lcsock.EventAccepted, "", wait)
	_, ok := rec.Next(lcsock.EventAccepted, "", 100*time.Millisecond)
	require.False(t, ok, "a third socket was accepted past the limit")
	require.NoError(t, reg.CloseSocket(first))
	third := rec.WaitFor(t, lcsock.EventAccepted, "", wait).Socket
	require.Equal(t, conns[2].LocalAddr().String(), third)
	require.Error(t, func() error { _, err := reg.Accept(0, nil, "x", lcsock.MaxConnections(-1)); return err }())
	require.Error(t, reg.Open("127.0.0.1:1", nil, lcsock.MaxConnections(1)), "MaxConnections is for Accept")
}

// Accepted sockets echo large data intact.
func TestAcceptEchoBulk(t *testing.T) {
	reg, _ := newReg(t, lcsock.Config{})
	port, _ := echoServer(t, reg)
	c, err := net.Dial("tcp", "127.0.0.1:"+itoa(port))
	require.NoError(t, err)
	defer c.Close()
	payload := bytes.Repeat([]byte("lcsock-"), 300000)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); c.Write(payload) }()
	got := readN(t, c, len(payload))
	wg.Wait()
	require.True(t, bytes.Equal(payload, got))
}

// Accept on IPv6 loopback names accepted sockets with brackets.
func TestAcceptIPv6(t *testing.T) {
	probe, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skip("no IPv6 loopback here:", err)
	}
	probe.Close()
	reg, rec := newReg(t, lcsock.Config{DefaultInterface: "::1"})
	port, err := reg.Accept(0, nil, "onConn")
	require.NoError(t, err)
	c, err := net.Dial("tcp", "[::1]:"+itoa(port))
	require.NoError(t, err)
	defer c.Close()
	acc := rec.WaitFor(t, lcsock.EventAccepted, "", wait).Socket
	require.True(t, strings.HasPrefix(acc, "[::1]:"), acc)
	require.Equal(t, c.LocalAddr().String(), acc)
}

// A peer that half-closes after its request still gets the answer: the
// socket stays writable until its socketClosed has been handled, then
// the answer is flushed and the connection closed (lcsock extension).
func TestHalfClosedPeerGetsAnswer(t *testing.T) {
	reg, _ := newReg(t, lcsock.Config{})
	rec := &lcsocktest.Recorder{}
	rec.OnEvent = func(ev lcsock.Event) {
		switch ev.Kind {
		case lcsock.EventAccepted:
			reg.ReadWithMessage(ev.Socket, lcsock.Until("\n"), rec, "request")
		case lcsock.EventRead:
			reg.WriteWithMessage(ev.Socket, append([]byte("answer to "), ev.Data...), nil, "")
		case lcsock.EventClosed:
			reg.WriteWithMessage(ev.Socket, []byte("goodbye\n"), nil, "")
		}
	}
	port, err := reg.Accept(0, rec, "onConn")
	require.NoError(t, err)
	c, err := net.Dial("tcp", "127.0.0.1:"+itoa(port))
	require.NoError(t, err)
	defer c.Close()
	c.Write([]byte("question\n"))
	c.(*net.TCPConn).CloseWrite()
	readEOFData := func() string {
		c.SetReadDeadline(time.Now().Add(wait))
		var all []byte
		buf := make([]byte, 100)
		for {
			n, err := c.Read(buf)
			all = append(all, buf[:n]...)
			if err != nil {
				return string(all)
			}
		}
	}
	require.Equal(t, "answer to question\ngoodbye\n", readEOFData())
	rec.WaitFor(t, lcsock.EventClosed, "", wait)
}

// Accept on a port this registry already listens on fails with
// ErrAlreadyOpen, as its doc says, and leaves the first listener alone:
// the bind failed first, so the error was ErrListen, which says the
// system refused the port (found in review C).
func TestAcceptTwiceOnAPortIsAlreadyOpen(t *testing.T) {
	reg, rec := newReg(t, lcsock.Config{})
	port, err := reg.Accept(0, nil, "a")
	require.NoError(t, err)
	_, err = reg.Accept(port, nil, "b")
	require.ErrorIs(t, err, lcsock.ErrAlreadyOpen)
	require.NotErrorIs(t, err, lcsock.ErrListen)
	require.Equal(t, []string{strconv.Itoa(port)}, reg.OpenSockets())
	c, err := net.Dial("tcp", "127.0.0.1:"+itoa(port))
	require.NoError(t, err)
	defer c.Close()
	require.Equal(t, "a", rec.WaitFor(t, lcsock.EventAccepted, "", wait).Name)
}

// When the system refuses Accept's port because another program holds
// it, the error says so (ErrListen and the system's reason), even when
// this registry has a datagram listener on that port number; it said
// "socket is already open" (ErrAlreadyOpen), blaming the datagram
// listener (review G).
func TestAcceptPortHeldElsewhereBesideDatagramListener(t *testing.T) {
	held, err := net.Listen("tcp", ":0") // the other program
	require.NoError(t, err)
	defer held.Close()
	port := held.Addr().(*net.TCPAddr).Port
	reg, _ := newReg(t, lcsock.Config{})
	if _, err := reg.AcceptDatagram(port, nil, "dg"); err != nil {
		t.Skipf("UDP port %d is taken too: %v", port, err)
	}
	_, err = reg.Accept(port, nil, "conn")
	require.ErrorIs(t, err, lcsock.ErrListen)
	require.NotErrorIs(t, err, lcsock.ErrAlreadyOpen)
}
