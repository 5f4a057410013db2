package bridge

import (
	"net/http"
	"sync"
	"time"
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
//   - a unary response must be written within write of its first byte, so
//     a client that stops reading releases its handler: the deadline is
//     armed at the first write and stays until the call ends;
//   - a stream (a path in streaming) lives as long as each of its writes
//     goes through, however long it stays quiet between them (a watched
//     conversation may not change for minutes): each write and flush must
//     complete within write. The deadline is armed before the first write
//     after a flush and lifted after each flush: on HTTP/2 it is a timer
//     that resets the stream when it fires, writing or not, so it must
//     not stay armed while a stream is quiet, and a stream only goes quiet
//     after a flush (Connect and gRPC flush each streamed message). It is
//     armed once more when the handler returns, for the server's last
//     flush.
//
// On HTTP/2 every deadline set is a message to the connection's
// goroutine: a unary call sets two (read and write), where arming around
// each flush as for a stream took four and arming per write about eight
// (bench/run, cache-hit rows).
//
// Server.WriteTimeout cannot do this: it bounds the whole exchange from the
// request's start, which would cut every long-lived stream.
func boundTime(h http.Handler, read, write time.Duration, streaming map[string]bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		// HTTP/1.1 keeps a connection's deadlines from one request to the
		// next; the previous response's must not cut this one's wait for
		// its upstream. (HTTP/2 streams start without any.)
		if r.ProtoMajor == 1 {
			_ = rc.SetWriteDeadline(time.Time{})
		}
		if r.Body != nil && r.Body != http.NoBody {
			// ErrNotSupported is left to the server's own bounds.
			_ = rc.SetReadDeadline(time.Now().Add(read))
		}
		bw := &boundedWriter{ResponseWriter: w, rc: rc, timeout: write, unary: !streaming[r.URL.Path]}
		if bw.unary {
			defer bw.arm() // for the server's last flush, if nothing was written
		} else {
			defer bw.rearm()
		}
		h.ServeHTTP(bw, r)
	})
}

// boundedWriter bounds each write and flush by timeout. Like any
// http.ResponseWriter it is not for concurrent use.
type boundedWriter struct {
	http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
	armed   bool // a write deadline is set and not yet lifted
	unary   bool // armed once, never lifted
}

// arm sets the write deadline unless one is already running.
func (w *boundedWriter) arm() {
	if !w.armed {
		w.rearm()
	}
}

// rearm sets a fresh write deadline.
func (w *boundedWriter) rearm() {
	_ = w.rc.SetWriteDeadline(time.Now().Add(w.timeout))
	w.armed = true
}

func (w *boundedWriter) disarm() {
	_ = w.rc.SetWriteDeadline(time.Time{})
	w.armed = false
}

func (w *boundedWriter) WriteHeader(code int) {
	w.arm()
	w.ResponseWriter.WriteHeader(code)
}

func (w *boundedWriter) Write(p []byte) (int, error) {
	w.arm()
	return w.ResponseWriter.Write(p)
}

// Flush flushes what was written; Connect needs an http.Flusher for
// server streams.
func (w *boundedWriter) Flush() {
	_ = w.FlushError()
}

// FlushError is what http.ResponseController calls to flush.
func (w *boundedWriter) FlushError() error {
	w.arm()
	if !w.unary {
		defer w.disarm()
	}
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
// DrainDelay: long-lived streams must then end with UNAVAILABLE, so
// that their clients resume on another replica instead of being cut when
// ShutdownTimeout runs out. A stream that starts after it is closed should
// end at once the same way. Unary calls ignore it: they are given
// ShutdownTimeout to finish.
func (b *Bridge) Draining() <-chan struct{} { return b.drain.channel() }
