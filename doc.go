// Package lcsock brings LiveCode's socket model to Go: sockets named by
// IDs such as "host:port|name", opened in the background, writes queued
// until the connection is up, reads until a delimiter or for N chars,
// lines, items, words or binary chunks, listeners that name accepted
// connections after their peer, and every outcome — connected, read,
// written, socketClosed, socketError, socketTimeout — delivered as an
// [Event] to the [Handler] that asked for it.
//
// A [Registry] owns the sockets of one program, as one LiveCode engine
// does:
//
//	reg, err := lcsock.NewRegistry(lcsock.Config{})
//	if err != nil { ... }
//	defer reg.Close()
//
//	h := lcsock.HandlerFunc(func(ev lcsock.Event) {
//		switch ev.Kind {
//		case lcsock.EventConnected: // open socket ... with message "connected"
//			reg.WriteWithMessage(ev.Socket, []byte("GET / HTTP/1.0\r\n\r\n"), nil, "")
//			reg.ReadWithMessage(ev.Socket, lcsock.Until("\r\n\r\n"), nil, "gotHeader")
//		case lcsock.EventRead:
//			fmt.Printf("%s sent %q\n", ev.Socket, ev.Data)
//		case lcsock.EventError, lcsock.EventClosed:
//			fmt.Println(ev.Name, ev.Params())
//		}
//	})
//	reg.Open("example.org:80|web", h, lcsock.WithMessage("connected"))
//
// # Events
//
// Every verb returns at once unless it is one of the blocking forms
// ([Registry.Read], [Registry.Write]) that take a context. What happens
// later arrives as an Event. Its Name is the message LiveCode would send
// and [Event.Params] its parameters, so an interpreter can forward events
// to scripts by name. The handler given to Open or Accept receives the
// socket's life-cycle events (socketClosed, socketError, socketTimeout);
// the handler given to a read or write receives that request's completion.
// A nil handler (or a nil HandlerFunc) means Config.Handler.
//
// By default ([DispatchSerial]) one goroutine per registry calls the
// handlers one at a time, in the order things happened, as LiveCode's
// single script thread does; a handler may call any verb, including
// closing its own socket. With [DispatchPumped] events wait until the
// host calls [Registry.Dispatch] or [Registry.DispatchPending] on its own
// goroutine — LiveCode's "wait for messages", for interpreters.
//
// # Go interop
//
// [Registry.Conn] gives a net.Conn view of a TCP socket, for bufio,
// net/http or crypto/tls; it passes golang.org/x/net/nettest.TestConn.
// [Registry.Adopt] turns a connection made elsewhere (an HTTP hijack, a
// net.Pipe) into a socket with every verb and event. Config.LendReadData
// makes read events lend lcsock's buffer to the handler instead of
// copying, for bulk transfers.
//
// # Limits
//
// Every buffer is bounded: Config.MaxReadBuffer bounds the unread input
// of a socket (when full, lcsock stops reading and TCP pushes back on the
// peer; an until-read that finds no delimiter in it fails with
// [ErrBufferFull] and keeps the data), and Config.MaxWriteQueue bounds
// the asynchronous writes queued (over it, ErrBufferFull and nothing is
// queued). The event queue is fed only by bounded sources: one event per
// read or write request, one connected and one final event per socket,
// and at most one undelivered socketTimeout per socket.
//
// # Goroutines
//
// Each connected socket has one reader goroutine (which also dials), a
// writer goroutine only while writes are queued, and each listener one
// accept goroutine; a registry has one dispatcher goroutine in serial
// mode. Timers use time.AfterFunc, whose goroutines last only while they
// run. A reader or writer goroutine whose work ends waits for the next
// socket's until the registry closes (at most 64 wait per registry), so
// that sockets opened and closed in quick succession reuse goroutines
// whose stacks have already grown. An open racing the IPv6 and IPv4
// addresses of a dual-stack host runs two more until the race ends, as
// net.Dialer does, and each
// [Registry.HostNameToAddressWithMessage] one until its answer. No
// goroutine outlives [Registry.Close] — except when Close is called from
// a TLS callback during a handshake (or a TLS 1.2 renegotiation): the
// goroutine running it, and those Close would wait for, exit once the
// callback has returned.
//
// # Errors
//
// Errors are *[OpError] values that unwrap to sentinels such as
// [ErrSocketNotOpen], [ErrTimeout] and [ErrClosed]. Where the LiveCode
// engine has a fixed text (for example "socket is not open"), the
// sentinel's text is that text, and [ErrorText] gives what LiveCode puts
// in "the result". io.EOF is returned unwrapped.
package lcsock
