package mapping

import (
	"bytes"
	"time"
)

// parseTime reads an RFC 3339 instant as seconds and nanoseconds since the
// Unix epoch. SmartAssist writes UTC with milliseconds
// ("2023-05-22T04:55:05.350Z"), which is read here without allocating; any
// other RFC 3339 form (offsets, other precisions) goes through time.Parse,
// and anything else is left for the catch-all.
func parseTime(b []byte) (sec int64, nsec int32, ok bool) {
	if t, ok := parseUTC(b); ok {
		return t.Unix(), int32(t.Nanosecond()), true
	}
	if subNanosecond(b) {
		return 0, 0, false // time.Parse would round it away
	}
	t, err := time.Parse(time.RFC3339Nano, string(b))
	if err != nil {
		return 0, 0, false
	}
	return t.Unix(), int32(t.Nanosecond()), true
}

// parseUTC reads exactly YYYY-MM-DDTHH:MM:SS[.fraction]Z.
func parseUTC(b []byte) (time.Time, bool) {
	if len(b) < 20 || b[len(b)-1] != 'Z' || b[4] != '-' || b[7] != '-' || b[10] != 'T' || b[13] != ':' || b[16] != ':' {
		return time.Time{}, false
	}
	year, ok1 := digits(b[0:4])
	month, ok2 := digits(b[5:7])
	day, ok3 := digits(b[8:10])
	hour, ok4 := digits(b[11:13])
	minute, ok5 := digits(b[14:16])
	second, ok6 := digits(b[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) {
		return time.Time{}, false
	}
	nanos := 0
	switch frac := b[19 : len(b)-1]; {
	case len(frac) == 0:
	case frac[0] != '.' || len(frac) < 2 || len(frac) > 10:
		return time.Time{}, false
	default:
		n, ok := digits(frac[1:])
		if !ok {
			return time.Time{}, false
		}
		for range 10 - len(frac) {
			n *= 10
		}
		nanos = n
	}
	if month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59 {
		return time.Time{}, false
	}
	t := time.Date(year, time.Month(month), day, hour, minute, second, nanos, time.UTC)
	if t.Day() != day { // 31 February and friends normalize into March
		return time.Time{}, false
	}
	return t, true
}

func digits(b []byte) (int, bool) {
	n := 0
	for _, c := range b {
		if !isDigit(c) {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// subNanosecond reports whether the fraction of seconds in an RFC 3339
// string has a non-zero digit past the ninth.
func subNanosecond(b []byte) bool {
	dot := bytes.IndexByte(b, '.')
	if dot < 0 {
		return false
	}
	for i := dot + 1; i < len(b) && isDigit(b[i]); i++ {
		if i-dot > 9 && b[i] != '0' {
			return true
		}
	}
	return false
}
