package lcsock_test

import (
	"bytes"
	"errors"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/require"

	"github.com/lcsock/lcsock"
)

var eolTargets = []lcsock.EOL{lcsock.LF, lcsock.CRLF, lcsock.CR}

// eolCase is an input with its conversion to LF, CRLF and CR.
type eolCase struct{ in, lf, crlf, cr string }

func (tc eolCase) want(to lcsock.EOL) string {
	return [...]string{lcsock.LF: tc.lf, lcsock.CRLF: tc.crlf, lcsock.CR: tc.cr}[to]
}

var eolCases = []eolCase{
	{"", "", "", ""},
	{"a", "a", "a", "a"},
	{"\r", "\n", "\r\n", "\r"},
	{"\n", "\n", "\r\n", "\r"},
	{"\r\n", "\n", "\r\n", "\r"},
	{"\n\r", "\n\n", "\r\n\r\n", "\r\r"},
	{"\r\r\n", "\n\n", "\r\n\r\n", "\r\r"},
	{"\n\n", "\n\n", "\r\n\r\n", "\r\r"},
	{"\r\r", "\n\n", "\r\n\r\n", "\r\r"},
	{"\r\n\r\n", "\n\n", "\r\n\r\n", "\r\r"},
	{"\r\n\n", "\n\n", "\r\n\r\n", "\r\r"},
	{"a\rb\nc\r\nd", "a\nb\nc\nd", "a\r\nb\r\nc\r\nd", "a\rb\rc\rd"},
	{"line\r", "line\n", "line\r\n", "line\r"},
	{"line\r\n", "line\n", "line\r\n", "line\r"},
	{"\x00\xff\r\x00\n\xfe", "\x00\xff\n\x00\n\xfe", "\x00\xff\r\n\x00\r\n\xfe", "\x00\xff\r\x00\r\xfe"},
	{"no line end at all", "no line end at all", "no line end at all", "no line end at all"},
}

// eolReference is an obviously correct, byte-at-a-time Convert.
func eolReference(in []byte, to lcsock.EOL) []byte {
	eol := to.Bytes()
	out := []byte{}
	for i := 0; i < len(in); i++ {
		switch in[i] {
		case '\r':
			out = append(out, eol...)
			if i+1 < len(in) && in[i+1] == '\n' {
				i++
			}
		case '\n':
			out = append(out, eol...)
		default:
			out = append(out, in[i])
		}
	}
	return out
}

func TestEOLStringAndBytes(t *testing.T) {
	require.Equal(t, "LF", lcsock.LF.String())
	require.Equal(t, "CRLF", lcsock.CRLF.String())
	require.Equal(t, "CR", lcsock.CR.String())
	require.Equal(t, "EOL(7)", lcsock.EOL(7).String())
	require.Equal(t, lcsock.LF, lcsock.EOL(0), "the zero value is LF")

	require.Equal(t, []byte("\n"), lcsock.LF.Bytes())
	require.Equal(t, []byte("\r\n"), lcsock.CRLF.Bytes())
	require.Equal(t, []byte("\r"), lcsock.CR.Bytes())

	b := lcsock.CRLF.Bytes()
	b[0] = 'X'
	require.Equal(t, []byte("\r\n"), lcsock.CRLF.Bytes(), "Bytes returns a fresh slice")
}

func TestEOLInvalidPanics(t *testing.T) {
	bad := lcsock.EOL(3)
	for name, f := range map[string]func(){
		"Bytes":           func() { bad.Bytes() },
		"Convert":         func() { lcsock.Convert([]byte("x"), bad) },
		"Convert empty":   func() { lcsock.Convert(nil, bad) },
		"ConvertString":   func() { lcsock.ConvertString("x", bad) },
		"NewEOLConverter": func() { lcsock.NewEOLConverter(bad) },
		"NewEOLReader":    func() { lcsock.NewEOLReader(strings.NewReader("x"), bad) },
		"NewEOLWriter":    func() { lcsock.NewEOLWriter(io.Discard, bad) },
	} {
		require.PanicsWithValue(t, "lcsock: invalid EOL(3)", f, name)
	}
}

func TestConvert(t *testing.T) {
	for _, tc := range eolCases {
		for _, to := range eolTargets {
			want := tc.want(to)
			in := []byte(tc.in)
			require.Equal(t, want, string(lcsock.Convert(in, to)), "Convert(%q, %v)", tc.in, to)
			require.Equal(t, want, lcsock.ConvertString(tc.in, to), "ConvertString(%q, %v)", tc.in, to)
			require.Equal(t, tc.in, string(in), "Convert modified its input")
		}
		require.Equal(t, tc.lf, string(lcsock.ToLF([]byte(tc.in))), "ToLF(%q)", tc.in)
		require.Equal(t, tc.crlf, string(lcsock.ToCRLF([]byte(tc.in))), "ToCRLF(%q)", tc.in)
		require.Equal(t, tc.cr, string(lcsock.ToCR([]byte(tc.in))), "ToCR(%q)", tc.in)
	}
}

func TestConvertReturnsSrcOnlyWhenUnchanged(t *testing.T) {
	same := map[lcsock.EOL]string{lcsock.LF: "a\nb\n", lcsock.CRLF: "a\r\nb\r\n", lcsock.CR: "a\rb\r"}
	for to, s := range same {
		src := []byte(s)
		out := lcsock.Convert(src, to)
		require.Same(t, &src[0], &out[0], "%v: unchanged input is returned as is", to)
		require.Len(t, out, len(src))
	}
	for _, to := range eolTargets {
		src := []byte("x\r\ny\rz\n")
		out := lcsock.Convert(src, to)
		out[0] = 'Q'
		require.Equal(t, "x\r\ny\rz\n", string(src), "%v: a changed result must not share src", to)
	}
	require.Nil(t, lcsock.Convert(nil, lcsock.CRLF))
}

func TestConvertAllocs(t *testing.T) {
	text := strings.Repeat("some text\r\nmore text\nend\r", 20)
	for _, to := range eolTargets {
		src := []byte(text)
		require.Equal(t, 1.0, testing.AllocsPerRun(20, func() { lcsock.Convert(lcsock.Convert(src, to), to) }),
			"%v: one allocation to convert, none for already converted data", to)
		s := lcsock.ConvertString(text, to)
		require.Zero(t, testing.AllocsPerRun(20, func() { lcsock.ConvertString(s, to) }), "%v: ConvertString", to)

		c := lcsock.NewEOLConverter(to)
		dst := make([]byte, 0, 2*len(src))
		require.Zero(t, testing.AllocsPerRun(20, func() { dst = c.Append(dst[:0], src) }), "%v: Append", to)
	}
}

func TestEOLConverterSplitCRLF(t *testing.T) {
	for _, to := range eolTargets {
		eol := string(to.Bytes())
		c := lcsock.NewEOLConverter(to)
		// The CR is converted at once; the LF that completes it is dropped.
		require.Equal(t, "a"+eol, string(c.Append(nil, []byte("a\r"))), to)
		require.Equal(t, "b", string(c.Append(nil, []byte("\nb"))), to)
		// An empty chunk keeps the state.
		require.Equal(t, "c"+eol, string(c.Append(nil, []byte("c\r"))), to)
		require.Empty(t, c.Append(nil, nil), to)
		require.Empty(t, c.Append(nil, []byte("\n")), to)
		// Only one LF belongs to the CR.
		require.Equal(t, eol, string(c.Append(nil, []byte("\n"))), to)
		// CR, CR: two line ends, across chunks too.
		require.Equal(t, eol, string(c.Append(nil, []byte("\r"))), to)
		require.Equal(t, eol+eol, string(c.Append(nil, []byte("\r\r\n"))), to)
		// Reset forgets the CR, so the LF is a line end of its own.
		require.Equal(t, eol, string(c.Append(nil, []byte("\r"))), to)
		c.Reset()
		require.Equal(t, eol+"d", string(c.Append(nil, []byte("\nd"))), to)
	}

	var zero lcsock.EOLConverter // converts to LF
	out := zero.Append([]byte("> "), []byte("x\r"))
	out = zero.Append(out, []byte("\ny\r\n"))
	require.Equal(t, "> x\ny\n", string(out))
}

// TestEOLConverterEverySplit checks that converting in two or three chunks
// gives the same result as converting at once, for every place to cut.
func TestEOLConverterEverySplit(t *testing.T) {
	for _, tc := range eolCases {
		in := []byte(tc.in + "|" + tc.in + "\r")
		for _, to := range eolTargets {
			want := string(lcsock.Convert(in, to))
			for i := 0; i <= len(in); i++ {
				for j := i; j <= len(in); j++ {
					got := eolStream(lcsock.NewEOLConverter(to), in[:i], in[i:j], in[j:])
					require.Equal(t, want, string(got), "%v: %q | %q | %q", to, in[:i], in[i:j], in[j:])
				}
			}
		}
	}
}

func eolStream(c *lcsock.EOLConverter, chunks ...[]byte) []byte {
	var out []byte
	for _, chunk := range chunks {
		out = c.Append(out, chunk)
	}
	return out
}

// eolReadAll reads r to io.EOF with a buffer of size n, failing the test
// instead of looping forever on (0, nil).
func eolReadAll(t testing.TB, r io.Reader, n int) []byte {
	t.Helper()
	var out []byte
	p := make([]byte, n)
	for empty := 0; ; {
		m, err := r.Read(p)
		if m < 0 || m > n {
			t.Fatalf("Read returned %d for a buffer of %d", m, n)
		}
		out = append(out, p[:m]...)
		switch {
		case err == io.EOF:
			return out
		case err != nil:
			t.Fatalf("Read: %v", err)
		case m == 0:
			if empty++; empty == 100 {
				t.Fatal("Read keeps returning 0, nil")
			}
		}
	}
}

func TestEOLReader(t *testing.T) {
	long := strings.Repeat("x\r\ny\rz\n\n\r", 600) // more than one 4 KiB read
	inputs := []string{long}
	for _, tc := range eolCases {
		inputs = append(inputs, tc.in, tc.in+"tail\r", "\r\n"+tc.in+"\r\n")
	}
	wraps := map[string]func(io.Reader) io.Reader{
		"plain":    func(r io.Reader) io.Reader { return r },
		"OneByte":  iotest.OneByteReader,
		"Half":     iotest.HalfReader,
		"DataErr":  iotest.DataErrReader,
		"OneHalf":  func(r io.Reader) io.Reader { return iotest.OneByteReader(iotest.HalfReader(r)) },
		"DataErr1": func(r io.Reader) io.Reader { return iotest.DataErrReader(iotest.OneByteReader(r)) },
	}
	for _, in := range inputs {
		for _, to := range eolTargets {
			want := lcsock.ConvertString(in, to)
			for name, wrap := range wraps {
				for _, n := range []int{1, 2, 3, 512, 64 << 10} {
					r := lcsock.NewEOLReader(wrap(strings.NewReader(in)), to)
					require.Equal(t, want, string(eolReadAll(t, r, n)), "%v %s p=%d in=%.40q", to, name, n, in)
				}
				if len(in) < 100 {
					r := lcsock.NewEOLReader(wrap(strings.NewReader(in)), to)
					require.NoError(t, iotest.TestReader(r, []byte(want)), "%v %s in=%q", to, name, in)
				}
			}
		}
	}
}

// eolChunkReader returns one chunk per Read, then its err, and counts calls.
type eolChunkReader struct {
	chunks []string
	err    error
	reads  int
}

func (r *eolChunkReader) Read(p []byte) (int, error) {
	r.reads++
	if len(r.chunks) == 0 {
		return 0, r.err
	}
	n := copy(p, r.chunks[0])
	r.chunks[0] = r.chunks[0][n:]
	if r.chunks[0] == "" {
		r.chunks = r.chunks[1:]
	}
	return n, nil
}

func TestEOLReaderCRAtEndOfRead(t *testing.T) {
	src := &eolChunkReader{chunks: []string{"a\r", "\nb\r", "\n"}, err: io.EOF}
	r := lcsock.NewEOLReader(src, lcsock.CRLF)
	p := make([]byte, 64)

	n, err := r.Read(p)
	require.NoError(t, err)
	require.Equal(t, "a\r\n", string(p[:n]), "a CR is delivered without waiting for the next read")
	require.Equal(t, 1, src.reads)

	n, err = r.Read(p)
	require.NoError(t, err)
	require.Equal(t, "b\r\n", string(p[:n]), "the LF that completes the CRLF is dropped")

	// The last chunk converts to nothing: Read reads on rather than
	// returning 0, nil.
	n, err = r.Read(p)
	require.Equal(t, 0, n)
	require.Same(t, io.EOF, err)
}

func TestEOLReaderSmallBufferDoubling(t *testing.T) {
	r := lcsock.NewEOLReader(strings.NewReader("\n\n\n"), lcsock.CRLF)
	var got []string
	p := make([]byte, 1)
	for {
		n, err := r.Read(p)
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		require.Equal(t, 1, n)
		got = append(got, string(p))
	}
	require.Equal(t, []string{"\r", "\n", "\r", "\n", "\r", "\n"}, got)
}

func TestEOLReaderErrors(t *testing.T) {
	boom := errors.New("boom")
	src := &eolChunkReader{chunks: []string{"x\r"}, err: boom}
	r := lcsock.NewEOLReader(src, lcsock.LF)
	p := make([]byte, 8)

	n, err := r.Read(p)
	require.NoError(t, err)
	require.Equal(t, "x\n", string(p[:n]))
	n, err = r.Read(p)
	require.Zero(t, n)
	require.Same(t, boom, err, "errors from the source pass through unwrapped")

	// After an error the next Read asks the source again and the CR state
	// survives, so a read that failed (a timeout, say) can be retried.
	src.chunks, src.err = []string{"\ny"}, io.EOF
	require.Equal(t, "y", string(eolReadAll(t, r, 8)))

	// Data that comes with an error is returned first.
	r = lcsock.NewEOLReader(iotest.DataErrReader(strings.NewReader("a\r\nb")), lcsock.LF)
	got, err := io.ReadAll(r)
	require.NoError(t, err)
	require.Equal(t, "a\nb", string(got))

	// iotest.TimeoutReader fails its second read; the reader then recovers.
	r = lcsock.NewEOLReader(iotest.TimeoutReader(strings.NewReader("1\r\n2\r\n")), lcsock.LF)
	n, err = r.Read(p[:4])
	require.NoError(t, err)
	require.Equal(t, "1\n2", string(p[:n]))
	_, err = r.Read(p)
	require.ErrorIs(t, err, iotest.ErrTimeout)
	require.Equal(t, "\n", string(eolReadAll(t, r, 8)))

	r = lcsock.NewEOLReader(iotest.ErrReader(boom), lcsock.CRLF)
	_, err = r.Read(p)
	require.Same(t, boom, err)
}

func TestEOLReaderZeroReads(t *testing.T) {
	src := &eolChunkReader{chunks: []string{"a\n"}, err: io.EOF}
	r := lcsock.NewEOLReader(src, lcsock.CRLF)
	n, err := r.Read(nil)
	require.Zero(t, n)
	require.NoError(t, err)
	require.Zero(t, src.reads, "an empty Read does not touch the source")

	// A source that returns 0, nil is passed through, not spun on.
	r = lcsock.NewEOLReader(eolZeroReader{}, lcsock.LF)
	n, err = r.Read(make([]byte, 4))
	require.Zero(t, n)
	require.NoError(t, err)
}

type eolZeroReader struct{}

func (eolZeroReader) Read([]byte) (int, error) { return 0, nil }

// eolRecorder records each Write; after limit bytes it accepts only part of
// a Write and returns err.
type eolRecorder struct {
	writes []string
	limit  int
	err    error
}

func (w *eolRecorder) Write(p []byte) (int, error) {
	if w.err != nil && len(p) > w.limit {
		w.writes = append(w.writes, string(p[:w.limit]))
		n := w.limit
		w.limit = 0
		return n, w.err
	}
	w.limit -= len(p)
	w.writes = append(w.writes, string(p))
	return len(p), nil
}

func (w *eolRecorder) String() string { return strings.Join(w.writes, "") }

func TestEOLWriter(t *testing.T) {
	for _, tc := range eolCases {
		for _, to := range eolTargets {
			in := tc.in + "|" + tc.in + "\r"
			for size := 1; size <= len(in); size++ {
				var rec eolRecorder
				w := lcsock.NewEOLWriter(&rec, to)
				for chunk := range slices.Chunk([]byte(in), size) {
					n, err := w.Write(chunk)
					require.NoError(t, err)
					require.Equal(t, len(chunk), n, "Write returns the bytes taken from p")
				}
				require.Equal(t, lcsock.ConvertString(in, to), rec.String(), "%v chunk=%d in=%q", to, size, in)
			}
		}
	}
}

func TestEOLWriterOneWritePerWrite(t *testing.T) {
	var rec eolRecorder
	w := lcsock.NewEOLWriter(&rec, lcsock.CRLF)
	for _, s := range []string{"HELO a\n", "DATA\r", "\n", "", "x\ny\n"} {
		n, err := w.Write([]byte(s))
		require.NoError(t, err)
		require.Equal(t, len(s), n)
	}
	require.Equal(t, []string{"HELO a\r\n", "DATA\r\n", "x\r\ny\r\n"}, rec.writes,
		"one w.Write per Write, none when nothing is left to write")
}

func TestEOLWriterErrors(t *testing.T) {
	boom := errors.New("boom")
	cases := []struct {
		prior, p string
		limit    int // bytes w accepts of the converted p
		want     int // bytes of p reported written
	}{
		{"", "ab\ncd", 0, 0},
		{"", "ab\ncd", 2, 2},
		{"", "ab\ncd", 3, 2}, // "\n" became "\r\n"; only the CR went out
		{"", "ab\ncd", 4, 3},
		{"", "ab\ncd", 5, 4},
		{"x\r", "\nab", 0, 1}, // the LF of the split CRLF needs no output
		{"x\r", "\nab", 1, 2},
	}
	for _, tc := range cases {
		rec := &eolRecorder{limit: len(lcsock.ToCRLF([]byte(tc.prior))) + tc.limit, err: boom}
		w := lcsock.NewEOLWriter(rec, lcsock.CRLF)
		_, err := w.Write([]byte(tc.prior))
		require.NoError(t, err)
		n, err := w.Write([]byte(tc.p))
		require.Same(t, boom, err, "errors from w pass through unwrapped")
		require.Equal(t, tc.want, n, "%+v", tc)

		n, err = w.Write([]byte("more"))
		require.Zero(t, n)
		require.Same(t, boom, err, "the error is sticky")
	}

	w := lcsock.NewEOLWriter(eolShortWriter{}, lcsock.LF)
	n, err := w.Write([]byte("abc\r\n"))
	require.ErrorIs(t, err, io.ErrShortWrite)
	require.Equal(t, 1, n)
}

// eolShortWriter writes one byte and reports no error, breaking io.Writer.
type eolShortWriter struct{}

func (eolShortWriter) Write(p []byte) (int, error) { return min(len(p), 1), nil }

var eolBenchText = []byte(strings.Repeat("GET /index.html HTTP/1.1\nHost: example.org\nAccept: */*\n\n", 64))

func BenchmarkConvert(b *testing.B) {
	for _, to := range eolTargets {
		b.Run(to.String(), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(eolBenchText)))
			for b.Loop() {
				lcsock.Convert(eolBenchText, to)
			}
		})
	}
}

func BenchmarkEOLConverter(b *testing.B) {
	c := lcsock.NewEOLConverter(lcsock.CRLF)
	dst := make([]byte, 0, 2*len(eolBenchText))
	b.ReportAllocs()
	b.SetBytes(int64(len(eolBenchText)))
	for b.Loop() {
		dst = c.Append(dst[:0], eolBenchText)
	}
}

func BenchmarkEOLReader(b *testing.B) {
	r := lcsock.NewEOLReader(&eolRepeatReader{data: eolBenchText}, lcsock.CRLF)
	p := make([]byte, len(eolBenchText))
	b.ReportAllocs()
	b.SetBytes(int64(len(p)))
	for b.Loop() {
		if _, err := io.ReadFull(r, p); err != nil {
			b.Fatal(err)
		}
	}
}

// eolRepeatReader reads data over and over, forever.
type eolRepeatReader struct {
	data []byte
	off  int
}

func (r *eolRepeatReader) Read(p []byte) (int, error) {
	n := copy(p, r.data[r.off:])
	r.off = (r.off + n) % len(r.data)
	return n, nil
}

func FuzzEOL(f *testing.F) {
	for _, tc := range eolCases {
		f.Add([]byte(tc.in))
	}
	f.Add([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\nbody\rmore\n\n\r\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		// Line ends carry no state beyond one byte, so longer inputs find
		// nothing new and only slow the quadratic split checks below.
		in = in[:min(len(in), 1<<10)]
		orig := bytes.Clone(in)
		// Results are compared as strings, where nil and empty are equal.
		lf, crlf, cr := lcsock.ToLF(in), lcsock.ToCRLF(in), lcsock.ToCR(in)
		require.Equal(t, string(orig), string(in), "the input was modified")

		require.Equal(t, -1, bytes.IndexByte(lf, '\r'), "ToLF output has no CR")
		require.Equal(t, -1, bytes.IndexByte(cr, '\n'), "ToCR output has no LF")
		pairs := bytes.Count(crlf, []byte("\r\n"))
		require.Equal(t, pairs, bytes.Count(crlf, []byte("\r")), "ToCRLF output has no lone CR")
		require.Equal(t, pairs, bytes.Count(crlf, []byte("\n")), "ToCRLF output has no lone LF")
		require.Equal(t, string(lf), string(lcsock.ToLF(crlf)), "ToLF(ToCRLF(x)) == ToLF(x)")
		require.Equal(t, string(crlf), string(lcsock.ToCRLF(lf)), "ToCRLF(ToLF(x)) == ToCRLF(x)")
		require.Equal(t, string(lf), string(lcsock.ToLF(cr)), "ToLF(ToCR(x)) == ToLF(x)")

		// In place, split in two: what the socket reader does with InputEOL.
		for _, to := range []lcsock.EOL{lcsock.LF, lcsock.CR} {
			cut := len(in) / 2
			work := bytes.Clone(in)
			c := lcsock.NewEOLConverter(to)
			a := c.Append(work[:0], work[:cut])
			b := c.Append(work[cut:cut], work[cut:])
			require.Equal(t, string(lcsock.Convert(in, to)), string(a)+string(b), "%v: in-place conversion", to)
		}

		rng := rand.New(rand.NewPCG(uint64(crc32.ChecksumIEEE(in)), uint64(len(in))))
		var buf []byte
		for _, to := range eolTargets {
			want := string(lcsock.Convert(in, to))
			require.Equal(t, string(eolReference(in, to)), want, "%v: matches the byte-at-a-time reference", to)
			require.Equal(t, want, lcsock.ConvertString(string(in), to), to)
			require.Equal(t, want, lcsock.ConvertString(want, to), "%v: converting twice changes nothing", to)

			c := lcsock.NewEOLConverter(to)
			for i := 0; i <= len(in); i++ {
				c.Reset()
				buf = c.Append(c.Append(buf[:0], in[:i]), in[i:])
				if string(buf) != want {
					t.Fatalf("%v: split %q | %q gives %q, want %q", to, in[:i], in[i:], buf, want)
				}
			}
			for range 4 {
				cuts := []int{0, len(in)}
				for range rng.IntN(8) {
					cuts = append(cuts, rng.IntN(len(in)+1))
				}
				slices.Sort(cuts)
				var chunks [][]byte
				for k := 1; k < len(cuts); k++ {
					chunks = append(chunks, in[cuts[k-1]:cuts[k]])
				}
				c.Reset()
				require.Equal(t, want, string(eolStream(c, chunks...)), "%v: cuts %v", to, cuts)
			}

			r := lcsock.NewEOLReader(iotest.OneByteReader(bytes.NewReader(in)), to)
			require.Equal(t, want, string(eolReadAll(t, r, 1+rng.IntN(4))), "%v: OneByteReader", to)
			r = lcsock.NewEOLReader(iotest.HalfReader(bytes.NewReader(in)), to)
			require.Equal(t, want, string(eolReadAll(t, r, 1+rng.IntN(64))), "%v: HalfReader", to)
		}
	})
}
