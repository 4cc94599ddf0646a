package lcsock_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/lcsock/lcsock"
	"github.com/lcsock/lcsock/lcsocktest"
)

// exampleTB lets the examples, which have no *testing.T, use
// lcsocktest: Fatalf panics and cleanups run at done.
type exampleTB struct{ cleanups []func() }

func (*exampleTB) Helper() {}

func (*exampleTB) Fatalf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }

func (t *exampleTB) Cleanup(f func()) { t.cleanups = append(t.cleanups, f) }

func (t *exampleTB) done() {
	for i := len(t.cleanups) - 1; i >= 0; i-- {
		t.cleanups[i]()
	}
}

// exampleTLS makes a throw-away CA and a certificate for 127.0.0.1, and
// writes the CA to a temporary folder for Registry.SetCertificates. It
// returns the certificate and key (PEM), the CA file, and a function that
// removes the folder.
func exampleTLS() (cert, key, caPath string, cleanup func()) {
	tb := &exampleTB{}
	ca := lcsocktest.NewCA(tb)
	certPEM, keyPEM := ca.Issue(tb, "127.0.0.1", "localhost")
	dir, err := os.MkdirTemp("", "lcsock-example")
	if err != nil {
		panic(err)
	}
	caPath = lcsocktest.WriteFile(tb, dir, "ca.pem", ca.CertPEM)
	return string(certPEM), string(keyPEM), caPath, func() {
		tb.done()
		os.RemoveAll(dir)
	}
}

// notify returns a handler that passes events to ch without ever
// blocking the dispatcher: events past ch's capacity are dropped.
func notify(ch chan<- lcsock.Event) lcsock.Handler {
	return lcsock.HandlerFunc(func(ev lcsock.Event) {
		select {
		case ch <- ev:
		default:
		}
	})
}

// tlsEcho is the handler of an example TLS server: it answers each line
// with "echo: " and the line.
func tlsEcho(reg *lcsock.Registry) lcsock.Handler {
	var h lcsock.HandlerFunc
	h = func(ev lcsock.Event) {
		switch ev.Kind {
		case lcsock.EventAccepted:
			reg.ReadWithMessage(ev.Socket, lcsock.Until("\n"), h, "gotLine")
		case lcsock.EventRead:
			if ev.Err == nil {
				reg.WriteWithMessage(ev.Socket, append([]byte("echo: "), ev.Data...), nil, "")
				reg.ReadWithMessage(ev.Socket, lcsock.Until("\n"), h, "gotLine")
			}
		}
	}
	return h
}

func ExampleRegistry_OpenSecure() {
	cert, key, caPath, cleanup := exampleTLS()
	defer cleanup()
	reg, _ := lcsock.NewRegistry(lcsock.Config{})
	defer reg.Close()
	reg.SetCertificates([]string{caPath}) // set the sslCertificates to the CA file

	port, err := reg.AcceptSecure(0, tlsEcho(reg), "newConnection", cert, key)
	if err != nil {
		fmt.Println(err)
		return
	}
	connected := make(chan lcsock.Event, 1)
	id := "127.0.0.1:" + strconv.Itoa(port) + "|tls"
	// open secure socket to id with message "connected" (with verification)
	reg.OpenSecure(id, notify(connected), lcsock.WithMessage("connected"))
	reg.WriteWithMessage(id, []byte("hello\n"), nil, "") // queued, sent encrypted after the handshake
	ev := <-connected
	fmt.Println(ev.Name, ev.Params()[0] == id)
	line, err := reg.Read(context.Background(), id, lcsock.Until("\n"))
	fmt.Printf("%q %v\n", line, err)
	// Output:
	// connected true
	// "echo: hello\n" <nil>
}

func ExampleRegistry_AcceptSecure() {
	cert, key, caPath, cleanup := exampleTLS()
	defer cleanup()
	reg, _ := lcsock.NewRegistry(lcsock.Config{})
	defer reg.Close()
	reg.SetCertificates([]string{caPath})

	accepted := make(chan lcsock.Event, 1)
	// accept secure connections on port 0 with message "newConnection"
	port, err := reg.AcceptSecure(0, notify(accepted), "newConnection", cert, key)
	if err != nil {
		fmt.Println(err)
		return
	}
	id := "127.0.0.1:" + strconv.Itoa(port)
	reg.OpenSecure(id, notify(accepted)) // its socketError, if any, would show
	ev := <-accepted                     // announced only once its handshake succeeded
	st, err := reg.TLSState(ev.Socket)
	fmt.Println(ev.Name, ev.Params()[1] == strconv.Itoa(port))
	fmt.Println("TLS 1.2 or later:", err == nil && st.Version >= tls.VersionTLS12)
	// Output:
	// newConnection true
	// TLS 1.2 or later: true
}

func ExampleRegistry_Secure() {
	cert, key, caPath, cleanup := exampleTLS()
	defer cleanup()
	reg, _ := lcsock.NewRegistry(lcsock.Config{})
	defer reg.Close()

	// The server: a plain listener whose connections are upgraded on a
	// "STARTTLS" line, then answer each line.
	var server lcsock.HandlerFunc
	server = func(ev lcsock.Event) {
		switch {
		case ev.Kind == lcsock.EventAccepted:
			reg.ReadWithMessage(ev.Socket, lcsock.Until("\n"), server, "gotLine")
		case ev.Kind == lcsock.EventRead && string(ev.Data) == "STARTTLS\n":
			// secure socket ev.Socket, as the server; the pending read
			// continues on the decrypted stream
			reg.Secure(ev.Socket, lcsock.AsServer(cert, key))
			reg.ReadWithMessage(ev.Socket, lcsock.Until("\n"), server, "gotLine")
		case ev.Kind == lcsock.EventRead && ev.Err == nil:
			reg.WriteWithMessage(ev.Socket, append([]byte("secure echo: "), ev.Data...), nil, "")
		}
	}
	port, err := reg.Accept(0, server, "newConnection")
	if err != nil {
		fmt.Println(err)
		return
	}

	// The client: a plain socket that asks for TLS, then upgrades.
	ctx := context.Background()
	id := "127.0.0.1:" + strconv.Itoa(port) + "|starttls"
	reg.Open(id, nil)
	reg.Write(ctx, id, []byte("STARTTLS\n")) // sent in the clear
	_, err = reg.TLSState(id)
	fmt.Println(lcsock.ErrorText(err))
	reg.SetCertificates([]string{caPath}) // trust the CA
	fmt.Println(reg.Secure(id))           // secure socket id
	reg.Write(ctx, id, []byte("hello\n")) // encrypted
	line, err := reg.Read(ctx, id, lcsock.Until("\n"))
	fmt.Printf("%q %v\n", line, err)
	_, err = reg.TLSState(id)
	fmt.Println(err)
	// Output:
	// socket is not secure
	// <nil>
	// "secure echo: hello\n" <nil>
	// <nil>
}

// udpEchoPeer is a plain Go UDP server for the examples that answers each
// datagram with it in upper case; it returns the address to send to.
func udpEchoPeer() (string, func()) {
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 64<<10)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo([]byte(strings.ToUpper(string(buf[:n]))), from)
		}
	}()
	return pc.LocalAddr().String(), func() { pc.Close(); <-done }
}

func ExampleRegistry_OpenDatagram() {
	addr, stop := udpEchoPeer()
	defer stop()
	got := make(chan lcsock.Event, 1)
	reg, _ := lcsock.NewRegistry(lcsock.Config{})
	defer reg.Close()
	// open datagram socket to addr with message "gotDatagram"
	if err := reg.OpenDatagram(addr, notify(got), lcsock.WithMessage("gotDatagram")); err != nil {
		fmt.Println(err)
		return
	}
	n, err := reg.Write(context.Background(), addr, []byte("ping")) // one datagram
	fmt.Println(n, err)
	ev := <-got
	p := ev.Params() // sender, data, socket: here the sender is the socket's peer
	fmt.Println(ev.Name, p[0] == addr, p[1], p[2] == addr)
	// Output:
	// 4 <nil>
	// gotDatagram true PING true
}

func ExampleRegistry_AcceptDatagram() {
	got := make(chan lcsock.Event, 1)
	reg, _ := lcsock.NewRegistry(lcsock.Config{})
	defer reg.Close()
	// accept datagram connections on port 0 with message "gotDatagram"
	port, err := reg.AcceptDatagram(0, notify(got), "gotDatagram")
	if err != nil {
		fmt.Println(err)
		return
	}
	c, err := net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	c.Write([]byte("hello"))

	ev := <-got
	sender := ev.Socket // the sender's pseudo-socket: "ip:port"
	p := ev.Params()
	fmt.Println(sender == c.LocalAddr().String(), p[2] == strconv.Itoa(port))
	p[0], p[2] = "SENDER", "PORT"
	fmt.Println(ev.Name, p)
	fmt.Println(len(reg.OpenSockets())) // the listener and the sender

	// write "hi back" to socket sender: a reply from the listener's port
	reg.Write(context.Background(), sender, []byte("hi back"))
	buf := make([]byte, 100)
	n, _ := c.Read(buf)
	fmt.Printf("%q\n", buf[:n])
	// Output:
	// true true
	// gotDatagram [SENDER hello PORT]
	// 2
	// "hi back"
}

func ExampleRegistry_JoinGroup() {
	reg, _ := lcsock.NewRegistry(lcsock.Config{})
	defer reg.Close()
	port, err := reg.AcceptDatagram(0, nil, "gotDatagram")
	if err != nil {
		fmt.Println(err)
		return
	}
	id := strconv.Itoa(port)
	// Only a multicast address is a group.
	err = reg.JoinGroup(id, "10.0.0.1", "")
	fmt.Println(errors.Is(err, lcsock.ErrBadID))
	// Join on every interface that is up and multicast-capable. Where some
	// refuse (a host without multicast routes), err is a *MulticastError
	// naming each failure, and the membership holds on the others.
	err = reg.JoinGroup(id, "239.77.0.1", "")
	var me *lcsock.MulticastError
	fmt.Println(err == nil || errors.As(err, &me))
	if err == nil {
		reg.LeaveGroup(id, "239.77.0.1", "")
	}
	// A group the socket is not a member of cannot be left.
	err = reg.LeaveGroup(id, "239.77.0.2", "")
	fmt.Println(errors.Is(err, lcsock.ErrNotMember))
	// Output:
	// true
	// true
	// true
}

func ExampleRegistry_HostNameToAddress() {
	reg, _ := lcsock.NewRegistry(lcsock.Config{})
	defer reg.Close()
	ctx := context.Background()
	// put hostNameToAddress("127.0.0.1"): an IP address returns itself
	addrs, err := reg.HostNameToAddress(ctx, "127.0.0.1")
	fmt.Println(addrs, err)
	// the port and label of a socket ID are ignored
	addrs, err = reg.HostNameToAddress(ctx, "localhost:80|x")
	fmt.Println(slices.Contains(addrs, "127.0.0.1"), err)
	// Output:
	// [127.0.0.1] <nil>
	// true <nil>
}

func ExampleRegistry_HostNameToAddressWithMessage() {
	got := make(chan lcsock.Event, 1)
	reg, _ := lcsock.NewRegistry(lcsock.Config{})
	defer reg.Close()
	// get hostNameToAddress("127.0.0.1", "resolved"): returns at once
	err := reg.HostNameToAddressWithMessage("127.0.0.1", notify(got), "resolved")
	fmt.Println(err)
	ev := <-got
	fmt.Printf("%s %q %v\n", ev.Name, ev.Params(), ev.Err)
	// Output:
	// <nil>
	// resolved ["127.0.0.1" "127.0.0.1"] <nil>
}

func ExampleHostName() {
	name, err := lcsock.HostName() // put the hostName
	fmt.Println(err == nil, name != "")
	// Output:
	// true true
}
