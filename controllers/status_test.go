package controllers

import (
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
