package smartassist

import (
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzListQuery checks that whatever a caller puts in a ListRequest, either
// it is refused or the query sent upstream says exactly that and nothing
// else: the path stays the list path, no parameter appears that was not
// asked for, and every value reads back unchanged.
func FuzzListQuery(f *testing.F) {
	// fields and statuses are "\n"-separated lists.
	f.Add(0, 0, "", "", "", "")
	f.Add(20, 10, "status\nuserInfo.caller\n_id", "OPEN\nACTIVE\nOPEN", "audiocodes", "en-US")
	f.Add(-1, 5, "a,b", "closed", "rt m", "en?x=1")
	f.Add(1, -1, "", "OPEN&limit=1000", "#frag", "../..")
	f.Add(0, 1, "ü", "CLOSED", "%2e", "\r\n")
	f.Fuzz(func(t *testing.T, skip, limit int, fields, statuses, source, language string) {
		r := ListRequest{StreamID: "st-1", Skip: skip, Limit: limit, Source: source, Language: language}
		if fields != "" {
			r.Fields = strings.Split(fields, "\n")
		}
		if statuses != "" {
			r.Statuses = strings.Split(statuses, "\n")
		}
		q, err := r.query()
		if err != nil {
			if msg := err.Error(); !utf8.ValidString(msg) || len(msg) > 512 {
				t.Errorf("error is %d bytes or not UTF-8: %q", len(msg), msg)
			}
			return
		}
		target := "https://smartassist.example" + publicPath + "st-1/conversations?" + q.Encode()
		u, err := url.Parse(target)
		if err != nil {
			t.Fatalf("url.Parse(%q): %v", target, err)
		}
		if u.Path != publicPath+"st-1/conversations" || u.Fragment != "" || u.Host != "smartassist.example" {
			t.Fatalf("target %q: path %q, fragment %q, host %q", target, u.Path, u.Fragment, u.Host)
		}
		got, err := url.ParseQuery(u.RawQuery)
		if err != nil {
			t.Fatalf("ParseQuery(%q): %v", u.RawQuery, err)
		}
		want := url.Values{}
		if skip > 0 {
			want.Set("skip", strconv.Itoa(skip))
		}
		if limit > 0 {
			want.Set("limit", strconv.Itoa(limit))
		}
		if len(r.Fields) > 0 {
			want.Set("fields", strings.Join(r.Fields, ","))
		}
		for _, s := range r.Statuses {
			if !slices.Contains(want["status"], s) {
				want.Add("status", s)
			}
		}
		if source != "" {
			want.Set("source", source)
		}
		if language != "" {
			want.Set("language", language)
		}
		if got.Encode() != want.Encode() {
			t.Fatalf("query = %q, want %q", got.Encode(), want.Encode())
		}
		// The comma-joined fields split back into the same list.
		if len(r.Fields) > 0 && !slices.Equal(strings.Split(got.Get("fields"), ","), r.Fields) {
			t.Fatalf("fields %q do not split back into %q", got.Get("fields"), r.Fields)
		}
		for _, s := range got["status"] {
			if !slices.Contains(conversationStatuses, s) {
				t.Fatalf("status %q sent", s)
			}
		}
	})
}
