package smartassist_test

import (
	"net/url"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/smartassist-bridge/smartassist-bridge/service/smartassist"
)

func TestValidateID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		id      string
		wantErr string // exact message; empty means valid
	}{
		{name: "typical stream id", id: "st-5f1c0e7a-3b2d-4c1e-9a8f-0d6b2e4c8a1f"},
		{name: "all allowed characters", id: "AZaz09._-"},
		{name: "one character", id: "x"},
		{name: "dots inside", id: "a..b"},
		{name: "three dots", id: "..."},
		{name: "128 characters", id: strings.Repeat("a", 128)},
		{name: "empty", id: "", wantErr: `stream_id: must be 1 to 128 characters of [A-Za-z0-9._-], got ""`},
		{name: "dot", id: ".", wantErr: `stream_id: must not be "." or ".."`},
		{name: "dot dot", id: "..", wantErr: `stream_id: must not be "." or ".."`},
		{name: "parent path", id: "../x", wantErr: `stream_id: must be 1 to 128 characters of [A-Za-z0-9._-], got "../x"`},
		{name: "slash", id: "a/b", wantErr: `stream_id: must be 1 to 128 characters of [A-Za-z0-9._-], got "a/b"`},
		{name: "question mark", id: "a?b", wantErr: `stream_id: must be 1 to 128 characters of [A-Za-z0-9._-], got "a?b"`},
		{name: "hash", id: "a#b", wantErr: `stream_id: must be 1 to 128 characters of [A-Za-z0-9._-], got "a#b"`},
		{name: "percent escape", id: "%2e%2e", wantErr: `stream_id: must be 1 to 128 characters of [A-Za-z0-9._-], got "%2e%2e"`},
		{name: "space", id: "a b", wantErr: `stream_id: must be 1 to 128 characters of [A-Za-z0-9._-], got "a b"`},
		{name: "tilde", id: "a~b", wantErr: `stream_id: must be 1 to 128 characters of [A-Za-z0-9._-], got "a~b"`},
		{name: "newline", id: "a\nb", wantErr: `stream_id: must be 1 to 128 characters of [A-Za-z0-9._-], got "a\nb"`},
		{name: "unicode", id: "ü", wantErr: `stream_id: must be 1 to 128 characters of [A-Za-z0-9._-], got "ü"`},
		{name: "invalid UTF-8", id: "\xff", wantErr: `stream_id: must be 1 to 128 characters of [A-Za-z0-9._-], got "\xff"`},
		{
			name:    "129 characters, echo truncated to 32",
			id:      strings.Repeat("a", 129),
			wantErr: `stream_id: must be 1 to 128 characters of [A-Za-z0-9._-], got "` + strings.Repeat("a", 32) + `"...`,
		},
		{
			name:    "long unicode echo truncated by runes",
			id:      strings.Repeat("ü", 40),
			wantErr: `stream_id: must be 1 to 128 characters of [A-Za-z0-9._-], got "` + strings.Repeat("ü", 32) + `"...`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := smartassist.ValidateID("stream_id", tt.id)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("ValidateID(%q) = %v, want nil", tt.id, err)
			case tt.wantErr != "" && (err == nil || err.Error() != tt.wantErr):
				t.Errorf("ValidateID(%q) = %v, want %s", tt.id, err, tt.wantErr)
			}
		})
	}
}

// validIDPattern is the specification ValidateID must agree with.
var validIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,128}$`)

func FuzzValidateID(f *testing.F) {
	for _, seed := range []string{
		"", ".", "..", "...", "st-1", "c-1", "../x", "a/b", "a?b", "a#b", "%2e%2e",
		"ü", "\xff", "a\x00b", strings.Repeat("a", 128), strings.Repeat("a", 129),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, id string) {
		err := smartassist.ValidateID("conversation_id", id)
		want := validIDPattern.MatchString(id) && id != "." && id != ".."
		if (err == nil) != want {
			t.Fatalf("ValidateID(%q) = %v, want valid = %v", id, err, want)
		}
		if err == nil {
			// A valid id must be inert in a URL path.
			if url.PathEscape(id) != id {
				t.Errorf("valid id %q changes under PathEscape: %q", id, url.PathEscape(id))
			}
			return
		}
		msg := err.Error()
		if !strings.HasPrefix(msg, "conversation_id: ") {
			t.Errorf("error %q does not name the field", msg)
		}
		// The echo is %q of at most 32 runes: each rune takes at most 10
		// bytes quoted (\U0001f600), plus quotes, "..." and the fixed text.
		if limit := len("conversation_id: must be 1 to 128 characters of [A-Za-z0-9._-], got ") + 32*10 + 5; len(msg) > limit {
			t.Errorf("error is %d bytes, want at most %d: %q", len(msg), limit, msg)
		}
		if !utf8.ValidString(msg) {
			t.Errorf("error %q is not valid UTF-8", msg)
		}
	})
}
