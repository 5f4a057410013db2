package mapping

import "time"

// Valid Timestamp seconds: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z.
const (
	minTimestampSeconds = -62135596800
	maxTimestampSeconds = 253402300799
)

// readInstant reads an RFC 3339 (ISO-8601) string, or a number of
// milliseconds since the Unix epoch as in "timestampValue".
func readInstant(s *scanner, c byte) (sec int64, nsec int32, fits bool, err error) {
	if c == '"' {
		b, err := s.stringBytes()
		if err != nil {
			return 0, 0, false, err
		}
		sec, nsec, ok := parseTime(b)
		return sec, nsec, ok, nil
	}
	ns, ok, err := readScaled(s, c, 6) // milliseconds -> nanoseconds
	sec, n := ns/1e9, ns%1e9
	if n < 0 { // Timestamp nanos are never negative
		sec, n = sec-1, n+1e9
	}
	return sec, int32(n), ok && sec >= minTimestampSeconds && sec <= maxTimestampSeconds, err
}

// parseTime reads an RFC 3339 instant within Timestamp range as seconds and
// nanoseconds since the Unix epoch. time.Parse accepts ',' before the
// fraction as well as '.', and silently drops fraction digits past the
// ninth; a string with a non-zero one is refused here instead, so that it
// is kept verbatim rather than truncated. It also takes a one-digit hour,
// which RFC 3339 does not: such a string is refused too (every other part
// time.Parse reads has a fixed width, so a ':' at b[13] says the hour has
// two digits), which keeps the fraction where subNanosecond looks for it.
func parseTime(b []byte) (sec int64, nsec int32, ok bool) {
	t, err := time.Parse(time.RFC3339Nano, string(b))
	if err != nil || b[13] != ':' || subNanosecond(b) ||
		t.Unix() < minTimestampSeconds || t.Unix() > maxTimestampSeconds {
		return 0, 0, false
	}
	return t.Unix(), int32(t.Nanosecond()), true
}

// fracAt is where RFC 3339's fraction of a second starts: after
// "2006-01-02T15:04:05" (time.Parse takes exactly four year digits).
const fracAt = len("2006-01-02T15:04:05")

// subNanosecond reports whether the fraction of seconds in an RFC 3339
// string has a non-zero digit past the ninth.
func subNanosecond(b []byte) bool {
	if len(b) <= fracAt || (b[fracAt] != '.' && b[fracAt] != ',') {
		return false
	}
	for i := fracAt + 1; i < len(b) && isDigit(b[i]); i++ {
		if i-fracAt > 9 && b[i] != '0' {
			return true
		}
	}
	return false
}
