package controllers

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	imagesv1 "github.com/imagewatcher/image-watcher/api/v1alpha1"
)

// promptKind's contract is the Kind source's: when WaitForSync returns, every object of the
// initial list is in the queue; afterwards, events pass the predicates before they reach it.
func TestPromptKindHasTheWholeListWhenSynced(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ns := newNamespace(t)
	const n = 200
	for i := range n {
		wi := newWatchedImage(ns, fmt.Sprintf("wi-%03d", i), "127.0.0.1:1/source-test", "v1.0.0", "patch")
		if err := k8sClient.Create(ctx, wi); err != nil {
			t.Fatal(err)
		}
	}

	c, queue := newCacheAndQueue(ctx, t, ns)
	src := newPromptKind(c, &imagesv1.WatchedImage{}, &handler.EnqueueRequestForObject{}, predicate.GenerationChangedPredicate{})
	if err := src.Start(ctx, queue); err != nil {
		t.Fatal(err)
	}
	syncCtx, stop := context.WithTimeout(ctx, 30*time.Second)
	defer stop()
	if err := src.WaitForSync(syncCtx); err != nil {
		t.Fatal(err)
	}
	if got := queue.Len(); got != n {
		t.Fatalf("queue holds %d requests when synced, want all %d", got, n)
	}
	for range n {
		req, _ := queue.Get()
		queue.Done(req)
		queue.Forget(req)
	}

	// A status write does not pass the predicate; a spec change after it does. Events of
	// one informer arrive in order, so once the second is queued the first has been seen.
	statusOnly := newWatchedImage(ns, "wi-000", "127.0.0.1:1/source-test", "v1.0.0", "patch")
	if err := k8sClient.Status().Patch(ctx, statusOnly, client.RawPatch(types.MergePatchType, []byte(`{"status":{"tagCount":7}}`))); err != nil {
		t.Fatal(err)
	}
	specChange := newWatchedImage(ns, "wi-001", "127.0.0.1:1/source-test", "v1.0.0", "patch")
	if err := k8sClient.Patch(ctx, specChange, client.RawPatch(types.MergePatchType, []byte(`{"spec":{"currentTag":"v1.0.1"}}`))); err != nil {
		t.Fatal(err)
	}
	req, _ := queue.Get()
	if want := (reconcile.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: "wi-001"}}); req != want {
		t.Fatalf("queued %v, want %v (the spec change only)", req, want)
	}
	if got := queue.Len(); got != 0 {
		t.Fatalf("%d more requests queued, want none", got)
	}

	// A delete reaches the handler too.
	queue.Done(req)
	if err := k8sClient.Delete(ctx, newWatchedImage(ns, "wi-002", "127.0.0.1:1/source-test", "v1.0.0", "patch")); err != nil {
		t.Fatal(err)
	}
	if req, _ := queue.Get(); req.Name != "wi-002" {
		t.Fatalf("queued %v after a delete, want wi-002", req)
	}
}

// A kind that is not served yet, as when the CRD is applied together with the manager, is
// waited for: the source starts at once and syncs once the CRD is in.
func TestPromptKindWaitsForAKindServedLater(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ns := newNamespace(t)
	c, queue := newCacheAndQueue(ctx, t, ns)
	gvk := schema.GroupVersionKind{Group: "late.imagewatcher.dev", Version: "v1", Kind: "Late"}
	late := &metav1.PartialObjectMetadata{}
	late.SetGroupVersionKind(gvk)
	src := newPromptKind(c, late, &handler.EnqueueRequestForObject{})
	if err := src.Start(ctx, queue); err != nil {
		t.Fatalf("Start with the kind not served: %v", err)
	}
	notYet, stop := context.WithTimeout(ctx, 1500*time.Millisecond)
	defer stop()
	if err := src.WaitForSync(notYet); err == nil || !strings.Contains(err.Error(), "not served") {
		t.Fatalf("WaitForSync before the CRD: %v, want an error saying the kind is not served", err)
	}

	_, err := envtest.InstallCRDs(restCfg, envtest.CRDInstallOptions{CRDs: []*apiextensionsv1.CustomResourceDefinition{{
		ObjectMeta: metav1.ObjectMeta{Name: "lates.late.imagewatcher.dev"},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: gvk.Group, Scope: apiextensionsv1.NamespaceScoped,
			Names: apiextensionsv1.CustomResourceDefinitionNames{Plural: "lates", Singular: "late", Kind: gvk.Kind, ListKind: "LateList"},
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{
				Name: gvk.Version, Served: true, Storage: true,
				Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{Type: "object"}},
			}},
		},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	obj := &unstructured.Unstructured{}
	obj.SetGroupVersionKind(gvk)
	obj.SetNamespace(ns)
	obj.SetName("first")
	if err := k8sClient.Create(ctx, obj); err != nil {
		t.Fatal(err)
	}
	synced, stop2 := context.WithTimeout(ctx, 30*time.Second)
	defer stop2()
	if err := src.WaitForSync(synced); err != nil {
		t.Fatalf("WaitForSync after the CRD: %v", err)
	}
	got := make(chan reconcile.Request, 1)
	go func() { req, _ := queue.Get(); got <- req }()
	select {
	case req := <-got:
		if req.Name != "first" || req.Namespace != ns {
			t.Fatalf("queued %v, want %s/first", req, ns)
		}
	case <-synced.Done():
		t.Fatal("the object of the late kind never reached the queue")
	}
}

// newCacheAndQueue starts a cache of ns of its own, as the manager starts its cache before
// any source (the suite's has synced long ago), and a queue for a source to fill.
func newCacheAndQueue(ctx context.Context, t *testing.T, ns string) (cache.Cache, workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	t.Helper()
	c, err := cache.New(restCfg, cache.Options{Scheme: k8sClient.Scheme(), DefaultNamespaces: map[string]cache.Config{ns: {}}})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = c.Start(ctx) }()
	queue := workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[reconcile.Request]())
	t.Cleanup(queue.ShutDown)
	return c, queue
}
