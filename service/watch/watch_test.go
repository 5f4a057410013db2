package watch_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	smartassistv1 "github.com/smartassist-bridge/smartassist-bridge/gen/smartassist/v1"
	"github.com/smartassist-bridge/smartassist-bridge/internal/rpctest"
	"github.com/smartassist-bridge/smartassist-bridge/service/watch"
)

// TestMain fails the package if a poller, a relay or a subscriber's
// callback outlives its test.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// source is a fake upstream conversation that tests change, counting
// fetches.
type source struct {
	mu      sync.Mutex
	conv    *smartassistv1.Conversation
	errs    []error // returned, one per fetch, before conv
	fetches atomic.Int64
}

func newSource() *source {
	return &source{conv: &smartassistv1.Conversation{
		Id:        "c-1",
		Status:    "ACTIVE",
		Priority:  proto.Int32(1),
		UpdatedAt: timestamppb.New(time.Unix(1700000000, 0)),
	}}
}

// fetch counts the fetches that would reach upstream: those whose context
// is live.
func (s *source) fetch(ctx context.Context) (*smartassistv1.Conversation, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.fetches.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.errs) > 0 {
		err := s.errs[0]
		s.errs = s.errs[1:]
		return nil, err
	}
	return proto.CloneOf(s.conv), nil
}

// change alters the conversation.
func (s *source) change(f func(c *smartassistv1.Conversation)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s.conv)
}

func (s *source) current() *smartassistv1.Conversation {
	s.mu.Lock()
	defer s.mu.Unlock()
	return proto.CloneOf(s.conv)
}

// next returns the next update, failing the test if none comes soon or
// the channel closes.
func next(t *testing.T, ch <-chan watch.Update) watch.Update {
	t.Helper()
	select {
	case u, ok := <-ch:
		if !ok {
			t.Fatal("the watch ended, want another update")
		}
		return u
	case <-time.After(5 * time.Second):
		t.Fatal("no update within 5s")
	}
	panic("unreachable")
}

// ended fails the test unless ch closes soon without another update.
func ended(t *testing.T, ch <-chan watch.Update) {
	t.Helper()
	select {
	case u, ok := <-ch:
		if ok {
			t.Fatalf("got %+v, want the end of the watch", u)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the watch did not end within 5s")
	}
}

// quiet fails the test if ch yields anything now.
func quiet(t *testing.T, ch <-chan watch.Update) {
	t.Helper()
	select {
	case u, ok := <-ch:
		t.Fatalf("got %+v (open: %v), want nothing", u, ok)
	default:
	}
}

func checkState(t *testing.T, u watch.Update, want *smartassistv1.Conversation) {
	t.Helper()
	if u.Err != nil {
		t.Fatalf("update: %v, want a state", u.Err)
	}
	if !proto.Equal(u.Conversation, want) {
		t.Fatalf("state %v, want %v", u.Conversation, want)
	}
}

// TestEmitsOnlyOnChange: the first state at once, nothing while polls see
// the same state, each change (content or updatedAt alone) once, and the
// end right after the CLOSED state.
func TestEmitsOnlyOnChange(t *testing.T) {
	t.Parallel()
	src := newSource()
	hub := watch.New(watch.Config{MinInterval: 20 * time.Millisecond})
	defer hub.Close()
	ch := hub.Subscribe(t.Context(), "k", src.fetch)
	checkState(t, next(t, ch), src.current())

	polled := func(n int64) {
		from := src.fetches.Load()
		rpctest.Eventually(t, "more polls", func() bool { return src.fetches.Load() >= from+n })
	}
	polled(5)
	quiet(t, ch)

	changes := []struct {
		name   string
		change func(c *smartassistv1.Conversation)
	}{
		{"content", func(c *smartassistv1.Conversation) { c.Priority = proto.Int32(5) }},
		{"updatedAt alone", func(c *smartassistv1.Conversation) { c.UpdatedAt = timestamppb.New(time.Unix(1700000060, 0)) }},
	}
	for _, c := range changes {
		src.change(c.change)
		checkState(t, next(t, ch), src.current())
		polled(3)
		quiet(t, ch)
	}

	src.change(func(c *smartassistv1.Conversation) { c.Status = "CLOSED" })
	checkState(t, next(t, ch), src.current())
	ended(t, ch)
	rpctest.Eventually(t, "the poller stops after CLOSED", func() bool { return hub.Pollers() == 0 })
	after := src.fetches.Load() // the poller has ended: no fetch is in flight
	time.Sleep(100 * time.Millisecond)
	if n := src.fetches.Load(); n != after {
		t.Errorf("%d fetches after the conversation closed", n-after)
	}
}

// TestOnePollerForManySubscribers: 100 watchers of one key share one
// poller, which fetches about once per interval; a watcher joining later
// gets the latest state without a fetch.
func TestOnePollerForManySubscribers(t *testing.T) {
	t.Parallel()
	const interval = 20 * time.Millisecond
	src := newSource()
	var maxPollers atomic.Int64
	hub := watch.New(watch.Config{MinInterval: interval, Hooks: watch.Hooks{Pollers: func(n int) {
		for m := maxPollers.Load(); int64(n) > m && !maxPollers.CompareAndSwap(m, int64(n)); m = maxPollers.Load() {
		}
	}}})
	defer hub.Close()

	chans := make([]<-chan watch.Update, 100)
	for i := range chans {
		chans[i] = hub.Subscribe(t.Context(), "k", src.fetch)
	}
	for _, ch := range chans {
		checkState(t, next(t, ch), src.current())
	}
	if n := hub.Pollers(); n != 1 {
		t.Errorf("Pollers() = %d with 100 subscribers of one key, want 1", n)
	}

	start, from := time.Now(), src.fetches.Load()
	time.Sleep(300 * time.Millisecond)
	fetched, elapsed := src.fetches.Load()-from, time.Since(start)
	// One poller fetches at most once per interval; 100 would fetch ~100
	// times as often.
	if limit := int64(elapsed/interval) + 2; fetched > limit {
		t.Errorf("%d fetches in %v at a %v interval, want at most %d (one poller)", fetched, elapsed, interval, limit)
	}
	t.Logf("100 subscribers: %d fetches in %v", fetched, elapsed)

	src.change(func(c *smartassistv1.Conversation) { c.Priority = proto.Int32(9) })
	for _, ch := range chans {
		checkState(t, next(t, ch), src.current())
	}
	if m := maxPollers.Load(); m != 1 {
		t.Errorf("at most %d pollers at once, want 1", m)
	}
}

// TestLatestWithoutFetch: a subscriber joining a running poller gets the
// latest state at once, without a fetch.
func TestLatestWithoutFetch(t *testing.T) {
	t.Parallel()
	src := newSource()
	hub := watch.New(watch.Config{MinInterval: time.Hour})
	defer hub.Close()
	first := hub.Subscribe(t.Context(), "k", src.fetch)
	checkState(t, next(t, first), src.current())
	late := hub.Subscribe(t.Context(), "k", src.fetch)
	checkState(t, next(t, late), src.current())
	if n := src.fetches.Load(); n != 1 {
		t.Errorf("%d fetches, want 1", n)
	}
}

// TestLastSubscriberLeavingStops: watchers leaving cost nothing, and the
// last one leaving stops the poller: no more fetches, and its fetch in
// flight is cancelled.
func TestLastSubscriberLeavingStops(t *testing.T) {
	t.Parallel()
	t.Run("polling", func(t *testing.T) {
		t.Parallel()
		src := newSource()
		hub := watch.New(watch.Config{MinInterval: 20 * time.Millisecond})
		defer hub.Close()
		var cancels []context.CancelFunc
		var chans []<-chan watch.Update
		for range 3 {
			ctx, cancel := context.WithCancel(t.Context())
			cancels = append(cancels, cancel)
			ch := hub.Subscribe(ctx, "k", src.fetch)
			checkState(t, next(t, ch), src.current())
			chans = append(chans, ch)
		}
		for i := range 2 {
			cancels[i]()
			ended(t, chans[i])
		}
		from := src.fetches.Load()
		rpctest.Eventually(t, "the poller goes on for the last subscriber", func() bool { return src.fetches.Load() > from+2 })
		if n := hub.Pollers(); n != 1 {
			t.Errorf("Pollers() = %d with one subscriber left, want 1", n)
		}

		cancels[2]()
		ended(t, chans[2])
		if n := hub.Pollers(); n != 0 {
			t.Errorf("Pollers() = %d after the last subscriber left, want 0", n)
		}
		stopped := src.fetches.Load()
		time.Sleep(150 * time.Millisecond)
		if n := src.fetches.Load(); n != stopped {
			t.Errorf("%d fetches after the last subscriber left", n-stopped)
		}
	})
	t.Run("fetch in flight", func(t *testing.T) {
		t.Parallel()
		started, cancelled := make(chan struct{}), make(chan error, 1)
		hub := watch.New(watch.Config{MinInterval: 20 * time.Millisecond})
		defer hub.Close()
		ctx, cancel := context.WithCancel(t.Context())
		ch := hub.Subscribe(ctx, "k", func(ctx context.Context) (*smartassistv1.Conversation, error) {
			close(started)
			<-ctx.Done()
			cancelled <- ctx.Err()
			return nil, ctx.Err()
		})
		<-started
		cancel()
		ended(t, ch)
		select {
		case err := <-cancelled:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("fetch ended with %v, want cancelled", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the fetch in flight was not cancelled")
		}
	})
}

// TestFetchErrors: an error that is not retryable ends the watch with it;
// retryable ones keep the poller going until a state comes.
func TestFetchErrors(t *testing.T) {
	t.Parallel()
	errTransient := errors.New("upstream unavailable")
	errFatal := errors.New("conversation not found")
	tests := []struct {
		name      string
		errs      []error
		wantErr   error // nil: the state after the errors
		minFetchs int64
	}{
		{"not retryable", []error{errFatal}, errFatal, 1},
		{"retryable, then a state", []error{errTransient, errTransient, errTransient}, nil, 4},
		{"retryable, then not", []error{errTransient, errFatal}, errFatal, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			src := newSource()
			src.errs = tt.errs
			hub := watch.New(watch.Config{
				MinInterval: 10 * time.Millisecond,
				Retryable:   func(err error) bool { return errors.Is(err, errTransient) },
			})
			defer hub.Close()
			ch := hub.Subscribe(t.Context(), "k", src.fetch)
			u := next(t, ch)
			if tt.wantErr != nil {
				if !errors.Is(u.Err, tt.wantErr) {
					t.Fatalf("update %+v, want error %v", u, tt.wantErr)
				}
				ended(t, ch)
			} else {
				checkState(t, u, src.current())
			}
			if n := src.fetches.Load(); n < tt.minFetchs {
				t.Errorf("%d fetches, want at least %d", n, tt.minFetchs)
			}
		})
	}
}

// TestSlowWatcherGetsLatest: a watcher that does not read while the state
// changes many times then reads the latest state, and only it.
func TestSlowWatcherGetsLatest(t *testing.T) {
	t.Parallel()
	src := newSource()
	hub := watch.New(watch.Config{MinInterval: 5 * time.Millisecond})
	defer hub.Close()
	ch := hub.Subscribe(t.Context(), "k", src.fetch)
	for i := range 5 {
		src.change(func(c *smartassistv1.Conversation) { c.Priority = proto.Int32(int32(10 + i)) })
		from := src.fetches.Load()
		rpctest.Eventually(t, "a poll sees the change", func() bool { return src.fetches.Load() > from+1 })
	}
	checkState(t, next(t, ch), src.current())
	quiet(t, ch)
}

// TestSubscribeAfterClose: a closed Hub hands out closed channels.
func TestSubscribeAfterClose(t *testing.T) {
	t.Parallel()
	src := newSource()
	hub := watch.New(watch.Config{MinInterval: 10 * time.Millisecond})
	ch := hub.Subscribe(t.Context(), "k", src.fetch)
	checkState(t, next(t, ch), src.current())
	hub.Close()
	ended(t, ch)
	ended(t, hub.Subscribe(t.Context(), "k", src.fetch))
}

// TestInterval: the adaptive interval is given the number of pollers and
// can slow polls down, never speed them past MinInterval.
func TestInterval(t *testing.T) {
	t.Parallel()
	const minInterval = 20 * time.Millisecond
	tests := []struct {
		name     string
		interval time.Duration // what Interval answers
		check    func(t *testing.T, fetched int64, elapsed time.Duration)
	}{
		{"shorter than MinInterval is raised to it", time.Nanosecond, func(t *testing.T, fetched int64, elapsed time.Duration) {
			if limit := int64(elapsed/minInterval) + 2; fetched > limit {
				t.Errorf("%d fetches of one key in %v, want at most %d", fetched, elapsed, limit)
			}
		}},
		{"longer slows polls", time.Hour, func(t *testing.T, fetched int64, _ time.Duration) {
			if fetched != 0 {
				t.Errorf("%d fetches after the first, want none within the hour", fetched)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var maxActive atomic.Int64
			hub := watch.New(watch.Config{MinInterval: minInterval, Interval: func(active int) time.Duration {
				if int64(active) > maxActive.Load() {
					maxActive.Store(int64(active))
				}
				return tt.interval
			}})
			defer hub.Close()
			sources := []*source{newSource(), newSource(), newSource()}
			for i, src := range sources {
				checkState(t, next(t, hub.Subscribe(t.Context(), fmt.Sprint("k", i), src.fetch)), src.current())
			}
			from, start := sources[0].fetches.Load(), time.Now()
			time.Sleep(200 * time.Millisecond)
			tt.check(t, sources[0].fetches.Load()-from, time.Since(start))
			if n := maxActive.Load(); n != 3 {
				t.Errorf("Interval saw at most %d active pollers, want 3", n)
			}
		})
	}
}
