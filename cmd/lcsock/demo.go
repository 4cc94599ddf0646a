package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/lcsock/lcsock"
)

// demo runs an echo server and a client in one registry on loopback and
// prints every event as LiveCode would send it: the message name and its
// parameters.
func demo(ctx context.Context, out io.Writer) error {
	lines := []string{"hello\n", "from\n", "lcsock\n"}
	done := make(chan error, 1)
	var reg *lcsock.Registry
	var client string
	sent := 0
	print := func(who string, ev lcsock.Event) {
		line := fmt.Sprintf("%-6s %-13s %s", who, ev.Name, quoteAll(ev.Params()))
		if r := ev.Result(); r != "" {
			line += "   (the result: " + r + ")"
		}
		fmt.Fprintln(out, line)
	}
	// The server: every accepted socket echoes lines until the client closes.
	var server lcsock.HandlerFunc
	server = func(ev lcsock.Event) {
		print("server", ev)
		switch ev.Kind {
		case lcsock.EventAccepted:
			reg.ReadWithMessage(ev.Socket, lcsock.Until("\n"), server, "gotLine")
		case lcsock.EventRead:
			if ev.Err == nil {
				reg.WriteWithMessage(ev.Socket, ev.Data, nil, "")
				reg.ReadWithMessage(ev.Socket, lcsock.Until("\n"), server, "gotLine")
			}
		case lcsock.EventClosed:
			done <- nil
		case lcsock.EventError:
			done <- ev.Err
		}
	}
	// The client: send a line, read its echo, and close after the last.
	var cli lcsock.HandlerFunc
	cli = func(ev lcsock.Event) {
		print("client", ev)
		switch ev.Kind {
		case lcsock.EventConnected, lcsock.EventRead:
			if sent == len(lines) {
				reg.CloseSocket(client)
				return
			}
			reg.WriteWithMessage(client, []byte(lines[sent]), cli, "sent")
			reg.ReadWithMessage(client, lcsock.Until("\n"), cli, "gotEcho")
			sent++
		case lcsock.EventError:
			done <- ev.Err
		}
	}
	reg, err := lcsock.NewRegistry(lcsock.Config{})
	if err != nil {
		return err
	}
	defer reg.Close()
	port, err := reg.Accept(0, server, "newConnection")
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "accept connections on port 0 with message \"newConnection\" -> it = %d\n", port)
	client = "127.0.0.1:" + strconv.Itoa(port) + "|demo"
	fmt.Fprintf(out, "open socket to %q with message \"connected\"\n", client)
	if err := reg.Open(client, cli, lcsock.WithMessage("connected")); err != nil {
		return err
	}
	select {
	case err = <-done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	fmt.Fprintf(out, "openSockets: %s\n", quoteAll(reg.OpenSockets()))
	return err
}

func quoteAll(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = strconv.Quote(s)
	}
	return strings.Join(q, ", ")
}
