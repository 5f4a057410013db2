package mapping

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
)

// FuzzParseTime holds parseTime to its contract: it accepts what
// time.Parse accepts as RFC 3339 with its fixed widths, within Timestamp
// range, with the same instant, except a fraction with a non-zero digit
// past the ninth, which time.Parse would truncate; and what it accepts has
// exactly the nanoseconds its fraction digits say, whether written after
// '.' or ','.
func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"2023-05-22T04:55:05.350Z", "2023-05-22T04:55:05Z", "2023-02-31T00:00:00Z",
		"2023-05-22T10:25:05+05:30", "2023-05-22T04:55:05.1234567891Z", "2023-05-22T04:55:05,1234567891Z",
		"2023-05-22T04:55:05,123Z", "2023-05-22T04:55:05.1234567890Z", "9999-12-31T23:59:59.999999999Z", "0000-01-01T00:00:00Z",
		"9999-12-31T2:59:59.9Z", "2023-05-22T4:55:05.1234567891Z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sec, nsec, ok := parseTime([]byte(s))
		want, err := time.Parse(time.RFC3339Nano, s)
		frac := fraction(s)
		exact := len(frac) <= 9 || strings.Trim(frac[9:], "0") == ""
		inRange := err == nil && want.UTC().Year() >= 1 && want.UTC().Year() <= 9999
		if ok != (inRange && exact && fixedWidths.MatchString(s)) {
			t.Fatalf("parseTime(%q) ok=%v; time.Parse %v, fraction %q", s, ok, err, frac)
		}
		if !ok {
			return
		}
		if sec != want.Unix() || int(nsec) != want.Nanosecond() {
			t.Fatalf("parseTime(%q) = %d.%09d, time.Parse = %d.%09d", s, sec, nsec, want.Unix(), want.Nanosecond())
		}
		if digits := (frac + "000000000")[:9]; digits != fmt.Sprintf("%09d", nsec) {
			t.Fatalf("parseTime(%q) nanos %09d, fraction digits %q", s, nsec, frac)
		}
	})
}

// fixedWidths is RFC 3339's date and time: time.Parse also takes a
// one-digit hour.
var fixedWidths = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}`)

// fraction returns the digits after the '.' or ',' that follows the
// seconds of an RFC 3339 string, if any.
func fraction(s string) string {
	const at = len("2006-01-02T15:04:05")
	if len(s) <= at || (s[at] != '.' && s[at] != ',') {
		return ""
	}
	end := at + 1
	for end < len(s) && s[end] >= '0' && s[end] <= '9' {
		end++
	}
	return s[at+1 : end]
}
