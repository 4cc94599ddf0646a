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
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/lcsock/lcsock"
	"github.com/lcsock/lcsock/examples/internal/cli"
)

const usage = `usage: echo [-port PORT]

Echo accepts TCP connections and sends every line back to its sender.
Stop it with Ctrl-C.

`

func main() { cli.Main("echo", run) }

// run is the program: it serves until ctx ends.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("echo", flag.ContinueOnError)
	port := fs.Int("port", 0, "TCP `port` to listen on; 0 picks a free one")
	if err := cli.Parse(fs, args, usage, stderr); err != nil {
		return err
	}
	if err := cli.Port(*port, 0); err != nil {
		return err
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
				if err := reg.WriteWithMessage(ev.Socket, ev.Data, nil, ""); err != nil {
					// A client that reads nothing fills its write queue
					// (Config.MaxWriteQueue): drop it rather than a line.
					fmt.Fprintf(stderr, "echo: %s: %s\n", ev.Socket, lcsock.ErrorText(err))
					reg.CloseSocket(ev.Socket)
					return
				}
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
