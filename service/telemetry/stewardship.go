package telemetry

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Stewardship are the metrics of how the bridge spends SmartAssist's
// quota: the cache, coalescing, the per-account budget, Redis, the watch
// pollers and caller authentication. No id, account or subject is ever a
// label.
type Stewardship struct {
	CacheLookups     *prometheus.CounterVec // result: hit, shared_hit, miss
	CacheEvictions   prometheus.Counter
	CacheBytes       prometheus.Gauge
	CoalescedWaiters prometheus.Counter
	QuotaWaits       prometheus.Histogram
	QuotaRefusals    prometheus.Counter
	QuotaBackoffs    prometheus.Counter
	RedisErrors      *prometheus.CounterVec // component: cache, quota, watch
	RedisDegraded    *prometheus.GaugeVec   // component; 1 while working without Redis
	WatchPollers     prometheus.Gauge
	CallerRefusals   prometheus.Counter
}

func newStewardship() *Stewardship {
	return &Stewardship{
		CacheLookups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "cache_lookups_total",
			Help: "Conversation reads, by result: hit (this replica's cache), shared_hit (Redis), miss (fetched from SmartAssist).",
		}, []string{"result"}),
		CacheEvictions: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "cache_evictions_total",
			Help: "Conversations evicted from this replica's cache to stay within --cache-max-bytes.",
		}),
		CacheBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Name: "cache_bytes",
			Help: "Encoded bytes of the conversations in this replica's cache.",
		}),
		CoalescedWaiters: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "coalesced_waiters_total",
			Help: "Reads that waited for another read's upstream fetch instead of making their own.",
		}),
		QuotaWaits: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace, Name: "quota_wait_seconds",
			Help:    "Time upstream requests waited for a slot in the account's budget (--upstream-rate).",
			Buckets: []float64{.01, .05, .1, .5, 1, 2.5, 5, 10, 30, 60},
		}),
		QuotaRefusals: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "quota_refusals_total",
			Help: "Calls refused with RESOURCE_EXHAUSTED because the budget had no slot before their deadline.",
		}),
		QuotaBackoffs: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "quota_backoffs_total",
			Help: "Account-wide back-offs after SmartAssist answered 429.",
		}),
		RedisErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "redis_errors_total",
			Help: "Failed or timed-out Redis operations, by component (cache, quota, watch).",
		}, []string{"component"}),
		RedisDegraded: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "redis_degraded",
			Help: "1 while a component works without Redis (local cache, local budget of --upstream-rate / --replicas).",
		}, []string{"component"}),
		WatchPollers: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Name: "watch_pollers",
			Help: "Upstream pollers running on this replica for watched conversations.",
		}),
		CallerRefusals: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "caller_auth_refusals_total",
			Help: "Calls refused with UNAUTHENTICATED because the caller's JWT was missing or invalid.",
		}),
	}
}

func (s *Stewardship) collectors() []prometheus.Collector {
	return []prometheus.Collector{s.CacheLookups, s.CacheEvictions, s.CacheBytes, s.CoalescedWaiters,
		s.QuotaWaits, s.QuotaRefusals, s.QuotaBackoffs, s.RedisErrors, s.RedisDegraded, s.WatchPollers, s.CallerRefusals}
}

// ObserveQuotaWait records one wait for a budget slot.
func (s *Stewardship) ObserveQuotaWait(d time.Duration) { s.QuotaWaits.Observe(d.Seconds()) }

// SetDegraded records whether component works without Redis now.
func (s *Stewardship) SetDegraded(component string, degraded bool) {
	v := 0.0
	if degraded {
		v = 1
	}
	s.RedisDegraded.WithLabelValues(component).Set(v)
}
