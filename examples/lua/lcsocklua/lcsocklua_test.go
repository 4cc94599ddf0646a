package lcsocklua

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lcsock/lcsock"
	"github.com/lcsock/lcsock/lcsocktest"
	"github.com/stretchr/testify/require"
	lua "github.com/yuin/gopher-lua"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// prelude is loaded into every test interpreter:
// q quotes a string the Go way ("a\r\n"), show prints its arguments with
// strings quoted, and waitfor runs socket.wait until cond() holds.
const prelude = `
local esc = {["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t", ['"'] = '\\"', ["\\"] = "\\\\"}
function q(s)
  return '"' .. s:gsub('[%c"\\]', function(c) return esc[c] or string.format("\\x%02x", c:byte()) end) .. '"'
end
function show(...)
  local t = {}
  for i = 1, select("#", ...) do
    local v = select(i, ...)
    t[i] = type(v) == "string" and q(v) or tostring(v)
  end
  print(table.concat(t, " "))
end
function waitfor(cond)
  while not cond() do
    if socket.wait(5) == 0 then error("waitfor: nothing happened for 5 seconds") end
  end
end
`

type interp struct {
	L   *lua.LState
	reg *lcsock.Registry
	mod *Module
	out strings.Builder
}

// newInterp returns a Lua state with the socket table on a fresh pumped
// registry, whose print goes to in.out. A stuck script fails after 20 s.
func newInterp(t *testing.T) *interp {
	t.Helper()
	reg, err := lcsock.NewRegistry(lcsock.Config{Dispatch: lcsock.DispatchPumped})
	require.NoError(t, err)
	L := lua.NewState()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(func() {
		cancel()
		require.NoError(t, reg.Close())
		L.Close()
	})
	L.SetContext(ctx)
	in := &interp{L: L, reg: reg}
	L.SetGlobal("print", L.NewFunction(func(L *lua.LState) int {
		for i := 1; i <= L.GetTop(); i++ {
			if i > 1 {
				in.out.WriteByte('\t')
			}
			in.out.WriteString(L.ToStringMeta(L.Get(i)).String())
		}
		in.out.WriteByte('\n')
		return 0
	}))
	in.mod, err = Open(L, reg)
	require.NoError(t, err)
	require.NoError(t, L.DoString(prelude))
	return in
}

// run runs script and returns what it printed.
func (in *interp) run(t *testing.T, script string) string {
	t.Helper()
	in.out.Reset()
	require.NoError(t, in.L.DoString(script))
	return in.out.String()
}

// set sets a global: a string or an int.
func (in *interp) set(name string, v any) {
	switch v := v.(type) {
	case string:
		in.L.SetGlobal(name, lua.LString(v))
	case int:
		in.L.SetGlobal(name, lua.LNumber(v))
	}
}

// peer listens on loopback and runs serve on its goroutine with the first
// connection it accepts, then closes it. It returns the port. The cleanup
// closes the listener and the connection, and waits for serve to return.
func peer(t *testing.T, serve func(c net.Conn)) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var (
		mu     sync.Mutex
		conn   net.Conn
		closed bool
	)
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		mu.Lock()
		conn = c
		if closed {
			c.Close()
		}
		mu.Unlock()
		serve(c)
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		closed = true
		if conn != nil {
			conn.Close()
		}
		mu.Unlock()
		<-done
	})
	return ln.Addr().(*net.TCPAddr).Port
}

// echo sends back everything it receives until the stream ends.
func echo(c net.Conn) { io.Copy(c, c) }

// refusedPort returns a loopback port nothing listens on.
func refusedPort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close())
	return port
}

// A server and a client in one script, over loopback, in callbacks only.
func TestServerAndClientInOneScript(t *testing.T) {
	in := newInterp(t)
	out := in.run(t, `
local srv = {}
function srv:conn(id, port)
  -- (connected and conn come in either order: printed at the end)
  self.accepted = {port == tostring(PORT), socket.peeraddress(id), socket.hostaddress(id)}
  socket.read(id, "\n", "line")
end
function srv:line(id, data)
  if socket.result() == "eof" then
    show("server: eof", data)
    return
  end
  socket.write(id, data:upper())
  socket.read(id, "\n", "line")
end
function srv:socketClosed(id)
  print("server: socketClosed")
  self.closed = true
end

PORT = assert(socket.accept(0, "conn", {handlers = srv}))
CLIENT = "127.0.0.1:" .. PORT .. "|client"
local replies = {}
function connected(id)
  show("connected", id == CLIENT)
  socket.write(id, "one\ntwo\n")
  socket.read(id, "\n", "reply")
end
function reply(id, data)
  replies[#replies + 1] = data
  if #replies < 2 then
    socket.read(id, "\n", "reply")
  else
    show("open before close", #socket.opensockets())
    socket.close(id)
  end
end
assert(socket.open(CLIENT, "connected"))
show("listed at once", socket.opensockets()[2] == CLIENT)
waitfor(function() return srv.closed end)
show("accepted", unpack(srv.accepted))
show(replies[1], replies[2])
show(socket.close(tostring(PORT)))
show("open at the end", #socket.opensockets())
`)
	require.Equal(t, `"listed at once" true
"connected" true
"open before close" 3
"server: eof" ""
server: socketClosed
"accepted" true "127.0.0.1" "127.0.0.1"
"ONE\n" "TWO\n"
true
"open at the end" 0
`, out)
}

// The blocking forms: write returns the count, read the data; the end of
// the stream gives the data and "eof"; then socketClosed, and the socket
// is gone.
func TestBlockingReadAndWrite(t *testing.T) {
	got := make(chan string, 1)
	port := peer(t, func(c net.Conn) {
		line, _ := bufio.NewReader(c).ReadString('\n')
		got <- line
		c.Write([]byte("pong\nrest"))
	})
	in := newInterp(t)
	in.set("ID", "127.0.0.1:"+strconv.Itoa(port)+"|b")
	out := in.run(t, `
function socketClosed(id) show("socketClosed", id == ID); closed = true end
show(socket.open(ID))
show(socket.write(ID, "ping\n"))
show(socket.read(ID, "\n"))
show(socket.read(ID, socket.EOF))
show(socket.result())
waitfor(function() return closed end)
show(socket.read(ID, "\n"))
show(socket.write(ID, "x"))
show(socket.close(ID))
`)
	require.Equal(t, "ping\n", <-got)
	require.Equal(t, `true
5
"pong\n"
"rest" "eof"
"eof"
"socketClosed" true
nil "socket is not open"
nil "socket is not open" 0
nil "socket is not open"
`, out)
}

// Every form of read spec, blocking and with a message, in the order issued.
func TestReadSpecs(t *testing.T) {
	port := peer(t, func(c net.Conn) {
		c.Write([]byte("one\ntwo\nthree\na,b,c,x y \x01\x02\xff\xfe\x01\x02\xff\xfe12345r1\r\nr2\rr3\ntail"))
	})
	in := newInterp(t)
	in.set("ID", "127.0.0.1:"+strconv.Itoa(port))
	out := in.run(t, `
assert(socket.open(ID))
show(socket.read(ID, {2, "lines"}))
show(socket.read(ID, {0, "lines"}))
show(socket.read(ID, "\n"))
show(socket.read(ID, {3, "items"}))
show(socket.read(ID, {2, "words"}))
show(socket.read(ID, {2, "uint2s"}))
-- a read with a message, then a blocking read behind it: they complete in order
socket.read(ID, {2, "int2"}, function(id, numbers) show("message", numbers); signed = true end)
show(socket.read(ID, 5))
waitfor(function() return signed end)
show(socket.read(ID, {"\n", anylineend = true}))
show(socket.read(ID, {1, "line", anylineend = true}))
show(socket.read(ID, {"\n"}))
show(socket.read(ID, socket.EOF))
`)
	require.Equal(t, `"one\ntwo\n"
""
"three\n"
"a,b,c,"
"x y "
"258,65534"
"12345"
"message" "258,-2"
"r1\r\n"
"r2\r"
"r3\n"
"tail" "eof"
`, out)
}

// A message goes to the object that asked: the handler table (as a
// method), then the globals; a function message is called directly; an
// unhandled message is dropped.
func TestMessageRouting(t *testing.T) {
	port := peer(t, echo)
	in := newInterp(t)
	in.set("ID", "127.0.0.1:"+strconv.Itoa(port)+"|r")
	out := in.run(t, `
local obj = {name = "obj"}
function obj:connected(id)
  show("obj:connected", self.name, id == ID)
  socket.write(id, "a\n")
  socket.read(id, "\n", "gotA")
end
function obj:gotA(id, data)
  show("obj:gotA", self.name, data)
  socket.write(id, "b\n", "wrote")
  socket.read(id, "\n", "gotB") -- obj has no gotB: the global gets it
end
function obj:wrote(id) show("obj:wrote", id == ID) end
function gotB(id, data)
  show("global gotB", data)
  socket.read(id, "\n", "nobody") -- handled by nobody: dropped
  socket.write(id, "c\nd\n")
  socket.read(id, "\n", function(id2, d) show("function", id2 == ID, d); done = true end)
end
function obj:gotD() error("a read issued at the top level goes to the globals") end
function gotD(id, data) show("global gotD", data); doneD = true end
assert(socket.open(ID, "connected", {handlers = obj}))
waitfor(function() return done end)
socket.write(ID, "e\n")
socket.read(ID, "\n", "gotD")
waitfor(function() return doneD end)
`)
	require.Equal(t, `"obj:connected" "obj" true
"obj:gotA" "obj" "a\n"
"obj:wrote" true
"global gotB" "b\n"
"function" true "d\n"
"global gotD" "e\n"
`, out)
}

// Failures of the verbs are nil and LiveCode's text, also in socket.result().
func TestVerbErrors(t *testing.T) {
	port := peer(t, echo)
	in := newInterp(t)
	in.set("ID", "127.0.0.1:"+strconv.Itoa(port)+"|x")
	out := in.run(t, `
show(socket.open("127.0.0.1:abc"))
show(socket.result())
show(socket.open("127.0.0.1:70000", "m"))
show(socket.open("[::1"))
show(socket.open(ID))
show(socket.result())
show(socket.open(ID:upper()))
show(socket.read("nope:1", "\n"))
show(socket.read("nope:1", "\n", "m"))
show(socket.write("nope:1", "x"))
show(socket.write("nope:1", "x", "m"))
show(socket.close("nope:1"))
show(socket.peeraddress("nope:1"))
show(socket.hostaddress("nope:1"))
show(socket.accept(70000, "m"))
show(socket.close(ID))
show(socket.result())
`)
	require.Equal(t, `nil "not a valid port"
"not a valid port"
nil "not a valid port"
nil "invalid socket id: missing ']' after IPv6 address"
true
""
nil "socket is already open"
nil "socket is not open"
nil "socket is not open"
nil "socket is not open" 0
nil "socket is not open"
nil "socket is not open"
nil "not an open socket"
nil "not an open socket"
nil "not a valid port"
true
""
`, out)
}

// Bad arguments are Lua errors, as luaL_check* raises them.
func TestArgumentErrors(t *testing.T) {
	in := newInterp(t)
	for _, tc := range []struct{ script, want string }{
		{`socket.open()`, "string expected, got nil"},
		{`socket.open("a:1", 5)`, "message must be a name or a function, not number"},
		{`socket.open("a:1", "")`, "message name is empty"},
		{`socket.open("a:1", "m", {bogus = 1})`, "unknown option bogus (allowed: handlers, from)"},
		{`socket.open("a:1", "m", {handlers = 1})`, "option handlers must be a table, not number"},
		{`socket.opensecure("a:1", "m", {verify = "no"})`, "option verify must be a boolean, not string"},
		{`socket.accept(0)`, "accept needs a message"},
		{`socket.accept(0, "m", {maxconnections = 1.5})`, "option maxconnections must be a whole number"},
		{`socket.read("a:1", {5, "bogus"})`, `unknown unit "bogus"`},
		{`socket.read("a:1", -1)`, "count must be a whole number from 0"},
		{`socket.read("a:1", 1.5)`, "count must be a whole number from 0"},
		{`socket.read("a:1", {"\n", "lines"})`, "a delimiter takes no unit"},
		{`socket.read("a:1", {true})`, "a read spec table starts with a delimiter, a count or socket.EOF"},
		{`socket.read("a:1", true)`, "read spec must be nil, a delimiter string, a count, socket.EOF or a table"},
		{`socket.wait(-1)`, "seconds must not be negative"},
		{`socket.timeout(-5)`, "the interval must not be negative"},
		{`socket.accept(0, "m", {maxconnections = 1e20})`, "option maxconnections must be a whole number below 2^31"},
	} {
		require.ErrorContains(t, in.L.DoString(tc.script), tc.want, tc.script)
	}
}

// A connection that cannot be made gives the owner one socketError with
// LiveCode's text, and the ID leaves opensockets.
func TestSocketError(t *testing.T) {
	in := newInterp(t)
	in.set("ID", "127.0.0.1:"+strconv.Itoa(refusedPort(t))+"|refused")
	out := in.run(t, `
local obj = {}
function obj:socketError(id, text)
  show("socketError", id == ID, text:match("^[^:]*"), socket.result() == text)
  failed = true
end
function connected() print("never connected") end
assert(socket.open(ID, "connected", {handlers = obj}))
waitfor(function() return failed end)
show(#socket.opensockets())
`)
	require.Equal(t, `"socketError" true "can't connect to host" true
0
`, out)
}

// The peer closing completes a pending read with what came and "eof",
// then sends socketClosed to the owner.
func TestSocketClosed(t *testing.T) {
	port := peer(t, func(c net.Conn) { c.Write([]byte("partial")) })
	in := newInterp(t)
	in.set("ID", "127.0.0.1:"+strconv.Itoa(port)+"|c")
	out := in.run(t, `
local obj = {}
function obj:socketClosed(id) show("socketClosed", id == ID); closed = true end
assert(socket.open(ID, nil, {handlers = obj}))
socket.read(ID, "\n", function(id, data) show("read", data, socket.result()) end)
waitfor(function() return closed end)
show(#socket.opensockets())
`)
	require.Equal(t, `"read" "partial" "eof"
"socketClosed" true
0
`, out)
}

// A Lua error in a callback does not stop the other events, is raised by
// the socket.wait that ran it, and leaves the interpreter usable.
func TestCallbackError(t *testing.T) {
	port := peer(t, echo)
	in := newInterp(t)
	in.set("ID", "127.0.0.1:"+strconv.Itoa(port)+"|e")
	out := in.run(t, `
function connected() up = true end
assert(socket.open(ID, "connected"))
waitfor(function() return up end)

-- written events are queued by write itself when the kernel takes the data
function bad(id) error("bad callback") end
function good(id) print("good still ran") end
socket.write(ID, "1", "bad")
socket.write(ID, "2", "good")
socket.write(ID, "3", "bad")
local ok, err = pcall(socket.waitpending)
show(ok, (err:gsub("^.-error in", "error in"))) -- without the position of the wait

-- a nested wait reports only the errors of the callbacks it ran
function e1(id) error("e1 failed") end
function e2(id)
  socket.write(ID, "4", "innerBad")
  local ok, err = pcall(socket.waitpending)
  show("inner", ok, err:match("innerBad") ~= nil, err:match("e1") ~= nil)
end
function innerBad(id) error("innerBad failed") end
socket.write(ID, "5", "e1")
socket.write(ID, "6", "e2")
local ok, err = pcall(socket.waitpending)
show("outer", ok, err:match("e1 failed") ~= nil, err:match("more") ~= nil)
`)
	id := in.L.GetGlobal("ID").String()
	require.Equal(t, `good still ran
false "error in bad `+id+`: <string>:7: bad callback (and 1 more callback errors)"
"inner" false true false
"outer" false true false
`, out)

	// Not caught by the script: the host gets it from DoString.
	err := in.L.DoString(`
function boom() error("boom") end
socket.write(ID, "7", "boom")
socket.wait(5)
print("not reached")
`)
	require.ErrorContains(t, err, "error in boom "+id+": <string>:2: boom")
	require.Equal(t, `true
`, in.run(t, `show(#socket.opensockets() == 1)`))
}

// socketTimeout interval: a blocking read times out with "timeout" and
// keeps the socket; a read with a message sends socketTimeout to the owner.
func TestTimeout(t *testing.T) {
	port := peer(t, func(c net.Conn) { io.Copy(io.Discard, c) })
	in := newInterp(t)
	in.set("ID", "127.0.0.1:"+strconv.Itoa(port)+"|t")
	out := in.run(t, `
show(socket.timeout(), socket.timeout(0), socket.timeout(50))
assert(socket.open(ID))
show(socket.read(ID, "\n"))
show(socket.result(), socket.opensockets()[1] == ID)
function socketTimeout(id) show("socketTimeout", id == ID); timedOut = true end
assert(socket.read(ID, "\n", "never"))
waitfor(function() return timedOut end)
`)
	require.Equal(t, `10000 1 50
nil "timeout"
"timeout" true
"socketTimeout" true
`, out)
}

func TestWaitWithNothingToDo(t *testing.T) {
	in := newInterp(t)
	require.Equal(t, "0 0\n", in.run(t, `show(socket.wait(0.01), socket.waitpending())`))
}

// The state's context bounds socket.wait: the host can stop a script.
func TestContextStopsWait(t *testing.T) {
	in := newInterp(t)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	in.L.SetContext(ctx)
	err := in.L.DoString(`socket.wait()`)
	require.ErrorContains(t, err, "context deadline exceeded")
}

func TestOpenNeedsPumpedRegistry(t *testing.T) {
	reg, err := lcsock.NewRegistry(lcsock.Config{})
	require.NoError(t, err)
	defer reg.Close()
	L := lua.NewState()
	defer L.Close()
	_, err = Open(L, reg)
	require.ErrorIs(t, err, lcsock.ErrNotPumped)
}

// After the host closes the registry, verbs fail and wait raises.
func TestRegistryClosed(t *testing.T) {
	in := newInterp(t)
	require.NoError(t, in.reg.Close())
	require.Equal(t, "nil \"socket closed\"\n", in.run(t, `show(socket.open("127.0.0.1:1"))`))
	require.ErrorContains(t, in.L.DoString(`socket.wait(1)`), "the registry is closed")
}

// Module.Dispatch: the host runs the event loop after the script returned.
func TestHostDispatch(t *testing.T) {
	port := peer(t, echo)
	in := newInterp(t)
	in.set("ID", "127.0.0.1:"+strconv.Itoa(port)+"|h")
	in.run(t, `
function connected(id) socket.write(id, "x\n"); socket.read(id, "\n", "gotIt") end
function gotIt(id, data) done = data; error("after done") end
assert(socket.open(ID, "connected"))
`)
	var errs []error
	for in.L.GetGlobal("done") == lua.LNil {
		_, err := in.mod.Dispatch(in.L.Context())
		if err != nil {
			errs = append(errs, err)
		}
	}
	require.Equal(t, "x\n", in.L.GetGlobal("done").String())
	require.Len(t, errs, 1)
	var ce *CallbackError
	require.True(t, errors.As(errs[0], &ce))
	require.Equal(t, "gotIt", ce.Message)
	require.Equal(t, lcsock.EventRead, ce.Kind)
	require.Equal(t, []string{"127.0.0.1:" + strconv.Itoa(port) + "|h", "x\n"}, ce.Params)
	require.Contains(t, ce.Err.Object.String(), "after done")
}

// socket.wait in a coroutine runs the callbacks on that coroutine.
func TestWaitInCoroutine(t *testing.T) {
	port := peer(t, echo)
	in := newInterp(t)
	in.set("ID", "127.0.0.1:"+strconv.Itoa(port))
	out := in.run(t, `
local co = coroutine.wrap(function()
  function connected(id) show("connected in a coroutine", coroutine.running() ~= nil); up = true end
  assert(socket.open(ID, "connected"))
  waitfor(function() return up end)
  return "done"
end)
print(co())
`)
	require.Equal(t, `"connected in a coroutine" true
done
`, out)
}

// opensecure and acceptsecure, verified against a test CA.
func TestSecure(t *testing.T) {
	ca := lcsocktest.NewCA(t)
	cert, key := ca.Issue(t, "localhost")
	in := newInterp(t)
	in.reg.SetCertificates([]string{lcsocktest.WriteFile(t, t.TempDir(), "ca.pem", ca.CertPEM)})
	in.set("CERT", string(cert))
	in.set("KEY", string(key))
	out := in.run(t, `
local srv = {}
function srv:conn(id) socket.read(id, "\n", "line") end
function srv:line(id, data)
  if socket.result() ~= "eof" then socket.write(id, "secure " .. data) end
end
local port = assert(socket.acceptsecure(0, "conn", CERT, KEY, {handlers = srv}))

function connected(id) socket.write(id, "hi\n"); socket.read(id, "\n", "reply") end
function reply(id, data) show(id:match("|.*"), data); socket.close(id); replies = (replies or 0) + 1 end
assert(socket.opensecure("127.0.0.1:" .. port .. "|verified", "connected", {verifyhost = "localhost"}))
waitfor(function() return replies == 1 end)
assert(socket.opensecure("127.0.0.1:" .. port .. "|unverified", "connected", {verify = false}))
waitfor(function() return replies == 2 end)

function socketError(id, text) show(id:match("|.*"), text:match("^[^:]*")); failed = true end
assert(socket.opensecure("127.0.0.1:" .. port .. "|wrong", "connected", {verifyhost = "wrong.example"}))
waitfor(function() return failed end)
`)
	require.Equal(t, `"|verified" "secure hi\n"
"|unverified" "secure hi\n"
"|wrong" "TLS handshake failed"
`, out)
}

// Numbers too large for a Duration mean "very long", not a wrapped,
// negative or tiny one (found in review: timeout(math.huge) set 1 ms).
func TestHugeDurations(t *testing.T) {
	in := newInterp(t)
	out := in.run(t, `
show(socket.timeout(math.huge) > 1e12, socket.timeout(1e300) > 1e12) -- ms; ~292 years
socket.timeout(10000)
`)
	require.Equal(t, "true true\n", out)
}

// socket.wait(0) runs the messages already queued, as LiveCode's "wait 0
// seconds with messages" does; it delivered nothing most of the time,
// its context having ended before Dispatch looked at the queue.
func TestWaitZeroRunsQueuedMessages(t *testing.T) {
	port := peer(t, echo)
	in := newInterp(t)
	in.set("ID", "127.0.0.1:"+strconv.Itoa(port)+"|z")
	out := in.run(t, `
function connected(id) isOpen = true end
function sent(id) n = n + 1 end
assert(socket.open(ID, "connected"))
waitfor(function() return isOpen end)
n = 0
local missed = 0
for i = 1, 20 do
  assert(socket.write(ID, "y", "sent")) -- sent at once: its message is queued on return
  if socket.wait(0) ~= 1 then missed = missed + 1 end
end
waitfor(function() return n == 20 end)
show(missed, socket.wait(0))
`)
	require.Equal(t, "0 0\n", out)
}

// Looking a message up may raise a Lua error (here a guard against
// undefined globals, for a message nobody handles): socket.wait reports
// it as a callback error, and the script goes on. The lookup ran
// unprotected: lcsock swallowed the error as a handler panic, and the
// rest of the script silently never ran.
func TestMessageLookupError(t *testing.T) {
	port := peer(t, echo)
	in := newInterp(t)
	in.set("ID", "127.0.0.1:"+strconv.Itoa(port)+"|s")
	out := in.run(t, `
local client = {}
function client:connected(id) self.open = true end
setmetatable(_G, {__index = function(_, k) error("undefined global " .. k, 2) end})
assert(socket.open(ID, "connected", {handlers = client}))
while not client.open do socket.wait(5) end
assert(socket.write(ID, "y\n"))
assert(socket.read(ID, "\n", "nobodyHandlesThis"))
local ok, err = pcall(socket.wait, 5)
show(ok, err:match("error in nobodyHandlesThis [^ ]+: .*undefined global nobodyHandlesThis") ~= nil)
show("still running", #socket.opensockets())
`)
	require.Equal(t, "false true\n\"still running\" 1\n", out)
}

// A callback cannot yield: gopher-lua cannot resume a Lua function that
// Go called. A yield in a callback run by a socket.wait in a coroutine
// must be that callback's error, raised by the wait, not a yield that
// leaves the wait running and the coroutine's state corrupt (the next
// resume used to fail with a Go nil pointer dereference).
func TestCallbackCannotYield(t *testing.T) {
	port := peer(t, echo)
	in := newInterp(t)
	in.set("ID", "127.0.0.1:"+strconv.Itoa(port))
	out := in.run(t, `
function connected(id) coroutine.yield("from a callback"); up = true end
assert(socket.open(ID, "connected"))
local co = coroutine.create(function()
  local ok, err = pcall(waitfor, function() return up end)
  return "wait raised", ok, err
end)
show(coroutine.resume(co))
show(coroutine.status(co), up)
`)
	require.Regexp(t, `^true "wait raised" false ".*error in connected 127\.0\.0\.1:\d+: .*yield.*"\n"dead" nil\n$`, out)
}
