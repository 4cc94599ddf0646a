package lcsock

import (
	"fmt"
	"time"
)

// Option is an optional clause of a verb, such as LiveCode's
// "from local address" or "with message". Each verb documents the options
// it takes; giving it another is an error.
type Option struct {
	name  string
	verbs uint16 // verbs that take it
	apply func(*options) error
}

const (
	verbOpen uint16 = 1 << iota
	verbOpenSecure
	verbSecure
	verbAccept
	verbAcceptSecure
	verbOpenDatagram
	verbAcceptDatagram
	verbAdopt

	verbOpens        = verbOpen | verbOpenSecure
	verbDatagrams    = verbOpenDatagram | verbAcceptDatagram
	verbAccepts      = verbAccept | verbAcceptSecure
	verbSecureClient = verbOpenSecure | verbSecure
	verbAnyTLS       = verbOpenSecure | verbSecure | verbAcceptSecure
)

type options struct {
	message    string
	from       bool
	fromHost   string
	fromPort   int
	keepAlive  time.Duration
	noDelaySet bool
	noDelay    bool
	maxConns   int
	eolIn      bool
	eolTo      EOL
	tls        tlsOptions
	dial       dialOptions // ConnectTimeout, Proxy (resolve.go)
	broadcast  bool
	mcastIf    string
	buffered   []byte // Adopt: bytes already read from the connection
}

// WithMessage is LiveCode's "with message": Open sends an EventConnected
// named name to the socket's handler once the connection is up. Without
// it no connected event is sent (case 13), and an empty name is the same
// as none — as in LiveCode, where a message of empty names no handler,
// and as for WriteWithMessage. For OpenDatagram, name is the message of
// the datagrams received (none: they wait for reads).
func WithMessage(name string) Option {
	return Option{name: "WithMessage", verbs: verbOpens | verbOpenDatagram | verbAdopt, apply: func(o *options) error {
		o.message = name
		return nil
	}}
}

// From is LiveCode's "open socket from local": local is "[host][:port]"
// — an empty host means any address, an empty port any port; IPv6 hosts
// go in brackets, a link-local one with its zone ("[fe80::1%eth0]:0"),
// which names the interface to bind on. Address reuse is set, so two client sockets may share a
// local port. Without From, the registry's default interface (if set) is
// the local host. A host name with addresses of both families binds the
// one of the target's family (of the target name's first address), and
// its lookup counts against ConnectTimeout. A host name is held to what
// an ID's host is and may be internationalised: it is looked up in its
// ASCII form (IDNA), as the target is. A malformed local gives an error
// wrapping ErrLocalAddress; a host that does not resolve or cannot be
// bound gives a socketError (ErrLocalResolve, ErrBind).
func From(local string) Option {
	return Option{name: "From", verbs: verbOpens | verbOpenDatagram, apply: func(o *options) error {
		host, port, err := parseLocal(local)
		if err != nil {
			return err
		}
		o.from, o.fromHost, o.fromPort = true, host, port
		return nil
	}}
}

// KeepAlive sets the TCP keep-alive period of the connection; a negative
// d turns keep-alive off. Without it Go's default applies.
func KeepAlive(d time.Duration) Option {
	return Option{name: "KeepAlive", verbs: verbOpens | verbAdopt, apply: func(o *options) error {
		o.keepAlive = d
		return nil
	}}
}

// NoDelay sets TCP_NODELAY on the connection (Go's default is on, which
// disables Nagle's algorithm).
func NoDelay(on bool) Option {
	return Option{name: "NoDelay", verbs: verbOpens | verbAdopt, apply: func(o *options) error {
		o.noDelaySet, o.noDelay = true, on
		return nil
	}}
}

// InputEOL converts the line ends of everything the socket receives —
// CR, LF and CRLF, including a CRLF split across two packets — to to (LF
// or CR) before any read sees it: Tcl's "-translation auto" on input.
// LiveCode itself is binary; this is an lcsock extension. Reads that
// count lines then see one line end per line. For Open, OpenSecure,
// Accept and AcceptSecure (where it applies to every accepted socket),
// and Adopt; Secure refuses to upgrade a socket opened with it.
func InputEOL(to EOL) Option {
	return Option{name: "InputEOL", verbs: verbOpens | verbAccepts | verbAdopt, apply: func(o *options) error {
		if to != LF && to != CR {
			return fmt.Errorf("InputEOL(%v): only LF and CR are supported on input", to)
		}
		o.eolIn, o.eolTo = true, to
		return nil
	}}
}

func buildOptions(verb, id string, opts []Option) (options, error) {
	var o options
	var client string // the first option for the TLS client role only
	bit := verbBits[verb]
	for _, opt := range opts {
		if opt.apply == nil {
			continue
		}
		if opt.verbs&bit == 0 {
			if bit&verbDatagrams != 0 && opt.verbs&^verbAnyTLS == 0 {
				// A TLS option (one only TLS verbs take): MaxConnections
				// or InputEOL, which AcceptSecure also takes, are not.
				return o, &OpError{Op: verb, Socket: id, Err: fmt.Errorf("%w: option %s", ErrDatagramTLS, opt.name)}
			}
			return o, &OpError{Op: verb, Socket: id, Err: fmt.Errorf("option %s does not apply to %s", opt.name, verb)}
		}
		if err := opt.apply(&o); err != nil {
			return o, &OpError{Op: verb, Socket: id, Err: err}
		}
		if opt.verbs == verbSecureClient && client == "" {
			client = opt.name
		}
	}
	if o.tls.server && client != "" {
		// Secure in the server role: the option would be ignored.
		return o, &OpError{Op: verb, Socket: id, Err: fmt.Errorf("option %s is for the client role, not with AsServer", client)}
	}
	return o, nil
}

var verbBits = map[string]uint16{
	"open":         verbOpen,
	"opensecure":   verbOpenSecure,
	"secure":       verbSecure,
	"accept":       verbAccept,
	"acceptsecure": verbAcceptSecure,

	"opendatagram":   verbOpenDatagram,
	"acceptdatagram": verbAcceptDatagram,
	"adopt":          verbAdopt,
}
