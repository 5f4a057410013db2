package quota_test

import (
	"strings"
	"testing"
	"time"

	"github.com/smartassist-bridge/smartassist-bridge/service/quota"
)

func TestParseRate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    quota.Rate
		wantErr string
	}{
		{in: "60/1m", want: quota.Rate{N: 60, Per: time.Minute}},
		{in: "10/500ms", want: quota.Rate{N: 10, Per: 500 * time.Millisecond}},
		{in: "1/24h", want: quota.Rate{N: 1, Per: 24 * time.Hour}},
		{in: "0", want: quota.Rate{}},
		{in: "", wantErr: "want N/DURATION"},
		{in: "60", wantErr: "want N/DURATION"},
		{in: "60/", wantErr: "want N/DURATION"},
		{in: "/1m", wantErr: "want N/DURATION"},
		{in: "0/1m", wantErr: "0 alone disables"},
		{in: "-1/1m", wantErr: "whole number"},
		{in: "+1/1m", wantErr: "whole number"},
		{in: "1.5/1m", wantErr: "whole number"},
		{in: "100001/1m", wantErr: "from 1 to 100000"},
		{in: "99999999999999999999/1m", wantErr: "from 1 to 100000"},
		{in: "60/1", wantErr: "DURATION"},
		{in: "60/-1m", wantErr: "DURATION must be"},
		{in: "60/0s", wantErr: "DURATION must be"},
		{in: "60/25h", wantErr: "DURATION must be"},
		{in: "60/1m/2", wantErr: "DURATION"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := quota.ParseRate(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseRate(%q) = %v, %v; want an error containing %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseRate(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestRateWindow(t *testing.T) {
	t.Parallel()
	tests := []struct {
		rate quota.Rate
		want time.Duration
	}{
		{quota.Rate{N: 60, Per: time.Minute}, time.Minute + 1200*time.Millisecond}, // 2% is larger
		{quota.Rate{N: 10, Per: 10 * time.Second}, 11 * time.Second},               // at least a second
		{quota.Rate{N: 10, Per: 500 * time.Millisecond}, 550 * time.Millisecond},   // a tenth of a short window
	}
	for _, tt := range tests {
		if got := tt.rate.Window(); got != tt.want {
			t.Errorf("%v.Window() = %v; want %v", tt.rate, got, tt.want)
		}
	}
}

func FuzzParseRate(f *testing.F) {
	for _, s := range []string{"60/1m", "0", "10/500ms", "1/24h", "0/1m", "-1/1m", "60/1m0s", "1/1ns", "", "/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := quota.ParseRate(s)
		if err != nil {
			if r != (quota.Rate{}) {
				t.Fatalf("ParseRate(%q) failed (%v) but returned %v", s, err, r)
			}
			return
		}
		if !r.Disabled() && (r.N < 1 || r.N > 100_000 || r.Per < time.Millisecond || r.Per > 24*time.Hour) {
			t.Fatalf("ParseRate(%q) = %v: out of bounds", s, r)
		}
		again, err := quota.ParseRate(r.String())
		if err != nil || again != r {
			t.Fatalf("ParseRate(%q) = %v, but ParseRate(%q) = %v, %v", s, r, r.String(), again, err)
		}
		if _, err := quota.New(quota.Config{Rate: r}); err != nil {
			t.Fatalf("New rejects the parsed rate %v: %v", r, err)
		}
	})
}
