// Udpdiscovery finds services on the local network with UDP datagrams.
// A responder listens on a port and answers each "WHO?" datagram with
// "HERE name port"; a seeker sends "WHO?" to one host, or to every host
// on the network with -broadcast, and prints the answers that arrive
// before a timeout.
//
//	go run ./examples/udpdiscovery respond -name alpha     # terminal 1
//	go run ./examples/udpdiscovery seek -broadcast         # terminal 2
//
// The seeker is LiveCode's
//
//	accept datagram connections on port 0 with message "gotAnswer"
//	set the allowDatagramBroadcasts to true
//	open datagram socket from (":" & it) to "255.255.255.255:7400" with message "gotAnswer"
//	write "WHO?" to socket "255.255.255.255:7400"
//
// The answers come back to the port the question was sent from, from the
// responders' own addresses; an opened datagram socket takes datagrams
// from its peer only, so the listener on that port is what receives
// them. Answers go to stdout as "name host:port"; status goes to stderr.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/lcsock/lcsock"
	"github.com/lcsock/lcsock/examples/internal/cli"
)

const usage = `usage:
  udpdiscovery respond [-port PORT] [-name NAME]
  udpdiscovery seek [-port PORT] [-to HOST | -broadcast] [-wait DURATION] [-n COUNT]

A responder answers "WHO?" datagrams on PORT with "HERE NAME PORT" until
stopped with Ctrl-C. A seeker asks HOST, or every host on the network, and
prints "NAME HOST:PORT" for each answer.
`

const defaultPort = 7400

func main() { cli.Main("udpdiscovery", run) }

// run is the program.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return cli.Usagef("respond or seek? (see -h)")
	}
	switch args[0] {
	case "respond":
		return respond(ctx, args[1:], stderr)
	case "seek":
		return seek(ctx, args[1:], stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stderr, usage)
		return flag.ErrHelp
	}
	return cli.Usagef("unknown command %q: respond or seek", args[0])
}

// respond answers "WHO?" on a port until ctx ends.
func respond(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("respond", flag.ContinueOnError)
	port := fs.Int("port", defaultPort, "UDP `port` to answer on; 0 picks a free one")
	name := fs.String("name", "", "the `name` to answer with (default: the host name)")
	if err := cli.Parse(fs, args, usage, stderr); err != nil {
		return err
	}
	if err := cli.Port(*port, 0); err != nil {
		return err
	}
	if *name == "" {
		*name, _ = lcsock.HostName()
	}
	if *name == "" || strings.ContainsAny(*name, " \t\r\n") {
		return cli.Usagef("-name %q: want one word", *name)
	}

	var reg *lcsock.Registry
	// Each sender gets a socket in OpenSockets. Forget a sender once it
	// has been quiet for a while, not right after answering: datagrams it
	// sent meanwhile are already queued as events naming that socket, and
	// their answers would find it closed.
	lastHeard := make(map[string]time.Time) // handlers run one at a time: no lock
	h := lcsock.HandlerFunc(func(ev lcsock.Event) {
		if ev.Kind != lcsock.EventDatagram { // gotQuestion sender, data, port
			return
		}
		now := time.Now()
		lastHeard[ev.Socket] = now
		for id, t := range lastHeard {
			if now.Sub(t) > forgetAfter {
				reg.CloseSocket(id) // the listener stays open
				delete(lastHeard, id)
			}
		}
		if strings.TrimSpace(string(ev.Data)) == "WHO?" {
			fmt.Fprintf(stderr, "udpdiscovery: %s asked\n", ev.Socket)
			answer := "HERE " + *name + " " + ev.Listener            // the listener's port
			reg.WriteWithMessage(ev.Socket, []byte(answer), nil, "") // one datagram, sent at once
		}
	})
	reg, err := lcsock.NewRegistry(lcsock.Config{Handler: h})
	if err != nil {
		return err
	}
	defer reg.Close()
	p, err := reg.AcceptDatagram(*port, nil, "gotQuestion")
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "udpdiscovery: %s answering on port %d\n", *name, p)
	<-ctx.Done()
	return nil
}

// seek asks, and prints the answers until -wait passes or -n have come.
func seek(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("seek", flag.ContinueOnError)
	port := fs.Int("port", defaultPort, "the responders' UDP `port`")
	to := fs.String("to", "", "the `host` to ask (default 127.0.0.1, or 255.255.255.255 with -broadcast)")
	broadcast := fs.Bool("broadcast", false, "allow a broadcast address in -to, and default to 255.255.255.255")
	wait := fs.Duration("wait", time.Second, "how long to wait for answers")
	count := fs.Int("n", 0, "stop after this many answers (0: wait the whole time)")
	if err := cli.Parse(fs, args, usage, stderr); err != nil {
		return err
	}
	if err := cli.Port(*port, 1); err != nil {
		return err
	}
	if *wait <= 0 || *count < 0 {
		return cli.Usagef("-wait must be positive and -n not negative")
	}
	switch {
	case *to != "":
	case *broadcast:
		*to = "255.255.255.255"
	default:
		*to = "127.0.0.1"
	}
	if _, err := lcsock.ParseID(lcsock.MakeID(*to, *port, "").String()); err != nil {
		return cli.Usagef("-to %q: %v", *to, err)
	}
	if strings.Contains(*to, "|") { // the ID would name the socket, and ask port 80
		return cli.Usagef("-to %q: want a host", *to)
	}

	var found atomic.Int64
	enough := make(chan struct{})
	failed := make(chan error, 1)
	h := lcsock.HandlerFunc(func(ev lcsock.Event) {
		switch ev.Kind {
		case lcsock.EventDatagram: // gotAnswer sender, data, socket
			name, port, ok := parseAnswer(string(ev.Data))
			sender, err := lcsock.ParseID(ev.Socket)
			if !ok || err != nil {
				fmt.Fprintf(stderr, "udpdiscovery: ignoring %q from %s\n", ev.Data, ev.Socket)
				return
			}
			fmt.Fprintf(stdout, "%s %s\n", name, net.JoinHostPort(sender.Host, port))
			if found.Add(1) == int64(*count) {
				close(enough)
			}
		case lcsock.EventError: // socketError id, text: nobody on a unicast port, say
			select {
			case failed <- ev.Err:
			default:
			}
		}
	})
	reg, err := lcsock.NewRegistry(lcsock.Config{Handler: h})
	if err != nil {
		return err
	}
	defer reg.Close()
	local, err := reg.AcceptDatagram(0, nil, "gotAnswer")
	if err != nil {
		return err
	}
	id := net.JoinHostPort(*to, strconv.Itoa(*port)) + "|seek"
	opts := []lcsock.Option{lcsock.From(":" + strconv.Itoa(local)), lcsock.WithMessage("gotAnswer")}
	if *broadcast {
		opts = append(opts, lcsock.Broadcast(true)) // LiveCode's allowDatagramBroadcasts
	}
	if err := reg.OpenDatagram(id, nil, opts...); err != nil {
		return err
	}
	err = reg.WriteWithMessage(id, []byte("WHO?"), nil, "")
	if err != nil && !errors.Is(err, lcsock.ErrSocketNotOpen) {
		return err
	} // not open: the open failed already, and its socketError says why
	fmt.Fprintf(stderr, "udpdiscovery: asked %s from port %d\n", id, local)

	timer := time.NewTimer(*wait)
	defer timer.Stop()
	select {
	case <-enough:
	case <-timer.C:
	case err := <-failed:
		return err
	case <-ctx.Done():
	}
	if found.Load() == 0 {
		return fmt.Errorf("no answer within %v", *wait)
	}
	return nil
}

// forgetAfter is how long respond keeps the socket of a quiet sender.
const forgetAfter = 10 * time.Second

// parseAnswer parses "HERE name port".
func parseAnswer(s string) (name, port string, ok bool) {
	f := strings.Fields(s)
	if len(f) != 3 || f[0] != "HERE" {
		return "", "", false
	}
	if n, err := strconv.Atoi(f[2]); err != nil || n < 1 || n > 65535 {
		return "", "", false
	}
	return f[1], f[2], true
}
