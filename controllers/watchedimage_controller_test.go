package controllers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	imagesv1 "github.com/imagewatcher/image-watcher/api/v1alpha1"
	"github.com/imagewatcher/image-watcher/internal/registrytest"
)

var ledgerTags = []string{"v11.0.0", "v11.0.0-patch.1", "v11.0.1", "v11.1.0", "v12.0.0", "latest", "sha-abc"}

func newWatchedImage(ns, name, image, current, strategy string) *imagesv1.WatchedImage {
	return &imagesv1.WatchedImage{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: imagesv1.WatchedImageSpec{
			Image:      image,
			CurrentTag: current,
			Strategy:   strategy,
			Insecure:   true,
			Interval:   metav1.Duration{Duration: time.Minute},
		},
	}
}

func create(t *testing.T, wi *imagesv1.WatchedImage) {
	t.Helper()
	if err := k8sClient.Create(context.Background(), wi); err != nil {
		t.Fatalf("creating %s: %v", wi.Name, err)
	}
}

func get(t *testing.T, ns, name string) *imagesv1.WatchedImage {
	t.Helper()
	var wi imagesv1.WatchedImage
	if err := k8sClient.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &wi); err != nil {
		t.Fatalf("getting %s: %v", name, err)
	}
	return &wi
}

// waitReady waits until the resource's Ready condition has the given status and reason for
// its current generation, and returns it.
func waitReady(t *testing.T, ns, name string, status metav1.ConditionStatus, reason string) *imagesv1.WatchedImage {
	t.Helper()
	var wi *imagesv1.WatchedImage
	eventually(t, 10*time.Second, func() error {
		wi = get(t, ns, name)
		c := meta.FindStatusCondition(wi.Status.Conditions, imagesv1.ReadyCondition)
		switch {
		case c == nil:
			return errors.New("no Ready condition yet")
		case c.ObservedGeneration != wi.Generation:
			return fmt.Errorf("Ready describes generation %d, want %d", c.ObservedGeneration, wi.Generation)
		case c.Status != status || c.Reason != reason:
			return fmt.Errorf("Ready=%s/%s (%s), want %s/%s", c.Status, c.Reason, c.Message, status, reason)
		}
		return nil
	})
	return wi
}

func update(t *testing.T, ns, name string, mutate func(*imagesv1.WatchedImage)) {
	t.Helper()
	eventually(t, 5*time.Second, func() error {
		wi := get(t, ns, name)
		mutate(wi)
		return k8sClient.Update(context.Background(), wi)
	})
}

func TestEveryStrategyResolves(t *testing.T) {
	reg := registrytest.New(t, registrytest.WithPageSize(3))
	reg.SetTags("mojaloop/central-ledger", ledgerTags)
	ns := newNamespace(t)
	image := reg.Host() + "/mojaloop/central-ledger"

	want := map[string]string{"patch": "v11.0.0-patch.1", "bugfix": "v11.0.1", "minor": "v11.1.0", "major": "v12.0.0"}
	for strategy := range want {
		create(t, newWatchedImage(ns, "ledger-"+strategy, image, "v11.0.0", strategy))
	}
	for strategy, latest := range want {
		t.Run(strategy+" resolves to "+latest, func(t *testing.T) {
			wi := waitReady(t, ns, "ledger-"+strategy, metav1.ConditionTrue, imagesv1.SucceededReason)
			st := wi.Status
			if st.LatestTag != latest {
				t.Errorf("latestTag = %q, want %q", st.LatestTag, latest)
			}
			if st.LatestImage != image+":"+latest {
				t.Errorf("latestImage = %q, want %q", st.LatestImage, image+":"+latest)
			}
			if !st.UpgradeAvailable {
				t.Error("upgradeAvailable = false, want true")
			}
			if got := *st.Latest; got != (imagesv1.LatestTags{Patch: want["patch"], Bugfix: want["bugfix"], Minor: want["minor"], Major: want["major"]}) {
				t.Errorf("latest = %+v", got)
			}
			if st.TagCount != len(ledgerTags) {
				t.Errorf("tagCount = %d, want %d", st.TagCount, len(ledgerTags))
			}
			if st.LastScanTime == nil || st.ObservedGeneration != wi.Generation {
				t.Errorf("lastScanTime = %v, observedGeneration = %d (generation %d)", st.LastScanTime, st.ObservedGeneration, wi.Generation)
			}
		})
	}
	// Four resources on one repository: one listing (3 pages of 3 tags), not four.
	if got := reg.TagListRequests("mojaloop/central-ledger"); got != 3 {
		t.Errorf("tag-list requests = %d, want 3 (one paginated listing shared by four resources)", got)
	}
}

func TestKubectlGetShowsTheColumns(t *testing.T) {
	reg := registrytest.New(t)
	reg.SetTags("org/app", []string{"1.0.0", "1.0.1", "1.1.0"})
	ns := newNamespace(t)
	create(t, newWatchedImage(ns, "app", reg.Host()+"/org/app", "1.0.0", "minor"))
	waitReady(t, ns, "app", metav1.ConditionTrue, imagesv1.SucceededReason)

	// Ask the API server for the table kubectl prints, through the same content negotiation.
	httpClient, err := rest.HTTPClientFor(restCfg)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, strings.TrimSuffix(restCfg.Host, "/")+"/apis/images.imagewatcher.dev/v1alpha1/namespaces/"+ns+"/watchedimages", nil)
	req.Header.Set("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(resp.Body)
	var table metav1.Table
	if err := json.Unmarshal(body, &table); err != nil {
		t.Fatalf("decoding table: %v\n%s", err, body)
	}
	var columns []string
	for _, c := range table.ColumnDefinitions {
		columns = append(columns, strings.ToUpper(c.Name))
	}
	wantColumns := "NAME IMAGE CURRENT STRATEGY LATEST UPGRADE READY LAST SCAN AGE"
	if got := strings.Join(columns, " "); got != wantColumns {
		t.Errorf("columns = %q, want %q", got, wantColumns)
	}
	if len(table.Rows) != 1 {
		t.Fatalf("rows = %d, want 1", len(table.Rows))
	}
	cells := fmt.Sprint(table.Rows[0].Cells[:7])
	if want := fmt.Sprint([]any{"app", reg.Host() + "/org/app", "1.0.0", "minor", "1.1.0", true, "True"}); cells != want {
		t.Errorf("row = %s, want %s", cells, want)
	}
	if table.Rows[0].Cells[7] == "<none>" || table.Rows[0].Cells[7] == "" {
		t.Error("LAST SCAN is empty")
	}
}

func TestAdmissionRefusesInvalidSpecs(t *testing.T) {
	ns := newNamespace(t)
	cases := []struct {
		name   string
		mutate func(*imagesv1.WatchedImage)
		want   string
	}{
		{"an unknown strategy", func(wi *imagesv1.WatchedImage) { wi.Spec.Strategy = "newest" }, `supported values: "patch", "bugfix", "minor", "major"`},
		{"an interval under a minute", func(wi *imagesv1.WatchedImage) { wi.Spec.Interval.Duration = 30 * time.Second }, "interval must be at least 1m"},
		{"an image with a tag", func(wi *imagesv1.WatchedImage) { wi.Spec.Image = "nginx:1.25" }, "image must not contain a tag"},
		{"an image on a registry port with a tag", func(wi *imagesv1.WatchedImage) { wi.Spec.Image = "localhost:5000/org/app:v1" }, "image must not contain a tag"},
		{"an image with a digest", func(wi *imagesv1.WatchedImage) { wi.Spec.Image = "nginx@sha256:" + strings.Repeat("a", 64) }, "image must not contain a digest"},
		{"an empty image", func(wi *imagesv1.WatchedImage) { wi.Spec.Image = "" }, "spec.image"},
		{"a currentTag that is not a version", func(wi *imagesv1.WatchedImage) { wi.Spec.CurrentTag = "latest" }, "currentTag must be a version"},
	}
	for _, tc := range cases {
		t.Run("refuses "+tc.name, func(t *testing.T) {
			wi := newWatchedImage(ns, "bad", "org/app", "v1.0.0", "minor")
			tc.mutate(wi)
			err := k8sClient.Create(context.Background(), wi)
			if err == nil {
				_ = k8sClient.Delete(context.Background(), wi)
				t.Fatal("created, want refused")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
		})
	}
	t.Run("accepts a registry host with a port and defaults strategy and interval", func(t *testing.T) {
		wi := newWatchedImage(ns, "good", "localhost:5000/org/app", "v1.0.0", "")
		wi.Spec.Interval = metav1.Duration{}
		create(t, wi)
		got := get(t, ns, "good")
		if got.Spec.Strategy != "bugfix" || got.Spec.Interval.Duration != 15*time.Minute {
			t.Errorf("defaults: strategy %q interval %s, want bugfix 15m", got.Spec.Strategy, got.Spec.Interval.Duration)
		}
	})
}

func TestStrategyChangeAndRescanRequestArePickedUp(t *testing.T) {
	reg := registrytest.New(t)
	reg.SetTags("org/app", ledgerTags)
	ns := newNamespace(t)
	create(t, newWatchedImage(ns, "app", reg.Host()+"/org/app", "v11.0.0", "bugfix"))
	wi := waitReady(t, ns, "app", metav1.ConditionTrue, imagesv1.SucceededReason)
	if wi.Status.LatestTag != "v11.0.1" {
		t.Fatalf("latestTag = %q, want v11.0.1", wi.Status.LatestTag)
	}

	t.Run("a strategy change answers from the cached listing", func(t *testing.T) {
		before := reg.TagListRequests("org/app")
		update(t, ns, "app", func(wi *imagesv1.WatchedImage) { wi.Spec.Strategy = "major" })
		wi := waitReady(t, ns, "app", metav1.ConditionTrue, imagesv1.SucceededReason)
		if wi.Status.LatestTag != "v12.0.0" {
			t.Errorf("latestTag = %q, want v12.0.0", wi.Status.LatestTag)
		}
		if got := reg.TagListRequests("org/app") - before; got != 0 {
			t.Errorf("a strategy change listed the registry %d times; the listing is still fresh", got)
		}
	})

	t.Run("a rescan request lists the registry again at once", func(t *testing.T) {
		reg.AddTags("org/app", "v13.0.0")
		update(t, ns, "app", func(wi *imagesv1.WatchedImage) {
			wi.Annotations = map[string]string{imagesv1.RequestedAtAnnotation: "now-1"}
		})
		eventually(t, 10*time.Second, func() error {
			wi := get(t, ns, "app")
			if wi.Status.LastHandledRequestedAt != "now-1" || wi.Status.LatestTag != "v13.0.0" {
				return fmt.Errorf("lastHandledRequestedAt %q latestTag %q", wi.Status.LastHandledRequestedAt, wi.Status.LatestTag)
			}
			return nil
		})
	})
}

func TestNewTagIsPickedUpAfterTheInterval(t *testing.T) {
	reg := registrytest.New(t)
	reg.SetTags("org/app", []string{"2.0.0", "2.0.1"})
	ns := newNamespace(t)
	create(t, newWatchedImage(ns, "app", reg.Host()+"/org/app", "2.0.0", "bugfix"))
	first := waitReady(t, ns, "app", metav1.ConditionTrue, imagesv1.SucceededReason)
	if first.Status.LatestTag != "2.0.1" {
		t.Fatalf("latestTag = %q, want 2.0.1", first.Status.LatestTag)
	}
	reg.AddTags("org/app", "2.0.2")

	// Before the interval has passed, a reconcile (here caused by an unrelated annotation)
	// must not list the registry.
	before := reg.TagListRequests("org/app")
	update(t, ns, "app", func(wi *imagesv1.WatchedImage) { wi.Annotations = map[string]string{"touch": "1"} })
	time.Sleep(500 * time.Millisecond)
	if got := reg.TagListRequests("org/app"); got != before {
		t.Fatalf("listed the registry %d times before the interval passed", got-before)
	}

	clock.Advance(time.Minute + 10*time.Second)
	update(t, ns, "app", func(wi *imagesv1.WatchedImage) { wi.Annotations = map[string]string{"touch": "2"} })
	eventually(t, 10*time.Second, func() error {
		wi := get(t, ns, "app")
		if wi.Status.LatestTag != "2.0.2" {
			return fmt.Errorf("latestTag = %q, want 2.0.2", wi.Status.LatestTag)
		}
		if !wi.Status.LastScanTime.After(first.Status.LastScanTime.Time) {
			return errors.New("lastScanTime did not move")
		}
		return nil
	})
}

// TestSteadyStateWritesOnlyWhatChanged: a reconcile with no scan due writes nothing, and a
// scan that finds the same tags changes lastScanTime alone.
func TestSteadyStateWritesOnlyWhatChanged(t *testing.T) {
	reg := registrytest.New(t)
	reg.SetTags("org/app", []string{"3.0.0", "3.0.1"})
	ns := newNamespace(t)
	create(t, newWatchedImage(ns, "app", reg.Host()+"/org/app", "3.0.0", "bugfix"))
	first := waitReady(t, ns, "app", metav1.ConditionTrue, imagesv1.SucceededReason)

	// touch changes an annotation (which triggers a reconcile), waits for that reconcile to
	// finish, and returns the object as the touch left it.
	touch := func(value string) *imagesv1.WatchedImage {
		t.Helper()
		finished := reconciles.count(ns, "app")
		wi := get(t, ns, "app")
		wi.Annotations = map[string]string{"touch": value}
		if err := k8sClient.Update(context.Background(), wi); err != nil {
			t.Fatal(err)
		}
		eventually(t, 5*time.Second, func() error {
			if reconciles.count(ns, "app") <= finished {
				return errors.New("not reconciled yet")
			}
			return nil
		})
		return wi
	}

	touched := touch("1")
	if now := get(t, ns, "app"); now.ResourceVersion != touched.ResourceVersion {
		t.Fatalf("a reconcile with nothing due wrote the object: status %+v", now.Status)
	}

	clock.Advance(time.Minute + 10*time.Second)
	requests := reg.TagListRequests("org/app")
	touch("2")
	if reg.TagListRequests("org/app") == requests {
		t.Fatal("the interval passed but the registry was not listed")
	}
	rescanned := get(t, ns, "app")
	if !rescanned.Status.LastScanTime.After(first.Status.LastScanTime.Time) {
		t.Fatalf("lastScanTime did not move: %v", rescanned.Status.LastScanTime)
	}
	rescanned.Status.LastScanTime = first.Status.LastScanTime
	if !equality.Semantic.DeepEqual(rescanned.Status, first.Status) {
		t.Errorf("a rescan finding the same tags changed more than lastScanTime:\n got %+v\nwant %+v", rescanned.Status, first.Status)
	}
}

func TestRegistryDownKeepsTheLastGoodResult(t *testing.T) {
	reg := registrytest.New(t)
	reg.SetTags("org/app", ledgerTags)
	ns := newNamespace(t)
	create(t, newWatchedImage(ns, "app", reg.Host()+"/org/app", "v11.0.0", "minor"))
	good := waitReady(t, ns, "app", metav1.ConditionTrue, imagesv1.SucceededReason)

	reg.SetFault(registrytest.Fault{Status: http.StatusInternalServerError})
	update(t, ns, "app", func(wi *imagesv1.WatchedImage) {
		wi.Annotations = map[string]string{imagesv1.RequestedAtAnnotation: "down"}
	})
	failed := waitReady(t, ns, "app", metav1.ConditionFalse, imagesv1.RegistryErrorReason)
	if failed.Status.LatestTag != good.Status.LatestTag || failed.Status.TagCount != good.Status.TagCount ||
		!failed.Status.LastScanTime.Equal(good.Status.LastScanTime) || *failed.Status.Latest != *good.Status.Latest {
		t.Errorf("a failed scan changed the result:\n good %+v\n now  %+v", good.Status, failed.Status)
	}
	if c := meta.FindStatusCondition(failed.Status.Conditions, imagesv1.ReconcilingCondition); c == nil || c.Status != metav1.ConditionTrue {
		t.Errorf("Reconciling = %+v, want True while retrying", c)
	}

	reg.SetFault(registrytest.Fault{})
	recovered := waitReady(t, ns, "app", metav1.ConditionTrue, imagesv1.SucceededReason)
	if recovered.Status.LatestTag != "v11.1.0" {
		t.Errorf("latestTag after recovery = %q, want v11.1.0", recovered.Status.LatestTag)
	}
	if meta.FindStatusCondition(recovered.Status.Conditions, imagesv1.ReconcilingCondition) != nil {
		t.Error("Reconciling left behind after recovery")
	}
}

func TestInvalidSpecStallsWithoutRetrying(t *testing.T) {
	reg := registrytest.New(t)
	reg.SetTags("org/app", ledgerTags)
	ns := newNamespace(t)
	wi := newWatchedImage(ns, "app", reg.Host()+"/org/app", "v11.0.0", "minor")
	wi.Spec.TagFilter = &imagesv1.TagFilter{Include: "v(11"}
	create(t, wi)

	stalled := waitReady(t, ns, "app", metav1.ConditionFalse, imagesv1.InvalidSpecReason)
	ready := meta.FindStatusCondition(stalled.Status.Conditions, imagesv1.ReadyCondition)
	if !strings.Contains(ready.Message, "tagFilter.include") {
		t.Errorf("message %q does not name the field", ready.Message)
	}
	if c := meta.FindStatusCondition(stalled.Status.Conditions, imagesv1.StalledCondition); c == nil || c.Status != metav1.ConditionTrue {
		t.Errorf("Stalled = %+v, want True", c)
	}
	if got := reg.TagListRequests("org/app"); got != 0 {
		t.Errorf("an invalid spec listed the registry %d times", got)
	}

	before := reconciles.count(ns, "app")
	time.Sleep(2 * time.Second)
	if got := reconciles.count(ns, "app") - before; got > 0 {
		t.Errorf("%d reconciles in 2s with an unchanged invalid spec, want 0 (no hot loop)", got)
	}

	update(t, ns, "app", func(wi *imagesv1.WatchedImage) { wi.Spec.TagFilter.Include = "^v11" })
	fixed := waitReady(t, ns, "app", metav1.ConditionTrue, imagesv1.SucceededReason)
	if fixed.Status.LatestTag != "v11.1.0" {
		t.Errorf("latestTag = %q, want v11.1.0", fixed.Status.LatestTag)
	}
	if meta.FindStatusCondition(fixed.Status.Conditions, imagesv1.StalledCondition) != nil {
		t.Error("Stalled left behind after the spec was fixed")
	}
}
