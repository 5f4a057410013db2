package bridge

import (
	"net/http"
	"sync"
	"time"

	"connectrpc.com/connect/v2"
)

// Default time bounds of one request on the listener.
const (
	defaultRequestReadTimeout   = 30 * time.Second
	defaultResponseWriteTimeout = 30 * time.Second
	defaultIdleTimeout          = 2 * time.Minute
)

// boundTime gives every request its own deadlines, through
// http.ResponseController so that they apply per request on HTTP/1.1 and
// per stream on HTTP/2:
//
//   - the request body must arrive within read of the request's start.
//     Nothing needs lifting once it has: on HTTP/1.1 the server clears the
//     connection's read deadline itself when it starts watching for a
//     hang-up at the end of the body, and on HTTP/2 a stream's deadline
//     only fails reads of a body that has not ended. A request without a
//     body gets no read deadline: on HTTP/1.1 that hang-up watch is
//     already running, and a deadline would cancel a long stream;
//   - once the response starts, each write and flush must complete within
//     write of the previous progress. A unary response is thus written
//     within a bound, a server stream lives as long as it keeps making
//     progress, and a client that stops reading releases its handler.
//
// Server.WriteTimeout cannot do this: it bounds the whole exchange from the
// request's start, which would cut every long-lived stream.
func boundTime(h http.Handler, read, write time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		// HTTP/1.1 keeps a connection's deadlines from one request to the
		// next; the previous response's must not cut this one's wait for
		// its upstream. (HTTP/2 streams start without any.)
		_ = rc.SetWriteDeadline(time.Time{})
		if r.Body != nil && r.Body != http.NoBody {
			// ErrNotSupported is left to the server's own bounds.
			_ = rc.SetReadDeadline(time.Now().Add(read))
		}
		h.ServeHTTP(&boundedWriter{ResponseWriter: w, rc: rc, timeout: write}, r)
	})
}

// boundedWriter moves the write deadline forward on every write and flush.
// Moving it costs a message to the connection's goroutine on HTTP/2, so it
// moves at most every timeout/16: the bound a stalled write gets is then
// between 15/16 and all of timeout.
type boundedWriter struct {
	http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
	mu      sync.Mutex // handlers may flush from another goroutine than they write
	moved   time.Time  // when the deadline was last set; zero before the first write
}

// progress sets the write deadline timeout from now, unless it was set very
// recently.
func (w *boundedWriter) progress() {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := time.Now()
	if !w.moved.IsZero() && now.Sub(w.moved) < w.timeout/16 {
		return
	}
	w.moved = now
	_ = w.rc.SetWriteDeadline(now.Add(w.timeout))
}

func (w *boundedWriter) WriteHeader(code int) {
	w.progress()
	w.ResponseWriter.WriteHeader(code)
}

func (w *boundedWriter) Write(p []byte) (int, error) {
	w.progress()
	return w.ResponseWriter.Write(p)
}

// Flush flushes what was written; Connect needs an http.Flusher for
// server streams.
func (w *boundedWriter) Flush() {
	_ = w.FlushError()
}

// FlushError is what http.ResponseController calls to flush.
func (w *boundedWriter) FlushError() error {
	w.progress()
	return w.rc.Flush()
}

// Unwrap lets http.ResponseController reach the server's writer.
func (w *boundedWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// drainSignal is closed when the server starts closing. Its zero value is
// ready to use.
type drainSignal struct {
	once sync.Once
	ch   chan struct{}
	mu   sync.Mutex
}

func (d *drainSignal) channel() chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ch == nil {
		d.ch = make(chan struct{})
	}
	return d.ch
}

func (d *drainSignal) close() {
	ch := d.channel()
	d.once.Do(func() { close(ch) })
}

// Draining is closed when Serve starts closing the listener, after
// DrainDelay: long-lived streams must then end, with DrainingError, so
// that their clients resume on another replica instead of being cut when
// ShutdownTimeout runs out. A stream that starts after it is closed should
// end at once the same way. Unary calls ignore it: they are given
// ShutdownTimeout to finish.
func (b *Bridge) Draining() <-chan struct{} { return b.drain.channel() }

// DrainingError is the error a stream ends with when the server drains:
// UNAVAILABLE, which gRPC and Connect clients treat as safe to retry.
func DrainingError() *connect.Error {
	return connect.NewError(connect.CodeUnavailable, "the server is shutting down; reconnect to resume")
}
