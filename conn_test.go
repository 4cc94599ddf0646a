package lcsock_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/lcsock/lcsock"
	"github.com/lcsock/lcsock/lcsocktest"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/nettest"
)

// TestConnConformance runs x/net's net.Conn conformance suite on Conn
// views: against a plain net.Conn, against another registry's accepted
// socket, and on both ends of an adopted net.Pipe.
func TestConnConformance(t *testing.T) {
	t.Run("lcsock-net", func(t *testing.T) {
		nettest.TestConn(t, func() (c1, c2 net.Conn, stop func(), err error) {
			reg, err := lcsock.NewRegistry(lcsock.Config{})
			if err != nil {
				return nil, nil, nil, err
			}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				reg.Close()
				return nil, nil, nil, err
			}
			defer ln.Close()
			id := ln.Addr().String()
			if err := reg.Open(id, nil); err != nil {
				reg.Close()
				return nil, nil, nil, err
			}
			peer, err := ln.Accept()
			if err != nil {
				reg.Close()
				return nil, nil, nil, err
			}
			view, err := reg.Conn(id)
			if err != nil {
				reg.Close()
				peer.Close()
				return nil, nil, nil, err
			}
			return view, peer, func() { view.Close(); peer.Close(); reg.Close() }, nil
		})
	})
	t.Run("lcsock-lcsock", func(t *testing.T) {
		nettest.TestConn(t, func() (c1, c2 net.Conn, stop func(), err error) {
			accepted := make(chan string, 1)
			srv, err := lcsock.NewRegistry(lcsock.Config{Handler: lcsock.HandlerFunc(func(ev lcsock.Event) {
				if ev.Kind == lcsock.EventAccepted {
					accepted <- ev.Socket
				}
			})})
			if err != nil {
				return nil, nil, nil, err
			}
			cli, _ := lcsock.NewRegistry(lcsock.Config{})
			stop = func() { cli.Close(); srv.Close() }
			port, err := srv.Accept(0, nil, "newConn")
			if err != nil {
				stop()
				return nil, nil, nil, err
			}
			id := "127.0.0.1:" + itoa(port)
			if err := cli.Open(id, nil); err != nil {
				stop()
				return nil, nil, nil, err
			}
			c1, err = cli.Conn(id)
			if err != nil {
				stop()
				return nil, nil, nil, err
			}
			select {
			case sid := <-accepted:
				c2, err = srv.Conn(sid)
			case <-time.After(wait):
				err = errors.New("no connection accepted")
			}
			if err != nil {
				stop()
				return nil, nil, nil, err
			}
			return c1, c2, stop, nil
		})
	})
	t.Run("adopted-pipe", func(t *testing.T) {
		nettest.TestConn(t, func() (c1, c2 net.Conn, stop func(), err error) {
			reg, err := lcsock.NewRegistry(lcsock.Config{})
			if err != nil {
				return nil, nil, nil, err
			}
			p1, p2 := net.Pipe()
			views := make([]net.Conn, 2)
			for i, p := range []net.Conn{p1, p2} {
				id := "pipe:" + itoa(i+1)
				if _, err := reg.Adopt(id, p, nil); err != nil {
					reg.Close()
					return nil, nil, nil, err
				}
				if views[i], err = reg.Conn(id); err != nil {
					reg.Close()
					return nil, nil, nil, err
				}
			}
			return views[0], views[1], func() { reg.Close() }, nil
		})
	})
}

func TestConnEOFAfterBufferedInput(t *testing.T) {
	reg, rec := newReg(t, lcsock.Config{})
	p := newPeer(t)
	id := p.id("")
	require.NoError(t, reg.Open(id, nil))
	peer := p.accept()
	_, err := peer.Write([]byte("last words"))
	require.NoError(t, err)
	peer.Close()
	// The socket's owner hears socketClosed only once the input is read,
	// so none of it is lost to a Conn reading late.
	c, err := reg.Conn(id)
	require.NoError(t, err)
	got, err := io.ReadAll(c)
	require.NoError(t, err)
	require.Equal(t, "last words", string(got))
	rec.WaitFor(t, lcsock.EventClosed, id, wait)
	require.NoError(t, c.Close(), "closing a socket the peer closed is not an error")
	require.ErrorIs(t, c.Close(), net.ErrClosed)
	_, err = c.Read(make([]byte, 1))
	require.ErrorIs(t, err, net.ErrClosed)
}

func TestConnDeadlineLeavesDataBuffered(t *testing.T) {
	reg, _ := newReg(t, lcsock.Config{})
	id, peer, c := openConnView(t, reg)
	require.NoError(t, c.SetReadDeadline(time.Now().Add(20*time.Millisecond)))
	_, err := c.Read(make([]byte, 4))
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	require.True(t, ne.Timeout())

	_, err = peer.Write([]byte("hello"))
	require.NoError(t, err)
	got, err := reg.Read(context.Background(), id, lcsock.For(5, lcsock.Chars))
	require.NoError(t, err)
	require.Equal(t, "hello", string(got))
}

func TestConnNoTimeoutInterval(t *testing.T) {
	// A Conn read waits past the registry's timeout interval: net.Conn
	// has deadlines, not LiveCode's socketTimeoutInterval.
	reg, _ := newReg(t, lcsock.Config{TimeoutInterval: 5 * time.Millisecond})
	id, peer, c := openConnView(t, reg)
	got := make(chan string, 1)
	go func() {
		b := make([]byte, 16)
		n, err := c.Read(b)
		if err != nil {
			got <- err.Error()
			return
		}
		got <- string(b[:n])
	}()
	// Make sure several intervals pass before the data comes: a read
	// through the registry times out meanwhile.
	_, err := reg.Read(context.Background(), id, lcsock.For(1, lcsock.Chars))
	require.ErrorIs(t, err, lcsock.ErrTimeout)
	_, err = peer.Write([]byte("late"))
	require.NoError(t, err)
	select {
	case s := <-got:
		require.Equal(t, "late", s)
	case <-time.After(wait):
		t.Fatal("Conn.Read did not return")
	}
}

func TestConnRefusesListenersAndUnknown(t *testing.T) {
	reg, _ := newReg(t, lcsock.Config{})
	_, err := reg.Conn("127.0.0.1:1|nope")
	require.ErrorIs(t, err, lcsock.ErrSocketNotOpen)
	port, err := reg.Accept(0, nil, "x")
	require.NoError(t, err)
	_, err = reg.Conn(itoa(port))
	require.ErrorIs(t, err, lcsock.ErrNotReadable)
}

// TestConnHTTPAndTLS hands Conn views to net/http and crypto/tls: the
// LiveCode-style socket carries a verified HTTPS request.
func TestConnHTTPAndTLS(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello "+r.URL.Path)
	}))
	defer srv.Close()
	reg, _ := newReg(t, lcsock.Config{})
	id := strings.TrimPrefix(srv.URL, "https://")
	require.NoError(t, reg.Open(id, nil))
	raw, err := reg.Conn(id)
	require.NoError(t, err)
	client := srv.Client()
	tr := client.Transport.(*http.Transport)
	tr.DialTLSContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		cfg := tr.TLSClientConfig.Clone()
		cfg.ServerName = "example.com" // httptest's certificate names it
		tc := tls.Client(raw, cfg)
		return tc, tc.HandshakeContext(ctx)
	}
	tr.DisableKeepAlives = true
	resp, err := client.Get(srv.URL + "/world")
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, "hello /world", string(body))
	tr.CloseIdleConnections()
}

// TestAdoptHijacked adopts a connection hijacked from net/http, with the
// bytes its bufio.Reader already holds, and talks LiveCode-style on it.
func TestAdoptHijacked(t *testing.T) {
	reg, rec := newReg(t, lcsock.Config{})
	adopted := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			adopted <- "hijack: " + err.Error()
			return
		}
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: lines\r\nConnection: Upgrade\r\n\r\n")
		brw.Flush()
		buffered, _ := brw.Reader.Peek(brw.Reader.Buffered())
		id, err := reg.Adopt("", conn, nil, lcsock.Buffered(buffered), lcsock.WithMessage("adopted"))
		if err != nil {
			conn.Close()
			adopted <- "adopt: " + err.Error()
			return
		}
		adopted <- id
	}))
	defer srv.Close()

	c, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	require.NoError(t, err)
	defer c.Close()
	// The first line rides with the request, so the server's bufio.Reader
	// has it when the handler hijacks.
	_, err = io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: lines\r\nConnection: Upgrade\r\n\r\nfirst line\n")
	require.NoError(t, err)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)

	var id string
	select {
	case id = <-adopted:
	case <-time.After(wait):
		t.Fatal("not adopted")
	}
	require.Contains(t, id, "127.0.0.1:", id)
	ev := rec.WaitFor(t, lcsock.EventConnected, id, wait)
	require.Equal(t, "adopted", ev.Name)
	require.Contains(t, reg.OpenSockets(), id)

	line, err := reg.Read(context.Background(), id, lcsock.Until("\n"))
	require.NoError(t, err)
	require.Equal(t, "first line\n", string(line))
	_, err = io.WriteString(c, "second line\n")
	require.NoError(t, err)
	line, err = reg.Read(context.Background(), id, lcsock.Until("\n"))
	require.NoError(t, err)
	require.Equal(t, "second line\n", string(line))
	require.NoError(t, reg.WriteWithMessage(id, []byte("bye\n"), nil, "sent"))
	rec.WaitFor(t, lcsock.EventWritten, id, wait)
	got, err := br.ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "bye\n", got)
	require.NoError(t, reg.CloseSocket(id))
	_, err = br.ReadByte()
	require.ErrorIs(t, err, io.EOF, "closing the socket closes the adopted connection")
}

func TestAdoptErrors(t *testing.T) {
	reg, _ := newReg(t, lcsock.Config{})
	p1, p2 := net.Pipe()
	defer p2.Close()
	defer p1.Close()
	_, err := reg.Adopt("", p1, nil)
	require.ErrorIs(t, err, lcsock.ErrBadID, "a pipe has no TCP address to name the socket after")
	_, err = reg.Adopt("no port", p1, nil)
	require.ErrorIs(t, err, lcsock.ErrBadID)
	_, err = reg.Adopt("pipe:1", nil, nil)
	require.Error(t, err)
	_, err = reg.Adopt("pipe:1", p1, nil, lcsock.From(":0"))
	require.ErrorContains(t, err, "does not apply to adopt")
	id, err := reg.Adopt("pipe:1", p1, nil)
	require.NoError(t, err)
	require.Equal(t, "pipe:1", id)
	_, err = reg.Adopt("PIPE:1", p2, nil)
	require.ErrorIs(t, err, lcsock.ErrAlreadyOpen)
	// p2 is still the caller's: it works. (Closing p1 here, behind the
	// socket's back, would race: the socket could fail and leave before
	// CloseSocket.)
	_ = p2.SetDeadline(time.Now().Add(wait))
	require.NoError(t, reg.CloseSocket(id))
	_, err = p2.Read(make([]byte, 1))
	require.ErrorIs(t, err, io.EOF, "closing the socket closed p1")
}

func TestAdoptTLS(t *testing.T) {
	ca := lcsocktest.NewCA(t)
	cert, key := ca.Issue(t, "localhost")
	pair, err := tls.X509KeyPair(cert, key)
	require.NoError(t, err)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{pair}})
	require.NoError(t, err)
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		io.Copy(c, c)
	}()
	tc, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost"})
	require.NoError(t, err)
	reg, _ := newReg(t, lcsock.Config{})
	id, err := reg.Adopt("", tc, nil)
	require.NoError(t, err)
	st, err := reg.TLSState(id)
	require.NoError(t, err)
	require.True(t, st.HandshakeComplete)
	require.NoError(t, reg.Secure(id), "an adopted TLS socket is already secure")
	_, err = reg.Write(context.Background(), id, []byte("ping\n"))
	require.NoError(t, err)
	got, err := reg.Read(context.Background(), id, lcsock.Until("\n"))
	require.NoError(t, err)
	require.Equal(t, "ping\n", string(got))
}

func TestConnCloseWrite(t *testing.T) {
	reg, _ := newReg(t, lcsock.Config{})
	_, peer, c := openConnView(t, reg)
	_, err := c.Write([]byte("request"))
	require.NoError(t, err)
	require.NoError(t, c.CloseWrite())
	_, err = c.Write([]byte("more"))
	require.ErrorIs(t, err, lcsock.ErrClosed, "no writes after CloseWrite")
	peer.SetReadDeadline(time.Now().Add(wait))
	got, err := io.ReadAll(peer)
	require.NoError(t, err)
	require.Equal(t, "request", string(got))
	_, err = peer.Write([]byte("response"))
	require.NoError(t, err)
	peer.Close()
	got, err = io.ReadAll(c)
	require.NoError(t, err)
	require.Equal(t, "response", string(got))
}

// openConnView opens a socket of reg to a plain net peer and returns its
// ID, the peer's end and the socket's Conn view.
func openConnView(t *testing.T, reg *lcsock.Registry) (string, net.Conn, *lcsock.Conn) {
	t.Helper()
	p := newPeer(t)
	id := p.id("")
	require.NoError(t, reg.Open(id, nil))
	peer := p.accept()
	c, err := reg.Conn(id)
	require.NoError(t, err)
	return id, peer, c
}
