package mapping

import (
	"bytes"
	"math"
	"strconv"
)

// readScaled reads a number, or a string holding one (SmartAssist sends
// priority as 5 in one place and "5" in another), times 10^shift, reporting
// fits=false unless that is an exact int64 (see scaledInt).
func readScaled(s *scanner, c byte, shift int) (n int64, fits bool, err error) {
	var lit []byte
	switch {
	case c == '-' || isDigit(c):
		lit, err = s.number()
	case c == '"':
		lit, err = s.stringBytes()
	default:
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	n, fits = scaledInt(lit, shift)
	return n, fits, nil
}

// scaledInt returns lit, a JSON number literal (or a numeric string from
// upstream, checked here), times 10^shift as an int64 when that is an exact
// integer within range. shift 0 reads integers; shift 6 turns milliseconds
// into nanoseconds.
func scaledInt(lit []byte, shift int) (int64, bool) {
	if n, err := (&scanner{data: lit}).number(); err != nil || len(n) != len(lit) {
		return 0, false
	}
	neg := lit[0] == '-'
	if neg {
		lit = lit[1:]
	}
	exp := shift
	if e := bytes.IndexAny(lit, "eE"); e >= 0 {
		// Beyond this bound every exponent means the same: out of range
		// or a fraction (strconv clamps what overflows an int).
		bound := len(lit) + 20
		x, _ := strconv.Atoi(string(lit[e+1:]))
		exp += max(-bound, min(bound, x))
		lit = lit[:e]
	}
	intPart, frac, _ := bytes.Cut(lit, []byte{'.'})
	exp -= len(frac)
	// Trailing zeros absorb a negative exponent: 3369.000 ms is exact.
	for exp < 0 && len(frac) > 0 && frac[len(frac)-1] == '0' {
		frac, exp = frac[:len(frac)-1], exp+1
	}
	for exp < 0 && len(frac) == 0 && len(intPart) > 0 && intPart[len(intPart)-1] == '0' {
		intPart, exp = intPart[:len(intPart)-1], exp+1
	}
	var u uint64
	digits := 0 // significant digits so far
	for _, part := range [2][]byte{intPart, frac} {
		for _, c := range part {
			if digits == 0 && c == '0' {
				continue
			}
			if digits++; digits > 19 {
				return 0, false
			}
			u = u*10 + uint64(c-'0')
		}
	}
	switch {
	case digits == 0:
		return 0, true
	case exp < 0 || digits+exp > 19:
		return 0, false // a fraction of the unit, or beyond int64
	}
	for range exp {
		u *= 10
	}
	// At most 19 digits stay below 10^19, which uint64 holds; the sign
	// decides the exact bound.
	if neg {
		return -int64(u-1) - 1, u <= math.MaxInt64+1
	}
	return int64(u), u <= math.MaxInt64
}

// exactDouble reads a literal for a google.protobuf.Value without losing
// it: it reports ok=false, and the caller keeps the literal as text, when a
// double cannot hold what the literal means. Fractions are read the way
// every JSON consumer reads them (0.1 is the nearest double), but an integer
// must be exact, and overflow or underflow to zero keeps the text.
func exactDouble(lit []byte) (float64, bool) {
	f, err := strconv.ParseFloat(string(lit), 64)
	if err != nil { // out of range
		return 0, false
	}
	mantissa := lit
	if e := bytes.IndexAny(lit, "eE"); e >= 0 {
		mantissa = lit[:e]
	}
	switch {
	case f == 0:
		return f, !bytes.ContainsAny(mantissa, "123456789") // else underflow
	case len(mantissa) < len(lit) || bytes.IndexByte(lit, '.') >= 0:
		return f, true // a fraction or an exponent
	}
	// An integer: up to 15 digits is below 2^53, so exact; a longer one
	// must print back as itself (FormatFloat's fixed precision is exact).
	return f, len(bytes.TrimPrefix(lit, []byte{'-'})) <= 15 || strconv.FormatFloat(f, 'f', 0, 64) == string(lit)
}
