package lcsock

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// TLS errors.
var (
	// ErrHandshake: the TLS handshake failed; the wrapping error says why
	// (unknown authority, name mismatch, expired, ...).
	ErrHandshake = errors.New("TLS handshake failed")
	// ErrCertificates: an entry of the certificate list (LiveCode's
	// sslCertificates) or a certificate or key given to a verb cannot be
	// read or holds no PEM certificate; the wrapping error names it.
	ErrCertificates = errors.New("error loading certificates")
	// ErrNotSecure: TLSState of a socket that does not use TLS.
	ErrNotSecure = errors.New("socket is not secure")
	// ErrPinMismatch: the peer's public key matches none of the pins.
	ErrPinMismatch = errors.New("public key does not match any pin")
)

// tlsOptions are the TLS clauses of OpenSecure, Secure and AcceptSecure.
type tlsOptions struct {
	noVerify   bool   // Verify(false): LiveCode's "without verification"
	verifyHost string // VerifyHost: "with verification for host"
	certPEM    string // ClientCert / AsServer: file name or PEM data
	keyPEM     string //
	server     bool   // Secure in the server role (AsServer)
	base       *tls.Config
	handshake  time.Duration
	pins       [][32]byte
	alpn       []string
	clientCAs  *x509.CertPool
	requireCli bool
}

// Verify is LiveCode's "with verification" (true, the default) or
// "without verification" (false): whether the peer's certificate chain
// and host name are checked. For OpenSecure and Secure.
func Verify(on bool) Option {
	return Option{name: "Verify", verbs: verbSecureClient, apply: func(o *options) error {
		o.tls.noVerify = !on
		return nil
	}}
}

// VerifyHost is LiveCode's "with verification for host name": the name
// sent as SNI and checked against the certificate, instead of the host
// of the socket ID — for tunnels and proxies. An internationalised name
// is used in its ASCII ("xn--") form, the form certificates carry, as the
// host of an ID is (see [ID.ASCIIHost]); a name ParseID would refuse as a
// host is refused by the verb with an error wrapping ErrBadID, and a name
// with a ':' must be an IPv6 literal (brackets optional). For OpenSecure
// and Secure.
func VerifyHost(name string) Option {
	return Option{name: "VerifyHost", verbs: verbSecureClient, apply: func(o *options) error {
		if name == "" {
			return errors.New("VerifyHost needs a host name")
		}
		if strings.Contains(name, ":") {
			// An IPv6 literal, bracketed or not: toASCIIHost passes any
			// name with a ':' unchecked, as an ID's host has been
			// checked by checkIPv6 before it.
			lit := name
			if rest, ok := strings.CutPrefix(name, "["); ok {
				if lit, ok = strings.CutSuffix(rest, "]"); !ok {
					return fmt.Errorf("%w: VerifyHost %q: missing ']' after IPv6 address", ErrBadID, name)
				}
			}
			if reason := checkIPv6(lit); reason != "" {
				return fmt.Errorf("%w: VerifyHost %q: %s", ErrBadID, name, reason)
			}
		}
		ascii, err := toASCIIHost(name)
		if err != nil {
			return fmt.Errorf("%w: VerifyHost %q: %w", ErrBadID, name, err)
		}
		o.tls.verifyHost = ascii
		return nil
	}}
}

// ClientCert is LiveCode's "using certificate cert and key key": the
// certificate chain and private key this side presents. Each argument is
// either PEM data (text containing "-----BEGIN") or the name of a PEM
// file, read when the socket opens. For OpenSecure and Secure.
func ClientCert(cert, key string) Option {
	return Option{name: "ClientCert", verbs: verbSecureClient, apply: func(o *options) error {
		o.tls.certPEM, o.tls.keyPEM = cert, key
		return nil
	}}
}

// AsServer makes Secure run the server side of the handshake with the
// given certificate and key (PEM data or file names, as for ClientCert).
// LiveCode's secure socket always acts as the client. The client role's
// options (Verify, VerifyHost, ClientCert, PinSHA256) are an error with
// it.
func AsServer(cert, key string) Option {
	return Option{name: "AsServer", verbs: verbSecure, apply: func(o *options) error {
		o.tls.server, o.tls.certPEM, o.tls.keyPEM = true, cert, key
		return nil
	}}
}

// TLSConfig sets a base *tls.Config; lcsock clones it and never changes
// the caller's value. Fields set by other options (verification, server
// name, certificates, ALPN) override the clone's; its InsecureSkipVerify
// is ignored: only Verify(false) turns verification off. MinVersion is
// raised to TLS 1.2 if lower, also in a configuration its
// GetConfigForClient returns, which RequireClientCert also holds to. For
// OpenSecure, Secure and AcceptSecure.
func TLSConfig(c *tls.Config) Option {
	return Option{name: "TLSConfig", verbs: verbAnyTLS, apply: func(o *options) error {
		o.tls.base = c
		return nil
	}}
}

// HandshakeTimeout bounds the TLS handshake. Zero means none for
// OpenSecure and Secure — socketTimeout events repeat meanwhile, as
// LiveCode's open does — and the timeout interval for each connection
// accepted by AcceptSecure. A handshake that passes it fails: with
// socketError for OpenSecure and Secure, while a connection accepted by
// AcceptSecure is closed without an event. Negative d is an error.
func HandshakeTimeout(d time.Duration) Option {
	return Option{name: "HandshakeTimeout", verbs: verbAnyTLS, apply: func(o *options) error {
		if d < 0 {
			return errors.New("negative HandshakeTimeout")
		}
		o.tls.handshake = d
		return nil
	}}
}

// PinSHA256 pins the peer's public key: the handshake succeeds only if the
// SHA-256 of the leaf certificate's SubjectPublicKeyInfo is one of pins
// (see [SPKIHash]). With verification on, pinning is checked on top of
// it; with Verify(false), instead of it. For OpenSecure and Secure.
func PinSHA256(pins ...[32]byte) Option {
	return Option{name: "PinSHA256", verbs: verbSecureClient, apply: func(o *options) error {
		if len(pins) == 0 {
			return errors.New("PinSHA256 needs at least one pin")
		}
		o.tls.pins = append(o.tls.pins, pins...)
		return nil
	}}
}

// SPKIHash returns the SHA-256 of a certificate's SubjectPublicKeyInfo,
// the value PinSHA256 takes. cert must not be nil.
func SPKIHash(cert *x509.Certificate) [32]byte {
	return sha256.Sum256(cert.RawSubjectPublicKeyInfo)
}

// ALPN offers application protocols, in order of preference. Each name
// must be 1 to 255 bytes long, as TLS carries it. For OpenSecure, Secure
// and AcceptSecure.
func ALPN(protos ...string) Option {
	return Option{name: "ALPN", verbs: verbAnyTLS, apply: func(o *options) error {
		for _, p := range protos {
			if len(p) == 0 || len(p) > 255 {
				return fmt.Errorf("ALPN protocol name %q: must be 1 to 255 bytes", p)
			}
		}
		o.tls.alpn = protos
		return nil
	}}
}

// RequireClientCert makes AcceptSecure demand and verify a client
// certificate, against pool, or the registry's certificate list when pool
// is nil.
func RequireClientCert(pool *x509.CertPool) Option {
	return Option{name: "RequireClientCert", verbs: verbAcceptSecure, apply: func(o *options) error {
		o.tls.requireCli, o.tls.clientCAs = true, pool
		return nil
	}}
}

// OpenSecure is LiveCode's "open secure socket to id": Open, then a TLS
// handshake as the client, before the connected event. Verification is on
// by default, against the system roots plus the registry's certificate
// list, for the host of the ID (or VerifyHost's name), which is also sent
// as SNI when it is a name. TLS 1.2 is the minimum. Writes made before the
// handshake completes are queued and sent encrypted after it. A failed
// handshake gives one socketError wrapping ErrHandshake whose text says
// why, and the ID leaves OpenSockets. A certificate list or client
// certificate that cannot be read is an error from OpenSecure itself
// (ErrCertificates). Options: those of Open, and Verify, VerifyHost,
// ClientCert, TLSConfig, HandshakeTimeout, PinSHA256, ALPN.
func (r *Registry) OpenSecure(id string, h Handler, opts ...Option) error {
	return r.open("opensecure", id, h, opts)
}

// clientTLS builds the client configuration for host (the dialled host).
func (r *Registry) clientTLS(o *tlsOptions, host string) (*tls.Config, error) {
	cfg := baseTLS(o)
	cfg.ServerName = host
	if o.verifyHost != "" {
		cfg.ServerName = o.verifyHost
	}
	// Verification is Verify's to turn off, not a base TLSConfig's. With
	// Verify(false), LiveCode's "without verification", the certificate
	// list is not read (the engine's quirk of failing on it is not
	// copied).
	cfg.InsecureSkipVerify = o.noVerify
	if !o.noVerify {
		pool, err := r.rootPool()
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	if o.certPEM != "" || o.keyPEM != "" {
		cert, err := loadKeyPair(o.certPEM, o.keyPEM)
		if err != nil {
			return nil, err
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	if len(o.pins) > 0 {
		pins := o.pins
		prev := cfg.VerifyConnection
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if prev != nil {
				if err := prev(cs); err != nil {
					return err
				}
			}
			if len(cs.PeerCertificates) == 0 {
				return ErrPinMismatch
			}
			got := SPKIHash(cs.PeerCertificates[0])
			for _, p := range pins {
				if p == got {
					return nil
				}
			}
			return ErrPinMismatch
		}
	}
	return cfg, nil
}

// serverTLS builds a server configuration.
func (r *Registry) serverTLS(o *tlsOptions) (*tls.Config, error) {
	cfg := baseTLS(o)
	cert, err := loadKeyPair(o.certPEM, o.keyPEM)
	if err != nil {
		return nil, err
	}
	cfg.Certificates = []tls.Certificate{cert}
	if o.requireCli {
		pool := o.clientCAs
		if pool == nil {
			if pool, err = r.listPool(x509.NewCertPool()); err != nil {
				return nil, err
			}
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	if get := cfg.GetConfigForClient; get != nil {
		// The configuration it returns is the handshake's, instead of
		// cfg: it is held to the same minimum version and client
		// certificate check.
		requireCli, pool := o.requireCli, cfg.ClientCAs
		cfg.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			c, err := get(hello)
			if c == nil || err != nil {
				return c, err
			}
			c = c.Clone()
			c.MinVersion = max(c.MinVersion, tls.VersionTLS12)
			if requireCli {
				c.ClientCAs, c.ClientAuth = pool, tls.RequireAndVerifyClientCert
			}
			return c, nil
		}
	}
	return cfg, nil
}

func baseTLS(o *tlsOptions) *tls.Config {
	cfg := &tls.Config{}
	if o.base != nil {
		cfg = o.base.Clone()
	}
	cfg.MinVersion = max(cfg.MinVersion, tls.VersionTLS12)
	if o.alpn != nil {
		cfg.NextProtos = o.alpn
	}
	return cfg
}

// rootPool returns the system roots plus every certificate of the list.
func (r *Registry) rootPool() (*x509.CertPool, error) {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	return r.listPool(pool)
}

// listPool adds the certificates of the registry's list to pool. Each
// entry is a PEM file or a folder whose files are read; relative paths
// are resolved now, against the working directory.
func (r *Registry) listPool(pool *x509.CertPool) (*x509.CertPool, error) {
	for _, entry := range r.Certificates() {
		if entry == "" {
			continue
		}
		info, err := os.Stat(entry)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrCertificates, err)
		}
		files := []string{entry}
		if info.IsDir() {
			des, err := os.ReadDir(entry)
			if err != nil {
				return nil, fmt.Errorf("%w: %w", ErrCertificates, err)
			}
			files = files[:0]
			for _, de := range des {
				f := filepath.Join(entry, de.Name())
				if de.Type()&fs.ModeSymlink != 0 {
					// A hashed link, as OpenSSL's c_rehash makes them:
					// what it points to counts.
					if fi, err := os.Stat(f); err == nil && fi.Mode().IsRegular() {
						files = append(files, f)
					}
					continue
				}
				if de.Type().IsRegular() {
					files = append(files, f)
				}
			}
		}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				return nil, fmt.Errorf("%w: %w", ErrCertificates, err)
			}
			if !pool.AppendCertsFromPEM(data) && !info.IsDir() {
				return nil, fmt.Errorf("%w: no PEM certificate in %s", ErrCertificates, f)
			}
		}
	}
	return pool, nil
}

// loadKeyPair reads a certificate and key given as PEM data or file names.
func loadKeyPair(cert, key string) (tls.Certificate, error) {
	c, err := pemOrFile(cert, "certificate")
	if err != nil {
		return tls.Certificate{}, err
	}
	k, err := pemOrFile(key, "key")
	if err != nil {
		return tls.Certificate{}, err
	}
	pair, err := tls.X509KeyPair(c, k)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("%w: %w", ErrCertificates, err)
	}
	return pair, nil
}

func pemOrFile(s, what string) ([]byte, error) {
	if s == "" {
		return nil, fmt.Errorf("%w: no %s given", ErrCertificates, what)
	}
	if bytes.Contains([]byte(s), []byte("-----BEGIN")) {
		if p, _ := pem.Decode([]byte(s)); p == nil {
			return nil, fmt.Errorf("%w: the %s is not valid PEM", ErrCertificates, what)
		}
		return []byte(s), nil
	}
	data, err := os.ReadFile(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCertificates, err)
	}
	return data, nil
}

// handshake runs a TLS handshake on conn for s (for a listener: of a
// connection it accepted), bounded by ctx and d (0 = no bound), and
// classifies a failure. Meanwhile the calling goroutine is listed as
// running s's TLS callbacks (see runTLS).
func (r *Registry) handshake(ctx context.Context, s *socket, conn *tls.Conn, d time.Duration) error {
	defer r.runTLS(s)()
	if d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	if err := conn.HandshakeContext(ctx); err != nil {
		return &causeError{ErrHandshake, err}
	}
	return nil
}

// runTLS lists the calling goroutine as one that may run s's TLS
// callbacks — in a handshake, or in the reads and writes of a connection
// that may renegotiate or whose handshake is still to run (see
// socket.tlsUserIO) — until the returned function is called. The
// callbacks are user code, which may call Close or Shutdown, and those
// must not wait for this goroutine (see handshaking).
func (r *Registry) runTLS(s *socket) (leave func()) {
	me := goid()
	r.mu.Lock()
	prev, had := r.handshakes[me]
	r.handshakes[me] = s
	r.mu.Unlock()
	return func() {
		r.mu.Lock()
		if had {
			r.handshakes[me] = prev
		} else {
			delete(r.handshakes, me)
		}
		r.mu.Unlock()
	}
}

// renegotiates reports whether a client configuration lets the server
// start a new handshake (TLS 1.2 renegotiation), which Go runs, with its
// callbacks, inside a Read.
func renegotiates(cfg *tls.Config) bool {
	return cfg.Renegotiation != tls.RenegotiateNever
}

// TLSState returns the negotiated TLS version, cipher suite, ALPN
// protocol and peer certificates of a secure socket, or an error wrapping
// ErrSocketNotOpen or ErrNotSecure (which says so when the socket's
// handshake has not completed yet).
func (r *Registry) TLSState(id string) (tls.ConnectionState, error) {
	s, err := r.lookupConn("tlsstate", id)
	if err != nil {
		return tls.ConnectionState{}, err
	}
	s.mu.Lock()
	tc, ok := s.conn.(*tls.Conn)
	pending := s.secured || s.holdReads // OpenSecure connecting, or Secure called
	s.mu.Unlock()
	switch {
	case !ok && pending:
		return tls.ConnectionState{}, &OpError{Op: "tlsstate", Socket: id, Err: &causeError{ErrNotSecure, errors.New("its TLS handshake has not completed")}}
	case !ok:
		return tls.ConnectionState{}, &OpError{Op: "tlsstate", Socket: id, Err: ErrNotSecure}
	}
	return tc.ConnectionState(), nil
}

// Secure is LiveCode's "secure socket id": it upgrades an open plain
// socket to TLS in place (STARTTLS). Writes already queued finish in the
// clear; the handshake runs after them, as the client by default (the
// options are those of OpenSecure) or as the server with AsServer; every
// later write is encrypted and pending reads continue on the decrypted
// stream. Bytes received but not yet read when Secure is called are the
// start of the secure stream — in the server role, the peer's ClientHello
// — and never reach a plaintext read; plaintext injected there makes the
// handshake fail; if the stream ends before the handshake, a pending
// read ends without them. Writes made after Secure never go out in the
// clear: CloseSocket flushes them over TLS, running the handshake if it
// has not run yet, and drops them if it fails. It returns
// at once; a failed handshake gives the socket's owner one socketError
// wrapping ErrHandshake. An already secure socket is left as it is
// (nil). An unknown ID gives ErrSocketNotOpen, a datagram socket
// ErrDatagramTLS, a listener ErrNotWritable, and a socket opened with
// InputEOL an error: its early bytes were converted.
func (r *Registry) Secure(id string, opts ...Option) error {
	s, err := r.lookupConn("secure", id)
	if err != nil {
		return err
	}
	if s.dg != nil {
		return &OpError{Op: "secure", Socket: id, Err: ErrDatagramTLS}
	}
	o, err := buildOptions("secure", id, opts)
	if err != nil {
		return err
	}
	s.mu.Lock()
	secure := isTLS(s.conn) || s.secured
	s.mu.Unlock()
	if secure {
		return nil // case 93: nothing changes, nothing is read
	}
	var cfg *tls.Config
	if o.tls.server {
		cfg, err = r.serverTLS(&o.tls)
	} else {
		cfg, err = r.clientTLS(&o.tls, s.addr.ASCIIHost())
	}
	if err != nil {
		return &OpError{Op: "secure", Socket: id, Err: err}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.conn.(*tls.Conn); ok || s.secured {
		return nil // case 93: already secure
	}
	if s.eolIn != nil {
		// The bytes received so far were converted: a ClientHello among
		// them would be corrupted.
		return &OpError{Op: "secure", Socket: id, Err: errors.New("Secure cannot upgrade a socket opened with InputEOL")}
	}
	if err := s.addWrite(&writeReq{upgrade: &upgrade{cfg: cfg, server: o.tls.server, timeout: o.tls.handshake}, iv: r.TimeoutInterval()}); err != nil {
		if oe, ok := err.(*OpError); ok {
			oe.Op = "secure" // the queue's error, of this verb
		}
		return err
	}
	s.secured = true
	s.holdReads = true // from now on received bytes belong to the secure stream
	return nil
}

// upgrade is the write-queue marker of Secure.
type upgrade struct {
	cfg     *tls.Config
	server  bool
	timeout time.Duration
}

// prefixConn reads prefix before the connection: bytes received before a
// TLS upgrade, handed to the TLS engine as the start of its stream.
type prefixConn struct {
	net.Conn
	prefix []byte
}

func (c *prefixConn) Read(p []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// doUpgrade runs a Secure upgrade from the writer goroutine, once the
// writes queued before it are sent: it parks the reader, hands the unread
// bytes to TLS, runs the handshake and swaps the connection. Called with
// s.mu held; it releases it during the handshake.
func (s *socket) doUpgrade(u *upgrade) error {
	raw := s.conn
	s.upgrading = true
	s.space.Broadcast()                  // wake the reader out of a backpressure wait
	raw.SetReadDeadline(time.Unix(1, 0)) // or out of Read
	// A socket closed locally (stateClosing) still upgrades: a close
	// flushes the queued writes, and those after Secure go over TLS.
	for !s.readerParked && s.state != stateDone && !s.eof {
		s.space.Wait()
	}
	if !s.readerCloses {
		// Otherwise the past deadline is what wakes the reader to close
		// the connection (closeConn): it must stay.
		raw.SetReadDeadline(time.Time{})
	}
	if s.state == stateDone || s.eof {
		s.upgrading = false
		s.discardUnread() // the bytes were for TLS: never a plaintext read
		s.space.Broadcast()
		return &OpError{Op: "secure", Socket: s.id, Err: ErrClosed}
	}
	pc := &prefixConn{Conn: raw, prefix: append([]byte(nil), s.unread()...)}
	s.discardUnread() // pending reads continue on the decrypted stream
	var tc *tls.Conn
	if u.server {
		tc = tls.Server(pc, u.cfg)
	} else {
		tc = tls.Client(pc, u.cfg)
	}
	s.mu.Unlock()
	err := s.reg.handshake(context.Background(), s, tc, u.timeout)
	s.mu.Lock()
	if err == nil && s.state != stateDone {
		// Closed meanwhile (stateClosing): the queued writes are still
		// flushed, and over TLS — never in the clear.
		s.conn = tc
		s.raw = nil // TLS may hold decrypted input: the reader must call Read
		s.tlsUserIO = !u.server && renegotiates(u.cfg)
	}
	s.upgrading = false
	s.holdReads = false
	s.space.Broadcast()
	if err != nil {
		return &OpError{Op: "secure", Socket: s.id, Err: err}
	}
	s.serveReads()
	return nil
}

// AcceptSecure is "accept secure connections on port port with message
// message": Accept whose connections run a TLS server handshake with
// cert and key (PEM data or file names) before they are announced. A
// connection whose handshake fails, or does not finish within
// HandshakeTimeout (default: the timeout interval), is closed without an
// event. Options: those of Accept, and RequireClientCert, TLSConfig,
// HandshakeTimeout, ALPN.
func (r *Registry) AcceptSecure(port int, h Handler, message, cert, key string, opts ...Option) (int, error) {
	o, err := buildOptions("acceptsecure", strconv.Itoa(port), opts)
	if err != nil {
		return 0, err
	}
	o.tls.certPEM, o.tls.keyPEM = cert, key
	cfg, err := r.serverTLS(&o.tls)
	if err != nil {
		return 0, &OpError{Op: "accept", Socket: strconv.Itoa(port), Err: err}
	}
	if o.tls.handshake == 0 {
		o.tls.handshake = r.TimeoutInterval()
	}
	return r.accept(port, h, message, o, cfg)
}
