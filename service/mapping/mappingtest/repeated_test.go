package mappingtest_test

import (
	"testing"

	"github.com/smartassist-bridge/smartassist-bridge/service/mapping/mappingtest"
)

func TestHasRepeatedKey(t *testing.T) {
	tests := []struct {
		doc  string
		want bool
	}{
		{`{"a":1,"b":2}`, false},
		{`{"a":1,"a":2}`, true},
		{`{"q":[{"id":1},{"id":2}],"p":{"id":3}}`, false}, // the same key in different objects
		{`{"q":[{"id":1,"id":2}]}`, true},
		{`{"a":{"b":1},"b":{"a":2}}`, false},
		{`{"a":{"b":1,"c":{"b":2},"b":3}}`, true},
		{`not json`, false},
	}
	for _, tt := range tests {
		if got := mappingtest.HasRepeatedKey([]byte(tt.doc)); got != tt.want {
			t.Errorf("HasRepeatedKey(%s) = %v, want %v", tt.doc, got, tt.want)
		}
	}
}
