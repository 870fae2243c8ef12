package httpapi

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/revenue-api/revenue-api/internal/auth"
	"github.com/revenue-api/revenue-api/internal/token"
)

// Metrics are the Prometheus series of the HTTP layer and the auth domain.
type Metrics struct {
	handler      http.Handler
	requests     *prometheus.HistogramVec
	rejections   *prometheus.CounterVec
	authEvents   *prometheus.CounterVec
	rateLimitHit *prometheus.CounterVec

	// observers remembers each request series' observer: looking one up by
	// label values hashes them every time. Its keys are bounded as the
	// series are: routes are the router's, methods and statuses are bounded.
	observers sync.Map // requestSeries -> prometheus.Observer
}

type requestSeries struct {
	route, method string
	status        int
}

// NewMetrics registers the series on reg (a fresh registry when nil) and
// serves reg at /metrics.
func NewMetrics(reg *prometheus.Registry) *Metrics {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m := &Metrics{
		handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}),
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "revenue_http_request_duration_seconds",
			Help:    "HTTP requests by route, method and status, with their latency.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"route", "method", "status"}),
		rejections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "revenue_token_rejections_total",
			Help: "Access tokens rejected, by reason.",
		}, []string{"reason"}),
		authEvents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "revenue_auth_events_total",
			Help: "Authentication events (logins, refreshes, reuse detections, logouts) by kind and reason.",
		}, []string{"kind", "reason"}),
		rateLimitHit: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "revenue_rate_limited_total",
			Help: "Requests refused by the per-address rate limit, by route.",
		}, []string{"route"}),
	}
	reg.MustRegister(m.requests, m.rejections, m.authEvents, m.rateLimitHit)
	// Pre-create the rejection series so dashboards see zeros.
	for _, r := range []token.Reason{token.ReasonMalformed, token.ReasonSignature, token.ReasonExpired, token.ReasonUnknownKey} {
		m.rejections.WithLabelValues(string(r))
	}
	return m
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler { return m.handler }

func (m *Metrics) observeRequest(method, route string, status int, d time.Duration) {
	k := requestSeries{route, methodLabel(method), status}
	o, ok := m.observers.Load(k)
	if !ok {
		o, _ = m.observers.LoadOrStore(k, m.requests.WithLabelValues(k.route, k.method, strconv.Itoa(status)))
	}
	o.(prometheus.Observer).Observe(d.Seconds())
}

// methodLabel bounds the method label: the method is whatever the client
// sent, and one new series per invented method would let any client grow
// the server's memory and every scrape without limit.
func methodLabel(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions:
		return method
	}
	return "other"
}

func (m *Metrics) tokenRejected(r token.Reason) { m.rejections.WithLabelValues(string(r)).Inc() }

func (m *Metrics) rateLimited(route string) { m.rateLimitHit.WithLabelValues(route).Inc() }

// AuthEvent counts an audit event; wire it as the auth service's observer.
func (m *Metrics) AuthEvent(ev auth.Event) {
	m.authEvents.WithLabelValues(string(ev.Kind), ev.Reason).Inc()
}
