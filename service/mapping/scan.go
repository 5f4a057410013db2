package mapping

import (
	"bytes"
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// SyntaxError reports JSON that cannot be read, with where it went wrong.
// Its message is short whatever the input: the path names at most a few
// levels, and each key in it at most a few dozen bytes.
type SyntaxError struct {
	Offset int    // byte offset of the problem in the input
	Line   int    // 1-based line of Offset
	Column int    // 1-based column (in bytes) of Offset
	Path   string // JSON path of the value being read, such as $.userInfo.identities[0]
	Msg    string // what was wrong
}

func (e *SyntaxError) Error() string {
	where := fmt.Sprintf("offset %d (line %d, column %d)", e.Offset, e.Line, e.Column)
	if e.Path != "" && e.Path != "$" {
		where += " in " + e.Path
	}
	return "smartassist json: " + e.Msg + " at " + where
}

// scanner reads JSON from a byte slice by position. Reading by position
// rather than through a token stream is what lets the decoder try a value
// as its field's type and, when the value does not fit, go back and keep it
// verbatim in the catch-all Struct.
type scanner struct {
	data []byte
	pos  int
	// buf is scratch space for unescaping strings, reused across strings.
	buf []byte
}

// errorf builds a SyntaxError at offset off. Line and column are counted
// here, once; the path is the caller's to add.
func (s *scanner) errorf(off int, format string, args ...any) *SyntaxError {
	off = min(off, len(s.data))
	line := 1 + bytes.Count(s.data[:off], []byte{'\n'})
	col := off + 1
	if nl := bytes.LastIndexByte(s.data[:off], '\n'); nl >= 0 {
		col = off - nl
	}
	return &SyntaxError{Offset: off, Line: line, Column: col, Msg: fmt.Sprintf(format, args...)}
}

func (s *scanner) skipSpace() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// peek returns the next non-space byte without consuming it, or 0 at the end.
func (s *scanner) peek() byte {
	s.skipSpace()
	if s.pos < len(s.data) {
		return s.data[s.pos]
	}
	return 0
}

// describe names the byte at off for error messages.
func (s *scanner) describe(off int) string {
	if off >= len(s.data) {
		return "end of input"
	}
	c := s.data[off]
	if c < 0x20 || c >= 0x7f {
		return fmt.Sprintf("byte 0x%02x", c)
	}
	return fmt.Sprintf("%q", string(c))
}

// members reads the object at s.pos, calling fn for each member with its
// key and the key's offset; fn reads the value. The key aliases the input or the scratch space,
// so it is valid only until the next string is read: enough for a map
// lookup, which does not allocate.
func (s *scanner) members(fn func(key []byte, keyAt int) error) error {
	return s.elements('}', func() error {
		if s.peek() != '"' {
			return s.errorf(s.pos, "expected object key, found %s", s.describe(s.pos))
		}
		keyAt := s.pos
		k, err := s.stringBytes()
		if err != nil {
			return err
		}
		if s.peek() != ':' {
			return s.errorf(s.pos, "expected ':' after object key, found %s", s.describe(s.pos))
		}
		s.pos++
		return fn(k, keyAt)
	})
}

// elements reads the array (closer ']') or object (closer '}') at s.pos,
// calling fn to read each element or member.
func (s *scanner) elements(closer byte, fn func() error) error {
	s.pos++ // '[' or '{'
	if s.peek() == closer {
		s.pos++
		return nil
	}
	for {
		if err := fn(); err != nil {
			return err
		}
		switch s.peek() {
		case ',':
			s.pos++
		case closer:
			s.pos++
			return nil
		default:
			return s.errorf(s.pos, "expected ',' or %q, found %s", string(closer), s.describe(s.pos))
		}
	}
}

// stringBytes reads a JSON string at s.pos (which holds '"') and returns its
// unescaped content, aliasing the input when it has no escapes.
func (s *scanner) stringBytes() ([]byte, error) {
	start := s.pos + 1
	i := start
	data := s.data
	ascii := true
	for i < len(data) {
		c := data[i]
		if c == '"' {
			s.pos = i + 1
			if !ascii && !utf8.Valid(data[start:i]) {
				return nil, s.errorf(start, "invalid UTF-8 in string")
			}
			return data[start:i], nil
		}
		if c == '\\' {
			return s.unescape(start, i)
		}
		if c < 0x20 {
			return nil, s.errorf(i, "control character 0x%02x in string", c)
		}
		if c >= 0x80 {
			ascii = false
		}
		i++
	}
	return nil, s.errorf(s.pos, "unterminated string")
}

// shortEscapes maps the letter after a backslash to the byte it stands for
// in a JSON string; zero for every other byte.
var shortEscapes = [256]byte{'"': '"', '\\': '\\', '/': '/', 'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t'}

// unescape is the slow path of stringBytes, taken at the first backslash.
func (s *scanner) unescape(start, i int) ([]byte, error) {
	data := s.data
	if !utf8.Valid(data[start:i]) {
		return nil, s.errorf(start, "invalid UTF-8 in string")
	}
	b := append(s.buf[:0], data[start:i]...)
	for i < len(data) {
		c := data[i]
		switch {
		case c == '"':
			s.pos = i + 1
			s.buf = b
			return b, nil
		case c == '\\':
			if i+1 >= len(data) {
				return nil, s.errorf(i, "unterminated string")
			}
			e := data[i+1]
			i += 2
			switch {
			case shortEscapes[e] != 0:
				b = append(b, shortEscapes[e])
			case e == 'u':
				r, ok := hex4(data, i)
				if !ok {
					return nil, s.errorf(i-2, "invalid \\u escape")
				}
				i += 4
				if utf16.IsSurrogate(r) {
					// A pair makes one rune; a lone surrogate has no UTF-8
					// form, so like every Go JSON decoder it becomes U+FFFD.
					r2, ok2 := rune(0), false
					if i+6 <= len(data) && data[i] == '\\' && data[i+1] == 'u' {
						r2, ok2 = hex4(data, i+2)
					}
					if dec := utf16.DecodeRune(r, r2); ok2 && dec != utf8.RuneError {
						r = dec
						i += 6
					} else {
						r = utf8.RuneError
					}
				}
				b = utf8.AppendRune(b, r)
			default:
				return nil, s.errorf(i-2, "invalid escape %q in string", "\\"+string(e))
			}
		case c < 0x20:
			return nil, s.errorf(i, "control character 0x%02x in string", c)
		case c < 0x80:
			b = append(b, c)
			i++
		default:
			r, size := utf8.DecodeRune(data[i:])
			if r == utf8.RuneError && size <= 1 {
				return nil, s.errorf(i, "invalid UTF-8 in string")
			}
			b = append(b, data[i:i+size]...)
			i += size
		}
	}
	s.buf = b
	return nil, s.errorf(start-1, "unterminated string")
}

func hex4(data []byte, i int) (rune, bool) {
	if i+4 > len(data) {
		return 0, false
	}
	n, err := strconv.ParseUint(string(data[i:i+4]), 16, 16)
	return rune(n), err == nil
}

// number reads a JSON number and returns its literal text, which aliases the
// input. Keeping the literal (rather than a float64) is what lets the mapper
// turn "350312.351" milliseconds into an exact Duration and keep integers
// beyond 2^53 exactly.
func (s *scanner) number() ([]byte, error) {
	data := s.data
	start := s.pos
	i := start
	if i < len(data) && data[i] == '-' {
		i++
	}
	switch {
	case i < len(data) && data[i] == '0':
		i++
	case i < len(data) && '1' <= data[i] && data[i] <= '9':
		for i < len(data) && isDigit(data[i]) {
			i++
		}
	default:
		return nil, s.errorf(i, "invalid number: expected digit, found %s", s.describe(i))
	}
	if i < len(data) && data[i] == '.' {
		i++
		if i >= len(data) || !isDigit(data[i]) {
			return nil, s.errorf(i, "invalid number: expected digit after '.', found %s", s.describe(i))
		}
		for i < len(data) && isDigit(data[i]) {
			i++
		}
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		if i >= len(data) || !isDigit(data[i]) {
			return nil, s.errorf(i, "invalid number: expected exponent digit, found %s", s.describe(i))
		}
		for i < len(data) && isDigit(data[i]) {
			i++
		}
	}
	s.pos = i
	return data[start:i], nil
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// literal consumes one of the words true, false, null.
func (s *scanner) literal(word string) error {
	if !bytes.HasPrefix(s.data[s.pos:], []byte(word)) {
		return s.errorf(s.pos, "invalid literal, expected %q", word)
	}
	s.pos += len(word)
	return nil
}

// kindAt names the JSON kind of the value starting with c, with its
// article, for messages.
func kindAt(c byte) string {
	switch {
	case c == '{':
		return "an object"
	case c == '[':
		return "an array"
	case c == '"':
		return "a string"
	case c == 't' || c == 'f':
		return "a boolean"
	case c == 'n':
		return "a null"
	case c == '-' || isDigit(c):
		return "a number"
	}
	return "an invalid value"
}
