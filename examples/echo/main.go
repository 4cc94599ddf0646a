// Echo is a line echo server in LiveCode's style: it accepts connections
// and sends every line back to the client that sent it.
//
//	go run ./examples/echo -port 7000
//
// The LiveCode script it follows:
//
//	accept connections on port 7000 with message "newConnection"
//	on newConnection pSocket
//	  read from socket pSocket until LF with message "gotLine"
//	end newConnection
//	on gotLine pSocket, pLine
//	  write pLine to socket pSocket
//	  read from socket pSocket until LF with message "gotLine"
//	end gotLine
//
// Each line is also printed to stdout, after the client's ID; status goes
// to stderr.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/lcsock/lcsock"
)

const usage = `usage: echo [-port PORT]

Echo accepts TCP connections and sends every line back to its sender.
Stop it with Ctrl-C.

`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "echo:", err)
		var u usageError
		if errors.As(err, &u) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// usageError is an error in the command line.
type usageError struct{ error }

// run is the program: it serves until ctx ends.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("echo", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // main reports errors, on one line
	port := fs.Int("port", 0, "TCP `port` to listen on; 0 picks a free one")
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stderr, usage)
		fs.SetOutput(stderr)
		fs.PrintDefaults()
		return err
	} else if err != nil {
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	if *port < 0 || *port > 65535 {
		return usageError{fmt.Errorf("-port %d: not a port number (0-65535)", *port)}
	}

	// The handler is the script of the server. With the default serial
	// dispatch, lcsock calls it on one goroutine, one event at a time.
	var reg *lcsock.Registry
	h := lcsock.HandlerFunc(func(ev lcsock.Event) {
		switch ev.Kind {
		case lcsock.EventAccepted: // newConnection id, port
			fmt.Fprintf(stderr, "echo: %s connected\n", ev.Socket)
			reg.ReadWithMessage(ev.Socket, lcsock.Until("\n"), nil, "gotLine")
		case lcsock.EventRead: // gotLine id, line
			if len(ev.Data) > 0 {
				fmt.Fprintf(stdout, "%s %s\n", ev.Socket, strings.TrimRight(string(ev.Data), "\r\n"))
				reg.WriteWithMessage(ev.Socket, ev.Data, nil, "")
			}
			switch {
			case ev.Err == nil:
				reg.ReadWithMessage(ev.Socket, lcsock.Until("\n"), nil, "gotLine")
			case !ev.EOF: // a line longer than Config.MaxReadBuffer
				fmt.Fprintf(stderr, "echo: %s: %s\n", ev.Socket, lcsock.ErrorText(ev.Err))
				reg.CloseSocket(ev.Socket)
			} // else the stream ended: socketClosed follows
		case lcsock.EventClosed: // socketClosed id
			fmt.Fprintf(stderr, "echo: %s closed\n", ev.Socket)
		case lcsock.EventError: // socketError id, text
			fmt.Fprintf(stderr, "echo: %s: %s\n", ev.Socket, lcsock.ErrorText(ev.Err))
		}
	})
	reg, err := lcsock.NewRegistry(lcsock.Config{Handler: h})
	if err != nil {
		return err
	}
	defer reg.Close()
	p, err := reg.Accept(*port, nil, "newConnection")
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "echo: listening on port %d\n", p)

	<-ctx.Done()
	fmt.Fprintln(stderr, "echo: shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return reg.Shutdown(sctx) // send what is queued, then close
}
