package lcsock_test

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/lcsock/lcsock"
)

// echoPeer is a plain Go echo server for the examples; it returns the
// address to dial.
func echoPeer() (string, func()) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 4096)
				for {
					n, err := c.Read(buf)
					if err != nil {
						return
					}
					c.Write(buf[:n])
				}
			}()
		}
	}()
	return ln.Addr().String(), func() { ln.Close() }
}

func ExampleRegistry_Open() {
	addr, stop := echoPeer()
	defer stop()
	reg, _ := lcsock.NewRegistry(lcsock.Config{})
	defer reg.Close()

	// The handler runs on the dispatcher goroutine, maybe before the
	// Println below: it hands the event over, and this goroutine prints.
	connected := make(chan lcsock.Event, 1)
	// open socket to "127.0.0.1:port|web" with message "connected"
	if err := reg.Open(addr+"|web", notify(connected), lcsock.WithMessage("connected")); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("listed at once:", len(reg.OpenSockets()) == 1)
	ev := <-connected
	fmt.Println(ev.Name, len(ev.Params()), "param")
	// Output:
	// listed at once: true
	// connected 1 param
}

func ExampleRegistry_Write() {
	addr, stop := echoPeer()
	defer stop()
	reg, _ := lcsock.NewRegistry(lcsock.Config{})
	defer reg.Close()
	reg.Open(addr, nil)

	// write "hello" to socket addr — queued until connected, then sent
	n, err := reg.Write(context.Background(), addr, []byte("hello\n"))
	fmt.Println(n, err)
	line, err := reg.Read(context.Background(), addr, lcsock.Until("\n"))
	fmt.Printf("%q %v\n", line, err)
	// Output:
	// 6 <nil>
	// "hello\n" <nil>
}

func ExampleRegistry_Read() {
	addr, stop := echoPeer()
	defer stop()
	reg, _ := lcsock.NewRegistry(lcsock.Config{})
	defer reg.Close()
	reg.Open(addr, nil)
	ctx := context.Background()
	reg.Write(ctx, addr, []byte("HEAD\r\n\r\nabcdef,1,2,\x00\x01\x01\x02"))

	header, _ := reg.Read(ctx, addr, lcsock.Until("\r\n\r\n"))   // read from socket ... until CRLF & CRLF
	four, _ := reg.Read(ctx, addr, lcsock.For(4, lcsock.Chars))  // ... for 4 chars
	items, _ := reg.Read(ctx, addr, lcsock.For(3, lcsock.Items)) // ... for 3 items
	nums, _ := reg.Read(ctx, addr, lcsock.For(2, lcsock.UInt2))  // ... for 2 uint2s
	fmt.Printf("%q %q %q %s\n", header, four, items, lcsock.FormatChunks(nums, lcsock.UInt2))
	// Output:
	// "HEAD\r\n\r\n" "abcd" "ef,1,2," 1,258
}

func ExampleRegistry_ReadWithMessage() {
	addr, stop := echoPeer()
	defer stop()
	got := make(chan lcsock.Event, 1)
	reg, _ := lcsock.NewRegistry(lcsock.Config{Handler: lcsock.HandlerFunc(func(ev lcsock.Event) { got <- ev })})
	defer reg.Close()
	reg.Open(addr, nil)
	// read from socket addr for 2 lines with message "gotLines"
	reg.ReadWithMessage(addr, lcsock.For(2, lcsock.Lines), nil, "gotLines")
	reg.WriteWithMessage(addr, []byte("one\ntwo\nthree\n"), nil, "")
	ev := <-got
	fmt.Printf("%s %q\n", ev.Name, ev.Params()[1])
	// Output:
	// gotLines "one\ntwo\n"
}

func ExampleRegistry_WriteWithMessage() {
	addr, stop := echoPeer()
	defer stop()
	got := make(chan lcsock.Event, 1)
	reg, _ := lcsock.NewRegistry(lcsock.Config{Handler: lcsock.HandlerFunc(func(ev lcsock.Event) { got <- ev })})
	defer reg.Close()
	reg.Open(addr+"|w", nil)
	// write "ping" to socket ... with message "sent"
	reg.WriteWithMessage(addr+"|w", []byte("ping"), nil, "sent")
	ev := <-got
	fmt.Println(ev.Kind, ev.Name, ev.Params()[0] == addr+"|w")
	// Output:
	// written sent true
}

func ExampleRegistry_CloseSocket() {
	addr, stop := echoPeer()
	defer stop()
	reg, _ := lcsock.NewRegistry(lcsock.Config{})
	defer reg.Close()
	reg.Open(addr+"|a", nil)
	reg.Open(addr+"|b", nil)
	fmt.Println(len(reg.OpenSockets()))
	fmt.Println(reg.CloseSocket(addr + "|a"))
	fmt.Println(len(reg.OpenSockets()))
	fmt.Println(lcsock.ErrorText(reg.CloseSocket(addr + "|a")))
	// Output:
	// 2
	// <nil>
	// 1
	// socket is not open
}

func ExampleRegistry_Accept() {
	reg, _ := lcsock.NewRegistry(lcsock.Config{})
	defer reg.Close()
	accepted := make(chan lcsock.Event, 1)
	// accept connections on port 0 with message "newConnection"
	port, err := reg.Accept(0, lcsock.HandlerFunc(func(ev lcsock.Event) { accepted <- ev }), "newConnection")
	if err != nil {
		fmt.Println(err)
		return
	}
	c, _ := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port))
	defer c.Close()
	ev := <-accepted
	fmt.Println(ev.Name, ev.Params()[0] == c.LocalAddr().String(), ev.Params()[1] == strconv.Itoa(port))
	fmt.Println(reg.OpenSockets()[0] == strconv.Itoa(port))
	// Output:
	// newConnection true true
	// true
}

func ExampleRegistry_Dispatch() {
	addr, stop := echoPeer()
	defer stop()
	reg, _ := lcsock.NewRegistry(lcsock.Config{Dispatch: lcsock.DispatchPumped})
	defer reg.Close()
	h := lcsock.HandlerFunc(func(ev lcsock.Event) { fmt.Println("handled", ev.Name) })
	reg.Open(addr, h, lcsock.WithMessage("connected"))
	// wait for messages: the handler runs here, on this goroutine
	n, err := reg.Dispatch(context.Background())
	fmt.Println(n, err)
	// Output:
	// handled connected
	// 1 <nil>
}

func ExampleRegistry_SetTimeoutInterval() {
	addr, stop := echoPeer()
	defer stop()
	reg, _ := lcsock.NewRegistry(lcsock.Config{})
	defer reg.Close()
	reg.SetTimeoutInterval(20 * time.Millisecond) // set the socketTimeoutInterval to 20
	reg.Open(addr, nil)
	_, err := reg.Read(context.Background(), addr, lcsock.For(1, lcsock.Chars))
	fmt.Println(lcsock.ErrorText(err))
	// Output:
	// timeout
}

func ExampleRegistry_CloseWrite() {
	addr, stop := echoPeer()
	defer stop()
	reg, _ := lcsock.NewRegistry(lcsock.Config{})
	defer reg.Close()
	reg.Open(addr, nil)
	reg.WriteWithMessage(addr, []byte("last"), nil, "")
	reg.CloseWrite(addr) // the echo peer sees end of stream and closes
	data, err := reg.Read(context.Background(), addr, lcsock.UntilEOF())
	fmt.Printf("%q %v\n", data, err)
	// Output:
	// "last" <nil>
}

func ExampleRegistry_PeerAddress() {
	addr, stop := echoPeer()
	defer stop()
	reg, _ := lcsock.NewRegistry(lcsock.Config{})
	defer reg.Close()
	reg.Open(addr, nil)
	reg.Write(context.Background(), addr, nil) // waits for the connection
	peer, _ := reg.PeerAddress(addr)
	local, _ := reg.HostAddress(addr)
	_, err := reg.PeerAddress("nope:1")
	fmt.Println(peer, local, err)
	// Output:
	// 127.0.0.1 127.0.0.1 not an open socket
}

func ExampleRegistry_Stats() {
	addr, stop := echoPeer()
	defer stop()
	reg, _ := lcsock.NewRegistry(lcsock.Config{})
	defer reg.Close()
	reg.Open(addr, nil)
	reg.Write(context.Background(), addr, []byte("12345"))
	reg.Read(context.Background(), addr, lcsock.For(5, lcsock.Chars))
	st, _ := reg.Stats(addr)
	fmt.Println(st.State, st.BytesOut, st.BytesIn)
	// Output:
	// open 5 5
}

func ExampleParseID() {
	for _, s := range []string{"example.org:80|web", "[::1]:8080|six", "localhost", "127.0.0.1:http", "h:70000"} {
		id, err := lcsock.ParseID(s)
		if err != nil {
			fmt.Println(lcsock.ErrorText(err))
			continue
		}
		fmt.Printf("host=%s port=%d name=%q\n", id.Host, id.Port, id.Name)
	}
	// Output:
	// host=example.org port=80 name="web"
	// host=::1 port=8080 name="six"
	// host=localhost port=80 name=""
	// host=127.0.0.1 port=80 name=""
	// not a valid port
}

func ExampleSameID() {
	fmt.Println(lcsock.SameID("Example.org:80|Web", "example.org:80|web")) // case-insensitive
	fmt.Println(lcsock.SameID("example.org:80", "example.org:http"))       // the whole ID, as written
	// Output:
	// true
	// false
}

func ExampleFormatChunks() {
	fmt.Println(lcsock.FormatChunks([]byte{0, 1, 0xff, 0xfe}, lcsock.UInt2))
	fmt.Println(lcsock.FormatChunks([]byte{0, 1, 0xff, 0xfe}, lcsock.Int2))
	fmt.Println(lcsock.FormatChunks([]byte{0xff, 7}, lcsock.Int1))
	// Output:
	// 1,65534
	// 1,-2
	// -1,7
}

func ExampleEvent_Params() {
	ev := lcsock.Event{Kind: lcsock.EventError, Name: "socketError", Socket: "h:1|a", Err: &lcsock.OpError{Op: "open", Socket: "h:1|a", Err: lcsock.ErrResolve}}
	fmt.Printf("%s %q\n", ev.Name, ev.Params())
	// Output:
	// socketError ["h:1|a" "can't resolve hostname"]
}
