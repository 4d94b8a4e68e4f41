package controllers

import (
	"context"
	"encoding/json"

	jsonpatch "github.com/evanphx/json-patch/v5"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	imagesv1 "github.com/imagewatcher/image-watcher/api/v1alpha1"
)

// patchStatus is the controller's one status write: a merge patch of what changed in status
// since before, or nothing when nothing did. The patch carries no resourceVersion: the
// controller is status's only writer. The API server answers with metadata only: nothing
// reads the answer, and decoding whole objects was a sixth of the manager's CPU on a cold
// start (docs/benchmark.md).
func (r *WatchedImageReconciler) patchStatus(ctx context.Context, wi, before *imagesv1.WatchedImage) error {
	patch, err := statusPatch(&before.Status, &wi.Status)
	if err != nil || patch == nil {
		return err
	}
	target := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Namespace: wi.Namespace, Name: wi.Name}}
	target.SetGroupVersionKind(imagesv1.GroupVersion.WithKind("WatchedImage"))
	return r.Status().Patch(ctx, target, client.RawPatch(types.MergePatchType, patch))
}

// statusPatch is the JSON merge patch from one status to another, nil when they read the
// same. It diffs the statuses alone, not the whole objects. Times are stored to the second,
// so two statuses a few milliseconds apart are the same status.
func statusPatch(before, after *imagesv1.WatchedImageStatus) ([]byte, error) {
	if equality.Semantic.DeepEqual(before, after) {
		return nil, nil
	}
	from, err := json.Marshal(before)
	if err != nil {
		return nil, err
	}
	to, err := json.Marshal(after)
	if err != nil {
		return nil, err
	}
	diff, err := jsonpatch.CreateMergePatch(from, to)
	if err != nil || string(diff) == "{}" {
		return nil, err
	}
	return json.Marshal(map[string]json.RawMessage{"status": diff})
}

// The functions here set conditions in the kstatus conventions: Ready summarises; Reconciling
// is present only while a failed scan is being retried; Stalled only while the spec cannot
// work. A new generation not yet observed reads as in progress to kstatus by itself, since a
// scan finishes within one reconcile. Each keeps lastTransitionTime when a condition's status
// does not change.

// markReady records a good scan.
func markReady(wi *imagesv1.WatchedImage, now metav1.Time, reason, message string) {
	setCondition(wi, now, imagesv1.ReadyCondition, metav1.ConditionTrue, reason, message)
	meta.RemoveStatusCondition(&wi.Status.Conditions, imagesv1.ReconcilingCondition)
	meta.RemoveStatusCondition(&wi.Status.Conditions, imagesv1.StalledCondition)
}

// markFailed records a scan that failed for a reason that may pass (the registry, the
// credentials); the last good result stays.
func markFailed(wi *imagesv1.WatchedImage, now metav1.Time, reason, message string) {
	setCondition(wi, now, imagesv1.ReadyCondition, metav1.ConditionFalse, reason, message)
	setCondition(wi, now, imagesv1.ReconcilingCondition, metav1.ConditionTrue, reason, "retrying with backoff: "+message)
	meta.RemoveStatusCondition(&wi.Status.Conditions, imagesv1.StalledCondition)
}

// markStalled records a spec that cannot work until it is changed.
func markStalled(wi *imagesv1.WatchedImage, now metav1.Time, message string) {
	setCondition(wi, now, imagesv1.ReadyCondition, metav1.ConditionFalse, imagesv1.InvalidSpecReason, message)
	setCondition(wi, now, imagesv1.StalledCondition, metav1.ConditionTrue, imagesv1.InvalidSpecReason, message)
	meta.RemoveStatusCondition(&wi.Status.Conditions, imagesv1.ReconcilingCondition)
}

func setCondition(wi *imagesv1.WatchedImage, now metav1.Time, typ string, status metav1.ConditionStatus, reason, message string) {
	meta.SetStatusCondition(&wi.Status.Conditions, metav1.Condition{
		Type:               typ,
		Status:             status,
		Reason:             reason,
		Message:            message,
		ObservedGeneration: wi.Generation,
		LastTransitionTime: now,
	})
}

// markSuspended says scanning is off without changing what Ready claims about the last
// result: a good result stays Ready=True, a failed one stays False, none at all is Unknown.
func markSuspended(wi *imagesv1.WatchedImage, now metav1.Time) {
	status := metav1.ConditionUnknown
	if c := meta.FindStatusCondition(wi.Status.Conditions, imagesv1.ReadyCondition); c != nil {
		status = c.Status
	}
	message := "scanning is suspended (spec.suspend); status shows the last scan"
	setCondition(wi, now, imagesv1.ReadyCondition, status, imagesv1.SuspendedReason, message)
	meta.RemoveStatusCondition(&wi.Status.Conditions, imagesv1.ReconcilingCondition)
	meta.RemoveStatusCondition(&wi.Status.Conditions, imagesv1.StalledCondition)
}
