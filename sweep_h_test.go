package lcsock_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/lcsock/lcsock"
	"github.com/lcsock/lcsock/lcsocktest"
	"github.com/stretchr/testify/require"
)

// call runs f, turning a panic or a hang into a test failure.
func sweepCall(t *testing.T, name string, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		defer func() {
			if v := recover(); v != nil {
				done <- fmt.Errorf("PANIC: %v\n%s", v, debug.Stack())
			}
		}()
		done <- f()
	}()
	select {
	case err := <-done:
		if err != nil && len(err.Error()) > 6 && err.Error()[:6] == "PANIC:" {
			t.Errorf("%s: %v", name, err)
		}
		return err
	case <-time.After(3 * time.Second):
		t.Errorf("%s: hangs", name)
		return nil
	}
}

type sweepVerb struct {
	name string
	f    func(reg *lcsock.Registry, id string) error
}

func sweepVerbs() []sweepVerb {
	short := func() context.Context {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		_ = cancel
		return ctx
	}
	return []sweepVerb{
		{"Open", func(r *lcsock.Registry, id string) error { return r.Open(id, nil) }},
		{"OpenZeroOption", func(r *lcsock.Registry, id string) error { return r.Open(id, nil, lcsock.Option{}) }},
		{"OpenSecure", func(r *lcsock.Registry, id string) error { return r.OpenSecure(id, nil) }},
		{"OpenDatagram", func(r *lcsock.Registry, id string) error { return r.OpenDatagram(id, nil) }},
		{"Conn", func(r *lcsock.Registry, id string) error { _, err := r.Conn(id); return err }},
		{"ReadNeg", func(r *lcsock.Registry, id string) error {
			_, err := r.Read(short(), id, lcsock.For(-1, lcsock.Chars))
			return err
		}},
		{"ReadHuge", func(r *lcsock.Registry, id string) error {
			_, err := r.Read(short(), id, lcsock.For(1<<40, lcsock.Chars))
			return err
		}},
		{"ReadZeroSpec", func(r *lcsock.Registry, id string) error {
			_, err := r.Read(short(), id, lcsock.ReadSpec{})
			return err
		}},
		{"ReadBadUnit", func(r *lcsock.Registry, id string) error {
			_, err := r.Read(short(), id, lcsock.For(1, lcsock.Unit(200)))
			return err
		}},
		{"ReadNilCtx", func(r *lcsock.Registry, id string) error {
			_, err := r.Read(nil, id, lcsock.For(1, lcsock.Chars))
			return err
		}}, //nolint:staticcheck
		{"ReadDone", func(r *lcsock.Registry, id string) error {
			ctx, c := context.WithCancel(context.Background())
			c()
			_, err := r.Read(ctx, id, lcsock.For(1, lcsock.Chars))
			return err
		}},
		{"RWMZero", func(r *lcsock.Registry, id string) error { return r.ReadWithMessage(id, lcsock.ReadSpec{}, nil, "") }},
		{"RWMNeg", func(r *lcsock.Registry, id string) error {
			return r.ReadWithMessage(id, lcsock.For(-5, lcsock.Lines), nil, "x")
		}},
		{"RWMHuge", func(r *lcsock.Registry, id string) error {
			return r.ReadWithMessage(id, lcsock.For(1<<40, lcsock.Int4), nil, "x")
		}},
		{"RWMBadUnit", func(r *lcsock.Registry, id string) error {
			return r.ReadWithMessage(id, lcsock.For(1, lcsock.Unit(200)), nil, "x")
		}},
		{"WriteNil", func(r *lcsock.Registry, id string) error { _, err := r.Write(short(), id, nil); return err }},
		{"WriteNilCtx", func(r *lcsock.Registry, id string) error { _, err := r.Write(nil, id, []byte("x")); return err }}, //nolint:staticcheck
		{"WWMNil", func(r *lcsock.Registry, id string) error { return r.WriteWithMessage(id, nil, nil, "") }},
		{"WWMHuge", func(r *lcsock.Registry, id string) error {
			return r.WriteWithMessage(id, make([]byte, 17<<20), nil, "w")
		}},
		{"Secure", func(r *lcsock.Registry, id string) error { return r.Secure(id) }},
		{"SecureBadServer", func(r *lcsock.Registry, id string) error { return r.Secure(id, lcsock.AsServer("", "")) }},
		{"SecureNilTLS", func(r *lcsock.Registry, id string) error { return r.Secure(id, lcsock.TLSConfig(nil)) }},
		{"TLSState", func(r *lcsock.Registry, id string) error { _, err := r.TLSState(id); return err }},
		{"Stats", func(r *lcsock.Registry, id string) error { _, err := r.Stats(id); return err }},
		{"PeerAddress", func(r *lcsock.Registry, id string) error { _, err := r.PeerAddress(id); return err }},
		{"HostAddress", func(r *lcsock.Registry, id string) error { _, err := r.HostAddress(id); return err }},
		{"JoinGroupEmpty", func(r *lcsock.Registry, id string) error { return r.JoinGroup(id, "", "") }},
		{"JoinGroupBad", func(r *lcsock.Registry, id string) error { return r.JoinGroup(id, "not-an-ip", "nosuchif0") }},
		{"JoinGroupUnicast", func(r *lcsock.Registry, id string) error { return r.JoinGroup(id, "127.0.0.1", "") }},
		{"LeaveGroup", func(r *lcsock.Registry, id string) error { return r.LeaveGroup(id, "239.1.2.3", "") }},
		{"CloseWrite", func(r *lcsock.Registry, id string) error { return r.CloseWrite(id) }},
		{"WriteAfterCloseWrite", func(r *lcsock.Registry, id string) error { _, err := r.Write(short(), id, []byte("x")); return err }},
		{"CloseSocket", func(r *lcsock.Registry, id string) error { return r.CloseSocket(id) }},
		{"CloseSocketAgain", func(r *lcsock.Registry, id string) error { return r.CloseSocket(id) }},
		{"ReadAfterClose", func(r *lcsock.Registry, id string) error {
			_, err := r.Read(short(), id, lcsock.For(1, lcsock.Chars))
			return err
		}},
	}
}

// sweepExpect gives the sentinel each verb's error must wrap for an ID of
// each kind (nil: no error; errAny: some error, the verb's own text).
var errAny = errors.New("any error")

func sweepExpect(kind, verb string) error {
	switch kind {
	case "closedreg":
		if verb == "ReadNilCtx" || verb == "WriteNilCtx" {
			return errAny
		}
		if verb == "PeerAddress" || verb == "HostAddress" {
			return lcsock.ErrClosed // and ErrNotAnOpenSocket
		}
		return lcsock.ErrClosed
	case "bad", "empty":
		switch verb {
		case "Open", "OpenZeroOption", "OpenSecure", "OpenDatagram":
			if kind == "bad" {
				return lcsock.ErrInvalidPort
			}
			return lcsock.ErrBadID
		case "PeerAddress", "HostAddress":
			return lcsock.ErrNotAnOpenSocket
		case "ReadNilCtx", "WriteNilCtx":
			return errAny
		}
		return lcsock.ErrSocketNotOpen
	}
	switch verb {
	case "Open", "OpenZeroOption", "OpenSecure", "OpenDatagram":
		return lcsock.ErrAlreadyOpen
	case "CloseSocketAgain", "ReadAfterClose":
		return lcsock.ErrSocketNotOpen
	case "ReadNilCtx", "WriteNilCtx":
		return errAny
	}
	if kind == "listener" || kind == "dglistener" {
		switch verb {
		case "Stats", "PeerAddress", "HostAddress", "CloseSocket":
			return nil
		case "Conn", "TLSState", "CloseWrite", "JoinGroupEmpty", "JoinGroupBad", "JoinGroupUnicast", "LeaveGroup":
			return errAny
		}
		if verb == "Secure" || verb == "SecureBadServer" || verb == "SecureNilTLS" {
			if kind == "dglistener" {
				return lcsock.ErrDatagramTLS
			}
			return lcsock.ErrNotWritable
		}
		if verb[:1] == "R" {
			return lcsock.ErrNotReadable
		}
		return lcsock.ErrNotWritable
	}
	if kind == "peerclosed" || kind == "closedlocal" {
		if verb == "PeerAddress" || verb == "HostAddress" {
			return lcsock.ErrNotAnOpenSocket
		}
		return lcsock.ErrSocketNotOpen
	}
	switch verb {
	case "ReadNeg", "RWMNeg", "ReadBadUnit", "RWMBadUnit":
		return lcsock.ErrBadReadSpec
	case "ReadHuge", "RWMHuge":
		if kind == "dgsocket" && verb == "RWMHuge" {
			return nil // a datagram is read whole: no size limit applies
		}
		if kind == "dgsocket" {
			return context.DeadlineExceeded
		}
		return lcsock.ErrBufferFull
	case "ReadZeroSpec", "ReadDone":
		if verb == "ReadDone" {
			return context.Canceled
		}
		return context.DeadlineExceeded
	case "WWMHuge":
		if kind == "dgsocket" {
			return lcsock.ErrDatagramTooLarge
		}
		return lcsock.ErrBufferFull
	case "Secure", "SecureBadServer", "SecureNilTLS":
		if kind == "dgsocket" {
			return lcsock.ErrDatagramTLS
		}
		return nil // the first one upgrades; later ones leave it as it is
	case "TLSState":
		if kind == "tlsopen" {
			return nil
		}
		return lcsock.ErrNotSecure
	case "JoinGroupEmpty", "JoinGroupBad", "JoinGroupUnicast":
		return lcsock.ErrBadID
	case "LeaveGroup":
		if kind == "dgsocket" {
			return errAny // never joined
		}
		return lcsock.ErrBadID
	case "CloseWrite":
		if kind == "dgsocket" {
			return errAny
		}
		return nil
	case "WriteAfterCloseWrite":
		if kind == "dgsocket" {
			return nil
		}
		return lcsock.ErrClosed
	case "Conn":
		if kind == "dgsocket" {
			return errAny
		}
		return nil
	case "WriteNil":
		if kind == "connecting" {
			return context.DeadlineExceeded
		}
		return nil
	}
	return nil // RWMZero, WWMNil, Stats, PeerAddress, HostAddress, CloseSocket
}

// Every verb, with hostile arguments, on an ID of every kind: no panic,
// no hang, and the documented error (review H).
func TestSweepHVerbsByKind(t *testing.T) {
	kinds := map[string]func(t *testing.T) (*lcsock.Registry, string){
		"bad": func(t *testing.T) (*lcsock.Registry, string) {
			r, _ := newReg(t, lcsock.Config{})
			return r, "h:99999|x"
		},
		"empty": func(t *testing.T) (*lcsock.Registry, string) { r, _ := newReg(t, lcsock.Config{}); return r, "" },
		"closedreg": func(t *testing.T) (*lcsock.Registry, string) {
			r, _ := newReg(t, lcsock.Config{})
			r.Close()
			return r, "127.0.0.1:1|nope"
		},
		"listener": func(t *testing.T) (*lcsock.Registry, string) {
			r, _ := newReg(t, lcsock.Config{})
			p, err := r.Accept(0, nil, "m")
			require.NoError(t, err)
			return r, itoa(p)
		},
		"dglistener": func(t *testing.T) (*lcsock.Registry, string) {
			r, _ := newReg(t, lcsock.Config{})
			p, err := r.AcceptDatagram(0, nil, "m")
			require.NoError(t, err)
			return r, itoa(p)
		},
		"dgsocket": func(t *testing.T) (*lcsock.Registry, string) {
			r, _ := newReg(t, lcsock.Config{})
			pc, err := net.ListenPacket("udp", "127.0.0.1:0")
			require.NoError(t, err)
			t.Cleanup(func() { pc.Close() })
			id := pc.LocalAddr().String() + "|dg"
			require.NoError(t, r.OpenDatagram(id, nil))
			return r, id
		},
		"connecting": func(t *testing.T) (*lcsock.Registry, string) {
			dns := newFakeDNS(t)
			dns.hangName("hang.test.")
			r, _ := newReg(t, lcsock.Config{Resolver: dns.resolver()})
			require.NoError(t, r.Open("hang.test:80|c", nil))
			return r, "hang.test:80|c"
		},
		"open": func(t *testing.T) (*lcsock.Registry, string) {
			p := newPeer(t)
			r, rec := newReg(t, lcsock.Config{})
			id := p.id("o")
			openConnected(t, r, rec, p, id)
			return r, id
		},
		"peerclosed": func(t *testing.T) (*lcsock.Registry, string) {
			p := newPeer(t)
			r, rec := newReg(t, lcsock.Config{})
			id := p.id("pc")
			c := openConnected(t, r, rec, p, id)
			c.Write([]byte("buffered"))
			c.Close()
			// The bytes that came before the end are all read.
			data, err := r.Read(ctxWait(t), id, lcsock.UntilEOF())
			require.NoError(t, err)
			require.Equal(t, "buffered", string(data))
			rec.WaitFor(t, lcsock.EventClosed, id, wait)
			require.Eventually(t, func() bool { return len(r.OpenSockets()) == 0 }, wait, time.Millisecond)
			return r, id
		},
		"closedlocal": func(t *testing.T) (*lcsock.Registry, string) {
			p := newPeer(t)
			r, rec := newReg(t, lcsock.Config{})
			id := p.id("cl")
			openConnected(t, r, rec, p, id)
			require.NoError(t, r.CloseSocket(id))
			return r, id
		},
		"tlsopen": func(t *testing.T) (*lcsock.Registry, string) {
			ca := lcsocktest.NewCA(t)
			srv := lcsocktest.TLSServer(t, ca, "localhost")
			r, rec := newReg(t, lcsock.Config{Certificates: []string{srv.CAFile()}})
			id := srv.ID("tls")
			require.NoError(t, r.OpenSecure(id, nil, lcsock.WithMessage("c"), lcsock.VerifyHost("localhost")))
			rec.WaitFor(t, lcsock.EventConnected, id, wait)
			return r, id
		},
	}
	for kind, mk := range kinds {
		t.Run(kind, func(t *testing.T) {
			reg, id := mk(t)
			gone := kind == "peerclosed" || kind == "closedlocal"
			for _, v := range sweepVerbs() {
				if gone && strings.HasPrefix(v.name, "Open") {
					continue // below: they would take the freed ID
				}
				err := sweepCall(t, v.name, func() error { return v.f(reg, id) })
				switch want := sweepExpect(kind, v.name); want {
				case nil:
					if err != nil {
						t.Errorf("%s %s: %v, want no error", kind, v.name, err)
					}
				case errAny:
					if err == nil {
						t.Errorf("%s %s: no error", kind, v.name)
					}
				default:
					if !errors.Is(err, want) {
						t.Errorf("%s %s: %v, want %v", kind, v.name, err, want)
					}
					if want == lcsock.ErrClosed && !errors.Is(err, net.ErrClosed) {
						t.Errorf("%s %s: %v does not match net.ErrClosed", kind, v.name, err)
					}
				}
			}
			if gone {
				// The ID is free again at once.
				require.NoError(t, reg.Open(id, nil))
				require.NoError(t, reg.CloseSocket(id))
			}
		})
	}
}
