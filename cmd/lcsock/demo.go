package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/lcsock/lcsock"
)

// demo runs an echo server and a client in one registry on loopback and
// prints every event as LiveCode would send it: the message name and its
// parameters.
//
// The client's and the server's events race (connected and
// newConnection; each sent and the server's gotLine), so they are
// printed in the order of the conversation, the same every run, rather
// than as the handlers run.
func demo(ctx context.Context, out io.Writer) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	lines := []string{"hello\n", "from\n", "lcsock\n"}
	order := []string{"client connected", "server newConnection"}
	for range lines {
		order = append(order, "client sent", "server gotLine", "client gotEcho")
	}
	order = append(order, "server gotLine", "server socketClosed") // the end of stream
	type event struct{ key, text string }
	events := make(chan event, 4*len(order)) // never blocks a handler
	done := make(chan error, 1)
	var reg *lcsock.Registry
	var client string
	sent := 0
	print := func(who string, ev lcsock.Event) {
		line := fmt.Sprintf("%-6s %-13s %s", who, ev.Name, quoteAll(ev.Params()))
		if r := ev.Result(); r != "" {
			line += "   (the result: " + r + ")"
		}
		select {
		case events <- event{who + " " + ev.Name, line}:
		default:
		}
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
	var held []event // arrived, not yet printed
	for next := 0; next < len(order) && err == nil; {
		select {
		case ev := <-events:
			held = append(held, ev)
		case err = <-done:
		case <-ctx.Done():
			err = ctx.Err()
		}
		for i := 0; i < len(held) && next < len(order); i++ {
			if held[i].key == order[next] {
				fmt.Fprintln(out, held[i].text)
				held = append(held[:i], held[i+1:]...)
				i, next = -1, next+1 // the next one may have arrived already
			}
		}
	}
	for _, ev := range held { // after a failure: the rest as it arrived
		fmt.Fprintln(out, ev.text)
	}
	// The server's socket leaves openSockets once its socketClosed
	// handler has returned.
	for end := time.Now().Add(time.Second); err == nil && len(reg.OpenSockets()) > 1 && time.Now().Before(end); {
		time.Sleep(time.Millisecond)
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
