package lcsock

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
)

// ErrBadReadSpec is wrapped by the errors for a read specification that
// cannot be used: an unknown unit name, a negative count or a count too
// large to represent.
var ErrBadReadSpec = errors.New("invalid read specification")

// Unit is what a For read counts.
type Unit uint8

// The units of LiveCode's `read from socket S for N units`.
const (
	// Chars counts bytes (LiveCode chars or characters; lcsock is binary: 1 char = 1 byte).
	Chars Unit = iota
	// Lines counts LF-terminated lines.
	Lines
	// Items counts comma-terminated items.
	Items
	// Words counts space-terminated words.
	Words
	// Int1 counts signed 8-bit binary chunks.
	Int1
	// UInt1 counts unsigned 8-bit binary chunks.
	UInt1
	// Int2 counts signed 16-bit big-endian binary chunks.
	Int2
	// UInt2 counts unsigned 16-bit big-endian binary chunks.
	UInt2
	// Int4 counts signed 32-bit big-endian binary chunks.
	Int4
	// UInt4 counts unsigned 32-bit big-endian binary chunks.
	UInt4
)

// unitNames holds the LiveCode plural name of each unit; the singular is the
// name without its final "s".
var unitNames = [...]string{"chars", "lines", "items", "words", "int1s", "uint1s", "int2s", "uint2s", "int4s", "uint4s"}

// String returns the LiveCode plural name of u ("chars", "lines", "uint2s", ...).
func (u Unit) String() string {
	if int(u) < len(unitNames) {
		return unitNames[u]
	}
	return "Unit(" + strconv.Itoa(int(u)) + ")"
}

// ParseUnit returns the unit with the LiveCode name s, compared
// ASCII-case-insensitively, singular or plural ("char", "characters",
// "lines", "uint2", ...). An unknown name gives an error wrapping
// ErrBadReadSpec.
func ParseUnit(s string) (Unit, error) {
	t := s
	if n := len(t); n > 1 && (t[n-1] == 's' || t[n-1] == 'S') {
		t = t[:n-1]
	}
	if foldEq(t, "character") {
		return Chars, nil
	}
	for u, name := range unitNames {
		if foldEq(t, name[:len(name)-1]) {
			return Unit(u), nil
		}
	}
	return 0, fmt.Errorf("%w: unknown unit %q", ErrBadReadSpec, s)
}

// foldEq reports whether s equals the lower-case ASCII string lower, ignoring
// ASCII case in s.
func foldEq(s, lower string) bool {
	if len(s) != len(lower) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// width returns the bytes per unit for Chars and binary units, 0 for
// delimited (and unknown) units.
func (u Unit) width() int {
	switch u {
	case Chars, Int1, UInt1:
		return 1
	case Int2, UInt2:
		return 2
	case Int4, UInt4:
		return 4
	}
	return 0
}

// sep returns the terminator of a delimited unit, and false for the others.
func (u Unit) sep() (byte, bool) {
	switch u {
	case Lines:
		return '\n', true
	case Items:
		return ',', true
	case Words:
		return ' ', true
	}
	return 0, false
}

func (u Unit) binary() bool { return u >= Int1 && u <= UInt4 }

type specKind uint8

const (
	kindAvailable specKind = iota // zero value: at least one byte
	kindUntil
	kindEOF
	kindFor
)

// ReadSpec says when a read is complete. The zero value is "no condition":
// at least one byte, everything buffered. ReadSpec values are immutable and
// comparable.
type ReadSpec struct {
	kind   specKind
	unit   Unit
	anyEOL bool
	n      int
	delim  string
}

// Until returns the spec of `read until delim`: the read completes after the
// first occurrence of delim and its data includes the delimiter. Every byte
// of delim counts, NUL included. Until("") is LiveCode's `until empty`: it
// completes at once with whatever is buffered, possibly nothing; when
// nothing is left and the stream has ended, it is a short read (io.EOF).
func Until(delim string) ReadSpec { return ReadSpec{kind: kindUntil, delim: delim} }

// UntilBytes is Until with the delimiter given as bytes; delim is copied.
func UntilBytes(delim []byte) ReadSpec { return Until(string(delim)) }

// UntilEOF returns the spec of `read until eof`: the read completes only at
// end of stream, with everything received.
func UntilEOF() ReadSpec { return ReadSpec{kind: kindEOF} }

// For returns the spec of `read for n units`. For Chars and the binary
// units the read takes exactly n*width bytes; for Lines, Items and Words it
// takes the data up to and including the nth terminator (LF, ',' or ' ').
// For(0, u) completes at once with no data.
func For(n int, u Unit) ReadSpec { return ReadSpec{kind: kindFor, unit: u, n: n} }

// Available returns the explicit form of the zero ReadSpec: the read
// completes as soon as at least one byte is buffered and takes all of them.
func Available() ReadSpec { return ReadSpec{} }

// upTo is Available taking at most n bytes (n > 0): a net.Conn's Read.
func upTo(n int) ReadSpec { return ReadSpec{n: n} }

// WithAnyLineEnd returns r with line ends relaxed: for For(n, Lines) and for
// Until("\n"), Until("\r") and Until("\r\n"), any of CR, LF or CRLF ends a
// line, and the data includes the line-end bytes actually received. A CR
// that is the last byte received is held back until the next byte (or end of
// stream) shows whether an LF follows. The default, as in LiveCode, is
// binary: only the exact delimiter counts. Other specs ignore the flag.
func (r ReadSpec) WithAnyLineEnd() ReadSpec {
	r.anyEOL = true
	return r
}

// lineMode reports whether r counts lines with any line end.
func (r ReadSpec) lineMode() bool {
	if !r.anyEOL {
		return false
	}
	switch r.kind {
	case kindFor:
		return r.unit == Lines
	case kindUntil:
		return r.delim == "\n" || r.delim == "\r" || r.delim == "\r\n"
	}
	return false
}

// String returns r in LiveCode-like syntax: `until "\r\n"` (Go-quoted),
// `until empty`, `until eof`, `for 3 lines`, `for 1 uint2`, `with no
// condition`, followed by ` with any line end` when that flag applies.
func (r ReadSpec) String() string {
	var s string
	switch r.kind {
	case kindUntil:
		if r.delim == "" {
			s = "until empty"
		} else {
			s = "until " + strconv.Quote(r.delim)
		}
	case kindEOF:
		s = "until eof"
	case kindFor:
		name := r.unit.String()
		if r.n == 1 && int(r.unit) < len(unitNames) {
			name = name[:len(name)-1]
		}
		s = "for " + strconv.Itoa(r.n) + " " + name
	default:
		s = "with no condition"
	}
	if r.lineMode() {
		s += " with any line end"
	}
	return s
}

// Unit returns the unit of a For spec, and Chars (0) otherwise.
func (r ReadSpec) Unit() Unit {
	if r.kind != kindFor {
		return 0
	}
	return r.unit
}

// Count returns the count of a For spec, and 0 otherwise.
func (r ReadSpec) Count() int {
	if r.kind != kindFor {
		return 0
	}
	return r.n
}

// isBinary reports whether r reads binary chunks (int1s ... uint4s), whose
// text form is given by FormatChunks.
func (r ReadSpec) isBinary() bool { return r.kind == kindFor && r.unit.binary() }

// validate checks r: a negative count or an unknown unit is an error
// wrapping ErrBadReadSpec; a fixed-size read (chars or binary units) larger
// than max bytes (when max > 0) is an error wrapping ErrBufferFull, and one
// whose size overflows int wraps ErrBadReadSpec.
func (r ReadSpec) validate(max int) error {
	if r.kind != kindFor {
		return nil
	}
	if r.n < 0 {
		return fmt.Errorf("%w: negative count %d", ErrBadReadSpec, r.n)
	}
	if int(r.unit) >= len(unitNames) {
		return fmt.Errorf("%w: unknown unit %d", ErrBadReadSpec, r.unit)
	}
	w := r.unit.width()
	if w == 0 {
		return nil
	}
	if max > 0 && r.n > max/w {
		return fmt.Errorf("%w: %s needs more than the read buffer limit of %d bytes", ErrBufferFull, r, max)
	}
	if r.n > math.MaxInt/w {
		return fmt.Errorf("%w: %s is too large", ErrBadReadSpec, r)
	}
	return nil
}

type matchMode uint8

const (
	modeAvailable matchMode = iota // at least one byte
	modeEOF                        // only at end of stream
	modeEmpty                      // at once, everything
	modeUntil                      // until delim
	modeFixed                      // exactly need bytes
	modeCount                      // need occurrences of sep
	modeLines                      // need CR, LF or CRLF line ends
)

// matcher decides incrementally when a pending read is complete. It is fed
// the read's growing buffer: each call sees the bytes of the previous call
// plus any appended since.
type matcher struct {
	spec   ReadSpec
	delim  string // modeUntil
	mode   matchMode
	sep    byte // modeCount
	need   int  // bytes (modeFixed) or units (modeCount, modeLines)
	pos    int  // bytes of buf scanned (modeUntil) or consumed by counted units
	count  int  // units counted so far
	lf     int  // modeLines: index of the next LF at or after pos, or -1
	lfScan int  // modeLines: when lf < 0, how far buf was searched for an LF
	crWait bool // modeLines: buf ends with a CR, and only the next byte tells CR from CRLF
	done   bool // result latched
	short  bool
	n      int
}

// newMatcher returns a matcher for r. An invalid r (see validate) does not
// panic: a negative count completes at once and an unknown unit counts bytes.
func newMatcher(r ReadSpec) matcher {
	m := matcher{spec: r, need: r.n, lf: -1}
	switch {
	case r.kind == kindEOF:
		m.mode = modeEOF
	case r.kind == kindUntil && r.delim == "":
		m.mode = modeEmpty
	case r.lineMode():
		m.mode = modeLines
		if r.kind == kindUntil {
			m.need = 1
		}
	case r.kind == kindUntil:
		m.mode, m.delim = modeUntil, r.delim
	case r.kind == kindFor:
		if sep, ok := r.unit.sep(); ok {
			m.mode, m.sep = modeCount, sep
			break
		}
		m.mode = modeFixed
		if w := max(r.unit.width(), 1); r.n > math.MaxInt/w {
			m.need = math.MaxInt
		} else {
			m.need = r.n * w
		}
	}
	return m
}

// match reports whether the read is complete over buf and how many bytes of
// it the read takes. buf holds all unread bytes from the read's first byte;
// between calls bytes are only appended. eof means no more bytes will ever
// come: an incomplete read then completes with all of buf and short=true
// (UntilEOF is never short). Once done, later calls return the same result.
// match does not allocate and scans each byte a bounded number of times.
func (m *matcher) match(buf []byte, eof bool) (n int, done, short bool) {
	if m.done {
		return m.n, true, m.short
	}
	switch m.mode {
	case modeAvailable:
		if len(buf) > 0 {
			if m.need > 0 && len(buf) > m.need {
				return m.finish(m.need, false) // upTo
			}
			return m.finish(len(buf), false)
		}
	case modeEOF:
		if eof {
			return m.finish(len(buf), false)
		}
		return 0, false, false
	case modeEmpty:
		// At end of stream with nothing left it is short, as LiveCode's
		// result is "eof": a loop polling until empty sees the end.
		return m.finish(len(buf), eof && len(buf) == 0)
	case modeFixed:
		if len(buf) >= m.need {
			return m.finish(max(m.need, 0), false)
		}
	case modeUntil:
		start := max(m.pos-len(m.delim)+1, 0)
		var i int
		if len(m.delim) == 1 {
			i = bytes.IndexByte(buf[start:], m.delim[0])
		} else {
			i = bytes.Index(buf[start:], []byte(m.delim)) // no copy kept: a short delimiter converts on the stack
		}
		if i >= 0 {
			return m.finish(start+i+len(m.delim), false)
		}
		m.pos = len(buf)
	case modeCount:
		for m.count < m.need {
			i := bytes.IndexByte(buf[m.pos:], m.sep)
			if i < 0 {
				break
			}
			m.pos += i + 1
			m.count++
		}
		if m.count >= m.need {
			return m.finish(m.pos, false)
		}
	case modeLines:
		m.crWait = false
		for m.count < m.need {
			if m.lf < m.pos { // next LF unknown: search only bytes not yet searched
				from := max(m.pos, m.lfScan)
				if i := bytes.IndexByte(buf[from:], '\n'); i >= 0 {
					m.lf = from + i
				} else {
					m.lf, m.lfScan = -1, len(buf)
				}
			}
			end := m.lf // line end candidate: the next LF, or a CR before it
			if end < 0 {
				end = len(buf)
			}
			if i := bytes.IndexByte(buf[m.pos:end], '\r'); i >= 0 {
				end = m.pos + i
			} else if m.lf < 0 {
				m.pos = len(buf)
				break
			}
			if buf[end] == '\r' {
				if end+1 == len(buf) && !eof {
					m.pos, m.crWait = end, true // an LF may follow the CR: wait
					break
				}
				if end+1 < len(buf) && buf[end+1] == '\n' {
					end++
				}
			}
			m.pos = end + 1
			m.count++
		}
		if m.count >= m.need {
			return m.finish(m.pos, false)
		}
	}
	if eof {
		return m.finish(len(buf), true)
	}
	return 0, false, false
}

func (m *matcher) finish(n int, short bool) (int, bool, bool) {
	m.done, m.n, m.short = true, n, short
	return n, true, short
}

// FormatChunks returns data decoded as big-endian units of u,
// comma-separated (for example "1,258,65535"), as LiveCode returns the data
// of `read ... for N uint2s`. Signed units give negative numbers. A trailing
// partial unit (from a short read at end of stream) is ignored. For
// non-binary units it returns string(data).
func FormatChunks(data []byte, u Unit) string {
	if !u.binary() {
		return string(data)
	}
	return string(AppendChunks(make([]byte, 0, len(data)/u.width()*12), data, u))
}

// AppendChunks appends the text FormatChunks returns for data and u to dst
// and returns the extended slice.
func AppendChunks(dst, data []byte, u Unit) []byte {
	if !u.binary() {
		return append(dst, data...)
	}
	w := u.width()
	for i := 0; i+w <= len(data); i += w {
		if i > 0 {
			dst = append(dst, ',')
		}
		p := data[i:]
		switch u {
		case Int1:
			dst = strconv.AppendInt(dst, int64(int8(p[0])), 10)
		case UInt1:
			dst = strconv.AppendUint(dst, uint64(p[0]), 10)
		case Int2:
			dst = strconv.AppendInt(dst, int64(int16(binary.BigEndian.Uint16(p))), 10)
		case UInt2:
			dst = strconv.AppendUint(dst, uint64(binary.BigEndian.Uint16(p)), 10)
		case Int4:
			dst = strconv.AppendInt(dst, int64(int32(binary.BigEndian.Uint32(p))), 10)
		case UInt4:
			dst = strconv.AppendUint(dst, uint64(binary.BigEndian.Uint32(p)), 10)
		}
	}
	return dst
}
