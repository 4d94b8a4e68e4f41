package controllers

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	imagesv1 "github.com/imagewatcher/image-watcher/api/v1alpha1"
)

func conditionSummary(wi *imagesv1.WatchedImage) map[string]string {
	out := map[string]string{}
	for _, c := range wi.Status.Conditions {
		out[c.Type] = string(c.Status) + "/" + c.Reason
	}
	return out
}

func TestConditions(t *testing.T) {
	t0 := metav1.NewTime(time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC))
	t1 := metav1.NewTime(t0.Add(time.Minute))

	t.Run("a failure after success sets Ready False and Reconciling True, and success clears Reconciling", func(t *testing.T) {
		wi := &imagesv1.WatchedImage{}
		markReady(wi, t0, imagesv1.SucceededReason, "ok")
		markFailed(wi, t1, imagesv1.RegistryErrorReason, "HTTP 500")
		got := conditionSummary(wi)
		if got["Ready"] != "False/RegistryError" || got["Reconciling"] != "True/RegistryError" || got["Stalled"] != "" {
			t.Errorf("after failure: %v", got)
		}
		markReady(wi, t1, imagesv1.SucceededReason, "ok")
		if got := conditionSummary(wi); len(got) != 1 || got["Ready"] != "True/Succeeded" {
			t.Errorf("after recovery: %v", got)
		}
	})
	t.Run("repeated failures keep the first transition time", func(t *testing.T) {
		wi := &imagesv1.WatchedImage{}
		markFailed(wi, t0, imagesv1.RegistryErrorReason, "HTTP 500")
		markFailed(wi, t1, imagesv1.RegistryErrorReason, "HTTP 502")
		ready := meta.FindStatusCondition(wi.Status.Conditions, imagesv1.ReadyCondition)
		if !ready.LastTransitionTime.Equal(&t0) || ready.Message != "HTTP 502" {
			t.Errorf("Ready = %+v", ready)
		}
	})
	t.Run("an invalid spec is Stalled and Ready False with the generation it describes", func(t *testing.T) {
		wi := &imagesv1.WatchedImage{}
		wi.Generation = 4
		markFailed(wi, t0, imagesv1.RegistryErrorReason, "HTTP 500")
		markStalled(wi, t1, "bad regexp")
		if got := conditionSummary(wi); got["Ready"] != "False/InvalidSpec" || got["Stalled"] != "True/InvalidSpec" || got["Reconciling"] != "" {
			t.Errorf("conditions: %v", got)
		}
		for _, c := range wi.Status.Conditions {
			if c.ObservedGeneration != 4 {
				t.Errorf("%s observedGeneration = %d, want 4", c.Type, c.ObservedGeneration)
			}
		}
	})
	t.Run("suspending keeps what Ready said about the last result", func(t *testing.T) {
		for _, tc := range []struct {
			before func(*imagesv1.WatchedImage)
			want   string
		}{
			{func(wi *imagesv1.WatchedImage) { markReady(wi, t0, imagesv1.SucceededReason, "ok") }, "True/Suspended"},
			{func(wi *imagesv1.WatchedImage) { markFailed(wi, t0, imagesv1.NotFoundReason, "404") }, "False/Suspended"},
			{func(*imagesv1.WatchedImage) {}, "Unknown/Suspended"},
		} {
			wi := &imagesv1.WatchedImage{}
			tc.before(wi)
			markSuspended(wi, t1)
			if got := conditionSummary(wi); got["Ready"] != tc.want || len(got) != 1 {
				t.Errorf("conditions %v, want only Ready %s", got, tc.want)
			}
		}
	})
}

func TestStatusPatchCarriesOnlyWhatChanged(t *testing.T) {
	t0 := metav1.NewTime(time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC))
	t1 := metav1.NewTime(t0.Add(15 * time.Minute))
	scanned := func(at metav1.Time) *imagesv1.WatchedImageStatus {
		wi := &imagesv1.WatchedImage{}
		wi.Status.LatestTag, wi.Status.TagCount, wi.Status.UpgradeAvailable = "v1.1.0", 3, true
		wi.Status.LastScanTime = &at
		markReady(wi, t0, imagesv1.SucceededReason, "v1.1.0 is the newest minor version")
		return &wi.Status
	}
	failed := func() *imagesv1.WatchedImageStatus {
		wi := &imagesv1.WatchedImage{Status: *scanned(t0)}
		markFailed(wi, t1, imagesv1.RegistryErrorReason, "HTTP 500")
		return &wi.Status
	}

	for _, tc := range []struct {
		name          string
		before, after *imagesv1.WatchedImageStatus
		want          string // "" for no patch at all
	}{
		{"nothing changed", scanned(t0), scanned(t0), ""},
		{"a time that moved less than the second it is stored to", scanned(t0),
			scanned(metav1.NewTime(t0.Add(400 * time.Millisecond))), ""},
		{"a rescan with the same answer moves lastScanTime alone", scanned(t0), scanned(t1),
			`{"status":{"lastScanTime":"2026-11-25T10:15:00Z"}}`},
		{"a cleared field is removed", scanned(t0), func() *imagesv1.WatchedImageStatus {
			st := scanned(t0)
			st.UpgradeAvailable = false
			return st
		}(), `{"status":{"upgradeAvailable":null}}`},
		{"a failure replaces the conditions and keeps the last result", scanned(t0), failed(),
			`{"status":{"conditions":[` +
				`{"type":"Ready","status":"False","lastTransitionTime":"2026-11-25T10:15:00Z","reason":"RegistryError","message":"HTTP 500"},` +
				`{"type":"Reconciling","status":"True","lastTransitionTime":"2026-11-25T10:15:00Z","reason":"RegistryError","message":"retrying with backoff: HTTP 500"}]}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			patch, err := statusPatch(tc.before, tc.after)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case patch == nil && tc.want == "":
				return
			case patch == nil:
				t.Fatalf("no patch, want %s", tc.want)
			case tc.want == "":
				t.Fatalf("patch %s, want none", patch)
			}
			var got, want any
			if err := json.Unmarshal(patch, &got); err != nil {
				t.Fatalf("patch %s: %v", patch, err)
			}
			if err := json.Unmarshal([]byte(tc.want), &want); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("patch\n %s\nwant\n %s", patch, tc.want)
			}
		})
	}
}
