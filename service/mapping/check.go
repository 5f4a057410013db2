package mapping

import (
	"errors"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Bounds on a SyntaxError's path, so that an error about a document with
// long keys stays a short log line.
const (
	maxPathKey = 32  // bytes of one key shown in a path
	maxPath    = 128 // bytes of a whole path, innermost segments kept
)

// checker is the first pass of Unmarshal: it reads the document without
// building anything, to find syntax errors and enforce the limits before
// the decoder allocates a single message.
type checker struct {
	scanner
	lim    Limits
	values int
	// path has one frame per open object or array, so an error can say
	// where it is at the cost of its depth, not of the document.
	path []frame
}

type frame struct {
	keyAt int // offset of the current member's key in an object, else -1
	index int // index of the current element in an array, else -1
}

// check validates data as one JSON object within l.
func check(data []byte, l Limits) error {
	c := &checker{scanner: scanner{data: data}, lim: l}
	err := c.document()
	if se := (*SyntaxError)(nil); errors.As(err, &se) {
		se.Path = c.pathString()
	}
	return err
}

func (c *checker) document() error {
	c.skipSpace()
	switch {
	case c.pos == len(c.data):
		return c.errorf(c.pos, "empty document, want a JSON object")
	case c.data[c.pos] != '{':
		return c.errorf(c.pos, "top-level value is %s, want a JSON object", kindAt(c.data[c.pos]))
	}
	if err := c.value(); err != nil {
		return err
	}
	if c.skipSpace(); c.pos < len(c.data) {
		return c.errorf(c.pos, "unexpected %s after the top-level object", c.describe(c.pos))
	}
	return nil
}

func (c *checker) value() error {
	ch := c.peek()
	if c.values++; c.values > c.lim.MaxValues {
		return &LimitError{Limit: "MaxValues", Value: c.lim.MaxValues, Offset: c.pos}
	}
	switch {
	case ch == '{' || ch == '[':
		if len(c.path) == c.lim.MaxDepth {
			return &LimitError{Limit: "MaxDepth", Value: c.lim.MaxDepth, Offset: c.pos}
		}
		c.path = append(c.path, frame{keyAt: -1, index: -1})
		top := len(c.path) - 1 // an index: appends deeper down may move c.path
		var err error
		if ch == '{' {
			err = c.members(func(_ []byte, keyAt int) error {
				c.path[top].keyAt = keyAt
				return c.value()
			})
		} else {
			err = c.elements(']', func() error {
				c.path[top].index++
				return c.value()
			})
		}
		if err == nil {
			c.path = c.path[:len(c.path)-1]
		}
		return err
	case ch == '"':
		_, err := c.stringBytes()
		return err
	case ch == 't':
		return c.literal("true")
	case ch == 'f':
		return c.literal("false")
	case ch == 'n':
		return c.literal("null")
	case ch == '-' || isDigit(ch):
		_, err := c.number()
		return err
	}
	return c.errorf(c.pos, "expected a JSON value, found %s", c.describe(c.pos))
}

// pathString renders the open frames as a JSON path such as
// $.userInfo.identities[0], at most maxPath bytes long.
func (c *checker) pathString() string {
	segs := make([]string, 0, len(c.path))
	for _, f := range c.path {
		switch {
		case f.index >= 0:
			segs = append(segs, "["+strconv.Itoa(f.index)+"]")
		case f.keyAt >= 0:
			segs = append(segs, "."+c.rawKey(f.keyAt))
		}
	}
	n, i := 0, len(segs)
	for i > 0 && n+len(segs[i-1]) <= maxPath {
		n += len(segs[i-1])
		i--
	}
	if i > 0 {
		return "$…" + strings.Join(segs[i:], "")
	}
	return "$" + strings.Join(segs, "")
}

// rawKey returns the key whose opening quote is at off as the input writes
// it (escapes and all), cut to maxPathKey bytes.
func (c *checker) rawKey(off int) string {
	b := c.data[off+1:]
	for i := 0; i < len(b); i++ {
		switch {
		case i >= maxPathKey:
			for i > 0 && !utf8.RuneStart(b[i]) {
				i--
			}
			return string(b[:i]) + "…"
		case b[i] == '\\':
			i++
		case b[i] == '"':
			return string(b[:i])
		}
	}
	return string(b) // not reached: the key was read whole
}
