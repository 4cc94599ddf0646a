// Package lcsocklua installs LiveCode-style sockets, from lcsock, in a
// gopher-lua interpreter as a global table named socket.
//
//	reg, _ := lcsock.NewRegistry(lcsock.Config{Dispatch: lcsock.DispatchPumped})
//	defer reg.Close()
//	L := lua.NewState()
//	defer L.Close()
//	if _, err := lcsocklua.Open(L, reg); err != nil { ... }
//	err := L.DoString(script)
//
// Scripts run on one goroutine, as LiveCode scripts run on one thread:
// callbacks run only inside socket.wait and socket.waitpending (LiveCode's
// "wait for messages"), which a script calls in its loop, so Lua code is
// never entered from another goroutine. The verbs return at once unless
// they are the blocking forms (read and write without a message), and
// report failures the Lua way, as nil followed by LiveCode's error text.
//
// A message is sent to the object that asked for it: the handler table
// given as the handlers option to open or accept, or, at the top level
// of a script, the global table. A function found in a handler table is
// called as a method (function server:gotLine(id, data)); a global
// function gets the parameters alone. When the table has no such
// function, the message passes on to the globals, as a LiveCode message
// passes along the message path; a message nobody handles is dropped, as
// in LiveCode. A message may also be given as a Lua function, which is
// then called directly.
package lcsocklua

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/lcsock/lcsock"
	lua "github.com/yuin/gopher-lua"
)

// Module is the socket library of one Lua state. Its methods must be
// called on the goroutine that runs the state.
type Module struct {
	L   *lua.LState
	reg *lcsock.Registry

	eof *lua.LTable // socket.EOF: the spec of "read until EOF"

	cur    *lua.LState // the thread that called socket.wait; callbacks run on it
	me     *lua.LTable // the object whose callback is running; nil means the globals
	result string      // LiveCode's "the result"
	depth  int         // callbacks running (nested waits)
	errs   []error     // callback errors not yet reported
}

// CallbackError is a Lua error raised by a callback. The event is
// delivered nonetheless; the error is reported by the socket.wait or
// socket.waitpending that ran the callback (or by Module.Dispatch).
type CallbackError struct {
	Message string           // the message name, or "function" for a function message
	Params  []string         // the parameters it was called with
	Err     *lua.ApiError    // the Lua error, with its stack trace
	Kind    lcsock.EventKind // the event
}

// Error returns "error in <message> <socket>: <Lua error>".
func (e *CallbackError) Error() string {
	id := ""
	if len(e.Params) > 0 {
		id = " " + e.Params[0]
	}
	return fmt.Sprintf("error in %s%s: %s", e.Message, id, e.Err.Object.String())
}

// Unwrap returns the Lua error.
func (e *CallbackError) Unwrap() error { return e.Err }

// Open installs the global table socket in L, bound to reg, and returns
// the module. reg must have been made with Config.Dispatch set to
// lcsock.DispatchPumped, so that callbacks run only on L's goroutine;
// Open fails otherwise. reg and L stay the caller's: close reg when the
// interpreter shuts down (before or after L.Close — no callback runs
// after either).
func Open(L *lua.LState, reg *lcsock.Registry) (*Module, error) {
	if err := checkPumped(reg); err != nil {
		return nil, err
	}
	m := &Module{L: L, reg: reg}
	m.eof = L.NewTable()
	mt := L.NewTable()
	L.SetField(mt, "__tostring", L.NewFunction(func(L *lua.LState) int {
		L.Push(lua.LString("socket.EOF"))
		return 1
	}))
	L.SetMetatable(m.eof, mt)

	t := L.NewTable()
	L.SetFuncs(t, map[string]lua.LGFunction{
		"open":         m.open,
		"opensecure":   m.openSecure,
		"accept":       m.accept,
		"acceptsecure": m.acceptSecure,
		"read":         m.read,
		"write":        m.write,
		"close":        m.close,
		"opensockets":  m.openSockets,
		"peeraddress":  m.peerAddress,
		"hostaddress":  m.hostAddress,
		"wait":         m.wait,
		"waitpending":  m.waitPending,
		"result":       m.theResult,
		"timeout":      m.timeout,
	})
	L.SetField(t, "EOF", m.eof)
	L.SetGlobal("socket", t)
	return m, nil
}

// checkPumped reports whether reg queues its events for Dispatch.
func checkPumped(reg *lcsock.Registry) error {
	if reg.DispatchMode() != lcsock.DispatchPumped {
		return fmt.Errorf("lcsocklua: the registry must use lcsock.DispatchPumped: %w", lcsock.ErrNotPumped)
	}
	return nil
}

// Dispatch is socket.wait for the host: it waits until at least one event
// is queued (or ctx ends), runs the Lua callbacks of every queued event
// on the calling goroutine, which must be the one that runs L, and
// returns how many it delivered, with the errors the callbacks raised
// (each a *CallbackError, joined), including those raised in callbacks
// that no socket.wait reported.
func (m *Module) Dispatch(ctx context.Context) (int, error) {
	n, err := m.reg.Dispatch(ctx)
	errs := m.errs
	m.errs = nil
	if err != nil {
		errs = append(errs, err)
	}
	return n, errors.Join(errs...)
}

// --- delivery ---

// ownerHandler is the handler of a socket opened or accepted by script:
// its connected or accepted event goes to msg, and its socketClosed,
// socketError and socketTimeout messages to functions of those names.
func (m *Module) ownerHandler(obj *lua.LTable, msg lua.LValue) lcsock.Handler {
	return lcsock.HandlerFunc(func(ev lcsock.Event) {
		switch ev.Kind {
		case lcsock.EventConnected, lcsock.EventAccepted:
			m.deliver(obj, msg, ev)
		default:
			m.deliver(obj, lua.LString(ev.Name), ev)
		}
	})
}

// requestHandler is the handler of one read or write with a message.
func (m *Module) requestHandler(obj *lua.LTable, msg lua.LValue) lcsock.Handler {
	return lcsock.HandlerFunc(func(ev lcsock.Event) { m.deliver(obj, msg, ev) })
}

// deliver calls the Lua function for msg with the event's parameters,
// LiveCode's parameter list, with "the result" set to the event's.
func (m *Module) deliver(obj *lua.LTable, msg lua.LValue, ev lcsock.Event) {
	L := m.cur
	if L == nil {
		L = m.L
	}
	name := "function"
	if s, ok := msg.(lua.LString); ok {
		name = string(s)
	}
	// A Lua function called from Go cannot yield: in a coroutine,
	// gopher-lua would switch to the resumer in the middle of this call
	// and corrupt both threads. Without a parent, L's yield raises "can
	// not yield from outside of a coroutine", the callback's error.
	parent := L.Parent
	L.Parent = nil
	defer func() { L.Parent = parent }()
	var fn *lua.LFunction
	var self lua.LValue
	// The lookup may run Lua code that raises an error (an __index
	// metamethod, a guard against undefined globals): run it protected,
	// as the callback is. Unprotected, the error would unwind through
	// lcsock, which would swallow it and leave the state half unwound.
	err := L.CallByParam(lua.P{Fn: L.NewFunction(func(L *lua.LState) int {
		switch msg := msg.(type) {
		case *lua.LFunction:
			fn = msg
		case lua.LString:
			if obj != nil {
				if f, ok := L.GetField(obj, name).(*lua.LFunction); ok {
					fn, self = f, obj
				}
			}
			if fn == nil {
				if f, ok := L.GetGlobal(name).(*lua.LFunction); ok {
					fn = f
				}
			}
		}
		return 0
	}), NRet: 0, Protect: true})
	if err == nil && fn == nil {
		return // nobody handles it: dropped, as in LiveCode
	}
	params := ev.Params()
	if err == nil {
		args := make([]lua.LValue, 0, len(params)+1)
		if self != nil {
			args = append(args, self)
		}
		for _, p := range params {
			args = append(args, lua.LString(p))
		}

		savedMe := m.me
		m.me, m.result = obj, ev.Result()
		m.depth++
		err = L.CallByParam(lua.P{Fn: fn, NRet: 0, Protect: true}, args...)
		m.depth--
		m.me = savedMe
	}
	if err != nil {
		ae, ok := err.(*lua.ApiError)
		if !ok {
			ae = &lua.ApiError{Type: lua.ApiErrorRun, Object: lua.LString(err.Error())}
		}
		m.errs = append(m.errs, &CallbackError{Message: name, Params: params, Err: ae, Kind: ev.Kind})
	}
}

// --- helpers ---

// ctx is the context of blocking verbs: the state's, if the host set one.
func (m *Module) ctx(L *lua.LState) context.Context {
	if c := L.Context(); c != nil {
		return c
	}
	return context.Background()
}

// fail returns nil and LiveCode's text for err, which becomes the result.
func (m *Module) fail(L *lua.LState, err error) int {
	m.result = lcsock.ErrorText(err)
	L.Push(lua.LNil)
	L.Push(lua.LString(m.result))
	return 2
}

// ok returns v, with an empty result.
func (m *Module) ok(L *lua.LState, v lua.LValue) int {
	m.result = ""
	L.Push(v)
	return 1
}

// message checks argument n: nil (no message), a non-empty name or a function.
func message(L *lua.LState, n int) lua.LValue {
	switch v := L.Get(n).(type) {
	case *lua.LNilType, *lua.LFunction:
		return v
	case lua.LString:
		if v == "" {
			L.ArgError(n, "message name is empty")
		}
		return v
	}
	L.ArgError(n, "message must be a name or a function, not "+L.Get(n).Type().String())
	return nil
}

// lcName is the name lcsock gets for msg (a function has none of its own).
func lcName(msg lua.LValue) string {
	if s, ok := msg.(lua.LString); ok {
		return string(s)
	}
	return "function"
}

// options reads the options table at argument n. Each verb allows some
// of: handlers (a table), from (a local address), verify (a boolean),
// verifyhost (a name), maxconnections (a number).
func (m *Module) options(L *lua.LState, n int, allowed ...string) (obj *lua.LTable, opts []lcsock.Option) {
	obj = m.me
	t := L.OptTable(n, nil)
	if t == nil {
		return obj, nil
	}
	L.ForEach(t, func(k, v lua.LValue) {
		key, _ := k.(lua.LString)
		found := false
		for _, a := range allowed {
			found = found || string(key) == a
		}
		if !found {
			L.ArgError(n, fmt.Sprintf("unknown option %s (allowed: %s)", k, strings.Join(allowed, ", ")))
		}
		bad := func(want string) {
			L.ArgError(n, fmt.Sprintf("option %s must be %s, not %s", key, want, v.Type()))
		}
		switch key {
		case "handlers":
			tv, ok := v.(*lua.LTable)
			if !ok {
				bad("a table")
			}
			obj = tv
		case "from":
			s, ok := v.(lua.LString)
			if !ok {
				bad("a string")
			}
			opts = append(opts, lcsock.From(string(s)))
		case "verify":
			b, ok := v.(lua.LBool)
			if !ok {
				bad("a boolean")
			}
			opts = append(opts, lcsock.Verify(bool(b)))
		case "verifyhost":
			s, ok := v.(lua.LString)
			if !ok {
				bad("a string")
			}
			opts = append(opts, lcsock.VerifyHost(string(s)))
		case "maxconnections":
			f, ok := v.(lua.LNumber)
			if !ok || f < 0 || f != lua.LNumber(math.Trunc(float64(f))) || float64(f) >= math.MaxInt32 {
				bad("a whole number below 2^31")
			}
			opts = append(opts, lcsock.MaxConnections(int(f)))
		}
	})
	return obj, opts
}

// duration is n units as a Duration, the longest one for a number too
// large to convert (a float beyond int64 converts to garbage).
func duration(n float64, unit time.Duration) time.Duration {
	if d := n * float64(unit); d < math.MaxInt64 {
		return time.Duration(d)
	}
	return math.MaxInt64
}

// count checks that v is a whole number from 0 to maxInt.
func count(L *lua.LState, n int, v lua.LValue) int {
	f, ok := v.(lua.LNumber)
	if !ok || f < 0 || float64(f) > math.MaxInt32 || f != lua.LNumber(math.Trunc(float64(f))) {
		L.ArgError(n, "count must be a whole number from 0")
	}
	return int(f)
}

// spec reads the read condition at argument n:
//
//	nil              whatever is available, at least one byte
//	"\r\n"           until the delimiter (included in the data); "" is until empty
//	5                for 5 chars
//	socket.EOF       until the end of the stream
//	{5, "lines"}     for 5 lines (any unit name: chars, lines, items, words, int1s ... uint4s)
//	{"\n", anylineend = true}, {2, "lines", anylineend = true}   CR, LF or CRLF ends a line
func (m *Module) spec(L *lua.LState, n int) lcsock.ReadSpec {
	v := L.Get(n)
	switch v := v.(type) {
	case *lua.LNilType:
		return lcsock.Available()
	case lua.LString:
		return lcsock.Until(string(v))
	case lua.LNumber:
		return lcsock.For(count(L, n, v), lcsock.Chars)
	case *lua.LTable:
		if v == m.eof {
			return lcsock.UntilEOF()
		}
		var spec lcsock.ReadSpec
		switch first := v.RawGetInt(1).(type) {
		case lua.LString:
			if v.RawGetInt(2) != lua.LNil {
				L.ArgError(n, "a delimiter takes no unit")
			}
			spec = lcsock.Until(string(first))
		case lua.LNumber:
			u := lcsock.Chars
			if name, ok := v.RawGetInt(2).(lua.LString); ok {
				var err error
				if u, err = lcsock.ParseUnit(string(name)); err != nil {
					L.ArgError(n, err.Error())
				}
			} else if v.RawGetInt(2) != lua.LNil {
				L.ArgError(n, "the unit must be a string such as \"lines\"")
			}
			spec = lcsock.For(count(L, n, first), u)
		default:
			L.ArgError(n, "a read spec table starts with a delimiter, a count or socket.EOF")
		}
		if lua.LVAsBool(v.RawGetString("anylineend")) {
			spec = spec.WithAnyLineEnd()
		}
		return spec
	}
	L.ArgError(n, "read spec must be nil, a delimiter string, a count, socket.EOF or a table")
	return lcsock.ReadSpec{}
}

// --- verbs ---

// socket.open(id [, message [, {handlers=, from=}]]) → true | nil, err
func (m *Module) open(L *lua.LState) int {
	id := L.CheckString(1)
	msg := message(L, 2)
	obj, opts := m.options(L, 3, "handlers", "from")
	if msg != lua.LNil {
		opts = append(opts, lcsock.WithMessage(lcName(msg)))
	}
	if err := m.reg.Open(id, m.ownerHandler(obj, msg), opts...); err != nil {
		return m.fail(L, err)
	}
	return m.ok(L, lua.LTrue)
}

// socket.opensecure(id [, message [, {handlers=, from=, verify=, verifyhost=}]]) → true | nil, err
func (m *Module) openSecure(L *lua.LState) int {
	id := L.CheckString(1)
	msg := message(L, 2)
	obj, opts := m.options(L, 3, "handlers", "from", "verify", "verifyhost")
	if msg != lua.LNil {
		opts = append(opts, lcsock.WithMessage(lcName(msg)))
	}
	if err := m.reg.OpenSecure(id, m.ownerHandler(obj, msg), opts...); err != nil {
		return m.fail(L, err)
	}
	return m.ok(L, lua.LTrue)
}

// socket.accept(port, message [, {handlers=, maxconnections=}]) → port | nil, err
func (m *Module) accept(L *lua.LState) int {
	port := L.CheckInt(1)
	msg := message(L, 2)
	if msg == lua.LNil {
		L.ArgError(2, "accept needs a message")
	}
	obj, opts := m.options(L, 3, "handlers", "maxconnections")
	p, err := m.reg.Accept(port, m.ownerHandler(obj, msg), lcName(msg), opts...)
	if err != nil {
		return m.fail(L, err)
	}
	return m.ok(L, lua.LNumber(p))
}

// socket.acceptsecure(port, message, cert, key [, {handlers=, maxconnections=}]) → port | nil, err
func (m *Module) acceptSecure(L *lua.LState) int {
	port := L.CheckInt(1)
	msg := message(L, 2)
	if msg == lua.LNil {
		L.ArgError(2, "accept needs a message")
	}
	cert, key := L.CheckString(3), L.CheckString(4)
	obj, opts := m.options(L, 5, "handlers", "maxconnections")
	p, err := m.reg.AcceptSecure(port, m.ownerHandler(obj, msg), lcName(msg), cert, key, opts...)
	if err != nil {
		return m.fail(L, err)
	}
	return m.ok(L, lua.LNumber(p))
}

// socket.read(id, spec) → data [, "eof"] | nil, err      (blocking)
// socket.read(id, spec, message) → true | nil, err       (message gets id, data)
func (m *Module) read(L *lua.LState) int {
	id := L.CheckString(1)
	spec := m.spec(L, 2)
	msg := message(L, 3)
	if msg != lua.LNil {
		if err := m.reg.ReadWithMessage(id, spec, m.requestHandler(m.me, msg), lcName(msg)); err != nil {
			return m.fail(L, err)
		}
		return m.ok(L, lua.LTrue)
	}
	data, err := m.reg.Read(m.ctx(L), id, spec)
	if err != nil && err != io.EOF {
		return m.fail(L, err)
	}
	// Binary chunks come as LiveCode's comma-separated numbers, as in
	// the message form (Event.Params); other data as it is.
	text := lcsock.FormatChunks(data, spec.Unit())
	// Read returns nil for until-EOF, whose condition is the end; LiveCode
	// sets the result to "eof" then too, as the message form does.
	if err == io.EOF || spec == lcsock.UntilEOF() {
		m.result = "eof"
		L.Push(lua.LString(text))
		L.Push(lua.LString("eof"))
		return 2
	}
	return m.ok(L, lua.LString(text))
}

// socket.write(id, data) → bytes written | nil, err, bytes written   (blocking)
// socket.write(id, data, message) → true | nil, err                   (message gets id)
func (m *Module) write(L *lua.LState) int {
	id := L.CheckString(1)
	data := []byte(L.CheckString(2))
	msg := message(L, 3)
	if msg != lua.LNil {
		if err := m.reg.WriteWithMessage(id, data, m.requestHandler(m.me, msg), lcName(msg)); err != nil {
			return m.fail(L, err)
		}
		return m.ok(L, lua.LTrue)
	}
	n, err := m.reg.Write(m.ctx(L), id, data)
	if err != nil {
		m.fail(L, err)
		L.Push(lua.LNumber(n))
		return 3
	}
	return m.ok(L, lua.LNumber(n))
}

// socket.close(id) → true | nil, err
func (m *Module) close(L *lua.LState) int {
	if err := m.reg.CloseSocket(L.CheckString(1)); err != nil {
		return m.fail(L, err)
	}
	return m.ok(L, lua.LTrue)
}

// socket.opensockets() → {id, ...} in the order opened
func (m *Module) openSockets(L *lua.LState) int {
	t := L.NewTable()
	for _, id := range m.reg.OpenSockets() {
		t.Append(lua.LString(id))
	}
	return m.ok(L, t)
}

// socket.peeraddress(id) → ip | nil, err
func (m *Module) peerAddress(L *lua.LState) int {
	a, err := m.reg.PeerAddress(L.CheckString(1))
	if err != nil {
		return m.fail(L, err)
	}
	return m.ok(L, lua.LString(a))
}

// socket.hostaddress(id) → ip | nil, err
func (m *Module) hostAddress(L *lua.LState) int {
	a, err := m.reg.HostAddress(L.CheckString(1))
	if err != nil {
		return m.fail(L, err)
	}
	return m.ok(L, lua.LString(a))
}

// socket.wait([seconds]) → number of messages delivered (0 when seconds passed first).
// It raises an error when a callback raised one, when the interpreter's
// context ends, or when the registry is closed.
func (m *Module) wait(L *lua.LState) int {
	ctx := m.ctx(L)
	if L.Get(1) != lua.LNil {
		s := float64(L.CheckNumber(1))
		if s < 0 || math.IsNaN(s) {
			L.ArgError(1, "seconds must not be negative")
		}
		d := duration(s, time.Second)
		if d < math.MaxInt64 { // else: no limit
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, d)
			defer cancel()
		}
		if d <= 0 {
			// No time to wait: run what is queued. Dispatch with a
			// context that has already ended may deliver nothing.
			return m.pump(L, func() (int, error) {
				if n := m.reg.DispatchPending(); n > 0 {
					return n, nil
				}
				return m.reg.Dispatch(ctx) // ended: a closed registry, or no time left
			})
		}
	}
	return m.pump(L, func() (int, error) { return m.reg.Dispatch(ctx) })
}

// socket.waitpending() → number of messages delivered, without waiting.
func (m *Module) waitPending(L *lua.LState) int {
	return m.pump(L, func() (int, error) { return m.reg.DispatchPending(), nil })
}

// pump runs dispatch with callbacks on L, then reports the callbacks'
// errors (those of this wait only, when it is nested in a callback).
func (m *Module) pump(L *lua.LState, dispatch func() (int, error)) int {
	start := 0
	if m.depth > 0 {
		start = len(m.errs)
	}
	savedCur := m.cur
	m.cur = L
	n, err := dispatch()
	m.cur = savedCur
	errs := slices.Clone(m.errs[start:])
	m.errs = m.errs[:start]
	m.result = ""

	if len(errs) > 0 {
		text := errs[0].Error()
		if len(errs) > 1 {
			text += fmt.Sprintf(" (and %d more callback errors)", len(errs)-1)
		}
		L.RaiseError("%s", text)
	}
	switch {
	case err == nil:
	case errors.Is(err, lcsock.ErrClosed):
		L.RaiseError("socket.wait: the registry is closed")
	case L.Context() != nil && L.Context().Err() != nil:
		L.RaiseError("socket.wait: %v", L.Context().Err())
	case errors.Is(err, context.DeadlineExceeded):
		// the seconds passed: not an error
	default:
		L.RaiseError("socket.wait: %v", err)
	}
	L.Push(lua.LNumber(n))
	return 1
}

// socket.result() → LiveCode's "the result": "" after a verb that
// worked, the error text after one that failed, "eof" after a read that
// reached the end of the stream; inside a callback, the result of the
// event ("eof" for a read that ended the stream, the error text for
// socketError).
func (m *Module) theResult(L *lua.LState) int {
	L.Push(lua.LString(m.result))
	return 1
}

// socket.timeout([ms]) → the socketTimeoutInterval in milliseconds, after setting it to ms if given.
func (m *Module) timeout(L *lua.LState) int {
	if L.Get(1) != lua.LNil {
		ms := float64(L.CheckNumber(1))
		if ms < 0 || math.IsNaN(ms) {
			L.ArgError(1, "the interval must not be negative")
		}
		m.reg.SetTimeoutInterval(duration(ms, time.Millisecond))
	}
	L.Push(lua.LNumber(float64(m.reg.TimeoutInterval()) / float64(time.Millisecond)))
	return 1
}
