package controllers

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"

	imagesv1 "github.com/imagewatcher/image-watcher/api/v1alpha1"
)

// scanDue says whether a resource's registry listing must be read now and, when it need not,
// how long until it must. A scan is due when the resource has never been scanned, its spec
// changed since the last scan, a rescan was requested, or its interval has passed.
func scanDue(wi *imagesv1.WatchedImage, now time.Time) (bool, time.Duration) {
	st := wi.Status
	if st.LastScanTime == nil || st.ObservedGeneration != wi.Generation || rescanRequested(wi) {
		return true, 0
	}
	next := st.LastScanTime.Add(wi.Spec.Interval.Duration)
	if !now.Before(next) {
		return true, 0
	}
	return false, next.Sub(now)
}

// rescanRequested is true when the requestedAt annotation holds a value not yet handled.
func rescanRequested(wi *imagesv1.WatchedImage) bool {
	v, ok := wi.Annotations[imagesv1.RequestedAtAnnotation]
	return ok && v != wi.Status.LastHandledRequestedAt
}

// jitter stretches d by up to a tenth, so resources created together do not all come due
// in the same second after a restart.
func jitter(d time.Duration) time.Duration {
	return d + rand.N(d/10+1)
}

// backoff remembers failed scans per resource, in memory: after a restart every resource is
// scanned once anyway. Retries double from base up to max, with jitter, and a registry that
// asked for a pause (429 Retry-After) is given at least that.
type backoff struct {
	base, max time.Duration

	mu       sync.Mutex
	failures map[types.NamespacedName]failure
}

type failure struct {
	count   int
	retryAt time.Time
	// cause is what was asked when the scans failed (see retryCause): a new spec or a new
	// rescan request starts again without waiting.
	cause string
}

// retryCause identifies what a resource asks for: its generation and rescan request.
func retryCause(wi *imagesv1.WatchedImage) string {
	return fmt.Sprintf("%d/%s", wi.Generation, wi.Annotations[imagesv1.RequestedAtAnnotation])
}

func newBackoff(base, max time.Duration) *backoff {
	return &backoff{base: base, max: max, failures: map[types.NamespacedName]failure{}}
}

// failed records a failed scan for cause and returns how long to wait before the next one.
func (b *backoff) failed(key types.NamespacedName, cause string, now time.Time, atLeast time.Duration) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	f := b.failures[key]
	if f.cause != cause {
		f = failure{cause: cause}
	}
	f.count++
	wait := b.base << min(f.count-1, 30)
	if wait <= 0 || wait > b.max {
		wait = b.max
	}
	wait = max(jitter(wait), atLeast)
	f.retryAt = now.Add(wait)
	b.failures[key] = f
	return wait
}

// waiting returns how long the resource must still wait after failures for the same cause;
// 0 means go ahead.
func (b *backoff) waiting(key types.NamespacedName, cause string, now time.Time) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	f, ok := b.failures[key]
	if !ok || f.cause != cause || !now.Before(f.retryAt) {
		return 0
	}
	return f.retryAt.Sub(now)
}

// forget clears a resource's failures after a good scan, its deletion, or a change to a
// Secret it reads.
func (b *backoff) forget(key types.NamespacedName) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.failures, key)
}
