package lcsock

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/textproto"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"golang.org/x/net/idna"
	"golang.org/x/net/proxy"
)

// This file holds name resolution (LiveCode's hostNameToAddress,
// hostAddressToName, hostName), IDNA, and the TCP dial of Open and
// OpenSecure: every address of the host with net.Dialer's dual-stack
// fallback, an optional hard connect deadline, and proxies.

// ErrBadProxy: the URL given to [Proxy] cannot be used; the wrapping
// error says why.
var ErrBadProxy = errors.New("invalid proxy URL")

// --- names -----------------------------------------------------------------

// HostNameToAddress is LiveCode's hostNameToAddress: it strips the port
// and label from name ("localhost:80|x" looks up "localhost"), converts
// an internationalised name to its ASCII form (IDNA), and returns every
// address of the host — IPv4 addresses first, then IPv6, each family in
// the resolver's order. An IP literal returns itself. It resolves with
// Config.Resolver and blocks until the answer, ctx's end or the
// registry's Close.
//
// A name that does not resolve gives an *OpError whose text
// ([ErrorText]) is LiveCode's "invalid host address": it wraps
// ErrInvalidHostAddress and the resolver's error (a *net.DNSError or
// ctx's error). A name [ParseID] would refuse as a host (a character the
// host syntax forbids, or one IDNA refuses) is not looked up: the error
// wraps ErrInvalidHostAddress and ErrBadID with the reason. A lookup
// that the registry's Close ends, or one made after it, wraps
// ErrInvalidHostAddress and ErrClosed. Safe for concurrent use. A nil
// ctx is an error (no panic).
func (r *Registry) HostNameToAddress(ctx context.Context, name string) ([]string, error) {
	if err := nilContext(ctx, "hostNameToAddress", name); err != nil {
		return nil, err
	}
	bctx, stop := r.bound(ctx)
	defer stop()
	addrs, err := r.lookupAll(bctx, splitHostName(name))
	if err != nil {
		return nil, &OpError{Op: "hostNameToAddress", Socket: name, Err: &lookupError{r.lookupCause(ctx, err)}}
	}
	list := make([]string, len(addrs))
	for i, a := range addrs {
		list[i] = a.String()
	}
	return list, nil
}

// HostNameToAddressWithMessage is LiveCode's hostNameToAddress(name,
// message): it returns at once and resolves name in the background, then
// sends h an EventResolved named message whose Params are (name as
// passed, the addresses one per line) — the list is empty when the name
// does not resolve, and Err is then the error HostNameToAddress would
// return. A nil h means Config.Handler. It fails at once only when
// message is empty or the registry is closed (ErrClosed); Close cancels
// the lookup and no event follows.
func (r *Registry) HostNameToAddressWithMessage(name string, h Handler, message string) error {
	if message == "" {
		return &OpError{Op: "hostNameToAddress", Socket: name, Err: errors.New("a message name is needed")}
	}
	h = r.handler(h)
	return r.background("hostNameToAddress", name, func(ctx context.Context) {
		addrs, err := r.HostNameToAddress(ctx, name)
		if ctx.Err() != nil {
			// Close cancelled the lookup. Close cancels before it stops
			// the dispatcher, so an event posted now could still run.
			return
		}
		if h != nil {
			r.disp.post(h, Event{Kind: EventResolved, Name: message, Socket: name, Data: []byte(JoinLines(addrs)), Err: err}, nil)
		}
	})
}

// HostAddressToName is LiveCode's hostAddressToName: the host name of
// an address (port and label stripped, as HostNameToAddress does). With
// no name on record (no PTR record) it returns the numeric address
// itself, as LiveCode does. A host name is looked up first and its first
// address is used. A name that does not resolve or that ParseID would
// refuse, or an empty address, gives an *OpError whose text is "invalid
// host address" (see HostNameToAddress). It blocks until the answer, ctx's end or Close
// (ErrClosed, as for HostNameToAddress).
// A nil ctx is an error (no panic).
func (r *Registry) HostAddressToName(ctx context.Context, addr string) (string, error) {
	if err := nilContext(ctx, "hostAddressToName", addr); err != nil {
		return "", err
	}
	bctx, stop := r.bound(ctx)
	defer stop()
	fail := func(err error) (string, error) {
		return "", &OpError{Op: "hostAddressToName", Socket: addr, Err: &lookupError{r.lookupCause(ctx, err)}}
	}
	host := splitHostName(addr)
	ip, err := netip.ParseAddr(host)
	if err != nil {
		addrs, err := r.lookupAll(bctx, host)
		if err != nil {
			return fail(err)
		}
		ip = addrs[0]
	}
	names, err := r.cfg.Resolver.LookupAddr(bctx, ip.String())
	if err := bctx.Err(); err != nil {
		return fail(err)
	}
	if err != nil || len(names) == 0 {
		return ip.String(), nil // getnameinfo without NI_NAMEREQD
	}
	return strings.TrimSuffix(names[0], "."), nil
}

// HostName is LiveCode's hostName: the operating system's host name
// (os.Hostname), with no DNS lookup.
func HostName() (string, error) {
	return os.Hostname()
}

// JoinLines returns list as LiveCode text: one item per line, separated
// by LF, with no line end after the last — the form of
// hostNameToAddress and openSockets. An empty list gives "".
func JoinLines(list []string) string {
	return strings.Join(list, "\n")
}

// lookupError is LiveCode's "invalid host address" carrying the
// resolver's reason, which errors.Is and errors.As reach.
type lookupError struct{ cause error }

func (e *lookupError) Error() string   { return ErrInvalidHostAddress.Error() }
func (e *lookupError) Unwrap() []error { return []error{ErrInvalidHostAddress, e.cause} }

var errNoHost = errors.New("no host name")

// lookupCause is the cause of a lookup made with ctx that failed with
// err: ErrClosed when the registry's Close ended it (ctx itself did not
// end), as for the other waits Close ends, rather than the
// cancellation, which would say that ctx ended; err otherwise.
func (r *Registry) lookupCause(ctx context.Context, err error) error {
	if r.ctx.Err() != nil && ctx.Err() == nil {
		return ErrClosed
	}
	return err
}

// lookupAll resolves host (an IP literal, an ASCII or an
// internationalised name) to its addresses: IPv4 first, then IPv6, each
// family in resolver order, without duplicates.
func (r *Registry) lookupAll(ctx context.Context, host string) ([]netip.Addr, error) {
	addrs, err := r.resolve(ctx, host)
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(addrs, func(a, b netip.Addr) int {
		switch {
		case a.Is4() == b.Is4():
			return 0
		case a.Is4():
			return -1
		}
		return 1
	})
	return addrs, nil
}

// resolve resolves host in resolver order (RFC 6724, as net.Dialer uses
// it), without duplicates. IPv4-mapped addresses are unmapped.
func (r *Registry) resolve(ctx context.Context, host string) ([]netip.Addr, error) {
	if host == "" {
		return nil, errNoHost
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a.Unmap()}, nil
	}
	if reason := checkHostName(host); reason != "" {
		// toASCIIHost passes any name with a ':' as an IP literal.
		return nil, fmt.Errorf("%w: %s", ErrBadID, reason)
	}
	ascii, err := toASCIIHost(host)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadID, err) // refused as ParseID refuses it
	}
	ips, err := r.cfg.Resolver.LookupIPAddr(ctx, ascii)
	if err != nil {
		return nil, err
	}
	addrs := make([]netip.Addr, 0, len(ips))
	for _, ip := range ips {
		a, ok := netip.AddrFromSlice(ip.IP)
		// A name may list an address twice, not always side by side.
		if a = a.Unmap().WithZone(ip.Zone); ok && !slices.Contains(addrs, a) {
			addrs = append(addrs, a)
		}
	}
	if len(addrs) == 0 {
		return nil, &net.DNSError{Err: "no such host", Name: ascii, IsNotFound: true}
	}
	return addrs, nil
}

// idnaLookup is IDNA's lookup profile (idna.Lookup) without the STD3
// rules, which refuse '_': the system resolver that LiveCode hands names
// to accepts "my_host" and "_srv" labels, so "bü_cher" is accepted too.
// The other characters STD3 refuses are refused by checkHostName.
var idnaLookup = idna.New(idna.MapForLookup(), idna.BidiRule(), idna.StrictDomainName(false))

// toASCIIHost checks a host name as ParseID does and converts an
// internationalised one to its ASCII ("xn--") form with IDNA's lookup
// profile, '_' allowed (idnaLookup). The name's characters must pass
// checkHostName, and so must those each ACE ("xn--") label stands for
// (checkACELabels). ASCII names are returned unchanged, as are IP
// literals, which are not checked.
func toASCIIHost(host string) (string, error) {
	if strings.Contains(host, ":") {
		return host, nil
	}
	if reason := checkHostName(host); reason != "" {
		return "", errors.New(reason)
	}
	a := host
	if !isASCII(host) {
		var err error
		if a, err = idnaLookup.ToASCII(host); err != nil {
			return "", fmt.Errorf("IDNA: %w", err)
		}
		if a == "" || !isASCII(a) || checkHostName(a) != "" {
			return "", fmt.Errorf("IDNA: %q has no valid ASCII form", host)
		}
	}
	if reason := checkACELabels(a); reason != "" {
		return "", fmt.Errorf("IDNA: %s", reason)
	}
	return a, nil
}

// checkACELabels returns why an ACE ("xn--") label of the ASCII name a
// stands for characters checkHostName refuses, or for a label IDNA's
// lookup profile refuses in ACE form, or "": "xn--1ch" is '≠', refused
// in "≠.example", so it is refused in "xn--1ch.example" too, while
// "xn--collegi-xma" ("col·legi") passes as "col·legi" does. The decoded
// label must be one label as lookup leaves it, which is how idnaLookup
// holds it in an internationalised name: "xn--ab-r13a" stands for "a。b",
// whose ideographic full stop checkHostName (and lookup, for typed text)
// takes for a dot, and "xn--b-5da" for "Äb", which lookup lowercases. A
// label that does not decode is left alone: IDNA has already refused it
// in an internationalised name, and an ASCII name's labels are the
// resolver's business.
func checkACELabels(a string) string {
	for label := range strings.SplitSeq(a, ".") {
		if len(label) < 4 || !strings.EqualFold(label[:4], "xn--") {
			continue
		}
		lower := strings.ToLower(label)
		u, err := idna.Punycode.ToUnicode(lower)
		if err != nil {
			continue
		}
		if reason := checkHostName(u); reason != "" {
			return fmt.Sprintf("%q stands for %q: %s", label, u, reason)
		}
		if _, err := idnaLookup.ToASCII(lower); err != nil {
			return fmt.Sprintf("%q stands for %q, not a valid label: %v", label, u, err)
		}
	}
	return ""
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// bound returns ctx, also cancelled when the registry closes.
func (r *Registry) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(r.ctx, cancel)
	return ctx, func() { stop(); cancel() }
}

// background runs f on a goroutine counted in r.wg, with a context
// that Close cancels. The goroutine is counted under r.mu, so Close
// cannot miss it; a closed registry gives ErrClosed and runs nothing.
func (r *Registry) background(op, id string, f func(ctx context.Context)) error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return &OpError{Op: op, Socket: id, Err: ErrClosed}
	}
	r.wg.Add(1)
	r.mu.Unlock()
	go func() {
		defer r.wg.Done()
		f(r.ctx)
	}()
	return nil
}

// --- dialing ---------------------------------------------------------------

// dialOptions are the dial clauses of Open and OpenSecure.
type dialOptions struct {
	timeout time.Duration // ConnectTimeout; 0 = none
	proxy   *proxyConfig  // Proxy; nil = direct
}

type proxyConfig struct {
	socks bool   // SOCKS5; otherwise HTTP CONNECT
	host  string // the proxy's host, without brackets
	port  int
	user  string
	pass  string
	auth  bool   // user info was given
	shown string // scheme://host:port, for error texts (no password)
}

// ConnectTimeout bounds the whole open — resolving the host (or reaching
// the proxy) and connecting — with a hard deadline, an lcsock extension.
// Without it (or with zero) the open is never abandoned by lcsock, as in
// LiveCode: socketTimeout events repeat meanwhile, and they still do
// before the deadline. When it passes, the open fails with one
// socketError whose error is a *DialError wrapping both ErrConnect and
// ErrTimeout (text "can't connect to host: timeout after d", then the
// addresses tried). The TLS handshake of OpenSecure is bounded by
// HandshakeTimeout instead. For Open and OpenSecure; negative d is an
// error.
func ConnectTimeout(d time.Duration) Option {
	return Option{name: "ConnectTimeout", verbs: verbOpens, apply: func(o *options) error {
		if d < 0 {
			return errors.New("negative ConnectTimeout")
		}
		o.dial.timeout = d
		return nil
	}}
}

// Proxy makes Open and OpenSecure connect through a proxy:
// "socks5://[user:password@]host:port" (SOCKS5, port 1080 by default;
// "socks5h" is the same) or "http://[user:password@]host:port" (HTTP
// CONNECT, port 80 by default; credentials go in Proxy-Authorization
// Basic). The socket ID's host name is sent to the proxy unresolved, in
// its ASCII (IDNA) form, and the proxy resolves it; only the proxy's own
// host is resolved locally, with Config.Resolver. From and the default
// interface apply to the connection to the proxy. With OpenSecure, TLS
// runs end to end through the tunnel: use VerifyHost when the
// certificate names another host than the ID (LiveCode's "with
// verification for host"). An IPv6 target goes in brackets
// ("[2001:db8::1]:443"); one with a zone ("[fe80::1%eth0]:80") cannot go
// through a proxy, since the zone names an interface of this host, and
// the verb refuses it with an error wrapping ErrBadID. A URL that cannot
// be used is an error from the verb itself, wrapping ErrBadProxy; a
// proxy that cannot be reached or refuses the connection gives a
// socketError wrapping ErrConnect.
func Proxy(rawURL string) Option {
	return Option{name: "Proxy", verbs: verbOpens, apply: func(o *options) error {
		p, err := parseProxy(rawURL)
		if err != nil {
			return err
		}
		o.dial.proxy = p
		return nil
	}}
}

func parseProxy(rawURL string) (*proxyConfig, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error quotes the URL, password included
		}
		if strings.Contains(rawURL, "@") {
			// The parser's reason may quote part of the user
			// information: a password with a '/', '?' or '#' ends the
			// host early ("invalid port \":pass\""), one with a '%'
			// is a bad escape.
			return nil, fmt.Errorf("%w: the URL does not parse (a '/', '?', '#', '@' or '%%' in the user name or password must be percent-encoded)", ErrBadProxy)
		}
		return nil, fmt.Errorf("%w: %v", ErrBadProxy, err)
	}
	p := &proxyConfig{host: u.Hostname()}
	defPort := 0
	switch strings.ToLower(u.Scheme) {
	case "socks5", "socks5h":
		p.socks, defPort = true, 1080
	case "http":
		defPort = 80
	default:
		return nil, fmt.Errorf("%w: scheme %q (want socks5 or http)", ErrBadProxy, u.Scheme)
	}
	switch {
	case p.host == "":
		return nil, fmt.Errorf("%w: no host", ErrBadProxy)
	case strings.Contains(p.host, ":") && !strings.HasPrefix(u.Host, "["):
		return nil, fmt.Errorf("%w: host %q (IPv6 addresses go in brackets)", ErrBadProxy, p.host)
	case u.Path != "" && u.Path != "/", u.RawQuery != "", u.Fragment != "":
		return nil, fmt.Errorf("%w: a proxy URL has no path, query or fragment", ErrBadProxy)
	}
	// The proxy's host is held to the rules of a socket ID's host, here
	// rather than when an open dials it.
	if a, err := netip.ParseAddr(p.host); err == nil {
		if reason, _ := checkHostChars(a.Zone()); reason != "" {
			return nil, fmt.Errorf("%w: host %q: bad IPv6 zone: %s", ErrBadProxy, p.host, reason)
		}
	} else if _, err := toASCIIHost(p.host); err != nil {
		return nil, fmt.Errorf("%w: host %q: %v", ErrBadProxy, p.host, err)
	}
	p.port = defPort
	if ps := u.Port(); ps != "" {
		n, err := strconv.Atoi(ps)
		if err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("%w: port %q", ErrBadProxy, ps)
		}
		p.port = n
	}
	if u.User != nil {
		p.auth = true
		p.user = u.User.Username()
		p.pass, _ = u.User.Password()
		if p.socks && (len(p.user) == 0 || len(p.user) > 255 || len(p.pass) > 255) {
			return nil, fmt.Errorf("%w: SOCKS5 user and password must be 1–255 and 0–255 bytes", ErrBadProxy)
		}
		if !p.socks && strings.Contains(p.user, ":") {
			// Basic credentials are "user:password": the proxy would
			// split at this one (RFC 7617).
			return nil, fmt.Errorf("%w: an HTTP proxy user name cannot contain ':'", ErrBadProxy)
		}
	}
	p.shown = strings.ToLower(u.Scheme) + "://" + net.JoinHostPort(p.host, strconv.Itoa(p.port))
	return p, nil
}

// checkTarget refuses a target the proxy cannot be asked for: an IPv6
// address with a zone. The zone names an interface of this host, which
// means nothing on the proxy's; RFC 6874 has HTTP clients remove it,
// and the proxy would then reach the address on a link of its own.
// A nil p (no proxy) takes any target.
func (p *proxyConfig) checkTarget(id ID) error {
	if p == nil {
		return nil
	}
	if a, err := netip.ParseAddr(id.Host); err == nil && a.Zone() != "" {
		return fmt.Errorf("%w: IPv6 zone %q names an interface of this host; a proxy cannot use it", ErrBadID, a.Zone())
	}
	return nil
}

// DialError is the error of an open whose connection could not be made
// after the host resolved: it lists every address tried and why each
// failed. It is the cause inside the *OpError of the socketError event
// and matches ErrConnect with errors.Is — and ErrTimeout when
// ConnectTimeout ended the open — as well as each attempt's error.
type DialError struct {
	Host     string        // the host of the socket ID (ASCII form)
	Proxy    string        // "scheme://host:port" of the proxy, when dialling through one
	Attempts []DialAttempt // in the order tried; through a proxy, the proxy's addresses
	Deadline time.Duration // the ConnectTimeout that ended the open; 0 otherwise
}

// DialAttempt is one address an open tried.
type DialAttempt struct {
	Addr string // "ip:port" ("[ip]:port" for IPv6), or a host name that did not resolve in time
	Err  error  // why it failed, usually a *net.OpError
}

// Error returns "can't connect to host" (LiveCode's text), what failed
// — the proxy, the deadline — and then each address tried with its
// reason, one per line; a single address stays on the first line. It is
// safe on a nil *DialError.
func (e *DialError) Error() string {
	if e == nil {
		return "<nil>"
	}
	var b strings.Builder
	b.WriteString(ErrConnect.Error())
	if e.Proxy != "" {
		b.WriteString(" through proxy ")
		b.WriteString(e.Proxy)
	}
	if e.Deadline > 0 {
		b.WriteString(": timeout after ")
		b.WriteString(e.Deadline.String())
	}
	if len(e.Attempts) == 1 && e.Deadline == 0 {
		b.WriteString(": ")
		e.Attempts[0].write(&b)
		return b.String()
	}
	if e.Deadline == 0 {
		b.WriteString(":")
	}
	for _, a := range e.Attempts {
		b.WriteString("\n")
		a.write(&b)
	}
	return b.String()
}

func (a DialAttempt) write(b *strings.Builder) {
	b.WriteString(a.Addr)
	b.WriteString(": ")
	var oe *net.OpError
	if errors.As(a.Err, &oe) && oe.Err != nil && (oe.Op == "dial" || strings.HasPrefix(oe.Op, "socks")) {
		b.WriteString(oe.Err.Error()) // the address is already on the line
	} else if a.Err != nil {
		b.WriteString(a.Err.Error())
	}
}

// Unwrap returns ErrConnect, ErrTimeout when the deadline passed, and
// the error of each attempt.
func (e *DialError) Unwrap() []error {
	if e == nil {
		return nil
	}
	errs := []error{ErrConnect}
	if e.Deadline > 0 {
		errs = append(errs, ErrTimeout)
	}
	for _, a := range e.Attempts {
		if a.Err != nil {
			errs = append(errs, a.Err)
		}
	}
	return errs
}

// Timeout reports whether ConnectTimeout ended the open.
func (e *DialError) Timeout() bool { return e != nil && e.Deadline > 0 }

// errConnectDeadline is the cause of the context ConnectTimeout ends.
var errConnectDeadline = errors.New("lcsock: connect deadline")

// dialTCP connects to id for Open and OpenSecure, with d as the template
// of each connection (local address, control, keep-alive): directly to
// every address of id's host (resolved with Config.Resolver, IDNA
// applied), or through the proxy of o. bind sets d's local address
// first, within ConnectTimeout: From may name a host to resolve. Errors
// are classified under LiveCode's texts: ErrResolve, ErrBind, or a
// *DialError (ErrConnect).
func (r *Registry) dialTCP(ctx context.Context, d *net.Dialer, o *options, id ID, bind func(context.Context) error) (net.Conn, error) {
	parent := ctx
	var deadline time.Time
	if o.dial.timeout > 0 {
		var cancel context.CancelFunc
		deadline = time.Now().Add(o.dial.timeout)
		ctx, cancel = context.WithDeadlineCause(ctx, deadline, errConnectDeadline)
		defer cancel()
	}
	var conn net.Conn
	err := bind(ctx) // the local address may be a name to resolve
	switch p := o.dial.proxy; {
	case err != nil:
	case p != nil:
		conn, err = r.dialProxy(ctx, d, p, id)
	default:
		conn, err = r.dialHost(ctx, d, id.ASCIIHost(), id.Port)
	}
	// A connection deadline set from ctx may expire just before ctx does.
	if err != nil && (context.Cause(ctx) == errConnectDeadline ||
		!deadline.IsZero() && parent.Err() == nil && !time.Now().Before(deadline)) {
		err = deadlineError(err, id.ASCIIHost(), o)
	}
	return conn, err
}

// deadlineError turns the failure of a dial cut short by ConnectTimeout
// into a *DialError that says so.
func deadlineError(err error, host string, o *options) error {
	var de *DialError
	if !errors.As(err, &de) {
		// A lookup cut short says "timeout", not "can't resolve
		// hostname"; a From name's failure keeps its sentinel.
		var ce *causeError
		if errors.As(err, &ce) && ce.kind != ErrLocalResolve {
			err = ce.cause
		}
		de = &DialError{Host: host, Attempts: []DialAttempt{{Addr: host, Err: err}}}
		if o.dial.proxy != nil {
			de.Proxy = o.dial.proxy.shown
		}
	}
	de.Deadline = o.dial.timeout
	return de
}

// dialHost resolves host and connects to its addresses as net.Dialer
// does: addresses of the local address's family only, the first
// family's addresses one after the other (sharing a deadline), and the
// other family's started after d.FallbackDelay (300 ms by default) or as
// soon as the first family has failed; the first connection wins.
func (r *Registry) dialHost(ctx context.Context, d *net.Dialer, host string, port int) (net.Conn, error) {
	ips, err := r.resolve(ctx, host)
	if err != nil {
		return nil, &causeError{ErrResolve, err}
	}
	var addrs []netip.AddrPort
	var skipped []DialAttempt
	local, _ := d.LocalAddr.(*net.TCPAddr)
	for _, ip := range ips {
		ap := netip.AddrPortFrom(ip, uint16(port))
		if local != nil && local.IP != nil && !local.IP.IsUnspecified() && (local.IP.To4() != nil) != ip.Is4() {
			skipped = append(skipped, DialAttempt{Addr: ap.String(), Err: fmt.Errorf("not tried: the local address %v is of the other family", local.IP)})
			continue
		}
		addrs = append(addrs, ap)
	}
	conn, attempts := dialAddrs(ctx, d, addrs)
	if conn != nil {
		return conn, nil
	}
	// Addresses of the other family, not tried, do not make a local
	// address that could not be bound a connect failure. Without a local
	// address (no From, no default interface) there is none to blame: on
	// Windows, where Go binds every socket to a wildcard address before
	// connecting, a failed bind there (the ports used up) is the
	// connect's.
	if local != nil && len(attempts) > 0 && !slices.ContainsFunc(attempts, func(a DialAttempt) bool { return !bindFailed(a.Err) }) {
		return nil, &causeError{ErrBind, attempts[0].Err}
	}
	attempts = append(attempts, skipped...)
	return nil, &DialError{Host: host, Attempts: attempts}
}

// bindFailed reports whether a dial failed to bind its local address,
// whatever the reason: in use, not local, or not allowed (a privileged
// port; on Windows a port in an excluded range). Only the bind counts: a
// connect fails with the same errors when the bound address cannot be
// used for that peer (the same local port already connected to it,
// which address reuse lets a socket bind), and that is "can't connect
// to host", as in the engine, whose bind succeeds and whose connect
// fails.
func bindFailed(err error) bool {
	var se *os.SyscallError
	return errors.As(err, &se) && se.Syscall == "bind"
}

// dialAddrs is net.Dialer's dual-stack race over addrs. It returns once
// every dial it started has returned.
func dialAddrs(ctx context.Context, d *net.Dialer, addrs []netip.AddrPort) (net.Conn, []DialAttempt) {
	var primaries, fallbacks []netip.AddrPort
	for _, a := range addrs {
		if d.FallbackDelay >= 0 && len(primaries) > 0 && a.Addr().Is4() != primaries[0].Addr().Is4() {
			fallbacks = append(fallbacks, a)
		} else {
			primaries = append(primaries, a)
		}
	}
	if len(fallbacks) == 0 {
		return dialSerial(ctx, d, primaries)
	}
	type result struct {
		conn     net.Conn
		attempts []DialAttempt
		primary  bool
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make(chan result, 2)
	race := func(addrs []netip.AddrPort, primary bool) {
		go func() {
			c, a := dialSerial(ctx, d, addrs)
			results <- result{c, a, primary}
		}()
	}
	delay := d.FallbackDelay
	if delay == 0 {
		delay = 300 * time.Millisecond
	}
	timer := time.NewTimer(delay)
	defer timer.Stop()
	race(primaries, true)
	running, fellBack := 1, false
	var won net.Conn
	var prim, fall []DialAttempt
	for running > 0 {
		select {
		case <-timer.C:
			if !fellBack && won == nil {
				fellBack = true
				running++
				race(fallbacks, false)
			}
		case res := <-results:
			running--
			if res.primary {
				prim = res.attempts
			} else {
				fall = res.attempts
			}
			switch {
			case res.conn != nil && won == nil:
				won = res.conn
				cancel() // the other racer gives up
			case res.conn != nil:
				res.conn.Close()
			case !fellBack && won == nil:
				fellBack = true
				running++
				race(fallbacks, false)
			}
		}
	}
	return won, append(prim, fall...)
}

// dialSerial tries addrs in order, each with an equal share of the time
// left before ctx's deadline (at least 2 s when there is that much), as
// net.Dialer does.
func dialSerial(ctx context.Context, d *net.Dialer, addrs []netip.AddrPort) (net.Conn, []DialAttempt) {
	var attempts []DialAttempt
	for i, ap := range addrs {
		actx, cancel := ctx, context.CancelFunc(func() {})
		if deadline, ok := ctx.Deadline(); ok {
			// The last address has all the time left: ctx's own deadline,
			// no context and timer of its own.
			if pd := partialDeadline(time.Now(), deadline, len(addrs)-i); pd.Before(deadline) {
				actx, cancel = context.WithDeadline(ctx, pd)
			}
		}
		c, err := d.DialContext(actx, "tcp", ap.String())
		cancel()
		if err == nil {
			return c, attempts
		}
		attempts = append(attempts, DialAttempt{Addr: ap.String(), Err: err})
	}
	return nil, attempts
}

func partialDeadline(now, deadline time.Time, left int) time.Time {
	remaining := deadline.Sub(now)
	if remaining <= 0 {
		return deadline
	}
	share := remaining / time.Duration(left)
	const saneMinimum = 2 * time.Second
	if share < saneMinimum {
		share = min(remaining, saneMinimum)
	}
	return now.Add(share)
}

// dialProxy connects to the proxy and asks it for id's host and port.
func (r *Registry) dialProxy(ctx context.Context, d *net.Dialer, p *proxyConfig, id ID) (net.Conn, error) {
	conn, err := r.dialHost(ctx, d, p.host, p.port)
	if err != nil {
		var de *DialError
		if errors.As(err, &de) {
			de.Host, de.Proxy = id.ASCIIHost(), p.shown
			return nil, de
		}
		var ce *causeError
		if errors.As(err, &ce) {
			return nil, &causeError{ce.kind, fmt.Errorf("proxy %s: %w", p.shown, ce.cause)}
		}
		return nil, err
	}
	target := net.JoinHostPort(id.ASCIIHost(), strconv.Itoa(id.Port))
	if p.socks {
		err = socksConnect(ctx, conn, p, target)
	} else {
		err = httpConnect(ctx, conn, p, target)
	}
	if err != nil {
		conn.Close()
		return nil, &DialError{Host: id.ASCIIHost(), Proxy: p.shown,
			Attempts: []DialAttempt{{Addr: conn.RemoteAddr().String(), Err: err}}}
	}
	return conn, nil
}

// socksConnect runs a SOCKS5 CONNECT to target over conn, with
// golang.org/x/net/proxy; conn stays the plain TCP connection.
func socksConnect(ctx context.Context, conn net.Conn, p *proxyConfig, target string) error {
	var auth *proxy.Auth
	if p.auth {
		auth = &proxy.Auth{User: p.user, Password: p.pass}
	}
	pd, err := proxy.SOCKS5("tcp", conn.RemoteAddr().String(), auth, nil)
	if err != nil {
		return err
	}
	sd, ok := pd.(interface {
		DialWithConn(ctx context.Context, c net.Conn, network, address string) (net.Addr, error)
	})
	if !ok {
		return errors.New("SOCKS5 dialer cannot use an existing connection")
	}
	_, err = sd.DialWithConn(ctx, conn, "tcp", target)
	return err
}

// httpConnect runs an HTTP CONNECT to target over conn. The response is
// read one byte at a time up to its blank line, so that no byte of the
// tunnel is consumed and conn can be used as it is. Interim (1xx)
// responses before the final one are skipped (RFC 9110, 15.2), all of
// them and the final head within one size limit; 101 is no tunnel and
// counts as a refusal.
func httpConnect(ctx context.Context, conn net.Conn, p *proxyConfig, target string) (err error) {
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer func() {
		if !stop() {
			// One line: DialError gives each attempt's reason on one.
			if err == nil {
				err = ctx.Err()
			} else {
				err = fmt.Errorf("%w (%w)", err, ctx.Err())
			}
		}
		conn.SetDeadline(time.Time{})
	}()
	var req strings.Builder
	req.WriteString("CONNECT " + target + " HTTP/1.1\r\nHost: " + target + "\r\n")
	if p.auth {
		req.WriteString("Proxy-Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(p.user+":"+p.pass)) + "\r\n")
	}
	req.WriteString("\r\n")
	if _, err := conn.Write([]byte(req.String())); err != nil {
		return err
	}
	budget := 16 << 10 // bytes of response, interim ones included
	for {
		head, err := readHead(conn, &budget)
		if err != nil {
			return err
		}
		line, err := textproto.NewReader(bufio.NewReader(bytes.NewReader(head))).ReadLine()
		if err != nil {
			return err
		}
		proto, status, _ := strings.Cut(line, " ")
		code, _, _ := strings.Cut(status, " ")
		if !strings.HasPrefix(proto, "HTTP/1.") || len(code) != 3 || strings.Trim(code, "0123456789") != "" {
			return fmt.Errorf("malformed HTTP proxy response %q", line)
		}
		if code[0] == '1' && code != "101" {
			continue // interim: the final response follows
		}
		if code[0] != '2' {
			return fmt.Errorf("HTTP proxy refused CONNECT: %s", printable(status))
		}
		return nil
	}
}

// printable returns s as it is if it is all printable text, else quoted:
// a peer's words in an error text stay one line and cannot drive the
// terminal or log that shows it.
func printable(s string) string {
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return strconv.Quote(s)
		}
	}
	return s
}

// readHead reads one HTTP response head from conn, up to and including
// its blank line, one byte at a time, taking its length from *budget.
func readHead(conn net.Conn, budget *int) ([]byte, error) {
	head := make([]byte, 0, 256)
	one := make([]byte, 1)
	for !bytes.HasSuffix(head, []byte("\r\n\r\n")) && !bytes.HasSuffix(head, []byte("\n\n")) && !bytes.HasSuffix(head, []byte("\n\r\n")) {
		if *budget == 0 {
			return nil, errors.New("HTTP proxy response header too long")
		}
		if _, err := conn.Read(one); err != nil {
			return nil, fmt.Errorf("reading the HTTP proxy's response: %w", err)
		}
		head = append(head, one[0])
		*budget--
	}
	return head, nil
}
