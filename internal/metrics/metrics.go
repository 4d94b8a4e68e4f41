// Package metrics defines image-watcher's Prometheus metrics, registered with
// controller-runtime's registry so the manager's metrics endpoint serves them.
package metrics

import (
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

var (
	// UpgradeAvailable is 1 for a WatchedImage whose latest eligible tag is newer than the
	// tag it runs, 0 otherwise; its labels say which upgrade.
	UpgradeAvailable = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "image_watcher_upgrade_available",
		Help: "1 when a newer eligible tag exists for the WatchedImage, 0 otherwise.",
	}, []string{"namespace", "name", "image", "current", "latest"})

	// RegistryRequests counts HTTP requests to registries by registry host and status code
	// ("error" when no response came back).
	RegistryRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "image_watcher_registry_requests_total",
		Help: "HTTP requests to registries, by registry host and status code.",
	}, []string{"registry", "code"})

	// RegistryRequestDuration is the latency of single registry requests.
	RegistryRequestDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "image_watcher_registry_request_duration_seconds",
		Help:    "Latency of HTTP requests to registries, by registry host.",
		Buckets: prometheus.ExponentialBuckets(0.01, 2, 12),
	}, []string{"registry"})

	// ListingDuration is how long a whole tag listing (every page) took.
	ListingDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "image_watcher_scan_duration_seconds",
		Help:    "Duration of a whole tag listing, every page, by result (success or error).",
		Buckets: prometheus.ExponentialBuckets(0.01, 2, 14),
	}, []string{"result"})

	// ListingTags is the number of tags per successful listing.
	ListingTags = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "image_watcher_tags_per_listing",
		Help:    "Number of tags returned by a successful listing.",
		Buckets: prometheus.ExponentialBuckets(10, 4, 8),
	})

	// CacheRequests counts tag-cache lookups: hit (a fresh listing served), miss (a listing
	// was fetched) or shared (joined a listing already in flight).
	CacheRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "image_watcher_tag_cache_requests_total",
		Help: "Tag cache lookups by result: hit, miss or shared.",
	}, []string{"result"})
)

func init() {
	crmetrics.Registry.MustRegister(UpgradeAvailable, RegistryRequests, RegistryRequestDuration,
		ListingDuration, ListingTags, CacheRequests)
}

// upgradeSeries remembers each WatchedImage's label values, so replacing or dropping its
// series is one exact delete, not a scan of every series (DeletePartialMatch is linear in
// the number of series, which made a cold start of 1,000 resources quadratic).
var upgradeSeries = struct {
	sync.Mutex
	labels map[[2]string][]string // namespace, name → label values
}{labels: map[[2]string][]string{}}

// SetUpgrade records one WatchedImage's answer, replacing its previous series (whose
// current or latest label may differ).
func SetUpgrade(namespace, name, image, current, latest string, available bool) {
	v := 0.0
	if available {
		v = 1
	}
	labels := []string{namespace, name, image, current, latest}
	upgradeSeries.Lock()
	defer upgradeSeries.Unlock()
	key := [2]string{namespace, name}
	if old, ok := upgradeSeries.labels[key]; ok && !slices.Equal(old, labels) {
		UpgradeAvailable.DeleteLabelValues(old...)
	}
	upgradeSeries.labels[key] = labels
	UpgradeAvailable.WithLabelValues(labels...).Set(v)
}

// ForgetUpgrade drops a WatchedImage's series, when it is deleted or has no answer.
func ForgetUpgrade(namespace, name string) {
	upgradeSeries.Lock()
	defer upgradeSeries.Unlock()
	key := [2]string{namespace, name}
	if old, ok := upgradeSeries.labels[key]; ok {
		UpgradeAvailable.DeleteLabelValues(old...)
		delete(upgradeSeries.labels, key)
	}
}

// Transport counts and times every request a registry client makes through it.
type Transport struct {
	// Base sends the requests; nil means http.DefaultTransport.
	Base http.RoundTripper
}

// RoundTrip implements http.RoundTripper.
func (t Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	start := time.Now()
	resp, err := base.RoundTrip(req)
	code := "error"
	if err == nil {
		code = strconv.Itoa(resp.StatusCode)
	}
	RegistryRequests.WithLabelValues(req.URL.Host, code).Inc()
	RegistryRequestDuration.WithLabelValues(req.URL.Host).Observe(time.Since(start).Seconds())
	return resp, err
}
