package logbatch_test

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smartassist-bridge/smartassist-bridge/internal/logbatch"
	"github.com/smartassist-bridge/smartassist-bridge/internal/rpctest"
)

// countingWriter records what reaches it and in how many writes; it fails
// while failing is set.
type countingWriter struct {
	mu      sync.Mutex
	b       strings.Builder
	writes  int
	failing bool
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.failing {
		return 0, errors.New("disk full")
	}
	w.writes++
	return w.b.Write(p)
}

func (w *countingWriter) got() (string, int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String(), w.writes
}

func (w *countingWriter) setFailing(f bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.failing = f
}

func TestWriter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		size  int
		delay time.Duration
		lines []string
		// what has reached the destination right after the writes, with
		// no flush, and in how many writes
		want       string
		wantWrites int
	}{
		{name: "held until the delay", size: 1024, delay: time.Hour, lines: []string{"a\n", "b\n"}, want: "", wantWrites: 0},
		{name: "written through with no delay", size: 1024, delay: 0, lines: []string{"a\n", "b\n"}, want: "a\nb\n", wantWrites: 2},
		{name: "a full buffer is written whole", size: 8, delay: time.Hour, lines: []string{"aaaa\n", "bbbb\n", "c\n"}, want: "aaaa\n", wantWrites: 1},
		{name: "a line larger than the buffer goes through", size: 4, delay: time.Hour, lines: []string{"a\n", "longer line\n"}, want: "a\nlonger line\n", wantWrites: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dst := new(countingWriter)
			w := logbatch.New(dst, tt.size, tt.delay)
			for _, l := range tt.lines {
				if n, err := w.Write([]byte(l)); n != len(l) || err != nil {
					t.Fatalf("Write(%q) = %d, %v", l, n, err)
				}
			}
			if got, writes := dst.got(); got != tt.want || writes != tt.wantWrites {
				t.Errorf("before any flush: %q in %d writes, want %q in %d", got, writes, tt.want, tt.wantWrites)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if got, _ := dst.got(); got != strings.Join(tt.lines, "") {
				t.Errorf("after Close: %q, want every line in order", got)
			}
			// After Close a line is written at once.
			_, _ = w.Write([]byte("late\n"))
			if got, _ := dst.got(); !strings.HasSuffix(got, "late\n") {
				t.Errorf("a write after Close was held: %q", got)
			}
		})
	}
}

// TestWriterFlushesAfterDelay checks that held lines are written, in one
// write, once the delay has passed, without any further call.
func TestWriterFlushesAfterDelay(t *testing.T) {
	t.Parallel()
	dst := new(countingWriter)
	w := logbatch.New(dst, 1024, 20*time.Millisecond)
	defer w.Close()
	start := time.Now()
	_, _ = w.Write([]byte("a\n"))
	_, _ = w.Write([]byte("b\n"))
	if got, _ := dst.got(); got != "" && time.Since(start) < 20*time.Millisecond {
		t.Fatalf("written before the delay: %q", got)
	}
	rpctest.Eventually(t, "the held lines written after the delay", func() bool { got, _ := dst.got(); return got == "a\nb\n" })
	if _, writes := dst.got(); writes != 1 {
		t.Errorf("two lines reached the destination in %d writes, want 1", writes)
	}
}

// TestWriterRecoversFromFailure checks that a failed write loses only what
// it held: later lines are written once the destination works again.
func TestWriterRecoversFromFailure(t *testing.T) {
	t.Parallel()
	dst := new(countingWriter)
	w := logbatch.New(dst, 1024, time.Hour)
	_, _ = w.Write([]byte("lost\n"))
	dst.setFailing(true)
	if err := w.Flush(); err == nil {
		t.Fatal("Flush to a failing destination returned nil")
	}
	dst.setFailing(false)
	_, _ = w.Write([]byte("kept\n"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got, _ := dst.got(); got != "kept\n" {
		t.Errorf("after a failure: %q, want only the later line", got)
	}
}

// TestHandler checks that a warning or an error is written at once,
// together with the lines held before it, and that handlers derived with
// attributes or groups keep doing so.
func TestHandler(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		log  func(*slog.Logger)
		want []string // in the destination right after, in order
	}{
		{name: "info waits", log: func(l *slog.Logger) { l.Info("one") }, want: nil},
		{name: "warning writes what waits", log: func(l *slog.Logger) { l.Info("one"); l.Warn("two") }, want: []string{"msg=one", "msg=two"}},
		{name: "error writes what waits", log: func(l *slog.Logger) { l.Info("one"); l.Error("two") }, want: []string{"msg=one", "msg=two"}},
		{name: "with attributes", log: func(l *slog.Logger) { l.With("k", "v").Warn("two") }, want: []string{"msg=two k=v"}},
		{name: "in a group", log: func(l *slog.Logger) { l.WithGroup("g").Warn("two", "k", "v") }, want: []string{"msg=two g.k=v"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dst := new(countingWriter)
			w := logbatch.New(dst, 1024, time.Hour)
			defer w.Close()
			h := slog.NewTextHandler(w, &slog.HandlerOptions{ReplaceAttr: dropTime})
			tt.log(slog.New(logbatch.Handler(h, w, slog.LevelWarn)))
			got, _ := dst.got()
			lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
			if got == "" {
				lines = nil
			}
			if len(lines) != len(tt.want) {
				t.Fatalf("written at once:\n%s\nwant %d lines", got, len(tt.want))
			}
			for i, want := range tt.want {
				if !strings.Contains(lines[i], want) {
					t.Errorf("line %d = %q, want it to contain %q", i, lines[i], want)
				}
			}
		})
	}
}

func dropTime(_ []string, a slog.Attr) slog.Attr {
	if a.Key == slog.TimeKey {
		return slog.Attr{}
	}
	return a
}

// TestWriterConcurrent checks, under -race, that lines written from many
// goroutines all arrive, whole.
func TestWriterConcurrent(t *testing.T) {
	t.Parallel()
	dst := new(countingWriter)
	w := logbatch.New(dst, 256, time.Millisecond)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				_, _ = fmt.Fprintf(w, "goroutine %d line %03d\n", g, i)
			}
		})
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got, writes := dst.got()
	lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
	if len(lines) != 8*200 {
		t.Fatalf("%d lines arrived, want %d", len(lines), 8*200)
	}
	seen := map[string]bool{}
	for _, l := range lines {
		var g, i int
		if n, err := fmt.Sscanf(l, "goroutine %d line %d", &g, &i); n != 2 || err != nil || seen[l] {
			t.Fatalf("line %q is broken or repeated", l)
		}
		seen[l] = true
	}
	if writes >= len(lines) {
		t.Errorf("%d lines took %d writes: nothing was batched", len(lines), writes)
	}
}
