package lcsock

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
)

// EventKind says what happened.
type EventKind uint8

// The kinds of Event. The comment gives the LiveCode message and its
// parameters as [Event.Params] returns them.
const (
	EventConnected EventKind = iota + 1 // <message> id — Open with WithMessage, after the connection is up
	EventRead                           // <message> id, data — ReadWithMessage completed
	EventWritten                        // <message> id — WriteWithMessage's bytes are in the kernel
	EventClosed                         // socketClosed id — the peer closed the connection
	EventError                          // socketError id, text — the socket failed and is gone
	EventTimeout                        // socketTimeout id — an open, read or write made no progress for the interval
	EventAccepted                       // <message> newID, listenerPort — a listener accepted a connection
	EventDatagram                       // <message> senderID, data, socketID — a datagram arrived
	EventResolved                       // <message> name, addresses — an asynchronous name lookup finished
)

var kindNames = [...]string{
	EventConnected: "connected",
	EventRead:      "read",
	EventWritten:   "written",
	EventClosed:    "socketClosed",
	EventError:     "socketError",
	EventTimeout:   "socketTimeout",
	EventAccepted:  "accepted",
	EventDatagram:  "datagram",
	EventResolved:  "resolved",
}

func (k EventKind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return fmt.Sprintf("EventKind(%d)", k)
}

// Op names the operation a socketTimeout event is about.
type Op uint8

// The operations that can time out.
const (
	OpNone Op = iota
	OpOpen
	OpRead
	OpWrite
)

func (o Op) String() string {
	switch o {
	case OpOpen:
		return "open"
	case OpRead:
		return "read"
	case OpWrite:
		return "write"
	}
	return "none"
}

// Event is one thing that happened to a socket, delivered to a [Handler].
// Events for one socket arrive in the order things happened on it.
type Event struct {
	Kind EventKind
	// Name is the message LiveCode would send: the message name the caller
	// gave (WithMessage, ReadWithMessage, ...) or socketError, socketClosed,
	// socketTimeout.
	Name string
	// Socket is the socket ID as written by the user (or as lcsock named an
	// accepted socket). For EventAccepted it is the new socket's ID; for
	// EventDatagram the sender's ID; for EventResolved the name looked up.
	Socket string
	// Data holds the bytes read (EventRead, EventDatagram). The handler owns
	// it — except with Config.LendReadData, which lends an EventRead's
	// Data only until the handler returns. For EventResolved it holds the addresses, one per line.
	Data []byte
	// Err is the failure for EventError. For EventRead it is io.EOF when
	// the read completed short because the stream ended, the connection's
	// error when it failed instead (a reset; EOF is set), or an error
	// wrapping ErrBufferFull (see Registry.ReadWithMessage). For
	// EventResolved it is the lookup's error.
	Err error
	// EOF reports, for EventRead, that the stream has ended: LiveCode's
	// result "eof".
	EOF bool
	// Op says, for EventTimeout, which pending operation made no progress.
	Op Op
	// Listener is the listening socket's ID (its port) for EventAccepted,
	// and the receiving socket's ID for EventDatagram.
	Listener string

	unit  Unit // for EventRead: the unit of a For read, to format binary chunks
	chunk bool // unit is a binary chunk unit

	fromDatagram *socket // for EventDatagram: the socket counting undelivered datagrams
}

// Params returns the message's parameters exactly as LiveCode passes them,
// so that an interpreter can forward the event to a script by name:
//
//	connected, written, socketClosed, socketTimeout: id
//	read:                                             id, data (binary chunk reads: comma-separated numbers,
//	                                                  without a partial chunk the end of stream left, which only Data has)
//	socketError:                                      id, error text
//	accepted:                                         new id, listener port
//	datagram:                                         sender id, data, socket id
//	resolved:                                         name, addresses one per line
func (e Event) Params() []string {
	switch e.Kind {
	case EventRead:
		if e.chunk {
			return []string{e.Socket, FormatChunks(e.Data, e.unit)}
		}
		return []string{e.Socket, string(e.Data)}
	case EventError:
		return []string{e.Socket, ErrorText(e.Err)}
	case EventAccepted:
		return []string{e.Socket, e.Listener}
	case EventDatagram:
		return []string{e.Socket, string(e.Data), e.Listener}
	case EventResolved:
		return []string{e.Socket, string(e.Data)}
	}
	return []string{e.Socket}
}

// Result returns what LiveCode's "the result" holds after the operation:
// "eof" for a read that reached end of stream, the error text for an
// error, "" otherwise.
func (e Event) Result() string {
	if e.Err != nil && e.Err != io.EOF {
		return ErrorText(e.Err)
	}
	if e.EOF || e.Err == io.EOF {
		return "eof"
	}
	return ""
}

func (e Event) String() string {
	return fmt.Sprintf("%s %q %q", e.Kind, e.Name, e.Params())
}

// Handler receives events. It plays the part of the LiveCode object whose
// script handles a socket's messages. A handler may call any Registry
// method, including closing its own socket.
type Handler interface {
	HandleEvent(Event)
}

// HandlerFunc adapts a function to [Handler].
type HandlerFunc func(Event)

// HandleEvent calls f(ev).
func (f HandlerFunc) HandleEvent(ev Event) { f(ev) }

// DispatchMode chooses how events reach handlers.
type DispatchMode uint8

const (
	// DispatchSerial (the default) runs every handler on one goroutine per
	// registry, one at a time, in the order events happened — LiveCode's
	// single script thread.
	DispatchSerial DispatchMode = iota
	// DispatchPumped queues events until the host calls
	// [Registry.Dispatch] or [Registry.DispatchPending] — LiveCode's
	// "wait for messages", for interpreters that must run callbacks on
	// their own thread.
	DispatchPumped
)

type pending struct {
	h     Handler
	ev    Event
	s     *socket // the socket the event belongs to, for panic handling; may be nil
	after func()  // run on the dispatching goroutine once the handler returned
	loan  *[]byte // the read buffer ev.Data lies in, lent until the handler returns (LendReadData)
}

// dispatcher is the registry's event queue. The queue itself is not
// bounded, but everything that feeds it is: each read or write request
// yields at most one event, each socket at most one connected and one
// final event, and timeout events are coalesced per socket (see
// socket.timeoutQueued). Inbound data is bounded by the read buffer.
type dispatcher struct {
	mode    DispatchMode
	logger  *slog.Logger
	onPanic func(p pending, v any)

	mu     sync.Mutex
	q      []pending
	head   int           // q[:head] were popped by pump
	closed atomic.Bool   // set under mu; read without it between events
	wake   chan struct{} // capacity 1: "the queue may be non-empty"; closed by close
	done   chan struct{} // closed when the serial goroutine exits

	pumpSem   chan struct{} // one pumping goroutine at a time (capacity 1)
	pumpOwner atomic.Uint64 // goroutine that holds pumpSem, for nested Dispatch
	loopID    atomic.Uint64 // the serial loop's goroutine
	queued    atomic.Int64  // len(q), for a lock-free empty check
}

func newDispatcher(mode DispatchMode, logger *slog.Logger) *dispatcher {
	d := &dispatcher{mode: mode, logger: logger, wake: make(chan struct{}, 1), done: make(chan struct{}), pumpSem: make(chan struct{}, 1)}
	if mode == DispatchSerial {
		go d.loop()
	} else {
		close(d.done)
	}
	return d
}

// post queues an event. It never blocks and never calls user code, so it
// may be called with socket locks held.
func (d *dispatcher) post(h Handler, ev Event, s *socket) {
	if h != nil {
		d.postThen(h, ev, s, nil)
	}
}

// postThen queues an event and a function to run after its handler
// returns. h must not be nil. If the registry is closing, neither runs,
// and postThen reports false.
func (d *dispatcher) postThen(h Handler, ev Event, s *socket, after func()) bool {
	return d.enqueue(pending{h: h, ev: ev, s: s, after: after})
}

// enqueue queues p, unless the registry is closing.
func (d *dispatcher) enqueue(p pending) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed.Load() {
		return false
	}
	if d.head > 0 && d.head >= len(d.q)/2 {
		// Slide the events pump has not popped yet to the front, so the
		// queue does not grow while a pumping host keeps it non-empty.
		n := copy(d.q, d.q[d.head:])
		clear(d.q[n:])
		d.q, d.head = d.q[:n], 0
	}
	d.q = append(d.q, p)
	d.queued.Add(1)
	select {
	case d.wake <- struct{}{}:
	default:
	}
	return true
}

// take moves the queued events into buf and returns it.
func (d *dispatcher) take(buf []pending) []pending {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.head > 0 {
		buf = append(buf[:0], d.q[d.head:]...)
		clear(d.q)
		d.q, d.head = d.q[:0], 0
	} else {
		// Swap the queue with buf: no copying of events.
		buf, d.q = d.q, buf[:0]
	}
	d.queued.Store(0)
	return buf
}

// pop removes and returns the first queued event.
func (d *dispatcher) pop() (pending, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.head >= len(d.q) { // empty, or emptied by close
		return pending{}, false
	}
	p := d.q[d.head]
	d.q[d.head] = pending{}
	d.head++
	if d.head == len(d.q) {
		d.q, d.head = d.q[:0], 0
	}
	d.queued.Add(-1)
	return p, true
}

func (d *dispatcher) loop() {
	d.loopID.Store(goid())
	var batch []pending
	next, normal := 0, false // batch[next:] is still to deliver
	defer func() {
		if !normal && !d.closed.Load() {
			// A handler called runtime.Goexit (t.FailNow in a handler,
			// say): this goroutine ends, but delivery goes on, on a new
			// one, starting with the rest of the batch.
			if d.logger != nil {
				d.logger.Error("lcsock: a handler called runtime.Goexit; events go on being delivered")
			}
			d.requeue(batch[next:])
			go d.loop()
			return
		}
		close(d.done)
	}()
	for range d.wake {
		batch = d.take(batch)
		for next = 0; next < len(batch); {
			if d.closed.Load() {
				normal = true
				return
			}
			p := batch[next]
			batch[next] = pending{}
			next++
			d.call(p)
		}
		if d.closed.Load() {
			break
		}
	}
	normal = true
}

// requeue puts ps back at the front of the queue, unless the registry is
// closing.
func (d *dispatcher) requeue(ps []pending) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed.Load() || len(ps) == 0 {
		return
	}
	d.q = append(slices.Clone(ps), d.q[d.head:]...)
	d.head = 0
	d.queued.Store(int64(len(d.q)))
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

func (d *dispatcher) call(p pending) {
	if p.after != nil {
		defer p.after()
	}
	if p.loan != nil {
		defer p.s.endLoan(p.loan)
	}
	defer func() {
		if v := recover(); v != nil {
			if d.logger != nil {
				d.logger.Error("lcsock: handler panicked", "event", p.ev.Kind.String(), "socket", p.ev.Socket, "panic", v)
			}
			if d.onPanic != nil {
				d.onPanic(p, v)
			}
		}
	}()
	if p.ev.Kind == EventTimeout && p.s != nil {
		p.s.timeoutQueued.Store(false)
	}
	if c := p.ev.fromDatagram; c != nil {
		c.dg.undelivered.Add(-1)
		p.ev.fromDatagram = nil
	}
	if (p.ev.Kind == EventClosed || p.ev.Kind == EventTimeout) && p.s != nil && p.s.socketClosedStale() {
		return // closed locally while the event waited: none is due
	}
	p.h.HandleEvent(p.ev)
}

// pump delivers the queued events on the calling goroutine. With wait it
// first waits for at least one event, ctx or close. A handler may pump
// again (LiveCode's "wait for messages" inside a handler); other
// goroutines take turns.
func (d *dispatcher) pump(ctx context.Context, wait bool) (int, error) {
	if !wait && d.queued.Load() == 0 {
		return 0, nil
	}
	if me := goid(); d.pumpOwner.Load() != me {
		select {
		case d.pumpSem <- struct{}{}:
		default:
			// Another goroutine pumps: wait for the turn while ctx
			// lasts. Not in one select with the free case above, which
			// an ended ctx would win at random: the events already
			// queued are delivered even then.
			select {
			case d.pumpSem <- struct{}{}:
			case <-ctx.Done():
				return 0, ctx.Err()
			}
		}
		d.pumpOwner.Store(me)
		defer func() {
			d.pumpOwner.Store(0)
			<-d.pumpSem
		}()
	}
	// Deliver the events queued now, one at a time, so that a nested
	// Dispatch from a handler delivers the ones behind it.
	n := 0
	for {
		if d.closed.Load() {
			return n, ErrClosed
		}
		limit := d.queued.Load()
		for ; limit > 0 && !d.closed.Load(); limit-- {
			p, ok := d.pop()
			if !ok {
				break
			}
			d.call(p)
			n++
		}
		if n > 0 || !wait {
			return n, nil
		}
		select {
		case <-d.wake:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}

// drain waits until the events queued so far have been delivered, in
// serial mode, unless called from a handler (which would wait on itself);
// in pumped mode it delivers them. It reports false if ctx ended first.
func (d *dispatcher) drain(ctx context.Context) bool {
	if d.mode == DispatchPumped {
		// The host pumps: deliver them here, on its goroutine, as
		// Dispatch does.
		for d.queued.Load() > 0 {
			if ctx.Err() != nil {
				return false
			}
			if n, err := d.pump(ctx, false); n == 0 || err != nil {
				return ctx.Err() == nil || d.queued.Load() == 0
			}
		}
		return true
	}
	if goid() == d.loopID.Load() {
		return true
	}
	done := make(chan struct{})
	if !d.postThen(HandlerFunc(func(Event) {}), Event{}, nil, func() { close(done) }) {
		return true
	}
	select {
	case <-done:
	case <-d.done: // closed meanwhile (a handler called Close): the marker was dropped
	case <-ctx.Done():
		select {
		case <-done: // delivered all the same
		default:
			return false
		}
	}
	return true
}

// close stops delivery; events still queued are dropped. In serial mode
// it waits for the loop to exit — after the handler it is running, if
// any — when wait is set, unless it is called from that handler.
func (d *dispatcher) close(wait bool) {
	d.mu.Lock()
	if d.closed.Load() {
		d.mu.Unlock()
		return
	}
	d.closed.Store(true)
	clear(d.q)
	d.q, d.head = nil, 0
	d.queued.Store(0)
	close(d.wake) // ends the serial loop and wakes a goroutine blocked in Dispatch
	d.mu.Unlock()
	if wait && d.mode == DispatchSerial && goid() != d.loopID.Load() {
		<-d.done
	}
}

// goid returns the calling goroutine's id. It is used only to recognise
// the dispatching goroutine off the hot path (Close, nested Dispatch).
func goid() uint64 {
	var buf [32]byte
	n := runtime.Stack(buf[:], false)
	b := bytes.TrimPrefix(buf[:n], []byte("goroutine "))
	if i := bytes.IndexByte(b, ' '); i > 0 {
		b = b[:i]
	}
	id, _ := strconv.ParseUint(string(b), 10, 64)
	return id
}
