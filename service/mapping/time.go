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
	if sec, nsec, ok := parseUTC(b); ok {
		return sec, nsec, true
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

// parseUTC reads exactly YYYY-MM-DDTHH:MM:SS[.fraction]Z, with calendar
// arithmetic instead of time.Date: this runs for every instant of every
// conversation.
func parseUTC(b []byte) (sec int64, nsec int32, ok bool) {
	if len(b) < 20 || b[len(b)-1] != 'Z' || b[4] != '-' || b[7] != '-' || b[10] != 'T' || b[13] != ':' || b[16] != ':' {
		return 0, 0, false
	}
	year, ok1 := digits(b[0:4])
	month, ok2 := digits(b[5:7])
	day, ok3 := digits(b[8:10])
	hour, ok4 := digits(b[11:13])
	minute, ok5 := digits(b[14:16])
	second, ok6 := digits(b[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) {
		return 0, 0, false
	}
	nanos := 0
	switch frac := b[19 : len(b)-1]; {
	case len(frac) == 0:
	case frac[0] != '.' || len(frac) < 2 || len(frac) > 10:
		return 0, 0, false
	default:
		n, ok := digits(frac[1:])
		if !ok {
			return 0, 0, false
		}
		for range 10 - len(frac) {
			n *= 10
		}
		nanos = n
	}
	if month < 1 || month > 12 || day < 1 || day > daysIn(year, month) || hour > 23 || minute > 59 || second > 59 {
		return 0, 0, false
	}
	days := daysSinceEpoch(year, month, day)
	return days*86400 + int64(hour*3600+minute*60+second), int32(nanos), true
}

func daysIn(year, month int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// daysSinceEpoch counts days from 1970-01-01 to a proleptic Gregorian date
// (year 0 to 9999), by the civil-from-days method of Howard Hinnant's
// "chrono-compatible low-level date algorithms".
func daysSinceEpoch(year, month, day int) int64 {
	if month <= 2 {
		year--
	}
	era := year / 400
	if year < 0 {
		era = (year - 399) / 400
	}
	yoe := year - era*400                     // [0, 399]
	doy := (153*((month+9)%12)+2)/5 + day - 1 // [0, 365], from March 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy    // [0, 146096]
	return int64(era)*146097 + int64(doe) - 719468
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
