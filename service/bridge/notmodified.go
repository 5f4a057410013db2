package bridge

import (
	"net/http"
	"strings"
)

// notModified answers a Connect GET with 304 Not Modified when the
// handler's answer carries the ETag the browser already has
// (If-None-Match). The handler decides the ETag (from the cached
// conversation), so this only compares, at the moment the status is
// written, and then drops the body. Other requests pass untouched.
func notModified(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inm := r.Header.Get("If-None-Match")
		if r.Method != http.MethodGet || inm == "" {
			next.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(&notModifiedWriter{ResponseWriter: w, ifNoneMatch: inm}, r)
	})
}

type notModifiedWriter struct {
	http.ResponseWriter
	ifNoneMatch string
	wroteHeader bool
	suppress    bool
}

func (w *notModifiedWriter) WriteHeader(code int) {
	if w.wroteHeader {
		return
	}
	w.wroteHeader = true
	h := w.Header()
	if code == http.StatusOK && etagMatches(w.ifNoneMatch, h.Get("ETag")) {
		w.suppress = true
		// RFC 9110 §15.4.5: a 304 carries the validators and caching
		// headers a 200 would, and no content headers.
		h.Del("Content-Length")
		h.Del("Content-Type")
		h.Del("Content-Encoding")
		w.ResponseWriter.WriteHeader(http.StatusNotModified)
		return
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *notModifiedWriter) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.suppress {
		return len(p), nil
	}
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection's deadlines
// and flushing.
func (w *notModifiedWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *notModifiedWriter) Flush() {
	if !w.suppress {
		if f, ok := w.ResponseWriter.(http.Flusher); ok {
			f.Flush()
		}
	}
}

// etagMatches applies If-None-Match's weak comparison (RFC 9110 §13.1.2)
// to a list of entity tags or "*".
func etagMatches(ifNoneMatch, etag string) bool {
	if etag == "" {
		return false
	}
	etag = strings.TrimPrefix(etag, "W/")
	for _, candidate := range strings.Split(ifNoneMatch, ",") {
		candidate = strings.TrimSpace(candidate)
		if candidate == "*" || strings.TrimPrefix(candidate, "W/") == etag {
			return true
		}
	}
	return false
}
