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

// decimal is a JSON number literal split into its parts: the value is
// (-1 if neg) * digits * 10^exp, with digits holding no leading zeros.
type decimal struct {
	neg    bool
	digits []byte // significant digits, no leading zeros; empty for zero
	exp    int
}

// parseDecimal splits a literal that the scanner has already validated, or
// a numeric string from upstream (which it validates itself).
func parseDecimal(lit []byte) (decimal, bool) {
	var d decimal
	i := 0
	if i < len(lit) && lit[i] == '-' {
		d.neg = true
		i++
	}
	intStart := i
	for i < len(lit) && isDigit(lit[i]) {
		i++
	}
	intPart := lit[intStart:i]
	if len(intPart) == 0 || (len(intPart) > 1 && intPart[0] == '0') {
		return d, false
	}
	var frac []byte
	if i < len(lit) && lit[i] == '.' {
		i++
		fracStart := i
		for i < len(lit) && isDigit(lit[i]) {
			i++
		}
		frac = lit[fracStart:i]
		if len(frac) == 0 {
			return d, false
		}
	}
	exp := 0
	if i < len(lit) && (lit[i] == 'e' || lit[i] == 'E') {
		i++
		expNeg := false
		if i < len(lit) && (lit[i] == '+' || lit[i] == '-') {
			expNeg = lit[i] == '-'
			i++
		}
		if i >= len(lit) || !isDigit(lit[i]) {
			return d, false
		}
		for ; i < len(lit) && isDigit(lit[i]); i++ {
			if exp < 1e6 { // beyond this the value is out of every range anyway
				exp = exp*10 + int(lit[i]-'0')
			}
		}
		if expNeg {
			exp = -exp
		}
	}
	if i != len(lit) {
		return d, false
	}
	// Digits are intPart then frac; the frac digits shift the exponent.
	// Most literals have no fraction, so avoid copying when we can.
	if len(frac) == 0 {
		d.digits = intPart
	} else {
		d.digits = make([]byte, 0, len(intPart)+len(frac))
		d.digits = append(append(d.digits, intPart...), frac...)
		exp -= len(frac)
	}
	for len(d.digits) > 0 && d.digits[0] == '0' {
		d.digits = d.digits[1:]
	}
	d.exp = exp
	return d, true
}

// scaledInt returns the literal times 10^shift as an int64 when that is an
// exact integer within range. shift 0 reads integers; shift 6 turns
// milliseconds into nanoseconds.
func scaledInt(lit []byte, shift int) (int64, bool) {
	d, ok := parseDecimal(lit)
	if !ok {
		return 0, false
	}
	if len(d.digits) == 0 {
		return 0, true
	}
	digits, exp := d.digits, d.exp+shift
	// Trailing zeros can absorb a negative exponent: 3369.000 ms is exact.
	for exp < 0 && len(digits) > 0 && digits[len(digits)-1] == '0' {
		digits = digits[:len(digits)-1]
		exp++
	}
	if exp < 0 || len(digits)+exp > 19 {
		return 0, false // a fraction of the unit, or beyond int64
	}
	var u uint64
	for _, c := range digits {
		u = u*10 + uint64(c-'0')
	}
	for range exp {
		u *= 10
	}
	// At most 19 digits stay below 10^19, which uint64 holds; the sign
	// decides the exact bound.
	limit := uint64(math.MaxInt64)
	if d.neg {
		limit++
	}
	if u > limit {
		return 0, false
	}
	if d.neg {
		return -int64(u-1) - 1, true
	}
	return int64(u), true
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
