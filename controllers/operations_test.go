package controllers

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	imagesv1 "github.com/imagewatcher/image-watcher/api/v1alpha1"
	"github.com/imagewatcher/image-watcher/internal/registrytest"
)

func TestSuspendStopsScanningAndResumeRescansAtOnce(t *testing.T) {
	reg := registrytest.New(t)
	reg.SetTags("org/app", []string{"1.0.0", "1.0.1"})
	ns := newNamespace(t)
	create(t, newWatchedImage(ns, "app", reg.Host()+"/org/app", "1.0.0", "bugfix"))
	good := waitReady(t, ns, "app", metav1.ConditionTrue, imagesv1.SucceededReason)

	update(t, ns, "app", func(wi *imagesv1.WatchedImage) { wi.Spec.Suspend = true })
	suspended := waitReady(t, ns, "app", metav1.ConditionTrue, imagesv1.SuspendedReason)
	if suspended.Status.LatestTag != good.Status.LatestTag {
		t.Errorf("suspending changed latestTag to %q", suspended.Status.LatestTag)
	}

	reg.AddTags("org/app", "1.0.2")
	before := reg.TagListRequests("org/app")
	update(t, ns, "app", func(wi *imagesv1.WatchedImage) {
		wi.Annotations = map[string]string{imagesv1.RequestedAtAnnotation: "while-suspended"}
	})
	time.Sleep(time.Second)
	if got := reg.TagListRequests("org/app") - before; got != 0 {
		t.Errorf("a suspended resource listed the registry %d times", got)
	}

	update(t, ns, "app", func(wi *imagesv1.WatchedImage) { wi.Spec.Suspend = false })
	resumed := waitReady(t, ns, "app", metav1.ConditionTrue, imagesv1.SucceededReason)
	if resumed.Status.LatestTag != "1.0.2" {
		t.Errorf("after resuming latestTag = %q, want 1.0.2 from a fresh listing", resumed.Status.LatestTag)
	}
}

// eventsFor lists the events recorded about one WatchedImage.
func eventsFor(t *testing.T, ns, name string) []eventsv1.Event {
	t.Helper()
	var list eventsv1.EventList
	if err := k8sClient.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	var out []eventsv1.Event
	for _, e := range list.Items {
		if e.Regarding.Name == name && e.Regarding.Kind == "WatchedImage" {
			out = append(out, e)
		}
	}
	return out
}

func countEvents(events []eventsv1.Event, eventType, reason string) (n int32, notes []string) {
	for _, e := range events {
		if e.Type == eventType && e.Reason == reason {
			count := int32(1)
			if e.Series != nil {
				count = e.Series.Count
			}
			n += count
			notes = append(notes, e.Note)
		}
	}
	return n, notes
}

func TestEventsAnnounceNewUpgradesAndFailuresOnce(t *testing.T) {
	reg := registrytest.New(t)
	reg.SetTags("org/app", ledgerTags)
	ns := newNamespace(t)
	create(t, newWatchedImage(ns, "app", reg.Host()+"/org/app", "v11.0.0", "minor"))
	waitReady(t, ns, "app", metav1.ConditionTrue, imagesv1.SucceededReason)

	// The registry fails; the controller retries every 200ms–1s but warns once.
	reg.SetFault(registrytest.Fault{Status: http.StatusBadGateway})
	update(t, ns, "app", func(wi *imagesv1.WatchedImage) {
		wi.Annotations = map[string]string{imagesv1.RequestedAtAnnotation: "fail"}
	})
	waitReady(t, ns, "app", metav1.ConditionFalse, imagesv1.RegistryErrorReason)
	failedAt := reg.TagListRequests("org/app")
	eventually(t, 10*time.Second, func() error {
		if retries := reg.TagListRequests("org/app") - failedAt; retries < 3 {
			return fmt.Errorf("%d retries so far", retries)
		}
		return nil
	})
	if n, notes := countEvents(eventsFor(t, ns, "app"), "Warning", imagesv1.RegistryErrorReason); n != 1 {
		t.Errorf("%d Warning events over several failed retries, want 1: %q", n, notes)
	}

	reg.SetFault(registrytest.Fault{})
	reg.AddTags("org/app", "v11.2.0")
	waitReady(t, ns, "app", metav1.ConditionTrue, imagesv1.SucceededReason)
	// The first answer (v11.1.0) is status, not news; the move to v11.2.0 is announced once.
	eventually(t, 5*time.Second, func() error {
		n, notes := countEvents(eventsFor(t, ns, "app"), "Normal", "UpgradeAvailable")
		if n != 1 || !strings.Contains(notes[0], "minor upgrade available: v11.1.0 -> v11.2.0") {
			return fmt.Errorf("UpgradeAvailable events: %d %q, want only v11.1.0 -> v11.2.0", n, notes)
		}
		return nil
	})
}

// scrape reads the manager's metrics endpoint, as Prometheus would.
func scrape(t *testing.T) string {
	t.Helper()
	resp, err := http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(resp.Body)
	return string(body)
}

func TestMetricsEndpointShowsUpgradesAndRegistryCalls(t *testing.T) {
	reg := registrytest.New(t)
	reg.SetTags("org/app", ledgerTags)
	ns := newNamespace(t)
	create(t, newWatchedImage(ns, "app", reg.Host()+"/org/app", "v11.0.0", "minor"))
	create(t, newWatchedImage(ns, "pinned", reg.Host()+"/org/app", "v12.0.0", "minor"))
	waitReady(t, ns, "app", metav1.ConditionTrue, imagesv1.SucceededReason)
	waitReady(t, ns, "pinned", metav1.ConditionTrue, imagesv1.SucceededReason)

	body := scrape(t)
	image := reg.Host() + "/org/app"
	for _, want := range []string{
		fmt.Sprintf(`image_watcher_upgrade_available{current="v11.0.0",image=%q,latest="v11.1.0",name="app",namespace=%q} 1`, image, ns),
		fmt.Sprintf(`image_watcher_upgrade_available{current="v12.0.0",image=%q,latest="v12.0.0",name="pinned",namespace=%q} 0`, image, ns),
		fmt.Sprintf(`image_watcher_registry_requests_total{code="200",registry=%q}`, reg.Host()),
		fmt.Sprintf(`image_watcher_registry_request_duration_seconds_count{registry=%q}`, reg.Host()),
		`image_watcher_scan_duration_seconds_count{result="success"}`,
		`image_watcher_tags_per_listing_count`,
		`image_watcher_tag_cache_requests_total{result="miss"}`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}

	if err := k8sClient.Delete(context.Background(), get(t, ns, "app")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, func() error {
		if strings.Contains(scrape(t), fmt.Sprintf(`name="app",namespace=%q`, ns)) {
			return fmt.Errorf("a deleted WatchedImage still has its upgrade series")
		}
		return nil
	})
}
