// Chat is a chat server in LiveCode's style: every "name: text" line a
// client sends goes to every other client.
//
//	go run ./examples/chat -port 7001
//
// The server keeps the IDs of the sockets it accepted, in the order they
// joined, and drops one at its socketClosed or socketError. Its handlers
// run one at a time on lcsock's dispatcher goroutine, as a LiveCode
// script runs, so that list needs no lock.
//
// Each line sent on is also printed to stdout; status goes to stderr.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/lcsock/lcsock"
	"github.com/lcsock/lcsock/examples/internal/cli"
)

const usage = `usage: chat [-port PORT]

Chat accepts TCP connections and sends each "name: text" line a client
sends to every other client. Stop it with Ctrl-C.

`

func main() { cli.Main("chat", run) }

// run is the program: it serves until ctx ends.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("chat", flag.ContinueOnError)
	port := fs.Int("port", 0, "TCP `port` to listen on; 0 picks a free one")
	if err := cli.Parse(fs, args, usage, stderr); err != nil {
		return err
	}
	if err := cli.Port(*port, 0); err != nil {
		return err
	}

	c := &chat{stdout: stdout, stderr: stderr}
	reg, err := lcsock.NewRegistry(lcsock.Config{})
	if err != nil {
		return err
	}
	defer reg.Close()
	c.reg = reg
	p, err := reg.Accept(*port, c, "newMember")
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "chat: listening on port %d\n", p)

	<-ctx.Done()
	fmt.Fprintln(stderr, "chat: shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return reg.Shutdown(sctx) // send what is queued, then close
}

// chat is the script of the server: the handler of its listener, and so
// of every socket it accepts.
type chat struct {
	reg            *lcsock.Registry
	members        []string // accepted socket IDs, in the order they joined
	stdout, stderr io.Writer
}

func (c *chat) HandleEvent(ev lcsock.Event) {
	switch ev.Kind {
	case lcsock.EventAccepted: // newMember id, port
		c.members = append(c.members, ev.Socket)
		fmt.Fprintf(c.stderr, "chat: %s joined (%d connected)\n", ev.Socket, len(c.members))
		c.reg.ReadWithMessage(ev.Socket, lcsock.Until("\n"), c, "gotLine")
	case lcsock.EventRead: // gotLine id, line
		if ev.EOF {
			if len(ev.Data) > 0 { // a last line without a line end
				c.say(ev.Socket, strings.TrimRight(string(ev.Data), "\r\n"))
			}
			return // the stream ended: socketClosed follows
		}
		if ev.Err != nil { // a line longer than Config.MaxReadBuffer
			c.reg.CloseSocket(ev.Socket)
			c.leave(ev.Socket, lcsock.ErrorText(ev.Err))
			return
		}
		c.say(ev.Socket, strings.TrimRight(string(ev.Data), "\r\n"))
		c.reg.ReadWithMessage(ev.Socket, lcsock.Until("\n"), c, "gotLine")
	case lcsock.EventClosed: // socketClosed id
		c.leave(ev.Socket, "left")
	case lcsock.EventError: // socketError id, text
		c.leave(ev.Socket, lcsock.ErrorText(ev.Err))
	}
}

// say sends a "name: text" line from one member to all the others.
func (c *chat) say(from, line string) {
	name, text, ok := strings.Cut(line, ": ")
	if !ok || name == "" || strings.TrimSpace(text) == "" {
		c.reg.WriteWithMessage(from, []byte(`chat: send lines of the form "name: text"`+"\n"), nil, "")
		return
	}
	fmt.Fprintln(c.stdout, line)
	msg := []byte(line + "\n")
	for _, m := range slices.Clone(c.members) {
		if m == from {
			continue
		}
		if err := c.reg.WriteWithMessage(m, msg, nil, ""); err != nil {
			// A member who reads nothing fills its write queue
			// (Config.MaxWriteQueue): drop it rather than buffer more.
			c.reg.CloseSocket(m)
			c.leave(m, lcsock.ErrorText(err))
		}
	}
}

// leave forgets a member, once.
func (c *chat) leave(id, why string) {
	n := len(c.members)
	c.members = slices.DeleteFunc(c.members, func(m string) bool { return m == id })
	if len(c.members) < n {
		fmt.Fprintf(c.stderr, "chat: %s %s (%d connected)\n", id, why, len(c.members))
	}
}
