// Package lcsocktest helps test code that uses lcsock: an event recorder
// with WaitFor, and loopback peers that clean up after themselves.
package lcsocktest

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/lcsock/lcsock"
)

// TB is the part of testing.TB the helpers use.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	Cleanup(func())
}

// Recorder is an lcsock.Handler that keeps every event it receives, so a
// test can wait for the one it expects. It is safe for concurrent use.
// The zero value is ready to use.
type Recorder struct {
	mu     sync.Mutex
	events []lcsock.Event
	taken  []bool
	wake   chan struct{}
	// OnEvent, when set, is called with each event after it is recorded,
	// on the dispatcher's goroutine — the place to issue the next verb.
	// Set it before events flow (nothing orders a later assignment with
	// the dispatcher goroutine that reads it); WaitFor may
	// return before OnEvent has run for the event it returns.
	OnEvent func(lcsock.Event)
}

// HandleEvent records ev. It keeps a copy of ev.Data: with
// Config.LendReadData the event's own is valid only until it returns.
func (r *Recorder) HandleEvent(ev lcsock.Event) {
	if ev.Data != nil {
		ev.Data = bytes.Clone(ev.Data)
	}
	r.mu.Lock()
	r.events = append(r.events, ev)
	r.taken = append(r.taken, false)
	if r.wake != nil {
		close(r.wake)
		r.wake = nil
	}
	f := r.OnEvent
	r.mu.Unlock()
	if f != nil {
		f(ev)
	}
}

// Events returns a copy of the events recorded so far, in order.
func (r *Recorder) Events() []lcsock.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]lcsock.Event(nil), r.events...)
}

// Count returns how many events of kind for socket id (any socket when id
// is "") were recorded.
func (r *Recorder) Count(kind lcsock.EventKind, id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, ev := range r.events {
		if matches(ev, kind, id) {
			n++
		}
	}
	return n
}

func matches(ev lcsock.Event, kind lcsock.EventKind, id string) bool {
	return ev.Kind == kind && (id == "" || lcsock.SameID(ev.Socket, id))
}

// Next returns the first recorded event of kind for socket id (any socket
// when id is "") that no earlier Next or WaitFor returned, waiting up to
// timeout for it. It reports false if none came.
func (r *Recorder) Next(kind lcsock.EventKind, id string, timeout time.Duration) (lcsock.Event, bool) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		for i, ev := range r.events {
			if !r.taken[i] && matches(ev, kind, id) {
				r.taken[i] = true
				r.mu.Unlock()
				return ev, true
			}
		}
		if r.wake == nil {
			r.wake = make(chan struct{})
		}
		wake := r.wake
		r.mu.Unlock()
		select {
		case <-wake:
		case <-deadline.C:
			return lcsock.Event{}, false
		}
	}
}

// WaitFor is Next that fails the test when the event does not come in
// time, listing what did come.
func (r *Recorder) WaitFor(t TB, kind lcsock.EventKind, id string, timeout time.Duration) lcsock.Event {
	t.Helper()
	ev, ok := r.Next(kind, id, timeout)
	if !ok {
		t.Fatalf("no %v event for %q within %v; got:\n%s", kind, id, timeout, r.dump())
	}
	return ev
}

func (r *Recorder) dump() string {
	var b strings.Builder
	for _, ev := range r.Events() {
		fmt.Fprintf(&b, "  %v\n", ev)
	}
	return b.String()
}
