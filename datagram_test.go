package lcsock_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lcsock/lcsock"
	"github.com/lcsock/lcsock/lcsocktest"
	"github.com/stretchr/testify/require"
)

// udpPeer is a plain UDP socket on loopback.
func udpPeer(t *testing.T, network, addr string) *net.UDPConn {
	t.Helper()
	pc, err := net.ListenPacket(network, addr)
	if err != nil {
		t.Skipf("no %s loopback here: %v", network, err)
	}
	t.Cleanup(func() { pc.Close() })
	return pc.(*net.UDPConn)
}

func readDatagram(t *testing.T, c *net.UDPConn) (string, net.Addr) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, 70000)
	n, from, err := c.ReadFrom(buf)
	require.NoError(t, err)
	return string(buf[:n]), from
}

// Cases 73, 74, 75: accept datagram connections: Params (sender, data,
// listener port); one pseudo-socket per sender, listed, writable to reply.
func TestCase73To75AcceptDatagram(t *testing.T) {
	reg, rec := newReg(t, lcsock.Config{})
	port, err := reg.AcceptDatagram(0, nil, "dg")
	require.NoError(t, err)
	require.Equal(t, []string{strconv.Itoa(port)}, reg.OpenSockets())
	c := udpPeer(t, "udp4", "127.0.0.1:0")
	to := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}
	c.WriteTo([]byte("hi"), to)
	ev := rec.WaitFor(t, lcsock.EventDatagram, "", wait)
	sender := c.LocalAddr().String()
	require.Equal(t, "dg", ev.Name)
	require.Equal(t, []string{sender, "hi", strconv.Itoa(port)}, ev.Params()) // case 73
	require.Equal(t, []string{strconv.Itoa(port), sender}, reg.OpenSockets())
	_, err = reg.Write(ctxWait(t), sender, []byte("yo")) // case 74
	require.NoError(t, err)
	got, from := readDatagram(t, c)
	require.Equal(t, "yo", got)
	require.Equal(t, port, from.(*net.UDPAddr).Port)
	c.WriteTo([]byte("again"), to)
	rec.WaitFor(t, lcsock.EventDatagram, "", wait)
	require.Len(t, reg.OpenSockets(), 2) // case 75
	// Closing the pseudo-socket leaves the listener open.
	require.NoError(t, reg.CloseSocket(sender))
	c.WriteTo([]byte("third"), to)
	require.Equal(t, "third", string(rec.WaitFor(t, lcsock.EventDatagram, "", wait).Data))
	// Closing the listener takes its pseudo-sockets along.
	require.NoError(t, reg.CloseSocket(strconv.Itoa(port)))
	require.Empty(t, reg.OpenSockets())
}

// Case 76: open datagram socket with a message: no connected event, each
// datagram is delivered with (sender, data, socket ID). Case 78: the
// write message fires at once. Case 79: zero-length datagrams arrive.
func TestCase76_78_79OpenDatagram(t *testing.T) {
	srv := udpPeer(t, "udp4", "127.0.0.1:0")
	reg, rec := newReg(t, lcsock.Config{})
	id := srv.LocalAddr().String()
	require.NoError(t, reg.OpenDatagram(id, nil, lcsock.WithMessage("dg")))
	require.NoError(t, reg.WriteWithMessage(id, []byte("x"), nil, "w"))
	ev := rec.WaitFor(t, lcsock.EventWritten, id, wait) // case 78
	require.Equal(t, "w", ev.Name)
	require.Equal(t, []string{id}, ev.Params())
	got, from := readDatagram(t, srv)
	require.Equal(t, "x", got)
	srv.WriteTo([]byte("reply"), from)
	ev = rec.WaitFor(t, lcsock.EventDatagram, id, wait)
	require.Equal(t, "dg", ev.Name)
	require.Equal(t, []string{id, "reply", id}, ev.Params()) // case 76
	srv.WriteTo(nil, from)
	ev = rec.WaitFor(t, lcsock.EventDatagram, id, wait)
	require.Empty(t, ev.Data) // case 79
	require.Zero(t, rec.Count(lcsock.EventConnected, ""))
}

// Case 77 (lcsock does better): a blocking Read returns the next datagram.
// Reads never split or join datagrams, whatever their condition.
func TestCase77BlockingReadDatagram(t *testing.T) {
	srv := udpPeer(t, "udp4", "127.0.0.1:0")
	reg, _ := newReg(t, lcsock.Config{TimeoutInterval: 50 * time.Millisecond})
	id := srv.LocalAddr().String() + "|d"
	require.NoError(t, reg.OpenDatagram(id, nil))
	_, err := reg.Write(ctxWait(t), id, []byte("hello"))
	require.NoError(t, err)
	_, from := readDatagram(t, srv)
	srv.WriteTo([]byte("first datagram"), from)
	srv.WriteTo([]byte("second"), from)
	got, err := reg.Read(ctxWait(t), id, lcsock.For(3, lcsock.Chars))
	require.NoError(t, err)
	require.Equal(t, "first datagram", string(got)) // not split to 3 bytes
	got, err = reg.Read(ctxWait(t), id, lcsock.Until("\n"))
	require.NoError(t, err)
	require.Equal(t, "second", string(got)) // not joined to a delimiter
	_, err = reg.Read(ctxWait(t), id, lcsock.Available())
	require.ErrorIs(t, err, lcsock.ErrTimeout)
}

// Case 80: From sets the source port.
func TestCase80DatagramFrom(t *testing.T) {
	srv := udpPeer(t, "udp4", "127.0.0.1:0")
	probe := udpPeer(t, "udp4", "127.0.0.1:0")
	local := probe.LocalAddr().(*net.UDPAddr).Port
	probe.Close()
	reg, _ := newReg(t, lcsock.Config{})
	id := srv.LocalAddr().String()
	require.NoError(t, reg.OpenDatagram(id, nil, lcsock.From(":"+itoa(local))))
	_, err := reg.Write(ctxWait(t), id, []byte("x"))
	require.NoError(t, err)
	_, from := readDatagram(t, srv)
	require.Equal(t, local, from.(*net.UDPAddr).Port)
}

// Case 81: broadcasts need the explicit opt-in.
func TestCase81Broadcast(t *testing.T) {
	rcv := udpPeer(t, "udp4", "0.0.0.0:0")
	port := rcv.LocalAddr().(*net.UDPAddr).Port
	reg, rec := newReg(t, lcsock.Config{})
	id := "127.255.255.255:" + itoa(port)
	require.NoError(t, reg.OpenDatagram(id, nil))
	_, err := reg.Write(ctxWait(t), id, []byte("no"))
	switch {
	case err == nil, errors.Is(err, lcsock.ErrSocketNotOpen), errors.Is(err, lcsock.ErrConnect):
		// Some systems (Linux) refuse at connect time instead: the write
		// fails with the open, or finds no socket, and a socketError
		// follows.
		_, ok := rec.Next(lcsock.EventError, id, time.Second)
		if !ok {
			t.Skip("this kernel does not treat 127.255.255.255 as a broadcast address")
		}
	default:
		require.ErrorIs(t, err, lcsock.ErrSendDatagram)
	}
	id2 := id + "|allowed"
	require.NoError(t, reg.OpenDatagram(id2, nil, lcsock.Broadcast(true)))
	_, err = reg.Write(ctxWait(t), id2, []byte("yes"))
	require.NoError(t, err)
	got, _ := readDatagram(t, rcv)
	require.Equal(t, "yes", got)
}

// A write larger than a datagram can carry is an error, never truncated.
func TestDatagramTooLarge(t *testing.T) {
	srv := udpPeer(t, "udp4", "127.0.0.1:0")
	reg, _ := newReg(t, lcsock.Config{})
	id := srv.LocalAddr().String()
	require.NoError(t, reg.OpenDatagram(id, nil))
	_, err := reg.Write(ctxWait(t), id, make([]byte, 65508))
	require.ErrorIs(t, err, lcsock.ErrDatagramTooLarge)
	require.ErrorIs(t, err, lcsock.ErrSendDatagram)
	_, err = reg.Write(ctxWait(t), id, make([]byte, 65507))
	require.NoError(t, err)
	got, _ := readDatagram(t, srv)
	require.Len(t, got, 65507)
}

// 1,000 datagrams from 10 peers are each attributed to the right peer,
// over IPv4 and IPv6.
func TestDatagramsFromTenPeers(t *testing.T) {
	for _, fam := range []struct{ network, loop string }{{"udp4", "127.0.0.1"}, {"udp6", "::1"}} {
		t.Run(fam.network, func(t *testing.T) {
			udpPeer(t, fam.network, net.JoinHostPort(fam.loop, "0")) // skips without the family
			reg, rec := newReg(t, lcsock.Config{DefaultInterface: fam.loop, MaxDatagramQueue: 2000})
			port, err := reg.AcceptDatagram(0, nil, "dg")
			require.NoError(t, err)
			to := &net.UDPAddr{IP: net.ParseIP(fam.loop), Port: port}
			peers := make([]*net.UDPConn, 10)
			for i := range peers {
				peers[i] = udpPeer(t, fam.network, net.JoinHostPort(fam.loop, "0"))
			}
			// Ten rounds of 100 datagrams, each round read before the next is
			// sent, so the kernel's receive buffer never overflows (UDP may
			// drop on the wire; this test is about attribution).
			got := map[string]int{}
			for round := range 10 {
				for n := range 10 {
					for i, p := range peers {
						p.WriteTo([]byte(fmt.Sprintf("%d:%d:%d", i, round, n)), to)
					}
				}
				for range 100 {
					ev := rec.WaitFor(t, lcsock.EventDatagram, "", wait)
					i, _ := strconv.Atoi(strings.SplitN(string(ev.Data), ":", 2)[0])
					require.Equal(t, peers[i].LocalAddr().String(), ev.Params()[0])
					got[ev.Params()[0]]++
				}
			}
			require.Len(t, got, 10)
			for _, n := range got {
				require.Equal(t, 100, n)
			}
			require.Len(t, reg.OpenSockets(), 11)
			// Reply to one peer through its ID.
			_, err = reg.Write(ctxWait(t), peers[3].LocalAddr().String(), []byte("back"))
			require.NoError(t, err)
			msg, _ := readDatagram(t, peers[3])
			require.Equal(t, "back", msg)
		})
	}
}

// A slow handler never makes the library lose datagrams silently: past
// the queue limit they are dropped and counted.
func TestDatagramQueueLimitCounts(t *testing.T) {
	reg, err := lcsock.NewRegistry(lcsock.Config{Dispatch: lcsock.DispatchPumped, MaxDatagramQueue: 5})
	require.NoError(t, err)
	defer reg.Close()
	rec := &lcsocktest.Recorder{}
	port, err := reg.AcceptDatagram(0, rec, "dg")
	require.NoError(t, err)
	c := udpPeer(t, "udp4", "127.0.0.1:0")
	to := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}
	for i := range 20 {
		c.WriteTo([]byte{byte(i)}, to)
	}
	// Nothing is delivered until we pump; wait until all 20 were received.
	deadline := time.Now().Add(wait)
	for {
		st, err := reg.Stats(strconv.Itoa(port))
		require.NoError(t, err)
		if st.BytesIn == 20 {
			require.EqualValues(t, 15, st.Dropped)
			break
		}
		require.True(t, time.Now().Before(deadline))
		runtime_Gosched()
	}
	require.Equal(t, 5, reg.DispatchPending())
	require.Equal(t, 5, rec.Count(lcsock.EventDatagram, ""))
}

// A MaxDatagramQueue past what the event counter holds is no limit: 1<<32
// wrapped to a limit of 0, and every datagram was dropped (found in
// review).
func TestDatagramQueueLimitHuge(t *testing.T) {
	if strconv.IntSize < 64 {
		t.Skip("int cannot hold 1<<32 here")
	}
	shift := 32 // not a constant: the file must build where int is 32 bits
	huge := 1 << shift
	reg, rec := newReg(t, lcsock.Config{MaxDatagramQueue: huge})
	port, err := reg.AcceptDatagram(0, nil, "dg")
	require.NoError(t, err)
	c := udpPeer(t, "udp4", "127.0.0.1:0")
	_, err = c.WriteTo([]byte("kept"), &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
	require.NoError(t, err)
	ev := rec.WaitFor(t, lcsock.EventDatagram, "", wait)
	require.Equal(t, "kept", string(ev.Data))
}

// A connected datagram socket reports ICMP port unreachable as socketError.
func TestDatagramPortUnreachable(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Go's net package turns ICMP reports off for UDP sockets on Windows (SIO_UDP_CONNRESET)")
	}
	dead := udpPeer(t, "udp4", "127.0.0.1:0")
	id := dead.LocalAddr().String()
	dead.Close()
	reg, rec := newReg(t, lcsock.Config{})
	require.NoError(t, reg.OpenDatagram(id, nil, lcsock.WithMessage("dg")))
	for {
		if _, err := reg.Write(ctxWait(t), id, []byte("anyone?")); err != nil {
			break
		}
		if _, ok := rec.Next(lcsock.EventError, id, 50*time.Millisecond); ok {
			break
		}
	}
	require.NotContains(t, reg.OpenSockets(), id)
}

// TLS is refused on datagram sockets.
func TestDatagramRefusesTLS(t *testing.T) {
	srv := udpPeer(t, "udp4", "127.0.0.1:0")
	reg, _ := newReg(t, lcsock.Config{})
	id := srv.LocalAddr().String()
	require.ErrorIs(t, reg.OpenDatagram(id, nil, lcsock.Verify(false)), lcsock.ErrDatagramTLS)
	require.NoError(t, reg.OpenDatagram(id, nil))
	require.ErrorIs(t, reg.Secure(id), lcsock.ErrDatagramTLS)
}

// Interop: socat sends datagrams to an lcsock datagram listener and gets
// the reply.
func TestInteropSocatUDP(t *testing.T) {
	path := tool(t, "socat")
	reg, rec := newReg(t, lcsock.Config{})
	rec.OnEvent = func(ev lcsock.Event) {
		if ev.Kind == lcsock.EventDatagram {
			reg.WriteWithMessage(ev.Socket, bytes.ToUpper(ev.Data), nil, "")
		}
	}
	port, err := reg.AcceptDatagram(0, nil, "dg")
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, "-t", "2", "-T", "2", "-", "UDP:127.0.0.1:"+itoa(port))
	cmd.Stdin = strings.NewReader("datagram from socat")
	out, err := cmd.Output()
	require.NoError(t, err)
	require.Equal(t, "DATAGRAM FROM SOCAT", string(out))
	ev := rec.WaitFor(t, lcsock.EventDatagram, "", wait)
	require.Equal(t, "datagram from socat", string(ev.Data))
}

// Multicast on the loopback interface, where the kernel allows it.
func TestMulticastLoopback(t *testing.T) {
	reg, rec := newReg(t, lcsock.Config{})
	port, err := reg.AcceptDatagram(0, nil, "mc")
	require.NoError(t, err)
	lo := loopbackName(t)
	group := "239.77.0.1"
	// Errors name the interface; a unicast group is refused.
	require.ErrorContains(t, reg.JoinGroup(strconv.Itoa(port), "239.77.0.2", "no-such-if0"), "no-such-if0")
	require.Error(t, reg.JoinGroup(strconv.Itoa(port), "10.0.0.1", lo))
	if err := reg.JoinGroup(strconv.Itoa(port), group, lo); err != nil {
		t.Skipf("cannot join %s on %s here (%v); `ip link set %s multicast on` enables it", group, lo, err, lo)
	}
	id := group + ":" + itoa(port)
	require.NoError(t, reg.OpenDatagram(id, nil, lcsock.MulticastInterface(lo)))
	if _, err := reg.Write(ctxWait(t), id, []byte("to the group")); err != nil {
		t.Skipf("cannot send multicast on %s here (%v); `ip link set %s multicast on` enables it", lo, err, lo)
	}
	ev, ok := rec.Next(lcsock.EventDatagram, "", 2*time.Second)
	if !ok {
		t.Skipf("multicast on %s is not looped back here; `ip link set %s multicast on` enables it", lo, lo)
	}
	require.Equal(t, "to the group", string(ev.Data))
	require.NoError(t, reg.LeaveGroup(strconv.Itoa(port), group, lo))
}

func loopbackName(t *testing.T) string {
	ifs, err := net.Interfaces()
	require.NoError(t, err)
	for _, ifi := range ifs {
		if ifi.Flags&net.FlagLoopback != 0 {
			return ifi.Name
		}
	}
	t.Skip("no loopback interface")
	return ""
}

// A sender whose "ip:port" is already an ID in the registry (here a TCP
// connection from the same port number) gets the socket "ip:port|1", and
// its datagram events name that socket, so that a reply to ev.Socket goes
// to the sender and not to the TCP connection.
func TestCase73DatagramSenderIDTaken(t *testing.T) {
	reg, rec := newReg(t, lcsock.Config{})
	tport, err := reg.Accept(0, nil, "acc")
	require.NoError(t, err)
	uport, err := reg.AcceptDatagram(0, nil, "dg")
	require.NoError(t, err)
	// A UDP socket on the local port of a TCP connection (retried in the
	// unlikely case that some UDP socket holds that port).
	var uc *net.UDPConn
	var local string
	for uc == nil {
		tc, err := net.Dial("tcp", "127.0.0.1:"+itoa(tport))
		require.NoError(t, err)
		t.Cleanup(func() { tc.Close() })
		local = tc.LocalAddr().String()
		require.Equal(t, local, rec.WaitFor(t, lcsock.EventAccepted, "", wait).Socket)
		if pc, err := net.ListenPacket("udp4", local); err == nil {
			uc = pc.(*net.UDPConn)
			t.Cleanup(func() { uc.Close() })
		}
	}

	_, err = uc.WriteTo([]byte("hi"), &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: uport})
	require.NoError(t, err)
	ev := rec.WaitFor(t, lcsock.EventDatagram, "", wait)
	require.Equal(t, local+"|1", ev.Socket)
	require.Equal(t, []string{local + "|1", "hi", itoa(uport)}, ev.Params())
	require.Contains(t, reg.OpenSockets(), ev.Socket)
	_, err = reg.Write(ctxWait(t), ev.Socket, []byte("reply"))
	require.NoError(t, err)
	got, _ := readDatagram(t, uc)
	require.Equal(t, "reply", got)
}

// LiveCode's way to collect answers to a broadcast: accept datagrams on a
// port and send from that same port. The answers come back to the port
// from any address, so they reach the listener, not the socket opened
// to the broadcast address.
func TestCase80DatagramFromListenerPort(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Windows shares the port through From alone; tested on unix")
	}
	reg, rec := newReg(t, lcsock.Config{})
	local, err := reg.AcceptDatagram(0, nil, "answer")
	require.NoError(t, err)
	asked := udpPeer(t, "udp4", "127.0.0.1:0")
	answerer := udpPeer(t, "udp4", "127.0.0.1:0") // another address than the one asked
	id := asked.LocalAddr().String() + "|who"
	require.NoError(t, reg.OpenDatagram(id, nil, lcsock.From(":"+itoa(local))))
	require.NoError(t, reg.WriteWithMessage(id, []byte("WHO?"), nil, "sent"))
	rec.WaitFor(t, lcsock.EventWritten, id, wait)
	got, from := readDatagram(t, asked)
	require.Equal(t, "WHO?", got)
	require.Equal(t, local, from.(*net.UDPAddr).Port)
	_, err = answerer.WriteTo([]byte("HERE"), from)
	require.NoError(t, err)
	ev := rec.WaitFor(t, lcsock.EventDatagram, "", wait)
	require.Equal(t, []string{answerer.LocalAddr().String(), "HERE", itoa(local)}, ev.Params())
	require.Zero(t, rec.Count(lcsock.EventError, ""))
}

// A blocking Write on a datagram socket that is still resolving waits for
// the name: it sends once the name resolves, and fails when it does not
// — the datagram is never reported sent and then dropped.
func TestCase78BlockingWriteWhileResolving(t *testing.T) {
	dns := newFakeDNS(t)
	reg, rec := newReg(t, lcsock.Config{Resolver: dns.resolver()})
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	defer pc.Close()
	port := pc.LocalAddr().(*net.UDPAddr).Port
	dns.setAddrs("udp.test.", "127.0.0.1")
	dns.failName("nowhere.test.")

	dns.closeGate()
	id := "udp.test:" + itoa(port)
	require.NoError(t, reg.OpenDatagram(id, nil))
	sent := make(chan error, 1)
	go func() {
		_, err := reg.Write(ctxWait(t), id, []byte("hello"))
		sent <- err
	}()
	select {
	case err := <-sent:
		t.Fatalf("Write returned before the name resolved: %v", err)
	default:
	}
	dns.open()
	require.NoError(t, <-sent)
	buf := make([]byte, 64)
	pc.SetReadDeadline(time.Now().Add(wait))
	n, _, err := pc.ReadFrom(buf)
	require.NoError(t, err)
	require.Equal(t, "hello", string(buf[:n]))

	dns.closeGate()
	bad := "nowhere.test:" + itoa(port)
	require.NoError(t, reg.OpenDatagram(bad, nil))
	go func() {
		_, err := reg.Write(ctxWait(t), bad, []byte("lost?"))
		sent <- err
	}()
	// Let the answer come only once the write waits behind the lookup.
	require.Eventually(t, func() bool {
		st, err := reg.Stats(bad)
		return err == nil && st.QueuedWrites == 1
	}, wait, time.Millisecond)
	dns.open()
	require.ErrorIs(t, <-sent, lcsock.ErrResolve)
	rec.WaitFor(t, lcsock.EventError, bad, wait)
}

// socketTimeout repeats while a datagram socket's name resolves, as for
// Open (decisions.md, Timeouts); none was sent (found in review).
func TestDatagramTimeoutWhileResolving(t *testing.T) {
	dns := newFakeDNS(t)
	reg, rec := newReg(t, lcsock.Config{Resolver: dns.resolver(), TimeoutInterval: 50 * time.Millisecond})
	dns.setAddrs("slow.test.", "127.0.0.1")
	dns.closeGate()
	defer dns.open()
	require.NoError(t, reg.OpenDatagram("slow.test:10", nil))
	ev := rec.WaitFor(t, lcsock.EventTimeout, "slow.test:10", wait)
	require.Equal(t, lcsock.OpOpen, ev.Op)
}

// A handler that panics on a datagram socket's event closes the socket
// with a socketError wrapping ErrHandlerPanic, as for TCP; it was closed
// silently (found in review).
func TestDatagramHandlerPanicGivesSocketError(t *testing.T) {
	srv := udpPeer(t, "udp4", "127.0.0.1:0")
	rec := &lcsocktest.Recorder{}
	reg, _ := newReg(t, lcsock.Config{Handler: lcsock.HandlerFunc(func(ev lcsock.Event) {
		rec.HandleEvent(ev)
		if ev.Kind == lcsock.EventWritten {
			panic("handler fails")
		}
	})})
	id := srv.LocalAddr().String()
	require.NoError(t, reg.OpenDatagram(id, nil))
	require.NoError(t, reg.WriteWithMessage(id, []byte("x"), nil, "w"))
	ev := rec.WaitFor(t, lcsock.EventError, id, wait)
	require.ErrorIs(t, ev.Err, lcsock.ErrHandlerPanic)
	require.Empty(t, reg.OpenSockets())
}

// While its name resolves, a datagram socket's size limit is IPv6's
// (65527 bytes), the larger, unless the family is already known (an IP
// literal, or From an IP address): it was IPv4's (65507), and a write
// the IPv6 peer could take was refused (found in review). A queued write
// over the limit of the family the name resolves to fails then: a
// blocking one returns the error and leaves the socket open; another
// ends the socket with a socketError.
func TestDatagramLimitWhileResolving(t *testing.T) {
	srv6 := udpPeer(t, "udp6", "[::1]:0")
	srv4 := udpPeer(t, "udp4", "127.0.0.1:0")
	dns := newFakeDNS(t)
	dns.setAddrs("v6.test.", "::1")
	dns.setAddrs("v4.test.", "127.0.0.1")
	reg, rec := newReg(t, lcsock.Config{Resolver: dns.resolver()})

	dns.closeGate()
	id6 := "v6.test:" + itoa(srv6.LocalAddr().(*net.UDPAddr).Port)
	require.NoError(t, reg.OpenDatagram(id6, nil))
	require.NoError(t, reg.WriteWithMessage(id6, make([]byte, 65527), nil, "sent"))
	err := reg.WriteWithMessage(id6, make([]byte, 65528), nil, "sent")
	require.ErrorIs(t, err, lcsock.ErrDatagramTooLarge)

	id4 := "v4.test:" + itoa(srv4.LocalAddr().(*net.UDPAddr).Port)
	require.NoError(t, reg.OpenDatagram(id4, nil))
	sent := make(chan error, 1)
	go func() {
		_, err := reg.Write(ctxWait(t), id4, make([]byte, 65508))
		sent <- err
	}()
	require.Eventually(t, func() bool {
		st, err := reg.Stats(id4)
		return err == nil && st.QueuedWrites == 1
	}, wait, time.Millisecond)
	require.NoError(t, reg.OpenDatagram(id4+"|from", nil, lcsock.From("127.0.0.1:0")))
	_, err = reg.Write(ctxWait(t), id4+"|from", make([]byte, 65508)) // IPv4: known
	require.ErrorIs(t, err, lcsock.ErrDatagramTooLarge)
	require.NoError(t, reg.OpenDatagram(id4+"|async", nil))
	require.NoError(t, reg.WriteWithMessage(id4+"|async", make([]byte, 65508), nil, "sent"))
	dns.open()

	rec.WaitFor(t, lcsock.EventWritten, id6, wait)
	got, _ := readDatagram(t, srv6)
	require.Len(t, got, 65527)
	err = <-sent
	require.ErrorIs(t, err, lcsock.ErrDatagramTooLarge)
	require.ErrorContains(t, err, "the limit is 65507")
	_, err = reg.Write(ctxWait(t), id4, []byte("still open"))
	require.NoError(t, err)
	got, _ = readDatagram(t, srv4)
	require.Equal(t, "still open", got)
	ev := rec.WaitFor(t, lcsock.EventError, id4+"|async", wait) // no one else to tell
	require.ErrorIs(t, ev.Err, lcsock.ErrDatagramTooLarge)
	require.Zero(t, rec.Count(lcsock.EventWritten, id4+"|async"))
	require.Zero(t, rec.Count(lcsock.EventError, id4))
	require.Zero(t, rec.Count(lcsock.EventError, id6))
}

// The default interface gives the family of a datagram socket whose name
// still resolves, as From does (the open binds it and dials only that
// family): a write over IPv4's limit is refused at once. It got IPv6's
// limit, so a WriteWithMessage of 65508 bytes was taken and then ended
// the socket with a socketError once the name resolved (found in review).
func TestDatagramLimitWhileResolvingDefaultInterface(t *testing.T) {
	srv4 := udpPeer(t, "udp4", "127.0.0.1:0")
	dns := newFakeDNS(t)
	dns.setAddrs("v4.test.", "127.0.0.1")
	reg, rec := newReg(t, lcsock.Config{Resolver: dns.resolver()})
	require.NoError(t, reg.SetDefaultInterface("127.0.0.1"))

	dns.closeGate()
	id := "v4.test:" + itoa(srv4.LocalAddr().(*net.UDPAddr).Port)
	require.NoError(t, reg.OpenDatagram(id, nil))
	err := reg.WriteWithMessage(id, make([]byte, 65508), nil, "sent")
	require.ErrorIs(t, err, lcsock.ErrDatagramTooLarge)
	require.ErrorContains(t, err, "the limit is 65507")
	dns.open()

	_, err = reg.Write(ctxWait(t), id, []byte("still open"))
	require.NoError(t, err)
	got, _ := readDatagram(t, srv4)
	require.Equal(t, "still open", got)
	require.Zero(t, rec.Count(lcsock.EventError, id))
}

// The default interface that gives a resolving datagram socket's size
// limit, and that its open binds, is the one set when OpenDatagram was
// called: changing it afterwards changes neither. The limit read the
// setting at each write, and the open read it when its goroutine ran:
// after an IPv6-bound open, setting an IPv4 interface made a 65527-byte
// write the IPv6 peer could take be refused; after an IPv4-bound open,
// clearing the setting made a WriteWithMessage of 65508 bytes be taken,
// to end the socket with a socketError once the name resolved; and an
// open could bind the interface set after it (found in review).
func TestDatagramLimitWhileResolvingDefaultInterfaceChanged(t *testing.T) {
	srv4 := udpPeer(t, "udp4", "127.0.0.1:0")
	srv6 := udpPeer(t, "udp6", "[::1]:0")
	dns := newFakeDNS(t)
	dns.setAddrs("both.test.", "127.0.0.1", "::1")
	reg, rec := newReg(t, lcsock.Config{Resolver: dns.resolver()})
	dns.closeGate()

	require.NoError(t, reg.SetDefaultInterface("::1"))
	id6 := "both.test:" + itoa(srv6.LocalAddr().(*net.UDPAddr).Port)
	require.NoError(t, reg.OpenDatagram(id6, nil))
	require.NoError(t, reg.SetDefaultInterface("127.0.0.1"))
	require.NoError(t, reg.WriteWithMessage(id6, make([]byte, 65527), nil, "sent"))

	id4 := "both.test:" + itoa(srv4.LocalAddr().(*net.UDPAddr).Port)
	require.NoError(t, reg.OpenDatagram(id4, nil))
	require.NoError(t, reg.SetDefaultInterface(""))
	err := reg.WriteWithMessage(id4, make([]byte, 65508), nil, "sent")
	require.ErrorIs(t, err, lcsock.ErrDatagramTooLarge)
	require.ErrorContains(t, err, "the limit is 65507")
	dns.open()

	rec.WaitFor(t, lcsock.EventWritten, id6, wait)
	got, from := readDatagram(t, srv6)
	require.Len(t, got, 65527)
	require.Equal(t, "::1", from.(*net.UDPAddr).IP.String())
	_, err = reg.Write(ctxWait(t), id4, []byte("still open"))
	require.NoError(t, err)
	got, _ = readDatagram(t, srv4)
	require.Equal(t, "still open", got)
	require.Zero(t, rec.Count(lcsock.EventError, id4))
	require.Zero(t, rec.Count(lcsock.EventError, id6))
}

// The asynchronous writes a datagram socket queues while its name
// resolves count toward Config.MaxWriteQueue, as a TCP socket's do: one
// that would pass it fails alone with ErrBufferFull, and those already
// queued are sent once the name resolves. They were queued without a
// limit (found in review).
func TestDatagramWriteQueueLimitWhileResolving(t *testing.T) {
	srv := udpPeer(t, "udp4", "127.0.0.1:0")
	dns := newFakeDNS(t)
	dns.setAddrs("v4.test.", "127.0.0.1")
	reg, rec := newReg(t, lcsock.Config{Resolver: dns.resolver(), MaxWriteQueue: 10})

	dns.closeGate()
	id := "v4.test:" + itoa(srv.LocalAddr().(*net.UDPAddr).Port)
	require.NoError(t, reg.OpenDatagram(id, nil))
	require.NoError(t, reg.WriteWithMessage(id, []byte("12345"), nil, "w1"))
	require.NoError(t, reg.WriteWithMessage(id, []byte("6789"), nil, "w2"))
	err := reg.WriteWithMessage(id, []byte("ab"), nil, "w3") // 11 bytes: over
	require.ErrorIs(t, err, lcsock.ErrBufferFull)
	require.ErrorContains(t, err, "9 bytes already queued (Config.MaxWriteQueue)")
	require.NoError(t, reg.WriteWithMessage(id, []byte("a"), nil, "w4")) // 10: at the limit
	st, err := reg.Stats(id)
	require.NoError(t, err)
	require.Equal(t, 3, st.QueuedWrites)
	dns.open()

	for _, want := range []string{"12345", "6789", "a"} {
		got, _ := readDatagram(t, srv)
		require.Equal(t, want, got)
	}
	for _, name := range []string{"w1", "w2", "w4"} {
		ev := rec.WaitFor(t, lcsock.EventWritten, id, wait)
		require.Equal(t, name, ev.Name)
	}
	require.Zero(t, rec.Count(lcsock.EventError, id))
}

// A blocking Write queued while the name resolves, behind a
// WriteWithMessage too large for the family the name resolves to, gets
// the socket's failure: the error of the socketError, which wraps
// ErrDatagramTooLarge and names the other datagram's size; the socket is
// gone, as OpenDatagram's doc says. A Write after that finds no socket.
func TestDatagramWriteBehindOversizeGetsSocketFailure(t *testing.T) {
	srv := udpPeer(t, "udp4", "127.0.0.1:0")
	dns := newFakeDNS(t)
	dns.setAddrs("v4.test.", "127.0.0.1")
	reg, rec := newReg(t, lcsock.Config{Resolver: dns.resolver()})

	dns.closeGate()
	id := "v4.test:" + itoa(srv.LocalAddr().(*net.UDPAddr).Port)
	require.NoError(t, reg.OpenDatagram(id, nil))
	require.NoError(t, reg.WriteWithMessage(id, make([]byte, 65508), nil, "sent"))
	sent := make(chan error, 1)
	go func() {
		_, err := reg.Write(ctxWait(t), id, []byte("small"))
		sent <- err
	}()
	require.Eventually(t, func() bool {
		st, err := reg.Stats(id)
		return err == nil && st.QueuedWrites == 2
	}, wait, time.Millisecond)
	dns.open()

	err := <-sent
	ev := rec.WaitFor(t, lcsock.EventError, id, wait)
	require.ErrorIs(t, ev.Err, lcsock.ErrDatagramTooLarge)
	require.Same(t, ev.Err, err, "the socket's failure, not the small datagram's")
	require.ErrorContains(t, err, "65508 bytes")
	require.NotContains(t, reg.OpenSockets(), id)
	_, err = reg.Write(ctxWait(t), id, []byte("small"))
	require.ErrorIs(t, err, lcsock.ErrSocketNotOpen)
	require.NotErrorIs(t, err, lcsock.ErrDatagramTooLarge)
}

// PeerAddress and HostAddress work on datagram sockets as on TCP ones,
// as LiveCode's (getpeername/getsockname) do: an opened socket's peer
// and local address, a datagram listener's local address (no peer), and
// a listener's socket for one sender: that sender, and the listener's
// address (found in session 8: all were "").
func TestDatagramAddresses(t *testing.T) {
	reg, rec := newReg(t, lcsock.Config{})
	srv := udpPeer(t, "udp4", "127.0.0.1:0")
	id := srv.LocalAddr().String()
	require.NoError(t, reg.OpenDatagram(id, nil, lcsock.WithMessage("dg")))
	_, err := reg.Write(ctxWait(t), id, []byte("x")) // returns once the socket is up
	require.NoError(t, err)
	for _, f := range []func(string) (string, error){reg.PeerAddress, reg.HostAddress} {
		a, err := f(id)
		require.NoError(t, err)
		require.Equal(t, "127.0.0.1", a)
	}

	port, err := reg.AcceptDatagram(0, nil, "in")
	require.NoError(t, err)
	lid := strconv.Itoa(port)
	a, err := reg.HostAddress(lid)
	require.NoError(t, err)
	require.Contains(t, []string{"::", "0.0.0.0"}, a) // any address, dual-stack or not
	a, err = reg.PeerAddress(lid)
	require.NoError(t, err)
	require.Empty(t, a)

	c := udpPeer(t, "udp6", "[::1]:0")
	if _, err := c.WriteTo([]byte("hi"), &net.UDPAddr{IP: net.IPv6loopback, Port: port}); err != nil {
		t.Skip("no IPv6 loopback here:", err)
	}
	ev := rec.WaitFor(t, lcsock.EventDatagram, "", wait)
	sender := ev.Params()[0]
	a, err = reg.PeerAddress(sender)
	require.NoError(t, err)
	require.Equal(t, "::1", a)
	a, err = reg.HostAddress(sender)
	require.NoError(t, err)
	require.Equal(t, "::", a) // the listener's: it took an IPv6 datagram
}

// Datagrams queued for Read become events when ReadWithMessage sets a
// message, all of them, even while events of an earlier message are
// still undelivered up to MaxDatagramQueue: the queue admitted them
// already (found in review: they were dropped, counted in Dropped).
func TestDatagramQueueToEventsKeepsAll(t *testing.T) {
	srv := udpPeer(t, "udp4", "127.0.0.1:0")
	reg, rec := newReg(t, lcsock.Config{Dispatch: lcsock.DispatchPumped, MaxDatagramQueue: 2})
	id := srv.LocalAddr().String()
	require.NoError(t, reg.OpenDatagram(id, nil, lcsock.WithMessage("dg")))
	_, err := reg.Write(ctxWait(t), id, []byte("hello"))
	require.NoError(t, err)
	_, from := readDatagram(t, srv)
	sendAndCount := func(data string, bytesIn uint64) {
		t.Helper()
		srv.WriteTo([]byte(data), from)
		require.Eventually(t, func() bool {
			st, err := reg.Stats(id)
			return err == nil && st.BytesIn == bytesIn
		}, wait, time.Millisecond)
	}
	sendAndCount("a", 1)
	sendAndCount("b", 2) // two events undelivered: the limit
	require.NoError(t, reg.ReadWithMessage(id, lcsock.Available(), nil, ""))
	sendAndCount("c", 3)
	sendAndCount("d", 4) // two datagrams queued: the limit
	require.NoError(t, reg.ReadWithMessage(id, lcsock.Available(), nil, "dg"))
	reg.DispatchPending()
	var got []string
	for _, ev := range rec.Events() {
		if ev.Kind == lcsock.EventDatagram {
			got = append(got, string(ev.Data))
		}
	}
	require.Equal(t, []string{"a", "b", "c", "d"}, got)
	st, err := reg.Stats(id)
	require.NoError(t, err)
	require.Zero(t, st.Dropped)
}

// Stats of a datagram socket count the datagrams queued for Read in
// Buffered and the blocking Reads waiting for one in PendingReads (found
// in review: both were 0).
func TestDatagramStatsCountQueueAndReads(t *testing.T) {
	srv := udpPeer(t, "udp4", "127.0.0.1:0")
	reg, _ := newReg(t, lcsock.Config{})
	id := srv.LocalAddr().String()
	require.NoError(t, reg.OpenDatagram(id, nil))
	_, err := reg.Write(ctxWait(t), id, []byte("hello"))
	require.NoError(t, err)
	_, from := readDatagram(t, srv)
	srv.WriteTo([]byte("abc"), from)
	srv.WriteTo([]byte("de"), from)
	require.Eventually(t, func() bool {
		st, err := reg.Stats(id)
		return err == nil && st.Buffered == 5
	}, wait, time.Millisecond)
	for _, want := range []string{"abc", "de"} {
		got, err := reg.Read(ctxWait(t), id, lcsock.Available())
		require.NoError(t, err)
		require.Equal(t, want, string(got))
	}
	got := make(chan string, 1)
	go func() {
		b, _ := reg.Read(ctxWait(t), id, lcsock.Available())
		got <- string(b)
	}()
	require.Eventually(t, func() bool {
		st, err := reg.Stats(id)
		return err == nil && st.PendingReads == 1 && st.Buffered == 0
	}, wait, time.Millisecond)
	srv.WriteTo([]byte("f"), from)
	require.Equal(t, "f", <-got)
}

// A handler that panics on a datagram a listener received takes down
// that sender's socket, not the listener: other senders still get
// through, as a panic on an accepted TCP connection leaves its listener
// open.
func TestDatagramListenerSurvivesHandlerPanic(t *testing.T) {
	rec := &lcsocktest.Recorder{}
	reg, _ := newReg(t, lcsock.Config{Handler: lcsock.HandlerFunc(func(ev lcsock.Event) {
		rec.HandleEvent(ev)
		if ev.Kind == lcsock.EventDatagram && string(ev.Data) == "boom" {
			panic("handler fails")
		}
	})})
	port, err := reg.AcceptDatagram(0, nil, "dg")
	require.NoError(t, err)
	to := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}
	bad := udpPeer(t, "udp4", "127.0.0.1:0")
	bad.WriteTo([]byte("boom"), to)
	ev := rec.WaitFor(t, lcsock.EventError, bad.LocalAddr().String(), wait)
	require.ErrorIs(t, ev.Err, lcsock.ErrHandlerPanic)
	require.Contains(t, reg.OpenSockets(), strconv.Itoa(port))
	good := udpPeer(t, "udp4", "127.0.0.1:0")
	good.WriteTo([]byte("fine"), to)
	ev = rec.WaitFor(t, lcsock.EventDatagram, good.LocalAddr().String(), wait)
	require.Equal(t, "fine", string(ev.Data))
}

// AcceptDatagram(0) gets a port no other socket holds. The listener's
// address reuse (for case 80) was set before the bind, and Linux may
// give port 0 of a UDP socket with SO_REUSEADDR a port that another such
// socket holds, of this program or another: two listeners of one
// registry could get the same port, the second failing with
// ErrAlreadyOpen (TestIdleDatagramSocketsHoldNoBuffer, opening 50, failed
// so). With 400, nearly every run had a collision.
func TestAcceptDatagramPortZeroPortsDistinct(t *testing.T) {
	reg, _ := newReg(t, lcsock.Config{})
	requireDistinctDatagramPorts(t, reg, 400)
}

// requireDistinctDatagramPorts opens n datagram listeners on port 0 and
// checks that no port is given twice.
func requireDistinctDatagramPorts(t *testing.T, reg *lcsock.Registry, n int) {
	t.Helper()
	seen := make(map[int]bool, n)
	for range n {
		port, err := reg.AcceptDatagram(0, nil, "dg")
		require.NoError(t, err)
		require.False(t, seen[port], "port %d given twice", port)
		seen[port] = true
	}
}

// A datagram socket opened From a host without a port gets a port no
// other socket holds, as AcceptDatagram(0) does (above): with address
// reuse set before the bind, two could share one, and datagrams sent to
// one would reach the other.
func TestOpenDatagramFromHostPortsDistinct(t *testing.T) {
	reg, rec := newReg(t, lcsock.Config{})
	target := udpPeer(t, "udp4", "127.0.0.1:0")
	const n = 400
	seen := make(map[string]bool, n)
	for i := range n {
		id := target.LocalAddr().String() + "|d" + itoa(i)
		require.NoError(t, reg.OpenDatagram(id, nil, lcsock.From("127.0.0.1")))
		_, err := reg.Write(ctxWait(t), id, []byte("x"))
		require.NoError(t, err)
		_, from := readDatagram(t, target)
		require.False(t, seen[from.String()], "local address %s given twice", from)
		seen[from.String()] = true
	}
	require.Zero(t, rec.Count(lcsock.EventError, ""))
}

// AcceptDatagram(0) gets a port no other socket holds also when the
// default interface is a multicast group address: Go's ListenPacket then
// listens on the wildcard address with address reuse set before the bind
// (for group listeners sharing a port), and Linux could pick a port that
// another reusable socket held, as in TestAcceptDatagramPortZeroPortsDistinct.
func TestAcceptDatagramPortZeroMulticastInterfacePortsDistinct(t *testing.T) {
	reg, _ := newReg(t, lcsock.Config{})
	require.NoError(t, reg.SetDefaultInterface("239.255.77.1"))
	requireDistinctDatagramPorts(t, reg, 400)
}

// Accept(0) and AcceptDatagram(0) of one registry never fail with
// ErrAlreadyOpen: TCP and UDP have a port space each, so the system could
// pick for one a port number that a listener of the other already has as
// its ID, and the new listener failed with "socket is already open"
// though no port was asked for. With 300 of each, nearly every run had
// such a collision.
func TestAcceptPortZeroIDsDistinctAcrossProtocols(t *testing.T) {
	reg, _ := newReg(t, lcsock.Config{})
	const n = 300
	seen := make(map[int]bool, 2*n)
	for range n {
		port, err := reg.Accept(0, nil, "acc")
		require.NoError(t, err)
		require.False(t, seen[port], "port %d given twice", port)
		seen[port] = true
		port, err = reg.AcceptDatagram(0, nil, "dg")
		require.NoError(t, err)
		require.False(t, seen[port], "port %d given twice", port)
		seen[port] = true
	}
	require.Len(t, reg.OpenSockets(), 2*n)
}

// AcceptDatagram on a port this registry listens on already is
// ErrAlreadyOpen also when the system refuses the bind — as on Windows,
// where a datagram listener sets no address reuse, and, here, when the
// second bind's address is held by another program's socket without
// reuse — as Accept does.
func TestAcceptDatagramTakenPortRefusedBySystemIsAlreadyOpen(t *testing.T) {
	reg, _ := newReg(t, lcsock.Config{})
	reg.SetDefaultInterface("127.0.0.1")
	port, err := reg.AcceptDatagram(0, nil, "dg")
	require.NoError(t, err)
	other, err := net.ListenPacket("udp", "[::1]:"+itoa(port)) // no reuse
	if err != nil {
		t.Skipf("no IPv6 loopback to hold the port on: %v", err)
	}
	defer other.Close()
	reg.SetDefaultInterface("::1")
	_, err = reg.AcceptDatagram(port, nil, "dg")
	require.ErrorIs(t, err, lcsock.ErrAlreadyOpen)
}
