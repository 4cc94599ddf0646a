// Secureclient opens a verified TLS connection, sends one line and prints
// the line the server sends back.
//
//	go run ./examples/secureclient -addr localhost:8443 -ca ca.pem
//
// It is LiveCode's
//
//	open secure socket to "localhost:8443|secure" with message "connected" with verification
//
// The server's certificate must chain to the system's roots or to the
// CA certificates in -ca, and name the host of -addr, or -verify-host's
// name when -addr is an IP address or the certificate names another host.
// A certificate that fails is a socketError: the program exits with
// status 1 and the reason. The reply goes to stdout, status to stderr.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/lcsock/lcsock"
	"github.com/lcsock/lcsock/examples/internal/cli"
)

const usage = `usage: secureclient -addr HOST:PORT [-ca FILE] [-verify-host NAME] [-line TEXT]

Secureclient opens a verified TLS connection to HOST:PORT, sends TEXT and
a line end, and prints the line the server sends back.

`

func main() { cli.Main("secureclient", run) }

// run is the program.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("secureclient", flag.ContinueOnError)
	addr := fs.String("addr", "", "the server's `host:port`")
	ca := fs.String("ca", "", "also trust the CA certificates in this PEM `file`")
	verifyHost := fs.String("verify-host", "", "check the certificate for this host `name` (and send it as SNI)")
	line := fs.String("line", "hello", "the `text` to send")
	if err := cli.Parse(fs, args, usage, stderr); err != nil {
		return err
	}
	if err := cli.Addr(*addr); err != nil {
		return err
	}

	cfg := lcsock.Config{}
	if *ca != "" {
		cfg.Certificates = []string{*ca} // LiveCode's sslCertificates
	}
	opts := []lcsock.Option{lcsock.WithMessage("connected")} // verified: the default
	if *verifyHost != "" {
		opts = append(opts, lcsock.VerifyHost(*verifyHost))
	}
	id := *addr + "|secure"
	done := make(chan error, 1)
	finish := func(err error) { // the first outcome counts; never block the handler
		select {
		case done <- err:
		default:
		}
	}
	var reg *lcsock.Registry
	cfg.Handler = lcsock.HandlerFunc(func(ev lcsock.Event) {
		switch ev.Kind {
		case lcsock.EventConnected: // connected id: the handshake succeeded
			if st, err := reg.TLSState(id); err == nil {
				fmt.Fprintf(stderr, "secureclient: connected to %s (%s, certificate verified)\n", id, tls.VersionName(st.Version))
			}
			reg.WriteWithMessage(id, []byte(*line+"\n"), nil, "")
			reg.ReadWithMessage(id, lcsock.Until("\n"), nil, "gotReply")
		case lcsock.EventRead: // gotReply id, line
			if ev.Err != nil && !ev.EOF { // a line longer than Config.MaxReadBuffer
				finish(ev.Err)
				return
			}
			stdout.Write(ev.Data)
			if len(ev.Data) == 0 {
				finish(errors.New("the server closed the connection without replying"))
				return
			}
			finish(nil)
		case lcsock.EventError: // socketError id, text: the handshake failed, say
			finish(ev.Err)
		case lcsock.EventTimeout: // socketTimeout id
			finish(fmt.Errorf("%s: no progress for %v", ev.Op, reg.TimeoutInterval()))
		}
	})
	reg, err := lcsock.NewRegistry(cfg)
	if err != nil {
		return err
	}
	defer reg.Close()
	if err := reg.OpenSecure(id, nil, opts...); err != nil {
		return err // a malformed ID, or a -ca file that cannot be read
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}
