package lcsock

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// result is what one call of match returns.
type result struct {
	n           int
	done, short bool
}

func oneShot(spec ReadSpec, data string, eof bool) result {
	m := newMatcher(spec)
	n, done, short := m.match([]byte(data), eof)
	return result{n, done, short}
}

// feed appends data to a buffer at the given split points, calling match
// after each append and once more with eof at the end if eof is set. It
// stops at the first completed call.
func feed(spec ReadSpec, data []byte, splits []int, eof bool) result {
	m := newMatcher(spec)
	buf := make([]byte, 0, len(data))
	prev := 0
	for _, s := range append(splits, len(data)) {
		buf = append(buf, data[prev:s]...)
		prev = s
		if n, done, short := m.match(buf, false); done {
			return result{n, done, short}
		}
	}
	if !eof {
		return result{}
	}
	n, done, short := m.match(buf, true)
	return result{n, done, short}
}

func TestMatch(t *testing.T) {
	tests := []struct {
		name string
		spec ReadSpec
		data string
		eof  bool
		want result
	}{
		// Cases 26/27: for N chars takes exactly N bytes.
		{"for 4 chars", For(4, Chars), "abcdef", false, result{4, true, false}},
		{"for 4 chars short buffer", For(4, Chars), "abc", false, result{0, false, false}},
		// Case 29: lcsock reads n lines.
		{"for 2 lines", For(2, Lines), "a\nb\nc\n", false, result{4, true, false}},
		{"for 2 lines incomplete", For(2, Lines), "a\nb", false, result{0, false, false}},
		// Case 30.
		{"for 2 items", For(2, Items), "x,y,z", false, result{4, true, false}},
		// Case 31.
		{"for 1 word", For(1, Words), "hello world ", false, result{6, true, false}},
		// Case 32: binary line end, CR kept.
		{"until LF after CRLF", Until("\n"), "a\r\nb", false, result{3, true, false}},
		// Case 33.
		{"until CRLFCRLF", Until("\r\n\r\n"), "HEAD\r\n\r\nBODY", false, result{8, true, false}},
		{"until CRLFCRLF absent", Until("\r\n\r\n"), "HEAD\r\n\r", false, result{0, false, false}},
		// Cases 34/35: until empty.
		{"until empty", Until(""), "xyz", false, result{3, true, false}},
		{"until empty nothing", Until(""), "", false, result{0, true, false}},
		{"until empty at eof", Until(""), "", true, result{0, true, true}},
		{"until empty at eof with data", Until(""), "xyz", true, result{3, true, false}},
		// Case 36: until eof completes only at eof.
		{"until eof open", UntilEOF(), "abc\n", false, result{0, false, false}},
		{"until eof", UntilEOF(), "abc\n", true, result{4, true, false}},
		{"until eof empty", UntilEOF(), "", true, result{0, true, false}},
		// Case 37: short read at eof.
		{"for 5 chars at eof", For(5, Chars), "ab", true, result{2, true, true}},
		// Case 38.
		{"until LF at eof", Until("\n"), "ab", true, result{2, true, true}},
		// Case 39: lcsock does not drop a trailing CR.
		{"until LF at eof keeps CR", Until("\n"), "ab\r", true, result{3, true, true}},
		// Case 40: NUL is an ordinary byte of the delimiter.
		{"until NUL x", Until("\x00x"), "a\x00b\x00xc", false, result{5, true, false}},
		{"until NUL x absent", Until("\x00x"), "a\x00b", false, result{0, false, false}},
		{"until bytes", UntilBytes([]byte{0, 'x'}), "\x00x", false, result{2, true, false}},
		// Case 28: for N uint2s takes 2N bytes.
		{"for 3 uint2s", For(3, UInt2), "\x00\x01\x01\x02\xff\xffz", false, result{6, true, false}},
		{"for 2 int4s", For(2, Int4), "12345678", false, result{8, true, false}},
		{"for 2 int4s short", For(2, Int4), "1234567", false, result{0, false, false}},
		{"for 2 int1s", For(2, Int1), "abc", false, result{2, true, false}},
		{"for 1 uint1", For(1, UInt1), "abc", false, result{1, true, false}},
		{"for 3 int2s short at eof", For(3, Int2), "abc", true, result{3, true, true}},
		// For(0, x) completes at once.
		{"for 0 chars", For(0, Chars), "", false, result{0, true, false}},
		{"for 0 lines", For(0, Lines), "a\n", false, result{0, true, false}},
		{"for 0 lines eof", For(0, Lines), "", true, result{0, true, false}},
		// Available (and the zero value): at least one byte, everything.
		{"available", Available(), "abc", false, result{3, true, false}},
		{"available empty", Available(), "", false, result{0, false, false}},
		{"available empty eof", Available(), "", true, result{0, true, true}},
		{"zero spec", ReadSpec{}, "q", false, result{1, true, false}},
		// Eof with an empty buffer is a short read.
		{"for 3 lines eof empty", For(3, Lines), "", true, result{0, true, true}},
		{"until eof empty buffer", Until("x"), "", true, result{0, true, true}},
		// The flag does nothing for other specs.
		{"flag ignored for items", For(1, Items).WithAnyLineEnd(), "a\r,", false, result{3, true, false}},
		{"flag ignored for until x", Until("x").WithAnyLineEnd(), "a\rx", false, result{3, true, false}},
		// Invalid specs do not panic.
		{"negative count", For(-1, Chars), "abc", false, result{0, true, false}},
		{"huge count", For(math.MaxInt, Int4), "abc", true, result{3, true, true}},
		{"unknown unit", For(2, Unit(99)), "abc", false, result{2, true, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, oneShot(tt.spec, tt.data, tt.eof))
		})
	}
}

func TestMatchAnyLineEnd(t *testing.T) {
	tests := []struct {
		name string
		spec ReadSpec
		data string
		eof  bool
		want result
	}{
		{"CRLF", For(1, Lines), "a\r\nb", false, result{3, true, false}},
		{"CR", For(1, Lines), "a\rb", false, result{2, true, false}},
		{"CR last, open", For(1, Lines), "a\r", false, result{0, false, false}},
		{"CR last, eof", For(1, Lines), "a\r", true, result{2, true, false}},
		{"LF", For(1, Lines), "a\nb", false, result{2, true, false}},
		{"mixed two lines", For(2, Lines), "a\rb\r\nc", false, result{5, true, false}},
		{"LF CR", For(2, Lines), "a\n\rb", false, result{3, true, false}},
		{"CR CR", For(2, Lines), "\r\rb", false, result{2, true, false}},
		{"CR CR open", For(2, Lines), "\r\r", false, result{0, false, false}},
		{"empty lines", For(3, Lines), "\r\n\n\r\nx", false, result{5, true, false}},
		{"short at eof", For(3, Lines), "a\rb", true, result{3, true, true}},
		{"until LF", Until("\n"), "a\rb", false, result{2, true, false}},
		{"until CR", Until("\r"), "a\nb", false, result{2, true, false}},
		{"until CRLF", Until("\r\n"), "a\r\nb", false, result{3, true, false}},
		{"until CRLF lone CR", Until("\r\n"), "a\rb", false, result{2, true, false}},
		{"until LF CR last", Until("\n"), "ab\r", false, result{0, false, false}},
		{"until LF CR last eof", Until("\n"), "ab\r", true, result{3, true, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, oneShot(tt.spec.WithAnyLineEnd(), tt.data, tt.eof))
		})
	}
	// Without the flag the same inputs are binary.
	require.Equal(t, result{0, false, false}, oneShot(For(1, Lines), "a\rb", false))
	require.Equal(t, result{0, false, false}, oneShot(Until("\r\n"), "a\rb\n", false))
}

func TestMatchIncremental(t *testing.T) {
	// A CR awaiting its possible LF is decided by the next append.
	m := newMatcher(For(1, Lines).WithAnyLineEnd())
	buf := []byte("ab\r")
	n, done, _ := m.match(buf, false)
	require.False(t, done)
	require.Zero(t, n)
	buf = append(buf, '\n', 'c')
	n, done, short := m.match(buf, false)
	require.Equal(t, result{4, true, false}, result{n, done, short})
	// A completed matcher keeps its result.
	n, done, short = m.match(append(buf, "more"...), true)
	require.Equal(t, result{4, true, false}, result{n, done, short})

	// A delimiter split across appends is found.
	m = newMatcher(Until("\r\n\r\n"))
	buf = []byte("HEAD\r\n\r")
	_, done, _ = m.match(buf, false)
	require.False(t, done)
	n, done, _ = m.match(append(buf, '\n', 'B'), false)
	require.True(t, done)
	require.Equal(t, 8, n)
}

func TestMatchSplits(t *testing.T) {
	inputs := []string{
		"HEAD\r\n\r\nBODY\r\n\r\n",
		"a\r\nb\rc\n\rd\r\r\n\n,e f,g \x00x\x00",
		"\x00\x01\x01\x02\xff\xff\x80\x00\x7f",
		"abababababcab",
		"\r",
		"",
	}
	specs := []ReadSpec{
		For(4, Chars), For(2, Lines), For(3, Lines), For(2, Items), For(1, Words), For(2, Words),
		For(3, UInt2), For(2, Int4), For(0, Lines),
		Until("\n"), Until("\r\n\r\n"), Until("\x00x"), Until("abc"), Until("aba"), Until("\r"),
		For(1, Lines).WithAnyLineEnd(), For(3, Lines).WithAnyLineEnd(),
		Until("\r\n").WithAnyLineEnd(), Until("\n").WithAnyLineEnd(), Until("\r").WithAnyLineEnd(),
		UntilEOF(),
	}
	for _, in := range inputs {
		for _, spec := range specs {
			for _, eof := range []bool{false, true} {
				want := oneShot(spec, in, eof)
				data := []byte(in)
				// Every single split point, and byte-by-byte.
				for i := 0; i <= len(data); i++ {
					require.Equal(t, want, feed(spec, data, []int{i}, eof), "%s on %q split at %d eof=%v", spec, in, i, eof)
				}
				all := make([]int, len(data))
				for i := range all {
					all[i] = i
				}
				require.Equal(t, want, feed(spec, data, all, eof), "%s on %q byte by byte eof=%v", spec, in, eof)
			}
		}
	}
}

func TestMatchNoAlloc(t *testing.T) {
	buf := []byte(strings.Repeat("abc\r\n", 100) + "\r\n\r\n")
	for _, spec := range []ReadSpec{Until("\r\n\r\n"), For(150, Lines).WithAnyLineEnd(), For(150, Lines), For(400, Chars), Available()} {
		m := newMatcher(spec)
		allocs := testing.AllocsPerRun(100, func() {
			m.done, m.pos, m.count, m.lf, m.lfScan = false, 0, 0, -1, 0
			for i := 1; i <= len(buf); i += 7 {
				m.match(buf[:i], false)
			}
		})
		require.Zero(t, allocs, spec.String())
	}
}

func TestParseUnit(t *testing.T) {
	tests := []struct {
		in   string
		want Unit
	}{
		{"char", Chars}, {"chars", Chars}, {"character", Chars}, {"Characters", Chars}, {"CHAR", Chars},
		{"line", Lines}, {"Lines", Lines}, {"item", Items}, {"items", Items}, {"word", Words}, {"WORDS", Words},
		{"int1", Int1}, {"int1s", Int1}, {"uint1", UInt1}, {"UInt1s", UInt1},
		{"int2", Int2}, {"int2s", Int2}, {"uint2", UInt2}, {"uint2S", UInt2},
		{"int4", Int4}, {"INT4S", Int4}, {"uint4", UInt4}, {"uint4s", UInt4},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			u, err := ParseUnit(tt.in)
			require.NoError(t, err)
			require.Equal(t, tt.want, u)
		})
	}
	for _, bad := range []string{"", "s", "S", "charss", "int8", "byte", "linesx", " line", "lіne", "ch\x01rs", "uint", "int"} {
		t.Run("bad "+bad, func(t *testing.T) {
			_, err := ParseUnit(bad)
			require.ErrorIs(t, err, ErrBadReadSpec)
		})
	}
}

func TestUnitString(t *testing.T) {
	want := []string{"chars", "lines", "items", "words", "int1s", "uint1s", "int2s", "uint2s", "int4s", "uint4s"}
	for u, name := range want {
		require.Equal(t, name, Unit(u).String())
	}
	require.Equal(t, "Unit(42)", Unit(42).String())
	require.Equal(t, []int{1, 0, 0, 0, 1, 1, 2, 2, 4, 4},
		[]int{Chars.width(), Lines.width(), Items.width(), Words.width(), Int1.width(), UInt1.width(),
			Int2.width(), UInt2.width(), Int4.width(), UInt4.width()})
}

func TestReadSpecString(t *testing.T) {
	tests := []struct {
		spec ReadSpec
		want string
	}{
		{Until("\r\n"), `until "\r\n"`},
		{UntilBytes([]byte{0, 'x'}), `until "\x00x"`},
		{Until(""), "until empty"},
		{UntilEOF(), "until eof"},
		{For(3, Lines), "for 3 lines"},
		{For(4, UInt2), "for 4 uint2s"},
		{For(1, Chars), "for 1 char"},
		{For(0, Words), "for 0 words"},
		{Available(), "with no condition"},
		{ReadSpec{}, "with no condition"},
		{For(2, Lines).WithAnyLineEnd(), "for 2 lines with any line end"},
		{Until("\n").WithAnyLineEnd(), `until "\n" with any line end`},
		{Until("x").WithAnyLineEnd(), `until "x"`},
		{For(2, Unit(77)), "for 2 Unit(77)"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, tt.spec.String())
	}
}

func TestReadSpecAccessors(t *testing.T) {
	require.Equal(t, UInt2, For(3, UInt2).Unit())
	require.Equal(t, 3, For(3, UInt2).Count())
	require.True(t, For(3, UInt2).isBinary())
	require.True(t, For(3, Int1).isBinary())
	require.False(t, For(3, Chars).isBinary())
	require.False(t, For(3, Lines).isBinary())
	for _, s := range []ReadSpec{Until("x"), UntilEOF(), Available()} {
		require.Zero(t, s.Unit())
		require.Zero(t, s.Count())
		require.False(t, s.isBinary())
	}
	require.Equal(t, Available(), ReadSpec{})
	// UntilBytes copies its argument.
	d := []byte("ab")
	s := UntilBytes(d)
	d[0] = 'x'
	require.Equal(t, Until("ab"), s)
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		spec ReadSpec
		max  int
		err  error // nil: valid
	}{
		{"chars within limit", For(10, Chars), 10, nil},
		{"chars over limit", For(11, Chars), 10, ErrBufferFull},
		{"uint4s within limit", For(4, UInt4), 16, nil},
		{"uint4s over limit", For(5, UInt4), 16, ErrBufferFull},
		{"int2s over odd limit", For(3, Int2), 5, ErrBufferFull},
		{"no limit", For(math.MaxInt/8, Chars), 0, nil},
		{"overflow with limit", For(math.MaxInt, Int4), 1 << 20, ErrBufferFull},
		{"overflow without limit", For(math.MaxInt/2+1, Int2), 0, ErrBadReadSpec},
		{"max int chars no limit", For(math.MaxInt, Chars), 0, nil},
		{"lines are not limited", For(math.MaxInt/8, Lines), 10, nil},
		{"negative", For(-1, Chars), 0, ErrBadReadSpec},
		{"negative lines", For(-5, Lines), 100, ErrBadReadSpec},
		{"unknown unit", For(1, Unit(10)), 0, ErrBadReadSpec},
		{"zero", For(0, UInt4), 1, nil},
		{"until", Until("\r\n"), 1, nil},
		{"until eof", UntilEOF(), 1, nil},
		{"available", Available(), 1, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.spec.validate(tt.max)
			if tt.err == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tt.err)
		})
	}
	err := For(5, UInt4).validate(16)
	require.ErrorContains(t, err, "16 bytes")
	require.False(t, errors.Is(err, ErrBadReadSpec))
}

func TestFormatChunks(t *testing.T) {
	tests := []struct {
		name string
		data string
		unit Unit
		want string
	}{
		// Case 28: three uint2s give three numbers.
		{"uint2", "\x00\x01\x01\x02\xff\xff", UInt2, "1,258,65535"},
		{"int2 negatives", "\xff\xff\x80\x00\x7f\xff\x00\x00", Int2, "-1,-32768,32767,0"},
		{"int1", "\x00\x7f\x80\xff", Int1, "0,127,-128,-1"},
		{"uint1", "\x00\x7f\x80\xff", UInt1, "0,127,128,255"},
		{"int4", "\xff\xff\xff\xff\x80\x00\x00\x00\x7f\xff\xff\xff\x00\x00\x01\x00", Int4, "-1,-2147483648,2147483647,256"},
		{"uint4", "\xff\xff\xff\xff\x00\x01\x00\x00", UInt4, "4294967295,65536"},
		{"partial trailing unit", "\x00\x01\x02", UInt2, "1"},
		{"only partial", "\x01\x02\x03", Int4, ""},
		{"empty", "", UInt1, ""},
		{"chars", "a,b", Chars, "a,b"},
		{"lines", "x\n", Lines, "x\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, FormatChunks([]byte(tt.data), tt.unit))
			require.Equal(t, "pre:"+tt.want, string(AppendChunks([]byte("pre:"), []byte(tt.data), tt.unit)))
		})
	}
	dst := make([]byte, 0, 64)
	allocs := testing.AllocsPerRun(100, func() {
		dst = AppendChunks(dst[:0], []byte("\x00\x01\x01\x02\xff\xff"), Int2)
	})
	require.Zero(t, allocs)
}

// fuzzSpec builds a spec from fuzz inputs.
func fuzzSpec(kind, unit uint8, n int, delim []byte, anyEOL bool) ReadSpec {
	var s ReadSpec
	switch kind % 5 {
	case 0:
		s = For(n%64, Unit(unit%10))
	case 1:
		if len(delim) == 0 {
			delim = []byte{'\n'}
		}
		s = UntilBytes(delim)
	case 2:
		s = Until([]string{"\n", "\r", "\r\n"}[n%3])
	case 3:
		s = UntilEOF()
	case 4:
		s = For(n%8, Lines)
	}
	if anyEOL {
		s = s.WithAnyLineEnd()
	}
	return s
}

func FuzzMatchSplits(f *testing.F) {
	f.Add([]byte("HEAD\r\n\r\nBODY"), []byte("\r\n\r\n"), uint8(1), uint8(0), 0, false, false, []byte{3, 5})
	f.Add([]byte("a\r\nb\rc\n"), []byte{}, uint8(4), uint8(0), 2, true, true, []byte{2})
	f.Add([]byte("x,y,z"), []byte{}, uint8(0), uint8(2), 2, false, false, []byte{1, 1, 1})
	f.Add([]byte("\x00\x01\x01\x02\xff\xff"), []byte{}, uint8(0), uint8(7), 3, false, true, []byte{})
	f.Add([]byte("ab\r"), []byte{}, uint8(2), uint8(0), 0, true, true, []byte{2})
	f.Add([]byte("aab\x00xx"), []byte("\x00x"), uint8(1), uint8(0), 0, false, false, []byte{4})
	f.Fuzz(func(t *testing.T, data, delim []byte, kind, unit uint8, n int, anyEOL, eof bool, cuts []byte) {
		if n < 0 {
			n = -(n + 1)
		}
		spec := fuzzSpec(kind, unit, n, delim, anyEOL)
		want := oneShot(spec, string(data), eof)
		if want.n < 0 || want.n > len(data) {
			t.Fatalf("%s: n=%d out of range for %d bytes", spec, want.n, len(data))
		}
		if eof && !want.done {
			t.Fatalf("%s: not done at eof", spec)
		}
		// Turn cuts into increasing split points.
		var splits []int
		p := 0
		for _, c := range cuts {
			p += int(c) % 8
			if p > len(data) {
				break
			}
			splits = append(splits, p)
		}
		got := feed(spec, data, splits, eof)
		if got != want {
			t.Fatalf("%s on %q split %v eof=%v: incremental %+v, one-shot %+v", spec, data, splits, eof, got, want)
		}
	})
}

func FuzzParseUnit(f *testing.F) {
	for _, s := range []string{"char", "Characters", "lines", "ITEM", "word", "int1s", "uint2", "Int4S", "", "s", "charss", "lіne"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := ParseUnit(s)
		if err != nil {
			if !errors.Is(err, ErrBadReadSpec) {
				t.Fatalf("%q: error %v does not wrap ErrBadReadSpec", s, err)
			}
			return
		}
		back, err := ParseUnit(u.String())
		if err != nil || back != u {
			t.Fatalf("%q → %v → %v, %v", s, u, back, err)
		}
	})
}

func FuzzFormatChunks(f *testing.F) {
	f.Add([]byte("\x00\x01\x01\x02\xff\xff"), uint8(7))
	f.Add([]byte("\x80"), uint8(4))
	f.Add([]byte("abc"), uint8(0))
	f.Fuzz(func(t *testing.T, data []byte, unit uint8) {
		u := Unit(unit % 11)
		s := FormatChunks(data, u)
		if string(AppendChunks(nil, data, u)) != s {
			t.Fatalf("AppendChunks differs from FormatChunks")
		}
		if !u.binary() {
			if s != string(data) {
				t.Fatalf("non-binary %v changed data", u)
			}
			return
		}
		w := u.width()
		if len(data) < w {
			if s != "" {
				t.Fatalf("partial unit gave %q", s)
			}
			return
		}
		if got, want := strings.Count(s, ","), len(data)/w-1; got != want {
			t.Fatalf("%v on %d bytes: %d commas, want %d", u, len(data), got, want)
		}
	})
}

func BenchmarkMatchUntil(b *testing.B) {
	buf := []byte(strings.Repeat("x", 4096) + "\r\n\r\n")
	for b.Loop() {
		m := newMatcher(Until("\r\n\r\n"))
		for i := 512; i < len(buf); i += 512 {
			m.match(buf[:i], false)
		}
		m.match(buf, false)
	}
}

func BenchmarkMatchAnyLineEnd(b *testing.B) {
	buf := []byte(strings.Repeat("some line\r", 1000))
	for b.Loop() {
		m := newMatcher(For(1000, Lines).WithAnyLineEnd())
		m.match(buf, true)
	}
}
