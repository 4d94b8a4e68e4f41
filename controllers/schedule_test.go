package controllers

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	imagesv1 "github.com/imagewatcher/image-watcher/api/v1alpha1"
)

func TestScanDue(t *testing.T) {
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	scanned := func(ago time.Duration) *metav1.Time { t := metav1.NewTime(now.Add(-ago)); return &t }
	base := func() *imagesv1.WatchedImage {
		wi := &imagesv1.WatchedImage{}
		wi.Generation = 2
		wi.Spec.Interval.Duration = 15 * time.Minute
		wi.Status.ObservedGeneration = 2
		wi.Status.LastScanTime = scanned(5 * time.Minute)
		return wi
	}
	cases := []struct {
		name     string
		mutate   func(*imagesv1.WatchedImage)
		wantDue  bool
		wantWait time.Duration
	}{
		{"a resource scanned 5m ago on a 15m interval waits 10m", func(*imagesv1.WatchedImage) {}, false, 10 * time.Minute},
		{"a resource never scanned is due", func(wi *imagesv1.WatchedImage) { wi.Status.LastScanTime = nil }, true, 0},
		{"a resource whose interval has passed is due", func(wi *imagesv1.WatchedImage) { wi.Status.LastScanTime = scanned(15 * time.Minute) }, true, 0},
		{"a changed spec is due at once", func(wi *imagesv1.WatchedImage) { wi.Generation = 3 }, true, 0},
		{"a new rescan request is due at once", func(wi *imagesv1.WatchedImage) {
			wi.Annotations = map[string]string{imagesv1.RequestedAtAnnotation: "b"}
			wi.Status.LastHandledRequestedAt = "a"
		}, true, 0},
		{"a handled rescan request is not due again", func(wi *imagesv1.WatchedImage) {
			wi.Annotations = map[string]string{imagesv1.RequestedAtAnnotation: "a"}
			wi.Status.LastHandledRequestedAt = "a"
		}, false, 10 * time.Minute},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wi := base()
			tc.mutate(wi)
			due, wait := scanDue(wi, now)
			if due != tc.wantDue || wait != tc.wantWait {
				t.Errorf("scanDue = %v, %s; want %v, %s", due, wait, tc.wantDue, tc.wantWait)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	key := types.NamespacedName{Namespace: "ns", Name: "app"}
	within := func(t *testing.T, got, low time.Duration) {
		t.Helper()
		if got < low || got > low+low/10 {
			t.Errorf("wait %s, want %s plus at most a tenth", got, low)
		}
	}

	t.Run("doubles from base up to max", func(t *testing.T) {
		b := newBackoff(time.Second, 5*time.Second)
		for _, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second} {
			within(t, b.failed(key, "1/", now, 0), want)
		}
	})
	t.Run("gives a registry the pause it asked for", func(t *testing.T) {
		b := newBackoff(time.Second, 5*time.Second)
		if got := b.failed(key, "1/", now, 30*time.Second); got != 30*time.Second {
			t.Errorf("wait %s, want the 30s Retry-After", got)
		}
	})
	t.Run("makes a resource wait until its retry time, then lets it go", func(t *testing.T) {
		b := newBackoff(time.Second, 5*time.Second)
		wait := b.failed(key, "1/", now, 0)
		if got := b.waiting(key, "1/", now.Add(wait/2)); got <= 0 {
			t.Errorf("waiting halfway = %s, want > 0", got)
		}
		if got := b.waiting(key, "1/", now.Add(wait)); got != 0 {
			t.Errorf("waiting at the retry time = %s, want 0", got)
		}
	})
	t.Run("starts again from base for a new spec or rescan request", func(t *testing.T) {
		b := newBackoff(time.Second, 5*time.Second)
		b.failed(key, "1/", now, 0)
		b.failed(key, "1/", now, 0)
		if got := b.waiting(key, "2/", now); got != 0 {
			t.Errorf("a new generation waits %s, want 0", got)
		}
		within(t, b.failed(key, "1/again", now, 0), time.Second)
	})
	t.Run("starts again from base once forgotten", func(t *testing.T) {
		b := newBackoff(time.Second, 5*time.Second)
		b.failed(key, "1/", now, 0)
		b.failed(key, "1/", now, 0)
		b.forget(key)
		if got := b.waiting(key, "1/", now); got != 0 {
			t.Errorf("waiting after forget = %s", got)
		}
		within(t, b.failed(key, "1/", now, 0), time.Second)
	})
}
