package lcsock_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lcsock/lcsock"
	"github.com/lcsock/lcsock/lcsocktest"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"golang.org/x/net/dns/dnsmessage"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// wait is how long a test waits for an event that must come.
const wait = 5 * time.Second

// newReg returns a registry whose default handler records every event.
func newReg(t *testing.T, cfg lcsock.Config) (*lcsock.Registry, *lcsocktest.Recorder) {
	t.Helper()
	rec := &lcsocktest.Recorder{}
	if cfg.Handler == nil {
		cfg.Handler = rec
	}
	reg, err := lcsock.NewRegistry(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { reg.Close() })
	return reg, rec
}

// peer is a plain net listener on loopback standing in for the other side.
type peer struct {
	t  *testing.T
	ln net.Listener
}

func newPeer(t *testing.T) *peer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	return &peer{t: t, ln: ln}
}

// id returns a socket ID for the peer with the given label.
func (p *peer) id(label string) string {
	id := p.ln.Addr().String()
	if label != "" {
		id += "|" + label
	}
	return id
}

func (p *peer) port() int { return p.ln.Addr().(*net.TCPAddr).Port }

// accept returns the next connection, closed at cleanup.
func (p *peer) accept() net.Conn {
	p.t.Helper()
	p.ln.(*net.TCPListener).SetDeadline(time.Now().Add(wait))
	c, err := p.ln.Accept()
	require.NoError(p.t, err)
	p.t.Cleanup(func() { c.Close() })
	return c
}

// readN reads exactly n bytes from c.
func readN(t *testing.T, c net.Conn, n int) []byte {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, n)
	_, err := ioReadFull(c, buf)
	require.NoError(t, err)
	return buf
}

func ioReadFull(c net.Conn, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := c.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// openConnected opens id with a connected message and returns the
// accepted peer side once the connected event arrived.
func openConnected(t *testing.T, reg *lcsock.Registry, rec *lcsocktest.Recorder, p *peer, id string) net.Conn {
	t.Helper()
	require.NoError(t, reg.Open(id, nil, lcsock.WithMessage("connected")))
	c := p.accept()
	rec.WaitFor(t, lcsock.EventConnected, id, wait)
	return c
}

func ctxWait(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	t.Cleanup(cancel)
	return ctx
}

// fakeDNS is an in-test DNS server on loopback. Every name resolves to
// 127.0.0.1 unless listed in fail (NXDOMAIN) or given its own addresses
// (A and AAAA records, see setAddrs); answers wait while the gate is
// closed; names in hang are never answered. PTR questions are answered
// from ptr, with no records otherwise. Every question's name is kept.
type fakeDNS struct {
	pc    net.PacketConn
	mu    sync.Mutex
	fail  map[string]bool
	hang  map[string]bool
	addrs map[string][]netip.Addr
	ptr   map[string]string
	asked []string
	gate  chan struct{}
	wg    sync.WaitGroup
}

func newFakeDNS(t *testing.T) *fakeDNS {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	d := &fakeDNS{pc: pc, fail: map[string]bool{}, hang: map[string]bool{},
		addrs: map[string][]netip.Addr{}, ptr: map[string]string{}}
	d.wg.Add(1)
	go d.serve()
	t.Cleanup(func() { pc.Close(); d.open(); d.wg.Wait() })
	return d
}

// failName makes name (fully qualified) answer NXDOMAIN.
func (d *fakeDNS) failName(name string) {
	d.mu.Lock()
	d.fail[name] = true
	d.mu.Unlock()
}

// hangName makes name (fully qualified) never answer.
func (d *fakeDNS) hangName(name string) {
	d.mu.Lock()
	d.hang[name] = true
	d.mu.Unlock()
}

// setAddrs makes name (fully qualified) answer with addrs, in that order:
// the IPv4 ones as A records, the IPv6 ones as AAAA records.
func (d *fakeDNS) setAddrs(name string, addrs ...string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, a := range addrs {
		d.addrs[name] = append(d.addrs[name], netip.MustParseAddr(a))
	}
}

// setPTR makes the reverse lookup of addr answer name (fully qualified).
func (d *fakeDNS) setPTR(addr, name string) {
	d.mu.Lock()
	d.ptr[reverseName(netip.MustParseAddr(addr))] = name
	d.mu.Unlock()
}

// reverseName returns the in-addr.arpa name of an IPv4 address.
func reverseName(a netip.Addr) string {
	b := a.As4()
	return itoa(int(b[3])) + "." + itoa(int(b[2])) + "." + itoa(int(b[1])) + "." + itoa(int(b[0])) + ".in-addr.arpa."
}

// questions returns the names asked so far, fully qualified.
func (d *fakeDNS) questions() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.asked...)
}

// closeGate holds answers until open is called.
func (d *fakeDNS) closeGate() {
	d.mu.Lock()
	d.gate = make(chan struct{})
	d.mu.Unlock()
}

func (d *fakeDNS) open() {
	d.mu.Lock()
	if d.gate != nil {
		close(d.gate)
		d.gate = nil
	}
	d.mu.Unlock()
}

func (d *fakeDNS) serve() {
	defer d.wg.Done()
	buf := make([]byte, 1500)
	for {
		n, from, err := d.pc.ReadFrom(buf)
		if err != nil {
			return
		}
		var msg dnsmessage.Message
		if msg.Unpack(buf[:n]) != nil || len(msg.Questions) != 1 {
			continue
		}
		q := msg.Questions[0]
		name := q.Name.String()
		d.mu.Lock()
		gate, fail, hang := d.gate, listed(d.fail, name), listed(d.hang, name)
		addrs, own := d.addrs[name]
		ptr := d.ptr[name]
		d.asked = append(d.asked, name)
		d.mu.Unlock()
		if hang {
			continue
		}
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			if gate != nil {
				<-gate
			}
			msg.Header.Response = true
			msg.Header.Authoritative = true
			msg.Answers = nil
			hdr := dnsmessage.ResourceHeader{Name: q.Name, Type: q.Type, Class: dnsmessage.ClassINET, TTL: 60}
			switch {
			case fail:
				msg.Header.RCode = dnsmessage.RCodeNameError
			case q.Type == dnsmessage.TypePTR && ptr != "":
				msg.Answers = []dnsmessage.Resource{{Header: hdr, Body: &dnsmessage.PTRResource{PTR: dnsmessage.MustNewName(ptr)}}}
			case !own && q.Type == dnsmessage.TypeA:
				msg.Answers = []dnsmessage.Resource{{Header: hdr, Body: &dnsmessage.AResource{A: [4]byte{127, 0, 0, 1}}}}
			case own:
				for _, a := range addrs {
					switch {
					case a.Is4() && q.Type == dnsmessage.TypeA:
						msg.Answers = append(msg.Answers, dnsmessage.Resource{Header: hdr, Body: &dnsmessage.AResource{A: a.As4()}})
					case a.Is6() && q.Type == dnsmessage.TypeAAAA:
						msg.Answers = append(msg.Answers, dnsmessage.Resource{Header: hdr, Body: &dnsmessage.AAAAResource{AAAA: a.As16()}})
					}
				}
			}
			out, err := msg.Pack()
			if err == nil {
				d.pc.WriteTo(out, from)
			}
		}()
	}
}

// listed reports whether name or a search-domain extension of it is in m
// (keys are fully qualified, with the trailing dot).
func listed(m map[string]bool, name string) bool {
	for k := range m {
		if strings.HasPrefix(name, k) {
			return true
		}
	}
	return false
}

// resolver returns a net.Resolver that asks only this server.
func (d *fakeDNS) resolver() *net.Resolver {
	addr := d.pc.LocalAddr().String()
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var dl net.Dialer
		c, err := dl.DialContext(ctx, "udp", addr)
		if err == nil {
			// Go's resolver waits out its own timeout on a cancelled
			// lookup; closing the connection ends it at once.
			context.AfterFunc(ctx, func() { c.Close() })
		}
		return c, err
	}}
}

func itoa(n int) string { return strconv.Itoa(n) }

// lockedBuffer is a bytes.Buffer safe for a writer and a reader at once.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// requireReset asserts that err is a connection reset: ECONNRESET, or on
// Windows WSAECONNRESET (10054), which is what the system returns there
// (syscall.ECONNRESET is a value Go made up for Windows).
func requireReset(t *testing.T, err error) {
	t.Helper()
	require.True(t, errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.Errno(10054)), "want a connection reset, got %v", err)
}
