package lcsock

import (
	"bytes"
	"fmt"
	"io"
	"strings"
)

// EOL is a line-end convention. Its zero value is LF. EOL values are
// plain data and safe for concurrent use.
//
// lcsock never converts line ends by itself: like LiveCode, it opens every
// socket in binary mode and delivers the bytes the peer sent. [Convert],
// [EOLConverter], [NewEOLReader] and [NewEOLWriter] do the conversion a
// script would otherwise do with replace. On input they all follow the
// rule of Tcl's "-translation auto": CRLF, a lone CR and a lone LF each
// count as one line end.
type EOL uint8

const (
	// LF is a line feed, byte 10: the Unix convention, and the line end
	// LiveCode uses internally. LiveCode's constants return, CR, linefeed
	// and LF are all this byte.
	LF EOL = iota
	// CRLF is a carriage return followed by a line feed, bytes 13 and 10:
	// the convention of Windows and of most Internet protocols (HTTP, SMTP,
	// FTP). It is LiveCode's CRLF constant.
	CRLF
	// CR is a lone carriage return, byte 13: the classic Mac OS convention.
	// Note that LiveCode's constant CR is not this byte but a line feed
	// (see LF); the LiveCode expression for this byte is numToChar(13).
	CR
)

var (
	eolSeqs  = [...]string{LF: "\n", CRLF: "\r\n", CR: "\r"}
	eolNames = [...]string{LF: "LF", CRLF: "CRLF", CR: "CR"}
)

// String returns "LF", "CRLF" or "CR", or "EOL(n)" for any other value. It
// is safe for concurrent use.
func (e EOL) String() string {
	if int(e) < len(eolNames) {
		return eolNames[e]
	}
	return fmt.Sprintf("EOL(%d)", uint8(e))
}

// Bytes returns the line end e stands for: "\n", "\r\n" or "\r", in a new
// slice the caller may modify. It panics if e is not LF, CRLF or CR. It is
// safe for concurrent use.
func (e EOL) Bytes() []byte { return []byte(e.seq()) }

// seq returns the line end as a string and panics on an invalid EOL, so
// that every constructor and converter rejects bad values at once.
func (e EOL) seq() string {
	if int(e) >= len(eolSeqs) {
		panic("lcsock: invalid " + e.String())
	}
	return eolSeqs[e]
}

// ToLF returns Convert(src, LF): every line end becomes "\n".
// It may return src itself; see Convert. It is safe for concurrent use.
func ToLF(src []byte) []byte { return Convert(src, LF) }

// ToCRLF returns Convert(src, CRLF): every line end becomes "\r\n".
// It may return src itself; see Convert. It is safe for concurrent use.
func ToCRLF(src []byte) []byte { return Convert(src, CRLF) }

// ToCR returns Convert(src, CR): every line end becomes "\r".
// It may return src itself; see Convert. It is safe for concurrent use.
func ToCR(src []byte) []byte { return Convert(src, CR) }

// Convert returns src with every line end replaced by to. A line end is a
// CRLF pair, a lone CR or a lone LF, so "\r\n" is one line end and "\n\r"
// is two. All other bytes are copied unchanged.
//
// Convert never modifies src. If src already uses to throughout, Convert
// returns src itself, not a copy; otherwise it returns a new slice, made
// with a single allocation. Convert panics if to is not LF, CRLF or CR.
// It is safe for concurrent use, as long as nothing modifies src meanwhile.
//
// To convert a stream that arrives in pieces, use an [EOLConverter],
// [NewEOLReader] or [NewEOLWriter], which also see a CRLF split between
// two pieces.
func Convert(src []byte, to EOL) []byte {
	if dst, changed := eolConvert(src, to); changed {
		return dst
	}
	return src
}

// ConvertString is [Convert] for strings. It returns s itself when nothing
// needs to change. It is safe for concurrent use.
func ConvertString(s string, to EOL) string {
	if dst, changed := eolConvert(s, to); changed {
		return string(dst)
	}
	return s
}

// EOLConverter converts the line ends of a stream that arrives in chunks,
// such as the data of successive socket reads, to one [EOL]. A CRLF pair
// split between two chunks is still one line end.
//
// A CR at the end of a chunk is converted at once, not held back: the
// converter remembers it and drops an LF that starts the next chunk. Output
// never waits for input that may not come, so there is nothing to flush at
// the end of the stream, and the output of a stream converted in chunks
// equals [Convert] of the whole stream.
//
// The zero value converts to LF and is ready to use. An EOLConverter is not
// safe for concurrent use.
type EOLConverter struct {
	to      EOL
	afterCR bool // the last byte seen was a CR, so a following LF belongs to it
}

// NewEOLConverter returns a converter to to. It panics if to is not LF,
// CRLF or CR.
func NewEOLConverter(to EOL) *EOLConverter {
	to.seq() // validate
	return &EOLConverter{to: to}
}

// Append appends the conversion of src, the next chunk of the stream, to
// dst and returns the extended slice, as append does. It never modifies
// src; dst and src must not overlap. Append is not safe for concurrent use.
//
// When converting to LF or CR, dst may be src[:0]: the conversion then
// happens in place, since those forms are never longer than the input.
func (c *EOLConverter) Append(dst, src []byte) []byte {
	dst, c.afterCR = eolAppend(dst, src, c.to.seq(), c.afterCR)
	return dst
}

// Reset makes c forget a CR that ended the last chunk, so that it can
// convert a new, unrelated stream. It keeps the target EOL. Reset is not
// safe for concurrent use.
func (c *EOLConverter) Reset() { c.afterCR = false }

// eolReadSize is the most an EOL reader asks of its source per Read.
const eolReadSize = 4 << 10

// NewEOLReader returns a reader whose Read reads from r and returns the
// data with every line end converted to to, as [EOLConverter] does: a CRLF
// split between two reads from r is one line end, and a CR is delivered as
// soon as it is read.
//
// Each Read asks r for at most len(p) bytes, and at most 4 KiB; converted
// bytes that do not fit in p (a CRLF target can double the data) are kept
// and returned by the next Read without reading r. A Read returns 0, nil
// only when len(p) is 0 or r itself returned 0, nil. Errors from r,
// io.EOF included, are returned unwrapped once every byte read before them
// has been returned; the next Read calls r again, so a read that timed out
// can be retried.
//
// The reader is not safe for concurrent use. NewEOLReader panics if to is
// not LF, CRLF or CR.
func NewEOLReader(r io.Reader, to EOL) io.Reader {
	return &eolReader{r: r, c: *NewEOLConverter(to), raw: make([]byte, eolReadSize)}
}

type eolReader struct {
	r   io.Reader
	c   EOLConverter
	raw []byte // bytes read from r, before conversion
	out []byte // converted bytes; out[off:] is not yet returned
	off int
	err error // error from r, returned once out is drained
}

func (er *eolReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for er.off == len(er.out) {
		if err := er.err; err != nil {
			er.err = nil
			return 0, err
		}
		n, err := er.r.Read(er.raw[:min(len(p), len(er.raw))])
		er.out, er.off, er.err = er.c.Append(er.out[:0], er.raw[:n]), 0, err
		if n == 0 && err == nil {
			return 0, nil
		}
		// n > 0 with no output is an LF that completed a CRLF: read on.
	}
	n := copy(p, er.out[er.off:])
	er.off += n
	return n, nil
}

// eolKeepMax is the largest output buffer an EOL writer keeps between
// writes; a larger one, grown for one big Write, is not kept.
const eolKeepMax = 64 << 10

// NewEOLWriter returns a writer that converts the line ends of the data
// written to it to to, as [EOLConverter] does, and writes the result to w.
// A CRLF split between two Writes is one line end.
//
// Each Write makes at most one call to w.Write, with the converted bytes
// (none when p converts to nothing, as an LF completing a CRLF does), so
// message boundaries survive for a datagram socket. Write returns len(p)
// on success: the count of bytes taken from p, not of bytes written to w.
// If w fails, Write returns how many bytes of p were fully written and
// the error from w, unwrapped (io.ErrShortWrite if w wrote less with no
// error); from then on every Write returns that error, because the
// conversion state no longer matches what reached w.
//
// Nothing is held back between Writes, so there is nothing to flush or
// close. The writer is not safe for concurrent use. NewEOLWriter panics if
// to is not LF, CRLF or CR.
func NewEOLWriter(w io.Writer, to EOL) io.Writer {
	return &eolWriter{w: w, c: *NewEOLConverter(to)}
}

type eolWriter struct {
	w   io.Writer
	c   EOLConverter
	buf []byte
	err error // sticky error from w
}

func (ew *eolWriter) Write(p []byte) (int, error) {
	if ew.err != nil {
		return 0, ew.err
	}
	before := ew.c
	out := ew.c.Append(ew.buf[:0], p)
	if cap(out) <= eolKeepMax {
		ew.buf = out
	}
	if len(out) == 0 {
		return len(p), nil
	}
	m, err := ew.w.Write(out)
	if err == nil && m < len(out) {
		err = io.ErrShortWrite
	}
	if err != nil {
		ew.err = err
		return before.consumed(p, m), err
	}
	return len(p), nil
}

// consumed returns how many bytes of src a converter in state c converts
// into the first m output bytes, counting only bytes whose whole output
// fits in m.
func (c EOLConverter) consumed(src []byte, m int) int {
	eolLen := len(c.to.seq())
	out := 0
	for i, b := range src {
		w := 1
		switch {
		case b == '\n' && c.afterCR:
			w = 0
		case b == '\r' || b == '\n':
			w = eolLen
		}
		if out+w > m {
			return i
		}
		out += w
		c.afterCR = b == '\r'
	}
	return len(src)
}

// eolConvert converts src to to in one piece. It reports changed == false,
// and allocates nothing, when src already uses to throughout.
func eolConvert[S []byte | string](src S, to EOL) (dst []byte, changed bool) {
	eol := to.seq()
	i := eolFirstChange(src, to)
	if i < 0 {
		return nil, false
	}
	size := len(src) // LF and CR never make the data longer
	if to == CRLF {
		size += eolCount(src[i:]) // each CR or LF grows by at most one byte
	}
	dst = append(make([]byte, 0, size), src[:i]...)
	dst, _ = eolAppend(dst, src[i:], eol, i > 0 && src[i-1] == '\r')
	return dst, true
}

// eolFirstChange returns the index of the first byte of src that Convert
// to to would change, or -1 if it would change none.
func eolFirstChange[S []byte | string](src S, to EOL) int {
	switch to {
	case LF:
		return eolIndexByte(src, '\r')
	case CR:
		return eolIndexByte(src, '\n')
	}
	for i := 0; ; { // CRLF: find a lone CR or a lone LF
		j := eolIndexCRLF(src[i:])
		if j < 0 {
			return -1
		}
		j += i
		if src[j] == '\n' || j+1 == len(src) || src[j+1] != '\n' {
			return j
		}
		i = j + 2
	}
}

// eolAppend appends src to dst with every line end replaced by eol.
// afterCR reports whether the byte before src was a CR, in which case an
// LF at the start of src is the second half of that line end and is
// dropped. It returns the extended dst and afterCR for the end of src.
func eolAppend[S []byte | string](dst []byte, src S, eol string, afterCR bool) ([]byte, bool) {
	if len(src) == 0 {
		return dst, afterCR
	}
	endsCR := src[len(src)-1] == '\r'
	if afterCR && src[0] == '\n' {
		src = src[1:]
	}
	for {
		var i int
		if eol == "\n" {
			i = eolIndexByte(src, '\r') // a lone LF is already right
		} else {
			i = eolIndexCRLF(src)
		}
		if i < 0 {
			return append(dst, src...), endsCR
		}
		// Decide before appending: with a one-byte eol, dst may be src
		// itself (in-place conversion), and the append overwrites src[i].
		next := i + 1
		if src[i] == '\r' && next < len(src) && src[next] == '\n' {
			next++
		}
		dst = append(dst, src[:i]...)
		dst = append(dst, eol...)
		src = src[next:]
	}
}

// eolIndexByte is bytes.IndexByte or strings.IndexByte, whichever fits S.
func eolIndexByte[S []byte | string](s S, c byte) int {
	switch s := any(s).(type) {
	case []byte:
		return bytes.IndexByte(s, c)
	case string:
		return strings.IndexByte(s, c)
	}
	panic("unreachable")
}

// eolIndexCRLF returns the index of the first CR or LF in s, or -1.
func eolIndexCRLF[S []byte | string](s S) int {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '\r' || c == '\n' {
			return i
		}
	}
	return -1
}

// eolCount returns the number of CR and LF bytes in s.
func eolCount[S []byte | string](s S) int {
	switch s := any(s).(type) {
	case []byte:
		return bytes.Count(s, []byte{'\r'}) + bytes.Count(s, []byte{'\n'})
	case string:
		return strings.Count(s, "\r") + strings.Count(s, "\n")
	}
	panic("unreachable")
}
