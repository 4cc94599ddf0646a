// Lineclient sends one message with an SMTP-like line protocol: it reads
// the server's greeting, then says HELO, MAIL FROM, RCPT TO and DATA,
// sends the message and a line holding a lone ".", and QUITs. Each reply
// is a line "NNN text" ending in CRLF, or several lines "NNN-text" and a
// last "NNN text"; a reply whose code does not start with the digit the
// step expects (2, or 3 after DATA) ends the dialogue.
//
//	go run ./examples/lineclient -addr 127.0.0.1:2525 -to bob@example.org -body 'Hi Bob'
//
// The dialogue is event-driven, as a LiveCode script would write it:
// every reply arrives as a "gotReply" read event, whose handler sends the
// next command and reads the next reply. The transcript goes to stdout,
// "C: " lines sent and "S: " lines received; status to stderr.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/lcsock/lcsock"
	"github.com/lcsock/lcsock/examples/internal/cli"
)

const usage = `usage: lineclient -addr HOST:PORT [-from ADDR] [-to ADDR] [-body TEXT]

Lineclient sends one message to an SMTP-like server and prints the
dialogue.

`

func main() { cli.Main("lineclient", run) }

// run is the program.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("lineclient", flag.ContinueOnError)
	addr := fs.String("addr", "", "the server's `host:port`")
	helo := fs.String("helo", "localhost", "the `name` this client gives in HELO")
	from := fs.String("from", "alice@example.org", "the sender's `address`")
	to := fs.String("to", "bob@example.org", "the recipient's `address`")
	body := fs.String("body", "Hello from lcsock.", "the message `text`")
	timeout := fs.Duration("timeout", lcsock.DefaultTimeoutInterval, "how long to wait for each reply")
	if err := cli.Parse(fs, args, usage, stderr); err != nil {
		return err
	}
	if err := cli.Addr(*addr); err != nil {
		return err
	}
	if *timeout <= 0 {
		return cli.Usagef("-timeout %v: must be positive", *timeout)
	}

	c := &client{
		id:   *addr + "|smtp",
		out:  stdout,
		done: make(chan error, 1),
		steps: []step{
			{"greeting", "", '2'},
			{"HELO", "HELO " + *helo, '2'},
			{"MAIL", "MAIL FROM:<" + *from + ">", '2'},
			{"RCPT", "RCPT TO:<" + *to + ">", '2'},
			{"DATA", "DATA", '3'},
			{"message", message(*from, *to, *body), '2'},
			{"QUIT", "QUIT", '2'},
		},
	}
	reg, err := lcsock.NewRegistry(lcsock.Config{Handler: c, TimeoutInterval: *timeout})
	if err != nil {
		return err
	}
	defer reg.Close()
	c.reg = reg
	if err := reg.Open(c.id, nil, lcsock.WithMessage("connected")); err != nil {
		return err
	}
	select {
	case err = <-c.done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err == nil {
		fmt.Fprintln(stderr, "lineclient: message sent")
	}
	return err
}

// A step is a command and the first digit of the reply code it needs.
type step struct {
	name string
	send string // "" sends nothing: the greeting
	want byte
}

// client is the script of the socket: every event of the dialogue comes
// to HandleEvent, on lcsock's dispatcher goroutine, one at a time.
type client struct {
	reg   *lcsock.Registry
	id    string
	steps []step // the step whose reply is awaited, then the rest
	out   io.Writer
	done  chan error // the outcome; the first one counts
}

func (c *client) HandleEvent(ev lcsock.Event) {
	switch ev.Kind {
	case lcsock.EventConnected: // connected id
		c.next()
	case lcsock.EventRead: // gotReply id, line
		c.gotReply(ev)
	case lcsock.EventTimeout: // socketTimeout id
		c.fail(fmt.Errorf("no reply within %v", c.reg.TimeoutInterval()))
	case lcsock.EventClosed: // socketClosed id
		c.fail(errors.New("the server closed the connection"))
	case lcsock.EventError: // socketError id, text
		c.finish(ev.Err)
	}
}

// next sends the command of the current step and reads its reply.
func (c *client) next() {
	if cmd := c.steps[0].send; cmd != "" {
		for line := range strings.SplitSeq(cmd, "\r\n") {
			fmt.Fprintf(c.out, "C: %s\n", line)
		}
		c.reg.WriteWithMessage(c.id, []byte(cmd+"\r\n"), nil, "")
	}
	c.reg.ReadWithMessage(c.id, lcsock.Until("\r\n"), nil, "gotReply")
}

// gotReply handles one line of a reply.
func (c *client) gotReply(ev lcsock.Event) {
	if ev.EOF { // the stream ended first
		c.fail(errors.New("the server closed the connection"))
		return
	}
	if ev.Err != nil { // a line longer than Config.MaxReadBuffer
		c.fail(errors.New(lcsock.ErrorText(ev.Err)))
		return
	}
	line := strings.TrimSuffix(string(ev.Data), "\r\n")
	fmt.Fprintf(c.out, "S: %s\n", line)
	if len(line) < 3 || strings.Trim(line[:3], "0123456789") != "" {
		c.fail(fmt.Errorf("not a reply: %q", line))
		return
	}
	if len(line) > 3 && line[3] == '-' { // "250-...": more lines follow
		c.reg.ReadWithMessage(c.id, lcsock.Until("\r\n"), nil, "gotReply")
		return
	}
	if line[0] != c.steps[0].want {
		c.fail(fmt.Errorf("the server replied %q", line))
		return
	}
	c.steps = c.steps[1:]
	if len(c.steps) == 0 {
		c.finish(nil)
		return
	}
	c.next()
}

// fail ends the dialogue with err, about the current step; after the
// last step (the server closes after QUIT) it does nothing.
func (c *client) fail(err error) {
	if len(c.steps) > 0 {
		c.finish(fmt.Errorf("%s: %w", c.steps[0].name, err))
	}
}

// finish reports the outcome; later ones are dropped.
func (c *client) finish(err error) {
	select {
	case c.done <- err:
	default:
	}
}

// message returns the DATA section: headers, a blank line, the body with
// CRLF line ends and each line that starts with "." given another one,
// and the lone "." that ends it.
func message(from, to, body string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "From: <%s>\r\nTo: <%s>\r\nSubject: lcsock\r\n\r\n", from, to)
	for line := range strings.SplitSeq(lcsock.ConvertString(body, lcsock.LF), "\n") {
		if strings.HasPrefix(line, ".") {
			line = "." + line
		}
		b.WriteString(line + "\r\n")
	}
	b.WriteString(".")
	return b.String()
}
