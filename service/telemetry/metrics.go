// Package telemetry gives operators the bridge's metrics (Prometheus) and
// traces (OpenTelemetry), built on those projects' own libraries.
//
// Metric names follow Prometheus conventions (a smartassist_bridge_
// namespace, base units, _total counters) and every label has a bounded
// set of values: procedures the server registered, protocol names, codes,
// HTTP status codes. No id ever becomes a label.
package telemetry

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"connectrpc.com/connect/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/smartassist-bridge/smartassist-bridge/service/smartassist"
)

const namespace = "smartassist_bridge"

// Metrics are the bridge's Prometheus collectors, on a registry of their
// own (plus the Go runtime and process collectors).
type Metrics struct {
	registry *prometheus.Registry

	rpcs         *prometheus.CounterVec
	rpcDuration  *prometheus.HistogramVec
	rpcsInFlight *prometheus.GaugeVec
	messageSize  *prometheus.HistogramVec

	upstreamRequests *prometheus.CounterVec
	upstreamDuration *prometheus.HistogramVec
	upstreamRetries  prometheus.Counter
	tokenMints       prometheus.Counter

	// Stewardship counts the cache, quota, Redis and watch work.
	Stewardship *Stewardship
}

// NewMetrics registers every collector.
func NewMetrics() *Metrics {
	m := &Metrics{registry: prometheus.NewRegistry()}
	sizeBuckets := prometheus.ExponentialBuckets(64, 4, 9) // 64 B .. 4 MiB
	m.rpcs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "rpcs_total",
		Help: "RPCs completed, by procedure, protocol (connect, grpc, grpcweb) and Connect code.",
	}, []string{"procedure", "protocol", "code"})
	m.rpcDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "rpc_duration_seconds",
		Help:    "Time from the start of an RPC to its end, by procedure, protocol and code.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	}, []string{"procedure", "protocol", "code"})
	m.rpcsInFlight = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace, Name: "rpcs_in_flight",
		Help: "RPCs being served now, by procedure.",
	}, []string{"procedure"})
	m.messageSize = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "rpc_response_message_size_bytes",
		Help:    "Uncompressed size of each response message sent, by procedure and protocol.",
		Buckets: sizeBuckets,
	}, []string{"procedure", "protocol"})
	m.upstreamRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "upstream_requests_total",
		Help: "HTTP requests to SmartAssist, retries included, by HTTP status (\"none\" when no response arrived).",
	}, []string{"status"})
	m.upstreamDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "upstream_request_duration_seconds",
		Help:    "Time of each HTTP request to SmartAssist, by HTTP status.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"status"})
	m.upstreamRetries = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Name: "upstream_retries_total",
		Help: "Retries of SmartAssist requests (after a connection error, 429, 502, 503 or 504).",
	})
	m.tokenMints = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Name: "token_mints_total",
		Help: "SmartAssist JWTs minted from the client credentials.",
	})
	m.Stewardship = newStewardship()
	m.registry.MustRegister(m.Stewardship.collectors()...)
	m.registry.MustRegister(m.rpcs, m.rpcDuration, m.rpcsInFlight, m.messageSize,
		m.upstreamRequests, m.upstreamDuration, m.upstreamRetries, m.tokenMints,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{Registry: m.registry})
}

// Registry is the registry the collectors live on, for tests and for
// adding more.
func (m *Metrics) Registry() *prometheus.Registry { return m.registry }

// Interceptor counts and times every RPC and measures its response
// messages.
func (m *Metrics) Interceptor() connect.ServerInterceptor {
	return func(next connect.ServerFunc) connect.ServerFunc {
		return func(ctx context.Context, spec connect.Spec, stream connect.ServerStream) error {
			procedure := procedureLabel(spec)
			protocol := "unknown"
			info, ok := connect.CallInfoForServerContext(ctx)
			if ok && info.Protocol != "" {
				protocol = info.Protocol
			}
			inFlight := m.rpcsInFlight.WithLabelValues(procedure)
			inFlight.Inc()
			defer inFlight.Dec()
			start := time.Now()
			if ok {
				stream = &sizedStream{ServerStream: stream, info: info, size: m.messageSize.WithLabelValues(procedure, protocol)}
			}
			err := next(ctx, spec, stream)
			code := "ok"
			if err != nil {
				code = connect.CodeOf(err).String()
			}
			m.rpcs.WithLabelValues(procedure, protocol, code).Inc()
			m.rpcDuration.WithLabelValues(procedure, protocol, code).Observe(time.Since(start).Seconds())
			return err
		}
	}
}

// procedureLabel keeps the label bounded: a procedure the server did not
// register (its spec has no schema) could be any string a client sends.
func procedureLabel(spec connect.Spec) string {
	if spec.Schema == nil {
		return "unknown"
	}
	return spec.Procedure
}

// sizedStream observes each sent message's size, which the transport
// records on the CallInfo as it sends.
type sizedStream struct {
	connect.ServerStream
	info *connect.CallInfo
	size prometheus.Observer
}

func (s *sizedStream) Send(msg any) error {
	err := s.ServerStream.Send(msg)
	if err == nil {
		s.size.Observe(float64(s.info.SendStats.Size))
	}
	return err
}

// UpstreamHooks feed the SmartAssist client's attempts and retries into
// the metrics.
func (m *Metrics) UpstreamHooks() smartassist.Hooks {
	return smartassist.Hooks{
		Attempt: func(status int, elapsed time.Duration, _ error) {
			label := statusLabel(status)
			m.upstreamRequests.WithLabelValues(label).Inc()
			m.upstreamDuration.WithLabelValues(label).Observe(elapsed.Seconds())
		},
		Retry: func(time.Duration) { m.upstreamRetries.Inc() },
	}
}

// TokenMinted counts one minted JWT; give it to ClientCredentials.OnMint.
func (m *Metrics) TokenMinted() { m.tokenMints.Inc() }

func statusLabel(status int) string {
	if status < 100 || status > 599 {
		return "none"
	}
	return strconv.Itoa(status)
}
