package httpserver

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/camvault/camvault/internal/domain"
)

// Metrics holds the server's Prometheus metrics in a registry of its own.
type Metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	logins   *prometheus.CounterVec
	denials  *prometheus.CounterVec
	devices  prometheus.Gauge
	connects prometheus.Counter
	dropped  prometheus.Counter
	units    prometheus.Counter
	bytes    prometheus.Counter
	alarms   prometheus.Counter
	ingest   *prometheus.CounterVec
	// suppressed counts anonymous audit events over the limit, which
	// get no row of their own.
	suppressed prometheus.Counter
}

// NewMetrics creates the metrics and their registry.
func NewMetrics() *Metrics { return NewNodeMetrics("") }

// NewNodeMetrics returns metrics that carry node (a cluster node's name)
// as a constant label, so that one Prometheus can tell the nodes apart;
// an empty node adds no label.
func NewNodeMetrics(node string) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "camvault_http_requests_total", Help: "HTTP requests by route and status code.",
		}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "camvault_http_request_duration_seconds", Help: "HTTP request latency by route.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route"}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "camvault_logins_total", Help: "Login attempts by result.",
		}, []string{"result"}),
		denials: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "camvault_authz_denials_total", Help: "Requests the policy refused, by action.",
		}, []string{"action"}),
		devices: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "camvault_device_sessions", Help: "Devices holding a control session now.",
		}),
		connects: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "camvault_device_connects_total", Help: "Device control sessions opened.",
		}),
	}
	m.dropped = prometheus.NewCounter(prometheus.CounterOpts{Name: "camvault_media_dropped_units_total", Help: "Access units slow viewers lost."})
	m.units = prometheus.NewCounter(prometheus.CounterOpts{Name: "camvault_media_delivered_units_total", Help: "Access units handed to viewers."})
	m.bytes = prometheus.NewCounter(prometheus.CounterOpts{Name: "camvault_media_delivered_bytes_total", Help: "Video bytes handed to viewers."})
	m.alarms = prometheus.NewCounter(prometheus.CounterOpts{Name: "camvault_media_provenance_violations_total", Help: "Frames of another origin stopped before a viewer (must stay 0)."})
	m.ingest = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "camvault_ingest_streams_total", Help: "Camera streams by outcome."}, []string{"event"})
	m.suppressed = prometheus.NewCounter(prometheus.CounterOpts{Name: "camvault_audit_suppressed_total",
		Help: "Anonymous audit events over the rate limit, counted here and summed up in one audit row instead of a row each."})
	var reg prometheus.Registerer = m.reg
	if node != "" {
		reg = prometheus.WrapRegistererWith(prometheus.Labels{"node": node}, m.reg)
	}
	reg.MustRegister(m.dropped, m.units, m.bytes, m.alarms, m.ingest, m.suppressed)
	reg.MustRegister(m.requests, m.latency, m.logins, m.denials, m.devices, m.connects,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *Metrics) observe(route string, status int, d time.Duration) {
	m.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
	m.latency.WithLabelValues(route).Observe(d.Seconds())
}

// Event counts a security outcome reported by the service.
func (m *Metrics) Event(name string, result domain.Result) {
	if name == "audit.suppressed" { // service.EventAuditSuppressed
		m.suppressed.Inc()
		return
	}
	if name == "login" {
		m.logins.WithLabelValues(string(result)).Inc()
	}
	if result == domain.ResultDenied {
		m.denials.WithLabelValues(name).Inc()
	}
}

// DeviceSessions records the number of device control sessions; opened
// says whether one was just opened.
func (m *Metrics) DeviceSessions(n int, opened bool) {
	m.devices.Set(float64(n))
	if opened {
		m.connects.Inc()
	}
}

// MediaDropped counts units slow viewers lost.
func (m *Metrics) MediaDropped(n int) { m.dropped.Add(float64(n)) }

// MediaDelivered counts units and bytes delivered to viewers.
func (m *Metrics) MediaDelivered(units, bytes int) {
	m.units.Add(float64(units))
	m.bytes.Add(float64(bytes))
}

// ProvenanceViolation counts a frame stopped by the provenance guard.
func (m *Metrics) ProvenanceViolation() { m.alarms.Inc() }

// IngestEvent counts a camera stream accepted or refused.
func (m *Metrics) IngestEvent(event string) { m.ingest.WithLabelValues(event).Inc() }

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}
