// Command lcsock is a small netcat-like tool built on the lcsock library.
//
//	lcsock demo                      a loopback echo server and client, printing each event
//	lcsock connect [flags] ID        open socket to ID; stdin goes out, what arrives goes to stdout
//	lcsock listen [flags] PORT       accept connections on PORT; print (or echo) what arrives
//	lcsock udp send ID               send each line of stdin as one datagram; print replies
//	lcsock udp listen PORT           print each datagram received on PORT (or echo it with -echo)
//
// Data goes to stdout, status to stderr. Bad input exits with status 2
// and a one-line error; no arguments at all print the usage.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"

	"github.com/lcsock/lcsock"
)

const usage = `usage:
  lcsock demo                   run a loopback echo server and client, printing each event
  lcsock connect [flags] ID     open socket to ID (host:port[|name]); stdin is sent, received data printed
  lcsock listen [flags] PORT    accept connections on PORT (0 = any); received data printed
  lcsock udp send ID            send each line of stdin as one datagram to ID; replies printed
  lcsock udp listen [flags] PORT  print each datagram received on PORT as "sender: data"
flags:
  -until DELIM   read until DELIM (Go escapes allowed, e.g. '\r\n'); default: whatever arrives
  -echo          listen: send every read back to its sender
  -timeout DUR   socket timeout interval, positive (default 10s)
  -tls           connect: open a secure socket (verified against the system roots and -ca)
  -verify-host H connect -tls: check the certificate against H (and send it as SNI)
  -insecure      connect -tls: without verification
  -ca FILE       connect -tls: also trust the PEM certificates in FILE
  -cert FILE -key FILE   listen: accept secure connections with this certificate and key
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// verbFlags lists the flags each verb takes; another is an error.
var verbFlags = map[string]string{
	"demo":       "",
	"connect":    "until timeout tls verify-host insecure ca",
	"listen":     "until echo timeout cert key",
	"udp send":   "timeout",
	"udp listen": "echo timeout",
}

// verbArg names the one argument each verb takes ("" for none).
var verbArg = map[string]string{
	"demo":       "",
	"connect":    "ID",
	"listen":     "PORT",
	"udp send":   "ID",
	"udp listen": "PORT",
}

// run is the command with its streams, for tests.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	verb, rest := args[0], args[1:]
	if verb == "-h" || verb == "-help" || verb == "--help" || verb == "help" {
		fmt.Fprint(stderr, usage)
		return 0
	}
	if verb == "udp" && len(rest) > 0 { // "udp send" and "udp listen" take flags after the sub-verb
		if h := rest[0]; h == "-h" || h == "-help" || h == "--help" || h == "help" {
			fmt.Fprint(stderr, usage)
			return 0
		}
		verb, rest = "udp "+rest[0], rest[1:]
	}
	switch _, ok := verbFlags[verb]; {
	case verb == "udp":
		fmt.Fprintf(stderr, "lcsock: udp needs \"send\" or \"listen\" (lcsock -h for usage)\n")
		return 2
	case !ok:
		fmt.Fprintf(stderr, "lcsock: unknown command %q (lcsock -h for usage)\n", verb)
		return 2
	}
	fs := flag.NewFlagSet("lcsock "+verb, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	until := fs.String("until", "", "")
	echo := fs.Bool("echo", false, "")
	timeout := fs.Duration("timeout", lcsock.DefaultTimeoutInterval, "")
	var sec secureFlags
	fs.BoolVar(&sec.tls, "tls", false, "")
	fs.StringVar(&sec.verifyHost, "verify-host", "", "")
	fs.BoolVar(&sec.insecure, "insecure", false, "")
	fs.StringVar(&sec.ca, "ca", "", "")
	fs.StringVar(&sec.cert, "cert", "", "")
	fs.StringVar(&sec.key, "key", "", "")
	if err := fs.Parse(rest); errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stderr, usage)
		return 0
	} else if err != nil {
		fmt.Fprintf(stderr, "lcsock: %v\n", err)
		return 2
	}
	var misplaced []string
	fs.Visit(func(f *flag.Flag) {
		if !strings.Contains(" "+verbFlags[verb]+" ", " "+f.Name+" ") {
			misplaced = append(misplaced, "-"+f.Name)
		}
	})
	if len(misplaced) > 0 {
		fmt.Fprintf(stderr, "lcsock: %s does not take %s\n", verb, strings.Join(misplaced, ", "))
		return 2
	}
	if want := verbArg[verb]; (want == "") != (fs.NArg() == 0) || fs.NArg() > 1 {
		msg := verb + " takes one argument, " + want
		if want == "" {
			msg = verb + " takes no argument"
		}
		for _, a := range fs.Args() {
			if strings.HasPrefix(a, "-") && len(a) > 1 {
				msg += "; flags go before the arguments"
				break
			}
		}
		if fs.NArg() > 0 {
			msg += " (got " + quoteAll(fs.Args()) + ")"
		}
		fmt.Fprintf(stderr, "lcsock: %s\n", msg)
		return 2
	}
	if *timeout <= 0 {
		// Zero would quietly mean the default interval (Config's zero).
		fmt.Fprintf(stderr, "lcsock: -timeout %v: must be positive\n", *timeout)
		return 2
	}
	delim, err := unquote(*until)
	if err != nil {
		fmt.Fprintf(stderr, "lcsock: -until: %v\n", err)
		return 2
	}
	spec := lcsock.Available()
	if delim != "" {
		spec = lcsock.Until(delim)
	}
	cfg := lcsock.Config{TimeoutInterval: *timeout}
	if sec.ca != "" {
		cfg.Certificates = []string{sec.ca}
	}
	if (sec.cert == "") != (sec.key == "") {
		fmt.Fprintf(stderr, "lcsock: -cert and -key go together\n")
		return 2
	}
	if !sec.tls && (sec.insecure || sec.ca != "" || sec.verifyHost != "") {
		fmt.Fprintf(stderr, "lcsock: -insecure, -ca and -verify-host go with -tls\n")
		return 2
	}
	switch verb { // a known verb, with its argument
	case "demo":
		err = demo(ctx, stdout)
	case "connect":
		err = connect(ctx, cfg, fs.Arg(0), spec, sec, stdin, stdout, stderr)
	case "udp send":
		err = udpSend(ctx, cfg, fs.Arg(0), stdin, stdout, stderr)
	case "udp listen":
		port, perr := portArg(fs.Arg(0))
		if perr != nil {
			fmt.Fprintf(stderr, "lcsock: udp listen: %q is not a port number\n", fs.Arg(0))
			return 2
		}
		err = udpListen(ctx, cfg, port, *echo, stdout, stderr)
	case "listen":
		port, perr := portArg(fs.Arg(0))
		if perr != nil {
			fmt.Fprintf(stderr, "lcsock: listen: %q is not a port number\n", fs.Arg(0))
			return 2
		}
		err = listen(ctx, cfg, port, spec, *echo, sec, stdout, stderr)
	}
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, context.Canceled) {
			// Ctrl-C cut the demo short ("context canceled" said less).
			err = errors.New("interrupted")
		}
		fmt.Fprintf(stderr, "lcsock: %v\n", err)
		if errors.Is(err, lcsock.ErrBadID) || errors.Is(err, lcsock.ErrInvalidPort) {
			return 2
		}
		return 1
	}
	return 0
}

// portArg parses a port number as socket IDs write it: decimal digits
// only (strconv.Atoi also takes a sign, so "+80" listened on port 80).
// The range is the registry's to check (ErrInvalidPort).
func portArg(s string) (int, error) {
	if s == "" || strings.Trim(s, "0123456789") != "" {
		return 0, strconv.ErrSyntax
	}
	return strconv.Atoi(s)
}

// unquote turns Go escapes such as \r\n into bytes. A flag without a
// backslash is the delimiter as typed, byte for byte.
func unquote(s string) (string, error) {
	if !strings.Contains(s, `\`) {
		return s, nil
	}
	// The inside of a Go string literal, but for the two characters it
	// cannot hold as themselves: a double quote and a newline typed
	// literally stand for themselves.
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			b.WriteByte(c)
			if i+1 < len(s) {
				i++
				b.WriteByte(s[i]) // escaped: \" stays a quote, \\ a backslash
			}
		case '"':
			b.WriteString(`\"`)
		case '\n':
			b.WriteString(`\n`)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return strconv.Unquote(b.String())
}

// connect opens id, sends stdin and prints what arrives until the peer
// closes, stdin ends and everything is sent, or ctx ends.
// secureFlags are the TLS flags of connect and listen.
type secureFlags struct {
	tls, insecure             bool
	verifyHost, ca, cert, key string
}

func connect(ctx context.Context, cfg lcsock.Config, id string, spec lcsock.ReadSpec, sec secureFlags, stdin io.Reader, stdout, stderr io.Writer) error {
	done := make(chan error, 1)
	var reg *lcsock.Registry
	cfg.Handler = lcsock.HandlerFunc(func(ev lcsock.Event) {
		switch ev.Kind {
		case lcsock.EventConnected:
			fmt.Fprintf(stderr, "lcsock: connected to %s\n", ev.Socket)
			reg.ReadWithMessage(id, spec, nil, "data")
		case lcsock.EventRead:
			stdout.Write(ev.Data)
			switch {
			case ev.Err == nil:
				reg.ReadWithMessage(id, spec, nil, "data")
			case !errors.Is(ev.Err, io.EOF):
				done <- ev.Err // e.g. no delimiter within MaxReadBuffer
			}
		case lcsock.EventClosed:
			fmt.Fprintf(stderr, "lcsock: %s closed by peer\n", ev.Socket)
			done <- nil
		case lcsock.EventError:
			done <- ev.Err
		}
	})
	reg, err := lcsock.NewRegistry(cfg)
	if err != nil {
		return err
	}
	defer reg.Close()
	if sec.tls {
		opts := []lcsock.Option{lcsock.WithMessage("connected"), lcsock.Verify(!sec.insecure)}
		if sec.verifyHost != "" {
			opts = append(opts, lcsock.VerifyHost(sec.verifyHost))
		}
		err = reg.OpenSecure(id, nil, opts...)
	} else {
		err = reg.Open(id, nil, lcsock.WithMessage("connected"))
	}
	if err != nil {
		return err
	}
	stuck := make(chan error, 1) // a write of stdin that timed out
	go func() {
		buf := make([]byte, 32<<10)
		for {
			n, rerr := stdin.Read(buf)
			if n > 0 {
				if _, err := reg.Write(ctx, id, buf[:n]); err != nil {
					// A timeout leaves the socket open and the rest of
					// stdin unsent: that is the outcome. Other failures
					// end the socket, and its event reports them.
					if errors.Is(err, lcsock.ErrTimeout) {
						stuck <- err
					}
					return
				}
			}
			if rerr != nil {
				reg.CloseWrite(id) // the peer sees end of stream; we keep reading
				return
			}
		}
	}()
	select {
	case err := <-done:
		return err
	case err := <-stuck:
		return err
	case <-ctx.Done():
		return nil
	}
}

// listen accepts connections and prints (or echoes) what arrives.
func listen(ctx context.Context, cfg lcsock.Config, port int, spec lcsock.ReadSpec, echo bool, sec secureFlags, stdout, stderr io.Writer) error {
	var reg *lcsock.Registry
	cfg.Handler = lcsock.HandlerFunc(func(ev lcsock.Event) {
		switch ev.Kind {
		case lcsock.EventAccepted:
			fmt.Fprintf(stderr, "lcsock: accepted %s\n", ev.Socket)
			reg.ReadWithMessage(ev.Socket, spec, nil, "data")
		case lcsock.EventRead:
			switch {
			case !echo:
				stdout.Write(ev.Data)
			case len(ev.Data) > 0:
				// Not the empty read at the end of the stream: that empty
				// write would be queued and fail once the socket closes.
				if err := reg.WriteWithMessage(ev.Socket, ev.Data, nil, ""); err != nil {
					// A client that reads nothing fills its write queue
					// (Config.MaxWriteQueue): close it rather than drop data.
					fmt.Fprintf(stderr, "lcsock: %s: %s\n", ev.Socket, lcsock.ErrorText(err))
					reg.CloseSocket(ev.Socket)
					return
				}
			}
			switch {
			case ev.Err == nil:
				reg.ReadWithMessage(ev.Socket, spec, nil, "data")
			case !errors.Is(ev.Err, io.EOF):
				fmt.Fprintf(stderr, "lcsock: %s: %s\n", ev.Socket, lcsock.ErrorText(ev.Err))
				reg.CloseSocket(ev.Socket)
			}
		case lcsock.EventClosed:
			fmt.Fprintf(stderr, "lcsock: %s closed\n", ev.Socket)
		case lcsock.EventError:
			fmt.Fprintf(stderr, "lcsock: %s: %s\n", ev.Socket, lcsock.ErrorText(ev.Err))
		}
	})
	reg, err := lcsock.NewRegistry(cfg)
	if err != nil {
		return err
	}
	defer reg.Close()
	if sec.cert != "" {
		port, err = reg.AcceptSecure(port, nil, "accepted", sec.cert, sec.key)
	} else {
		port, err = reg.Accept(port, nil, "accepted")
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "lcsock: listening on port %d\n", port)
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return reg.Shutdown(sctx)
}
