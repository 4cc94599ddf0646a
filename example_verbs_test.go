package lcsock_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"strconv"
	"time"

	"github.com/lcsock/lcsock"
)

func ExampleRegistry_OpenSockets() {
	addr, stop := echoPeer()
	defer stop()
	reg, _ := lcsock.NewRegistry(lcsock.Config{})
	defer reg.Close()

	port, _ := reg.Accept(0, nil, "newConnection")
	reg.Open(addr+"|a", nil)
	reg.Open(addr+"|b", nil)
	// the openSockets: listeners by port, then sockets in the order opened
	fmt.Println(len(reg.OpenSockets()), reg.OpenSockets()[0] == strconv.Itoa(port))
	reg.CloseSocket(addr + "|a")
	fmt.Println(len(reg.OpenSockets()))
	// Output:
	// 3 true
	// 2
}

func ExampleRegistry_Close() {
	addr, stop := echoPeer()
	defer stop()
	reg, _ := lcsock.NewRegistry(lcsock.Config{})
	reg.Open(addr, nil)

	// Close ends everything at once; blocking calls return ErrClosed.
	reg.Close()
	_, err := reg.Read(context.Background(), addr, lcsock.Until("\n"))
	fmt.Println(len(reg.OpenSockets()), err != nil)
	// Output:
	// 0 true
}

func ExampleRegistry_Shutdown() {
	addr, stop := echoPeer()
	defer stop()
	reg, _ := lcsock.NewRegistry(lcsock.Config{})
	reg.Open(addr, nil)
	reg.Write(context.Background(), addr, nil) // waits for the connection
	reg.WriteWithMessage(addr, []byte("last words\n"), nil, "")

	// Shutdown flushes queued writes, then closes. (A socket still
	// connecting is not connected: its writes are dropped, case 66.)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	fmt.Println(reg.Shutdown(ctx))
	// Output:
	// <nil>
}

func ExampleRegistry_DispatchPending() {
	addr, stop := echoPeer()
	defer stop()
	reg, _ := lcsock.NewRegistry(lcsock.Config{Dispatch: lcsock.DispatchPumped})
	defer reg.Close()
	fmt.Println(reg.DispatchMode() == lcsock.DispatchPumped)

	fmt.Println(reg.DispatchPending()) // nothing queued: returns at once

	reg.Open(addr, nil)
	h := lcsock.HandlerFunc(func(ev lcsock.Event) { fmt.Printf("%s %q\n", ev.Name, ev.Data) })
	reg.WriteWithMessage(addr, []byte("ping\n"), nil, "")
	reg.ReadWithMessage(addr, lcsock.Until("\n"), h, "gotLine")
	// The line may come back at any moment; its handler runs only when
	// the host asks: Dispatch waits for it ("wait for messages"), and
	// DispatchPending then finds nothing left.
	n, _ := reg.Dispatch(context.Background())
	fmt.Println(n, reg.DispatchPending())
	// Output:
	// true
	// 0
	// gotLine "ping\n"
	// 1 0
}

func ExampleRegistry_HostAddress() {
	addr, stop := echoPeer()
	defer stop()
	reg, _ := lcsock.NewRegistry(lcsock.Config{})
	defer reg.Close()
	reg.Open(addr, nil)
	reg.Write(context.Background(), addr, nil) // waits for the connection

	local, _ := reg.HostAddress(addr)
	peer, _ := reg.PeerAddress(addr)
	fmt.Println(local, peer)
	// Output:
	// 127.0.0.1 127.0.0.1
}

func ExampleRegistry_HostAddressToName() {
	reg, _ := lcsock.NewRegistry(lcsock.Config{})
	defer reg.Close()
	// With no name on record, LiveCode gives the address back.
	name, err := reg.HostAddressToName(context.Background(), "192.0.2.1")
	fmt.Println(name, err)
	// Output:
	// 192.0.2.1 <nil>
}

func ExampleRegistry_SetDefaultInterface() {
	reg, _ := lcsock.NewRegistry(lcsock.Config{})
	defer reg.Close()
	// set the defaultNetworkInterface to "127.0.0.1": opens without a
	// From host, and accepts, use it
	fmt.Println(reg.SetDefaultInterface("127.0.0.1"), reg.DefaultInterface())
	fmt.Println(reg.SetDefaultInterface("not an address") != nil)
	// Output:
	// <nil> 127.0.0.1
	// true
}

func ExampleRegistry_SetCertificates() {
	reg, _ := lcsock.NewRegistry(lcsock.Config{})
	defer reg.Close()
	// set the sslCertificates: files or folders of PEM certificates
	// trusted, with the system roots, by verified TLS
	reg.SetCertificates([]string{"/etc/ssl/extra-ca.pem"})
	fmt.Println(reg.Certificates())
	// Output:
	// [/etc/ssl/extra-ca.pem]
}

func ExampleRegistry_TLSState() {
	cert, key, caPath, cleanup := exampleTLS()
	defer cleanup()
	reg, _ := lcsock.NewRegistry(lcsock.Config{Certificates: []string{caPath}})
	defer reg.Close()
	port, _ := reg.AcceptSecure(0, tlsEcho(reg), "newConnection", cert, key, lcsock.ALPN("lines/1"))

	id := "127.0.0.1:" + strconv.Itoa(port)
	reg.OpenSecure(id, nil, lcsock.ALPN("lines/1"))
	reg.Write(context.Background(), id, nil) // waits for the handshake
	st, err := reg.TLSState(id)
	fmt.Println(err, st.Version >= tls.VersionTLS12, st.NegotiatedProtocol)
	// Output:
	// <nil> true lines/1
}
