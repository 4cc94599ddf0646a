package lcsock

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strings"
)

// Sentinel errors. Where the LiveCode engine has a fixed text for a
// condition, the sentinel's Error() is exactly that text, so an interpreter
// can put err.Error() into LiveCode's "the result" unchanged. Test for them
// with errors.Is; the errors returned by lcsock wrap them in an *OpError.
var (
	// ErrSocketNotOpen: no socket with that ID is open (LiveCode: "socket is not open").
	ErrSocketNotOpen = errors.New("socket is not open")
	// ErrAlreadyOpen: Open was given an ID that is already open, compared
	// case-insensitively (LiveCode: "socket is already open").
	ErrAlreadyOpen = errors.New("socket is already open")
	// ErrBadID: a socket ID that cannot be parsed; the wrapping error says why.
	ErrBadID = errors.New("invalid socket id")
	// ErrInvalidPort: a port that is not 0–65535 or a known service name
	// (LiveCode: "not a valid port").
	ErrInvalidPort = errors.New("not a valid port")
	// ErrResolve: the host name could not be resolved (LiveCode: "can't resolve hostname").
	ErrResolve = errors.New("can't resolve hostname")
	// ErrConnect: the connection could not be made (LiveCode: "can't connect to host").
	// The wrapping error carries the operating system's reason.
	ErrConnect = errors.New("can't connect to host")
	// ErrTimeout: a blocking call saw no progress for the socket timeout
	// interval (LiveCode: "timeout"). It also matches os.ErrDeadlineExceeded
	// and reports Timeout() == true.
	ErrTimeout error = timeoutError{}
	// ErrClosed: the socket was closed while the call waited, or the
	// registry is closed (LiveCode: "socket closed"). It also matches
	// net.ErrClosed.
	ErrClosed error = closedError{}
	// ErrNotReadable: a read from a listener (LiveCode: "can't read from this socket").
	ErrNotReadable = errors.New("can't read from this socket")
	// ErrNotWritable: a write to a listener (lcsock's text; LiveCode has none).
	ErrNotWritable = errors.New("can't write to this socket")
	// ErrInvalidHostAddress: a name that does not resolve (LiveCode: "invalid host address").
	ErrInvalidHostAddress = errors.New("invalid host address")
	// ErrNotAnOpenSocket: HostAddress or PeerAddress of an unknown ID
	// (LiveCode returns the text "not an open socket").
	ErrNotAnOpenSocket = errors.New("not an open socket")
	// ErrSendDatagram: a datagram could not be sent (LiveCode: "error sending datagram").
	ErrSendDatagram = errors.New("error sending datagram")
	// ErrBufferFull: a configured limit was reached — the write queue
	// (Config.MaxWriteQueue) or the read buffer (Config.MaxReadBuffer).
	// Nothing already queued or buffered is lost.
	ErrBufferFull = errors.New("buffer full")
	// ErrBadInterface: a default network interface that is not an IP address.
	ErrBadInterface = errors.New("network interface must be an IPv4 or IPv6 address")
	// ErrLocalAddress: the local address given with From cannot be parsed
	// (LiveCode: "error parsing the local host and port").
	ErrLocalAddress = errors.New("error parsing the local host and port")
	// ErrLocalResolve: the local host given with From does not resolve
	// (LiveCode: "can't resolve local host and port").
	ErrLocalResolve = errors.New("can't resolve local host and port")
	// ErrBind: the local address given with From cannot be bound
	// (LiveCode: "can't bind to local host and port").
	ErrBind = errors.New("can't bind to local host and port")
	// ErrHandlerPanic: a Handler panicked; the socket whose event it was
	// handling is closed with this error.
	ErrHandlerPanic = errors.New("handler panicked")
)

// errNilContext is the cause of the error a blocking verb returns when
// given a nil context.Context (Go's contexts are never nil: use
// context.Background). It is an error, not a panic, as all bad input is.
var errNilContext = errors.New("nil context.Context (use context.Background)")

// nilContext returns an *OpError for a nil ctx given to op, or nil.
func nilContext(ctx context.Context, op, id string) error {
	if ctx == nil {
		return &OpError{Op: op, Socket: id, Err: errNilContext}
	}
	return nil
}

type timeoutError struct{}

func (timeoutError) Error() string   { return "timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }
func (timeoutError) Is(target error) bool {
	return target == os.ErrDeadlineExceeded
}

type closedError struct{}

func (closedError) Error() string { return "socket closed" }
func (closedError) Is(target error) bool {
	return target == net.ErrClosed
}

// OpError is the error type returned by lcsock's verbs and carried by
// error events. It names the operation, the socket ID and, where known, the
// address involved, and unwraps to the sentinel and to the net or tls
// error underneath.
type OpError struct {
	Op     string   // "open", "read", "write", "close", "accept", "parse", ...
	Socket string   // the socket ID as the user wrote it; may be empty
	Addr   net.Addr // the remote or local address involved; may be nil
	Err    error    // the cause; never nil in errors made by lcsock
}

// Error returns "op socket addr: err", leaving out empty parts. It is safe
// on a nil *OpError.
func (e *OpError) Error() string {
	if e == nil {
		return "<nil>"
	}
	var b strings.Builder
	b.WriteString(e.Op)
	if e.Socket != "" {
		b.WriteString(" ")
		b.WriteString(e.Socket)
	}
	if e.Addr != nil {
		b.WriteString(" ")
		b.WriteString(e.Addr.String())
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the cause (nil on a nil *OpError).
func (e *OpError) Unwrap() error {
	if e == nil {
		return nil
	}
	return e.Err
}

// Timeout reports whether the error is a timeout.
func (e *OpError) Timeout() bool {
	var t interface{ Timeout() bool }
	return e != nil && errors.As(e.Err, &t) && t.Timeout()
}

// Temporary reports the same as Timeout; with it *OpError is a net.Error.
func (e *OpError) Temporary() bool { return e.Timeout() }

// ErrorText returns the text LiveCode would put in "the result" or pass as
// the second parameter of socketError for err: the cause without the
// operation and socket prefix of an *OpError. It returns "" for nil, and
// "eof" for io.EOF (a blocking read cut short by the end of the stream,
// whose result LiveCode sets to "eof").
func ErrorText(err error) string {
	if err == nil {
		return ""
	}
	if err == io.EOF {
		return "eof"
	}
	var oe *OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return oe.Err.Error()
	}
	return err.Error()
}
