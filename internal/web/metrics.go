package web

import (
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// routePattern is the chi route that served r ("unmatched" when none did).
func routePattern(r *http.Request) string {
	if rc := chi.RouteContext(r.Context()); rc != nil && rc.RoutePattern() != "" {
		return rc.RoutePattern()
	}
	return "unmatched"
}

// NewRegistry returns a Prometheus registry with the Go runtime and process collectors. Each
// server owns its registry: there is no global one.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Metrics counts requests and their durations by route pattern (never the raw path, which would
// let clients create unbounded label values) and status code.
func Metrics(reg prometheus.Registerer, server string) func(http.Handler) http.Handler {
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gatehouse_http_requests_total", Help: "HTTP requests by route and status.",
		ConstLabels: prometheus.Labels{"server": server},
	}, []string{"route", "code"})
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "gatehouse_http_request_duration_seconds", Help: "HTTP request latency by route.",
		ConstLabels: prometheus.Labels{"server": server},
		Buckets:     []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
	}, []string{"route"})
	reg.MustRegister(requests, duration)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			sw, ok := w.(*statusWriter)
			if !ok {
				sw = &statusWriter{ResponseWriter: w}
			}
			next.ServeHTTP(sw, r)
			route := routePattern(r)
			requests.WithLabelValues(route, strconv.Itoa(sw.status)).Inc()
			duration.WithLabelValues(route).Observe(time.Since(start).Seconds())
		})
	}
}
