package controllers

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"
)

// promptKind is controller-runtime's source.Kind, except that it reports itself synced the
// moment its informer has listed every object and handed each to the handler. Kind looks
// every 100 ms (client-go's WaitForCacheSync, twice over), and the workers wait for that
// look: on a cold start of 1,000 resources, 0.1–0.2 s before any answer
// (docs/benchmark.md). client-go's sync checker is a channel, so nothing polls while the
// list comes in.
type promptKind struct {
	cache      cache.Cache
	obj        client.Object
	handler    handler.EventHandler
	predicates []predicate.Predicate

	registered   chan struct{} // closed once registration is set
	registration toolscache.ResourceEventHandlerRegistration
}

var _ source.SyncingSource = (*promptKind)(nil)

func newPromptKind(c cache.Cache, obj client.Object, h handler.EventHandler, predicates ...predicate.Predicate) *promptKind {
	return &promptKind{cache: c, obj: obj, handler: h, predicates: predicates, registered: make(chan struct{})}
}

// Start registers the handler on the cache's informer for the kind, without waiting for it
// to sync; the controller calls WaitForSync next. The kind may not be served yet, when the
// CRD is applied together with the manager: like Kind, it tries again every second until
// WaitForSync gives up (the manager's cache sync timeout).
func (k *promptKind) Start(ctx context.Context, queue workqueue.TypedRateLimitingInterface[reconcile.Request]) error {
	go func() {
		_ = wait.PollUntilContextCancel(ctx, time.Second, true, func(ctx context.Context) (bool, error) {
			informer, err := k.cache.GetInformer(ctx, k.obj, cache.BlockUntilSynced(false))
			if err != nil {
				log.FromContext(ctx).Error(err, "watching a kind; trying again", "kind", fmt.Sprintf("%T", k.obj))
				return false, nil
			}
			if k.registration, err = informer.AddEventHandler(k.events(ctx, queue)); err != nil {
				log.FromContext(ctx).Error(err, "registering for a kind's events; trying again", "kind", fmt.Sprintf("%T", k.obj))
				return false, nil
			}
			close(k.registered)
			return true, nil
		})
	}()
	return nil
}

// events hands the informer's notifications to the handler, through the predicates. The
// informer hands over client.Objects; anything else is dropped rather than panicking in
// the informer's goroutine.
func (k *promptKind) events(ctx context.Context, queue workqueue.TypedRateLimitingInterface[reconcile.Request]) toolscache.ResourceEventHandler {
	return toolscache.ResourceEventHandlerFuncs{
		AddFunc: func(o any) {
			obj, ok := o.(client.Object)
			if !ok {
				return
			}
			e := event.CreateEvent{Object: obj}
			if k.passes(func(p predicate.Predicate) bool { return p.Create(e) }) {
				k.handler.Create(ctx, e, queue)
			}
		},
		UpdateFunc: func(old, o any) {
			before, ok := old.(client.Object)
			after, ok2 := o.(client.Object)
			if !ok || !ok2 {
				return
			}
			e := event.UpdateEvent{ObjectOld: before, ObjectNew: after}
			if k.passes(func(p predicate.Predicate) bool { return p.Update(e) }) {
				k.handler.Update(ctx, e, queue)
			}
		},
		DeleteFunc: func(o any) {
			e := event.DeleteEvent{}
			if tombstone, ok := o.(toolscache.DeletedFinalStateUnknown); ok {
				o, e.DeleteStateUnknown = tombstone.Obj, true
			}
			obj, ok := o.(client.Object)
			if !ok {
				return
			}
			e.Object = obj
			if k.passes(func(p predicate.Predicate) bool { return p.Delete(e) }) {
				k.handler.Delete(ctx, e, queue)
			}
		},
	}
}

func (k *promptKind) passes(test func(predicate.Predicate) bool) bool {
	for _, p := range k.predicates {
		if !test(p) {
			return false
		}
	}
	return true
}

// WaitForSync returns once every object of the initial list has reached the handler.
func (k *promptKind) WaitForSync(ctx context.Context) error {
	select {
	case <-k.registered:
	case <-ctx.Done():
		return fmt.Errorf("%T is not served: %w", k.obj, context.Cause(ctx))
	}
	if !toolscache.WaitFor(ctx, "", k.registration.HasSyncedChecker()) {
		return fmt.Errorf("the cache of %T did not sync: %w", k.obj, context.Cause(ctx))
	}
	return nil
}

func (k *promptKind) String() string { return fmt.Sprintf("kind source: %T", k.obj) }
