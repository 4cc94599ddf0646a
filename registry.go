package lcsock

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Default limits and intervals. A zero field in [Config] means these.
const (
	DefaultTimeoutInterval = 10 * time.Second // LiveCode's socketTimeoutInterval default
	DefaultMaxWriteQueue   = 16 << 20         // bytes of asynchronous writes queued per socket
	DefaultMaxReadBuffer   = 1 << 20          // bytes of unread input buffered per socket
	minTimeoutInterval     = time.Millisecond // LiveCode stores values below 1 ms as 1 ms
)

// Config configures a [Registry]. The zero value means LiveCode's
// defaults. NewRegistry copies it; changing it afterwards has no effect.
type Config struct {
	// TimeoutInterval is LiveCode's socketTimeoutInterval: how long an
	// open, read or write may make no progress before a socketTimeout
	// event (or, for blocking calls, an error wrapping ErrTimeout).
	// Zero means 10 s; a positive value below 1 ms means 1 ms, as in
	// LiveCode; negative is an error.
	TimeoutInterval time.Duration
	// DefaultInterface is LiveCode's defaultNetworkInterface: the local
	// IPv4 or IPv6 address used by opens without a From host and by
	// accept. Empty means any.
	DefaultInterface string
	// Certificates is LiveCode's sslCertificates: files and folders of
	// PEM certificates trusted for verified TLS, in addition to the
	// system roots.
	Certificates []string
	// Handler receives the events of every verb given a nil Handler.
	// When both are nil the events are discarded.
	Handler Handler
	// Dispatch chooses how events reach handlers; the zero value is
	// DispatchSerial.
	Dispatch DispatchMode
	// MaxWriteQueue bounds, per socket, the bytes of asynchronous writes
	// waiting to be sent. Zero means 16 MiB. A write that would pass it
	// fails with ErrBufferFull and nothing is queued.
	MaxWriteQueue int
	// MaxReadBuffer bounds, per socket, the unread input held. When it is
	// full lcsock stops reading from the kernel (TCP pushes back on the
	// peer), and an until-read that has not found its delimiter in that
	// many bytes fails with ErrBufferFull, leaving the data buffered.
	// (A pending read that the limit's bytes do not complete makes the
	// socket hold one byte more: only that byte, or the end of the
	// stream right there, tells whether the read fails, completes at the
	// end of the stream, or completes with a delimiter or CRLF that
	// straddles the limit.) Zero means 1 MiB.
	MaxReadBuffer int
	// MaxDatagramQueue bounds, per datagram socket, the datagrams received
	// and not yet read or delivered to their handler. Past it datagrams are
	// dropped and counted in Stats.Dropped. Zero means 1024.
	MaxDatagramQueue int
	// LendReadData makes the Data of EventRead events from TCP reads with
	// message a loan: it is valid only until the handler returns, after
	// which lcsock reuses the memory for later input. That saves a copy
	// and an allocation per read — the way to move bulk data at the speed
	// of the network. A handler that keeps the data, or hands it to
	// another goroutine, must copy it. Blocking Read, Conn and datagram
	// events always give data the caller owns.
	LendReadData bool
	// Resolver resolves host names for Open. Nil means net.DefaultResolver.
	Resolver *net.Resolver
	// Logger receives debug records for state changes and error records
	// for handler panics. Nil means no logging. Its handler is called on
	// lcsock's goroutines — and on those of callers such as Close, which
	// logs the sockets it closes — most of the time with a socket's lock
	// held: it must not call the registry's methods (Close, Shutdown,
	// CloseSocket, ...), which may wait for that lock or for the call
	// under way, forever.
	Logger *slog.Logger
}

// Registry owns every socket of one program, as one LiveCode engine does.
// All its methods are safe for concurrent use, including from handlers.
type Registry struct {
	cfg  Config
	disp *dispatcher

	interval atomic.Int64         // time.Duration
	mu       sync.Mutex           // guards the fields below; never held while a socket's mu is taken
	sockets  map[string]*socket   // open IDs
	live     map[*socket]struct{} // every socket not finished, listed or not (closing ones flush)
	seq      uint64
	closed   bool
	shutdown bool // Shutdown has begun: no new sockets
	iface    string
	certs    []string
	// closers holds, for each TLS connection a worker is closing
	// (closeTLS), a channel closed when it is closed: Shutdown lets their
	// close_notify alerts go out before Close cuts what is left.
	closers map[chan struct{}]struct{}
	// handshakes maps the goroutines that may run a socket's TLS
	// callbacks — a handshake, or I/O on a connection that may
	// renegotiate (see Registry.runTLS) — to that socket.
	handshakes map[uint64]*socket

	wg        sync.WaitGroup // socket goroutines' work: readers, writers, dials, accept loops
	closeDone chan struct{}  // closed when Close has finished

	// Workers: the goroutines that run socket work (see spawn).
	work    chan func()
	idle    atomic.Int32
	workers sync.WaitGroup

	ctx    context.Context // cancelled by Close: bounds dials and handshakes
	cancel context.CancelFunc
}

// NewRegistry returns a registry configured by cfg. It fails with a
// descriptive error when a field is invalid.
func NewRegistry(cfg Config) (*Registry, error) {
	if isNilHandler(cfg.Handler) {
		cfg.Handler = nil
	}
	switch {
	case cfg.TimeoutInterval < 0:
		return nil, fmt.Errorf("lcsock: negative TimeoutInterval %v", cfg.TimeoutInterval)
	case cfg.TimeoutInterval == 0:
		cfg.TimeoutInterval = DefaultTimeoutInterval
	}
	switch {
	case cfg.MaxWriteQueue < 0:
		return nil, fmt.Errorf("lcsock: negative MaxWriteQueue %d", cfg.MaxWriteQueue)
	case cfg.MaxWriteQueue == 0:
		cfg.MaxWriteQueue = DefaultMaxWriteQueue
	}
	switch {
	case cfg.MaxReadBuffer < 0:
		return nil, fmt.Errorf("lcsock: negative MaxReadBuffer %d", cfg.MaxReadBuffer)
	case cfg.MaxReadBuffer == 0:
		cfg.MaxReadBuffer = DefaultMaxReadBuffer
	}
	switch {
	case cfg.MaxDatagramQueue < 0:
		return nil, fmt.Errorf("lcsock: negative MaxDatagramQueue %d", cfg.MaxDatagramQueue)
	case cfg.MaxDatagramQueue == 0:
		cfg.MaxDatagramQueue = DefaultMaxDatagramQueue
	}
	if cfg.Dispatch > DispatchPumped {
		return nil, fmt.Errorf("lcsock: unknown DispatchMode %d", cfg.Dispatch)
	}
	if err := checkInterface(cfg.DefaultInterface); err != nil {
		return nil, err
	}
	if cfg.Resolver == nil {
		cfg.Resolver = net.DefaultResolver
	}
	cfg.Certificates = slices.Clone(cfg.Certificates)
	r := &Registry{
		cfg:        cfg,
		sockets:    make(map[string]*socket),
		live:       make(map[*socket]struct{}),
		handshakes: make(map[uint64]*socket),
		closers:    make(map[chan struct{}]struct{}),
		iface:      cfg.DefaultInterface,
		certs:      cfg.Certificates,
		work:       make(chan func()),
		closeDone:  make(chan struct{}),
	}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	r.interval.Store(int64(max(cfg.TimeoutInterval, minTimeoutInterval)))
	r.disp = newDispatcher(cfg.Dispatch, cfg.Logger)
	r.disp.onPanic = r.handlerPanicked
	return r, nil
}

// TimeoutInterval returns LiveCode's socketTimeoutInterval.
func (r *Registry) TimeoutInterval() time.Duration { return time.Duration(r.interval.Load()) }

// SetTimeoutInterval sets LiveCode's socketTimeoutInterval. Each command
// reads it when issued, so it affects commands issued from now on (and
// the repeats of timeouts already reported). Values below 1 ms become
// 1 ms, as in LiveCode.
func (r *Registry) SetTimeoutInterval(d time.Duration) {
	r.interval.Store(int64(max(d, minTimeoutInterval)))
}

// DefaultInterface returns LiveCode's defaultNetworkInterface ("" when unset).
func (r *Registry) DefaultInterface() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.iface
}

// SetDefaultInterface sets LiveCode's defaultNetworkInterface: the local
// address for opens without a From host and for accept, as it is when
// the verb is called (an open still resolving keeps the one it had). ""
// clears it.
// Anything but an IPv4 or IPv6 address gives an error wrapping
// ErrBadInterface and leaves the setting unchanged.
func (r *Registry) SetDefaultInterface(addr string) error {
	if err := checkInterface(addr); err != nil {
		return err
	}
	r.mu.Lock()
	r.iface = addr
	r.mu.Unlock()
	return nil
}

func checkInterface(addr string) error {
	if addr == "" {
		return nil
	}
	if _, err := netip.ParseAddr(addr); err != nil {
		return &OpError{Op: "set interface", Err: fmt.Errorf("%w: %q", ErrBadInterface, addr)}
	}
	return nil
}

// Certificates returns LiveCode's sslCertificates list.
func (r *Registry) Certificates() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.certs)
}

// SetCertificates sets LiveCode's sslCertificates: files and folders of
// PEM certificates trusted by verified TLS opens. Entries are read when a
// secure socket is opened.
func (r *Registry) SetCertificates(paths []string) {
	r.mu.Lock()
	r.certs = slices.Clone(paths)
	r.mu.Unlock()
}

// OpenSockets returns the IDs of the open sockets in the order they were
// opened, as LiveCode's openSockets: sockets still connecting are listed,
// sockets closed with CloseSocket are not.
func (r *Registry) OpenSockets() []string {
	r.mu.Lock()
	list := make([]*socket, 0, len(r.sockets))
	for _, s := range r.sockets {
		list = append(list, s)
	}
	r.mu.Unlock()
	slices.SortFunc(list, func(a, b *socket) int { return cmp.Compare(a.seq, b.seq) })
	ids := make([]string, len(list))
	for i, s := range list {
		ids[i] = s.id
	}
	return ids
}

// lookup finds an open socket by its whole ID, case-insensitively.
func (r *Registry) lookup(op, id string) (*socket, error) {
	// The usual ID (ASCII without capitals, as events give it back) is
	// its own key: look it up as it is, and compute the key only if it
	// is not there. A key found as given is the socket idKey would find,
	// since idKey of a key is that key.
	r.mu.Lock()
	s, ok := r.sockets[id]
	closed := r.closed
	r.mu.Unlock()
	if !ok && !closed {
		if key := idKey(id); key != id {
			r.mu.Lock()
			s, ok = r.sockets[key]
			closed = r.closed
			r.mu.Unlock()
		}
	}
	switch {
	case closed:
		return nil, &OpError{Op: op, Socket: id, Err: ErrClosed}
	case !ok:
		return nil, &OpError{Op: op, Socket: id, Err: ErrSocketNotOpen}
	}
	return s, nil
}

// add puts s in the table under its ID, failing if the ID is taken or
// the registry is closed or shutting down. With goroutine, it also counts
// the goroutine the caller is about to start for s in r.wg — under r.mu,
// so that it happens before Close waits.
func (r *Registry) add(s *socket, goroutine bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || r.shutdown {
		return &OpError{Op: "open", Socket: s.id, Err: ErrClosed}
	}
	if _, dup := r.sockets[s.key]; dup {
		return &OpError{Op: "open", Socket: s.id, Err: ErrAlreadyOpen}
	}
	r.seq++
	s.seq = r.seq
	r.sockets[s.key] = s
	r.live[s] = struct{}{}
	if goroutine {
		r.wg.Add(1)
	}
	return nil
}

// remove takes s out of the ID table if it is still there.
func (r *Registry) remove(s *socket) {
	r.mu.Lock()
	if r.sockets[s.key] == s {
		delete(r.sockets, s.key)
	}
	r.mu.Unlock()
}

// retire forgets a finished socket entirely.
func (r *Registry) retire(s *socket) {
	r.mu.Lock()
	if r.sockets[s.key] == s {
		delete(r.sockets, s.key)
	}
	delete(r.live, s)
	r.mu.Unlock()
}

func (r *Registry) handler(h Handler) Handler {
	if !isNilHandler(h) {
		return h
	}
	return r.cfg.Handler
}

// isNilHandler reports whether h is no handler: nil, or a nil HandlerFunc, which
// would panic at its first event (and the recovery would close the
// socket) instead of meaning Config.Handler.
func isNilHandler(h Handler) bool {
	f, ok := h.(HandlerFunc)
	return h == nil || ok && f == nil
}

// CloseSocket closes the socket, as LiveCode's close socket: the ID
// leaves OpenSockets at once and may be reopened at once; pending
// asynchronous reads are dropped without events and unread input is
// discarded; blocking Read and Write calls waiting on it return an error
// wrapping ErrClosed (on a TLS socket, a blocking Write already being
// sent is finished with the flush instead); asynchronous writes already queued are still sent
// (bounded by the timeout interval) and their events fire — unless the
// socket is still connecting: then it is not connected at all, and its
// queued writes are dropped (case 66). No
// socketClosed or socketError is sent for a local close, and a
// socketClosed or socketTimeout still waiting to be delivered is dropped. An unknown ID
// gives an error wrapping ErrSocketNotOpen. It does not block.
func (r *Registry) CloseSocket(id string) error {
	s, err := r.lookup("close", id)
	if err != nil {
		return err
	}
	r.remove(s)
	if r.debugging() {
		r.debug("lcsock: closing", "socket", s.id)
	}
	if !s.closeLocal() {
		// It finished (socketClosed or socketError) as we looked it up.
		return &OpError{Op: "close", Socket: id, Err: ErrSocketNotOpen}
	}
	return nil
}

// Close closes every socket at once, without flushing writes, stops event
// delivery (events not yet delivered are dropped) and waits for the
// registry's goroutines to exit. Blocking calls return errors wrapping
// ErrClosed. It is idempotent and may be called from a handler; a call
// made while another is under way returns when that one does (at once
// from a handler of the serial dispatcher, which the first call waits
// for). Called from a TLS callback (tls.Config.VerifyConnection, say)
// during a handshake of one of the registry's sockets — the first, a
// TLS 1.2 renegotiation its TLSConfig allows, or that of an adopted
// *tls.Conn — it cannot wait for the goroutine it runs on, nor for the
// handler being run, which may wait for that goroutine (a blocking Write
// it sends, TLSState): it returns once everything is closed, and the
// goroutines exit after the callback has returned.
func (r *Registry) Close() error {
	r.mu.Lock()
	inHandshake := r.handshaking() != nil
	if r.closed {
		r.mu.Unlock()
		if !inHandshake && goid() != r.disp.loopID.Load() {
			<-r.closeDone
		}
		return nil
	}
	r.closed = true
	all := make([]*socket, 0, len(r.live))
	for s := range r.live {
		all = append(all, s)
	}
	clear(r.sockets)
	r.mu.Unlock()
	// Abort the sockets before cancelling the context that bounds their
	// dials and handshakes: an open that fails because of the
	// cancellation then finds its socket closed and ends quietly, instead
	// of ending it with a socketError and failing its blocking calls with
	// "operation was canceled" rather than ErrClosed.
	for _, s := range all {
		s.abort()
	}
	r.cancel()
	// From a TLS callback, not even for the handler being run: it may
	// wait for this goroutine — a blocking Write the goroutine sends
	// (the writer running an adopted *tls.Conn's handshake), or one, or
	// TLSState, held by the handshake lock it holds (a renegotiation).
	r.disp.close(!inHandshake)
	if inHandshake {
		// This goroutine is socket work counted in r.wg: the rest
		// waits until it has left the handshake.
		go func() {
			<-r.disp.done
			r.finishClose()
		}()
		return nil
	}
	r.finishClose()
	return nil
}

// finishClose is the end of Close: it waits for the socket goroutines
// and the workers to exit.
func (r *Registry) finishClose() {
	r.wg.Wait()
	close(r.work) // idle workers leave
	r.workers.Wait()
	close(r.closeDone)
}

// handshaking returns the socket whose TLS callbacks the calling
// goroutine may run (see Registry.runTLS), or nil. Called with r.mu held.
func (r *Registry) handshaking() *socket {
	if len(r.handshakes) == 0 {
		return nil // no goroutine to look up: the usual case
	}
	return r.handshakes[goid()]
}

// A worker whose socket work ends (a reader whose connection closed, a
// writer whose queue emptied, a dial that failed) waits for more work
// instead of exiting, until the registry closes: starting a goroutine is
// cheap, but its stack starts small and grows again, by copying, through
// the dial and read paths — 4% of the CPU time of a connection in
// BenchmarkConnect. A reused goroutine keeps its stack until the garbage
// collector shrinks it. At most maxIdleWorkers wait; more exit.
const maxIdleWorkers = 64

// spawn runs fn, socket work the caller has counted in r.wg, on an idle
// worker if one waits, else on a new one. It is never called once Close
// has waited for r.wg: all work is done then, and nothing is left to
// start more.
func (r *Registry) spawn(fn func()) {
	select {
	case r.work <- fn:
	default:
		r.workers.Add(1)
		go r.worker(fn)
	}
}

// worker runs fn, then the work spawn hands it, until Close closes
// r.work or maxIdleWorkers others wait already.
func (r *Registry) worker(fn func()) {
	defer r.workers.Done()
	for {
		fn()
		r.wg.Done()
		if r.idle.Add(1) > maxIdleWorkers {
			r.idle.Add(-1)
			return
		}
		var ok bool
		fn, ok = <-r.work
		r.idle.Add(-1)
		if !ok {
			return
		}
	}
}

// Shutdown closes every socket the way CloseSocket does — queued writes
// are flushed and their events delivered, TLS connections send their
// close_notify — waits until they are done or ctx ends, then closes the
// registry as Close does. From the moment it begins, the verbs that make
// a socket (Open, Accept, Adopt, ...) fail with ErrClosed, as after
// Close. In DispatchPumped mode it delivers those events itself, on the
// calling goroutine, as Dispatch does. It returns ctx's error if ctx
// ended first — before the sockets were done or before their events were
// delivered (Close drops the rest). Called from a handler in
// DispatchSerial mode, it waits for the flush but cannot deliver its
// events, since handlers run one at a time and its own is running: Close
// drops them (use DispatchPumped, or call Shutdown from another
// goroutine, to have them). Called from a TLS callback during a socket's
// handshake, it does not wait for that socket, whose flush cannot go on
// before the callback returns, nor for the events of the flush to be
// delivered (as Close, it cannot wait for handlers): Close ends it, and
// drops them. A nil ctx is an error and closes nothing (no panic).
func (r *Registry) Shutdown(ctx context.Context) error {
	if err := nilContext(ctx, "shutdown", ""); err != nil {
		return err // nothing is closed: call it again with a context, or Close
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return r.Close() // returns when the Close under way does
	}
	r.shutdown = true // what opens from now on would be neither flushed nor waited for
	mine := r.handshaking()
	all := make([]*socket, 0, len(r.live))
	for s := range r.live {
		all = append(all, s)
	}
	r.mu.Unlock()
	var err error
	for _, s := range all {
		r.remove(s)
		s.closeLocal()
	}
	for _, s := range all {
		if s == mine {
			continue
		}
		select {
		case <-s.finished:
		case <-ctx.Done():
			err = ctx.Err()
		}
		if err != nil {
			break
		}
	}
	if err == nil && mine == nil {
		// Let the TLS connections closed by the flush, or before it,
		// send their close_notify alerts, which Close would cut.
		r.mu.Lock()
		closing := make([]chan struct{}, 0, len(r.closers))
		for c := range r.closers {
			closing = append(closing, c)
		}
		r.mu.Unlock()
		for _, c := range closing {
			select {
			case <-c:
			case <-ctx.Done():
				err = ctx.Err()
			}
			if err != nil {
				break
			}
		}
	}
	if err == nil && mine == nil {
		// Let the write events of the flushed sockets reach their
		// handlers — unless a Close elsewhere drops them: its cancel
		// ends the wait, which a handler's Close may otherwise wait
		// for. Not from a TLS callback: the handler being run may
		// wait for this goroutine (see Close).
		dctx, cancel := r.bound(ctx)
		if !r.disp.drain(dctx) && ctx.Err() != nil {
			err = ctx.Err() // Close drops the events not delivered yet
		}
		cancel()
	}
	return errors.Join(err, r.Close())
}

// ErrNotPumped is returned by Dispatch on a registry whose events are
// delivered by its own goroutine (DispatchSerial).
var ErrNotPumped = errors.New("lcsock: Dispatch needs DispatchPumped mode")

// DispatchMode returns how the registry delivers events
// (Config.Dispatch): an embedding host checks it is DispatchPumped before
// running callbacks on its own thread.
func (r *Registry) DispatchMode() DispatchMode { return r.cfg.Dispatch }

// Dispatch delivers queued events on the calling goroutine, for
// registries in DispatchPumped mode: it waits until at least one event is
// queued (or ctx ends, or the registry closes: ErrClosed), then calls the
// handlers of every queued event, in order, and returns how many it
// delivered.
// It is LiveCode's "wait for messages". Calls from several goroutines
// take turns. The events already queued are delivered even when ctx has
// ended; only the waits (for an event, for the turn) end with ctx. A nil
// ctx is an error (no panic).
func (r *Registry) Dispatch(ctx context.Context) (int, error) {
	if r.cfg.Dispatch != DispatchPumped {
		return 0, ErrNotPumped
	}
	if err := nilContext(ctx, "dispatch", ""); err != nil {
		return 0, err
	}
	return r.disp.pump(ctx, true)
}

// DispatchPending delivers the events already queued, without waiting,
// for registries in DispatchPumped mode, and returns how many it
// delivered.
func (r *Registry) DispatchPending() int {
	if r.cfg.Dispatch != DispatchPumped {
		return 0
	}
	n, _ := r.disp.pump(context.Background(), false)
	return n
}

// handlerPanicked closes the socket whose event a handler panicked on:
// a listener stops, a connection ends with one socketError (its unread
// input is discarded: no read can reach it any more).
func (r *Registry) handlerPanicked(p pending, v any) {
	s := p.s
	if s == nil {
		return
	}
	r.remove(s)
	err := &OpError{Op: "handler", Socket: s.id, Err: fmt.Errorf("%w: %v", ErrHandlerPanic, v)}
	if s.dg != nil && p.ev.Kind != EventError {
		// Closing it is local (no event of its own): say why first.
		s.mu.Lock()
		if s.state != stateDone {
			s.postError(err)
		}
		s.mu.Unlock()
	}
	if s.listener != nil || s.dg != nil || p.ev.Kind == EventError || p.ev.Kind == EventClosed {
		s.abort()
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads = dropAsyncReads(s.reads)
	s.discardUnread()
	s.fail(err)
}

// debugging reports whether Config.Logger takes debug records. Callers
// check it first, so that without a logger no record's arguments are
// even built.
func (r *Registry) debugging() bool {
	l := r.cfg.Logger
	return l != nil && l.Enabled(context.Background(), slog.LevelDebug)
}

// debug logs a state change; call it only when debugging() is true.
func (r *Registry) debug(msg string, args ...any) {
	r.cfg.Logger.Debug(msg, args...)
}
