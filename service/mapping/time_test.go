package mapping

import (
	"testing"
	"time"
)

// FuzzParseTime holds the allocation-free fast path to time.Parse: both must
// agree on every string, apart from the sub-nanosecond digits time.Parse
// rounds away and we refuse.
func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"2023-05-22T04:55:05.350Z", "2023-05-22T04:55:05Z", "2023-02-31T00:00:00Z",
		"2023-05-22T10:25:05+05:30", "2023-05-22T04:55:05.1234567891Z", "9999-12-31T23:59:59.999999999Z", "0000-01-01T00:00:00Z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sec, nsec, ok := parseTime([]byte(s))
		want, err := time.Parse(time.RFC3339Nano, s)
		if subNanosecond([]byte(s)) {
			if ok {
				t.Fatalf("parseTime(%q) accepted sub-nanosecond digits", s)
			}
			return
		}
		if ok != (err == nil) {
			t.Fatalf("parseTime(%q) ok=%v, time.Parse error %v", s, ok, err)
		}
		if ok && (sec != want.Unix() || int(nsec) != want.Nanosecond()) {
			t.Fatalf("parseTime(%q) = %d.%09d, time.Parse = %d.%09d", s, sec, nsec, want.Unix(), want.Nanosecond())
		}
	})
}

// TestParseUTCCalendar walks every day of four centuries, leap rules and
// all, and holds the calendar arithmetic to the time package.
func TestParseUTCCalendar(t *testing.T) {
	for d := time.Date(1800, 1, 1, 23, 59, 58, 123000000, time.UTC); d.Year() < 2200; d = d.AddDate(0, 0, 1) {
		s := d.Format("2006-01-02T15:04:05.000Z")
		sec, nsec, ok := parseUTC([]byte(s))
		if !ok || sec != d.Unix() || int(nsec) != d.Nanosecond() {
			t.Fatalf("parseUTC(%q) = %d.%09d %v, want %d.%09d", s, sec, nsec, ok, d.Unix(), d.Nanosecond())
		}
	}
	for _, s := range []string{"2023-02-29T00:00:00Z", "1900-02-29T00:00:00Z", "2023-04-31T00:00:00Z", "2023-13-01T00:00:00Z", "2023-00-01T00:00:00Z", "2023-01-00T00:00:00Z"} {
		if _, _, ok := parseUTC([]byte(s)); ok {
			t.Errorf("parseUTC(%q) accepted an impossible date", s)
		}
	}
	if _, _, ok := parseUTC([]byte("2000-02-29T00:00:00Z")); !ok {
		t.Error("parseUTC rejected 2000-02-29")
	}
}
