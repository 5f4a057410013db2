package bridge

import "testing"

func TestETagMatches(t *testing.T) {
	t.Parallel()
	tests := []struct {
		ifNoneMatch, etag string
		want              bool
	}{
		{`"a"`, `"a"`, true},
		{`"b", "a"`, `"a"`, true},
		{`W/"a"`, `"a"`, true},
		{`*`, `"a"`, true},
		{`"a"`, `"b"`, false},
		{`"a"`, ``, false},
		{`a`, `"a"`, false},
	}
	for _, tt := range tests {
		if got := etagMatches(tt.ifNoneMatch, tt.etag); got != tt.want {
			t.Errorf("etagMatches(%q, %q) = %v, want %v", tt.ifNoneMatch, tt.etag, got, tt.want)
		}
	}
}
