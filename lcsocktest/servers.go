package lcsocktest

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"time"
)

// Hangup, returned by a LineServer handler, hangs up: the server ends the
// stream, so the client reads end of stream, and closes the connection
// when the client closes too. At the end of a longer reply it hangs up
// once the rest of the reply is sent: return "221 bye" + Hangup.
const Hangup = "\x00hangup"

// Server is a loopback TCP server for tests, made with the standard
// library's net (not lcsock), so that code using lcsock talks to an
// independent peer. It listens on 127.0.0.1 on a port the system picks
// and serves each connection on its own goroutine, until Close, which the
// test's cleanup calls. Its methods are safe for concurrent use.
type Server struct {
	ln     net.Listener
	serve  func(net.Conn)
	caFile string         // TLSServer: the CA certificate, PEM
	pool   *x509.CertPool // TLSServer: the CA

	wg      sync.WaitGroup // the accept loop and one per connection
	mu      sync.Mutex     // guards the fields below
	conns   map[net.Conn]struct{}
	total   int
	closed  bool
	closing sync.Once
}

// EchoServer starts a server that sends back every byte it receives. When
// the client ends its side of the stream, the server closes the
// connection once it has echoed everything.
func EchoServer(t TB) *Server {
	t.Helper()
	return newServer(t, echo)
}

// LineServer starts a server that reads lines ending in "\n" or "\r\n",
// calls handle with each line without its line end, and sends the reply
// back with the line end the client used. A reply of several lines,
// separated by "\n", is sent as that many lines. An empty reply sends
// nothing, so handle can take lines silently (the body of a message,
// say); a reply that ends with Hangup ends the stream after the rest of
// it is sent (the server then drops what the client sends until it
// closes). The connection also closes when the client ends the stream; a
// last line without a line end is then dropped.
//
// handle runs on the connection's goroutine: with several clients,
// calls may come at the same time. A LineServer sends nothing before the
// first line: protocols whose server speaks first need their own.
// A nil handle fails the test at once.
func LineServer(t TB, handle func(line string) string) *Server {
	t.Helper()
	if handle == nil {
		// Its first line would panic on the server's goroutine, taking
		// the whole test binary down.
		t.Fatalf("lcsocktest: LineServer needs a handle function")
	}
	return newServer(t, func(c net.Conn) { serveLines(c, handle) })
}

// TLSServer starts an EchoServer behind TLS (1.2 or later), with a
// certificate for host (a DNS name or an IP address) issued by ca. A
// client trusts it through CAFile (for lcsock's Config.Certificates or
// Registry.SetCertificates) or Pool (for a crypto/tls client). As the
// server listens on 127.0.0.1, an lcsock client checks a host name with
// VerifyHost(host) or dials it as "host:port".
func TLSServer(t TB, ca *CA, host string) *Server {
	t.Helper()
	if ca == nil {
		t.Fatalf("lcsocktest: TLSServer needs a CA")
	}
	certPEM, keyPEM := ca.Issue(t, host)
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatalf("lcsocktest: %v", err)
	}
	dir, err := os.MkdirTemp("", "lcsocktest")
	if err != nil {
		t.Fatalf("lcsocktest: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	caFile := WriteFile(t, dir, "ca.pem", ca.CertPEM)
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	s := newServer(t, func(c net.Conn) {
		tc := tls.Server(c, cfg)
		echo(tc)
		tc.Close() // sends close_notify when the handshake was made
	})
	s.caFile, s.pool = caFile, ca.Pool()
	return s
}

func newServer(t TB, serve func(net.Conn)) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("lcsocktest: %v", err)
	}
	s := &Server{ln: ln, serve: serve, conns: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go s.accept()
	t.Cleanup(s.Close)
	return s
}

func (s *Server) accept() {
	defer s.wg.Done()
	var delay time.Duration
	for {
		c, err := s.ln.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors, say: wait and try again, as
			// net/http does, rather than leave the test's next clients
			// hanging on a listener nobody accepts from.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			time.Sleep(delay)
			continue
		}
		delay = 0
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.total++
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			s.serve(c)
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
			c.Close()
		}()
	}
}

// Addr returns the address the server listens on, "127.0.0.1:port".
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Port returns the port the server listens on.
func (s *Server) Port() int { return s.ln.Addr().(*net.TCPAddr).Port }

// ID returns an lcsock socket ID for the server: "127.0.0.1:port|name",
// or "127.0.0.1:port" when name is "".
func (s *Server) ID(name string) string {
	if name == "" {
		return s.Addr()
	}
	return s.Addr() + "|" + name
}

// Conns returns how many connections the server has accepted so far,
// including those whose TLS handshake failed. A connection is counted
// before the server reads from it, so it is counted once a reply to it
// has arrived.
func (s *Server) Conns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total
}

// CAFile returns the name of a PEM file holding the certificate of the CA
// that issued a TLSServer's certificate, for lcsock's Config.Certificates
// or Registry.SetCertificates; the file is removed by the test's cleanup.
// It returns "" for other servers.
func (s *Server) CAFile() string { return s.caFile }

// Pool returns a pool holding the CA that issued a TLSServer's
// certificate, for a crypto/tls client's RootCAs; nil for other servers.
func (s *Server) Pool() *x509.CertPool { return s.pool }

// Close stops the server: it stops accepting, closes every connection
// and waits for the server's goroutines to end. It is idempotent, and
// the test's cleanup calls it. It must not be called from a LineServer
// handler.
func (s *Server) Close() {
	s.closing.Do(func() {
		s.mu.Lock()
		s.closed = true
		conns := make([]net.Conn, 0, len(s.conns))
		for c := range s.conns {
			conns = append(conns, c)
		}
		s.mu.Unlock()
		s.ln.Close()
		for _, c := range conns {
			c.Close()
		}
	})
	s.wg.Wait()
}

// echo sends back what it reads until the stream ends or fails.
func echo(c net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// serveLines is the loop of a LineServer connection.
func serveLines(c net.Conn, handle func(string) string) {
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line, eol := line[:len(line)-1], "\n"
		if l, ok := strings.CutSuffix(line, "\r"); ok {
			line, eol = l, "\r\n"
		}
		reply, hangup := strings.CutSuffix(handle(line), Hangup)
		if reply != "" {
			reply = strings.ReplaceAll(strings.ReplaceAll(reply, "\r\n", "\n"), "\n", eol) + eol
			if _, err := io.WriteString(c, reply); err != nil {
				return
			}
		}
		if hangup {
			// End the stream, then drop what the client still sends until
			// it closes too: closing with input unread would reset the
			// connection, and the client might lose the reply.
			if cw, ok := c.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
				io.Copy(io.Discard, r)
			}
			return
		}
	}
}
