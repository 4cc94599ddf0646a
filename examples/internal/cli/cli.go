// Package cli is the command-line plumbing the example programs share, so
// that each example's main.go shows lcsock and little else: main's exit
// statuses and one-line errors, flag parsing with -h, and port checks.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"

	"github.com/lcsock/lcsock"
)

// A Run function is an example program: it runs until it is done or ctx
// ends (Ctrl-C), writing to stdout and stderr.
type Run func(ctx context.Context, args []string, stdout, stderr io.Writer) error

// Main runs run with the command line and exits as a command does: 0 on
// success or -h, 2 on a usage error, 1 on any other error, reported on
// one line of stderr after the program's name.
func Main(name string, run Run) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if line, code := report(ctx, name, err); code != 0 {
		fmt.Fprintln(os.Stderr, line)
		os.Exit(code)
	}
}

// report returns the line Main prints for run's error and the exit
// status: none and 0 on success or -h; 2 for a usage error; 1 otherwise,
// with "interrupted" for a program that Ctrl-C (ctx) cut short, rather
// than "context canceled". The line is one line, also for joined errors
// (a TLS failure and its cause).
func report(ctx context.Context, name string, err error) (string, int) {
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return "", 0
	case errors.As(err, new(usageError)):
		return name + ": " + oneLine(err), 2
	case ctx.Err() != nil && errors.Is(err, context.Canceled):
		return name + ": interrupted", 1
	}
	return name + ": " + oneLine(err), 1
}

func oneLine(err error) string { return strings.ReplaceAll(err.Error(), "\n", "; ") }

// usageError is an error in the command line.
type usageError struct{ error }

// Usagef returns an error in the command line: Main exits 2.
func Usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// Parse parses args into fs, which takes no positional arguments. With -h
// it prints usage and fs's flags to stderr and returns flag.ErrHelp;
// other errors are usage errors, left for Main to report.
func Parse(fs *flag.FlagSet, args []string, usage string, stderr io.Writer) error {
	fs.SetOutput(io.Discard) // Main reports errors, on one line
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stderr, usage)
		fs.SetOutput(stderr)
		fs.PrintDefaults()
		return err
	} else if err != nil {
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return Usagef("unexpected argument %q", fs.Arg(0))
	}
	return nil
}

// Port checks the value of a -port flag: least is 0 where 0 lets the
// system pick a port, 1 where a real port is needed.
func Port(port, least int) error {
	if port < least || port > 65535 {
		return Usagef("-port %d: not a port number (%d-65535)", port, least)
	}
	return nil
}

// Addr checks the value of an -addr flag a client connects to: host:port
// with a port lcsock takes, and not 0.
func Addr(addr string) error {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return Usagef("-addr %q: want host:port", addr)
	}
	if id, err := lcsock.ParseID(addr); err != nil {
		return Usagef("-addr: %v", err) // a bad port, say
	} else if id.Port == 0 {
		return Usagef("-addr %q: port 0 cannot be connected to", addr)
	}
	return nil
}
