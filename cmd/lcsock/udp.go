package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"time"

	"github.com/lcsock/lcsock"
)

// udpSend sends each line of stdin (without its line end) as a datagram
// to id and prints the replies that arrive until a second after the last
// line, or ctx ends. A socketError (the name does not resolve, the port
// is unreachable) is its error.
func udpSend(ctx context.Context, cfg lcsock.Config, id string, stdin io.Reader, stdout, stderr io.Writer) error {
	failed := make(chan error, 1) // the socket's one socketError
	cfg.Handler = lcsock.HandlerFunc(func(ev lcsock.Event) {
		switch ev.Kind {
		case lcsock.EventDatagram:
			fmt.Fprintf(stdout, "%s\n", ev.Data)
		case lcsock.EventError:
			select {
			case failed <- ev.Err:
			default:
			}
		}
	})
	reg, err := lcsock.NewRegistry(cfg)
	if err != nil {
		return err
	}
	defer reg.Close()
	if err := reg.OpenDatagram(id, nil, lcsock.WithMessage("reply")); err != nil {
		return err
	}
	// stdin is read on its own goroutine: Ctrl-C (ctx) ends the command
	// while it waits for a line, as a terminal's stdin never ends.
	lines := make(chan []byte)
	scanErr := make(chan error, 1)
	quit := make(chan struct{})
	defer close(quit)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdin)
		sc.Buffer(make([]byte, 64<<10), 64<<10)
		for sc.Scan() {
			select {
			case lines <- append([]byte(nil), sc.Bytes()...):
			case <-quit:
				return
			}
		}
		scanErr <- sc.Err()
	}()
read:
	for {
		select {
		case <-ctx.Done():
			return nil
		case line, ok := <-lines:
			if !ok {
				break read
			}
			if _, err := reg.Write(ctx, id, line); err != nil {
				// If the socket failed (port unreachable), its socketError
				// says why; it may still be on its way to the handler.
				select {
				case ferr := <-failed:
					return ferr
				case <-time.After(time.Second):
					return err
				}
			}
		}
	}
	if err := <-scanErr; err != nil {
		return err
	}
	select { // replies may still be on their way
	case <-time.After(time.Second):
	case err := <-failed:
		return err
	case <-ctx.Done():
	}
	return nil
}

// udpListen prints (or echoes) every datagram received on port.
func udpListen(ctx context.Context, cfg lcsock.Config, port int, echo bool, stdout, stderr io.Writer) error {
	var reg *lcsock.Registry
	cfg.Handler = lcsock.HandlerFunc(func(ev lcsock.Event) {
		if ev.Kind != lcsock.EventDatagram {
			return
		}
		if echo {
			reg.WriteWithMessage(ev.Socket, ev.Data, nil, "")
			return
		}
		fmt.Fprintf(stdout, "%s: %s\n", ev.Socket, ev.Data)
	})
	reg, err := lcsock.NewRegistry(cfg)
	if err != nil {
		return err
	}
	defer reg.Close()
	port, err = reg.AcceptDatagram(port, nil, "datagram")
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "lcsock: receiving datagrams on port %d\n", port)
	<-ctx.Done()
	return nil
}
