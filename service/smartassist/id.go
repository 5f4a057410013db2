package smartassist

import (
	"fmt"
	"unicode/utf8"
)

// maxIDLen is the longest id ValidateID accepts. SmartAssist ids seen in the
// wild (stream ids like "st-…", conversation ids like "c-…") are well under
// 64 characters; 128 leaves headroom without letting a caller push
// kilobytes into the upstream URL and our logs.
const maxIDLen = 128

// maxEchoRunes bounds how much of a rejected value an error message repeats,
// so that a hostile or accidental megabyte-long id cannot flood the logs.
const maxEchoRunes = 32

// ValidateID reports whether s is a usable SmartAssist id: 1 to 128
// characters of [A-Za-z0-9._-], and neither "." nor "..".
//
// The allowed characters are exactly the RFC 3986 "unreserved" set minus
// "~", so a valid id is its own path escape: it can never add a path segment
// ("/"), start a query ("?") or fragment ("#"), or be decoded into something
// else ("%2e%2e") by a proxy in front of SmartAssist. "." and ".." are
// rejected because they are dot-segments that URL normalisation removes.
//
// The returned error names field and quotes at most the first 32 characters of
// the rejected value.
func ValidateID(field, s string) error {
	if s == "." || s == ".." {
		return fmt.Errorf(`%s: must not be "." or ".."`, field)
	}
	if len(s) == 0 || len(s) > maxIDLen || !idChars(s) {
		return fmt.Errorf("%s: must be 1 to %d characters of [A-Za-z0-9._-], got %s", field, maxIDLen, quoteTruncated(s, maxEchoRunes))
	}
	return nil
}

// idChars reports whether every byte of s is in [A-Za-z0-9._-]. Checking
// bytes rather than runes is deliberate: any non-ASCII rune has a byte >= 0x80
// and is rejected.
func idChars(s string) bool {
	for i := range len(s) {
		switch c := s[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// quoteTruncated quotes the first n runes of s with %q, marking a cut with
// "...". Invalid UTF-8 counts one rune per byte, so the output stays bounded
// whatever s holds.
func quoteTruncated(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprintf("%q...", s[:runePrefix(s, n)])
}
