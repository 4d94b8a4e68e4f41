// Package controllers holds the WatchedImage reconciler: the only code that reads from and
// writes to the API server.
package controllers

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	imagesv1 "github.com/imagewatcher/image-watcher/api/v1alpha1"
	"github.com/imagewatcher/image-watcher/internal/credentials"
	"github.com/imagewatcher/image-watcher/internal/metrics"
	"github.com/imagewatcher/image-watcher/internal/registry"
	"github.com/imagewatcher/image-watcher/internal/tagcache"
	"github.com/imagewatcher/image-watcher/internal/versions"
)

// DefaultMaxConcurrentReconciles is the manager's default: a reconcile mostly waits on the
// API server's answer to its status write, and registries have a bound of their own, so
// many in flight let a cold start of 1,000 resources go at the API server's pace
// (docs/benchmark.md).
const DefaultMaxConcurrentReconciles = 64

// TagLister lists every tag of a repository; *registry.Client is the real one.
type TagLister interface {
	ListTags(ctx context.Context, repo name.Repository, keychain authn.Keychain, transport http.RoundTripper) ([]string, error)
}

var _ TagLister = (*registry.Client)(nil)

// WatchedImageReconciler keeps each WatchedImage's status at the newest eligible tag.
type WatchedImageReconciler struct {
	client.Client
	// Registry lists tags; Cache shares its listings between resources.
	Registry TagLister
	Cache    *tagcache.Cache
	// Keychain is the controller's own credentials (its docker config); resources without
	// secretRef or serviceAccountName use it.
	Keychain authn.Keychain
	// APIReader reads Secrets and ServiceAccounts uncached; nil means Client.
	APIReader client.Reader
	Recorder  events.EventRecorder
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// RetryBase and RetryMax bound the backoff after a failed scan.
	RetryBase, RetryMax time.Duration
	// MaxConcurrentReconciles is how many resources are reconciled at once; 0 means
	// DefaultMaxConcurrentReconciles.
	MaxConcurrentReconciles int

	backoff    *backoff
	transports sync.Map // CA identity → http.RoundTripper
}

// +kubebuilder:rbac:groups=images.imagewatcher.dev,resources=watchedimages,verbs=get;list;watch
// +kubebuilder:rbac:groups=images.imagewatcher.dev,resources=watchedimages/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=serviceaccounts,verbs=get

// Reconcile fetches the resource, snapshots it, and patches status once on the way out.
func (r *WatchedImageReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, err error) {
	var wi imagesv1.WatchedImage
	if err := r.Get(ctx, req.NamespacedName, &wi); err != nil {
		if apierrors.IsNotFound(err) {
			r.backoff.forget(req.NamespacedName)
			metrics.ForgetUpgrade(req.Namespace, req.Name)
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, err
	}
	before := wi.DeepCopy()
	defer func() {
		if perr := r.patchStatus(ctx, &wi, before); perr != nil && !apierrors.IsNotFound(perr) {
			err = errors.Join(err, fmt.Errorf("patching status: %w", perr))
		}
	}()
	return r.reconcile(ctx, &wi), nil
}

// reconcile decides what the resource needs and records it in wi.Status. Every path returns
// a plain RequeueAfter: errors here are the registry's or the spec's, and each has its own
// retry policy, which the workqueue's error backoff would override.
func (r *WatchedImageReconciler) reconcile(ctx context.Context, wi *imagesv1.WatchedImage) ctrl.Result {
	now := r.now()
	stamp := metav1.NewTime(now)
	key := types.NamespacedName{Namespace: wi.Namespace, Name: wi.Name}

	if wi.Spec.Suspend {
		// Observing the suspended generation makes un-suspending (a new generation) rescan at once.
		wi.Status.ObservedGeneration = wi.Generation
		markSuspended(wi, stamp)
		return ctrl.Result{}
	}

	target, err := parseTarget(wi)
	if err != nil {
		// Not retried: only a spec change (a new generation) can fix it.
		wi.Status.ObservedGeneration = wi.Generation
		markStalled(wi, stamp, err.Error())
		return ctrl.Result{}
	}

	cause := retryCause(wi)
	if wait := r.backoff.waiting(key, cause, now); wait > 0 {
		return ctrl.Result{RequeueAfter: wait}
	}
	if due, wait := scanDue(wi, now); !due {
		return ctrl.Result{RequeueAfter: wait}
	}

	listing, err := r.listTags(ctx, wi, target.repo)
	if err != nil {
		wait := r.backoff.failed(key, cause, now, registry.RetryAfter(err))
		reason := failureReason(err)
		log.FromContext(ctx).Info("scan failed", "reason", reason, "error", err.Error(), "retryIn", wait)
		if ready := readyCondition(wi); ready == nil || ready.Reason != reason {
			r.event(wi, "Warning", reason, "Scan", err.Error())
		}
		markFailed(wi, stamp, reason, err.Error())
		return ctrl.Result{RequeueAfter: wait}
	}
	r.backoff.forget(key)

	result, err := versions.Evaluate(listing.Listing, wi.Spec.CurrentTag, target.filter)
	if err != nil { // parseTarget checked currentTag, so this is a defect, not a spec error.
		markStalled(wi, stamp, err.Error())
		return ctrl.Result{}
	}
	r.recordScan(wi, target, listing, result, stamp)
	_, wait := scanDue(wi, now)
	return ctrl.Result{RequeueAfter: jitter(wait)}
}

// target is what a spec asks for, parsed: whatever fails here fails until the spec changes.
type target struct {
	repo     name.Repository
	strategy versions.Strategy
	filter   versions.Filter
}

func parseTarget(wi *imagesv1.WatchedImage) (target, error) {
	repo, err := registry.ParseRepository(wi.Spec.Image, wi.Spec.Insecure)
	if err != nil {
		return target{}, fmt.Errorf("spec.image: %w", err)
	}
	strategy, err := versions.ParseStrategy(wi.Spec.Strategy)
	if err != nil {
		return target{}, fmt.Errorf("spec.strategy: %w", err)
	}
	if _, ok := versions.Parse(wi.Spec.CurrentTag); !ok {
		return target{}, fmt.Errorf("spec.currentTag %q is not a version such as v1.2.3", wi.Spec.CurrentTag)
	}
	var include, exclude string
	if f := wi.Spec.TagFilter; f != nil {
		include, exclude = f.Include, f.Exclude
	}
	filter, err := versions.NewFilter(wi.Spec.Constraint, include, exclude)
	if err != nil {
		return target{}, fmt.Errorf("spec.%w", err)
	}
	return target{repo: repo, strategy: strategy, filter: filter}, nil
}

// listTags returns the repository's listing through the shared cache: a listing fetched
// within this resource's interval serves it, unless a rescan was requested or the resource
// was just un-suspended (whoever un-suspends wants today's tags, not the cache's).
//
// The cache key holds the identity of the credentials and of the CA trusted, so a listing
// fetched with one namespace's pull secret is served only to resources that resolve to the
// very same credentials.
func (r *WatchedImageReconciler) listTags(ctx context.Context, wi *imagesv1.WatchedImage, repo name.Repository) (tagcache.Listing, error) {
	var secretName, caSecretName string
	if wi.Spec.SecretRef != nil {
		secretName = wi.Spec.SecretRef.Name
	}
	if wi.Spec.CertSecretRef != nil {
		caSecretName = wi.Spec.CertSecretRef.Name
	}
	keychain, identity, err := credentials.Resolve(ctx, r.secrets(), wi.Namespace, secretName, wi.Spec.ServiceAccountName, repo.RegistryStr(), r.Keychain)
	if err != nil {
		return tagcache.Listing{}, err
	}
	transport, trust, err := r.transportFor(ctx, wi.Namespace, caSecretName)
	if err != nil {
		return tagcache.Listing{}, err
	}

	maxAge := wi.Spec.Interval.Duration
	if rescanRequested(wi) || wasSuspended(wi) {
		maxAge = 0
	}
	return r.Cache.Get(ctx, tagcache.Key(repo, identity, trust), maxAge, func(ctx context.Context) ([]string, error) {
		return r.Registry.ListTags(ctx, repo, keychain, transport)
	})
}

// transportFor returns the transport trusting the CA in the named Secret (nil for none: the
// registry client's own) and an identity of that trust. Transports are kept per CA, so
// resources sharing a CA share connections.
func (r *WatchedImageReconciler) transportFor(ctx context.Context, namespace, caSecretName string) (http.RoundTripper, string, error) {
	if caSecretName == "" {
		return nil, "", nil
	}
	rt, trust, err := credentials.TLSTransport(ctx, r.secrets(), namespace, caSecretName, nil)
	if err != nil {
		return nil, "", err
	}
	kept, _ := r.transports.LoadOrStore(trust, metrics.Transport{Base: rt})
	return kept.(http.RoundTripper), trust, nil
}

// secrets reads Secrets and ServiceAccounts straight from the API server: caching every
// Secret of the cluster, data included, would cost memory and widen what a compromised
// controller leaks, for reads that happen once per scan.
func (r *WatchedImageReconciler) secrets() client.Reader {
	if r.APIReader != nil {
		return r.APIReader
	}
	return r.Client
}

// recordScan writes a successful scan into status and announces a newer latest tag.
func (r *WatchedImageReconciler) recordScan(wi *imagesv1.WatchedImage, t target, listing tagcache.Listing, res versions.Result, now metav1.Time) {
	st := &wi.Status
	previous := st.LatestTag
	latest := res.For(t.strategy)

	st.ObservedGeneration = wi.Generation
	st.LatestTag = latest
	st.LatestImage = registry.FullImage(t.repo, latest)
	st.UpgradeAvailable = latest != wi.Spec.CurrentTag
	st.Latest = &imagesv1.LatestTags{Patch: res.Patch, Bugfix: res.Bugfix, Minor: res.Minor, Major: res.Major}
	st.TagCount = listing.Len()
	scanned := metav1.NewTime(listing.FetchedAt)
	st.LastScanTime = &scanned
	if v, ok := wi.Annotations[imagesv1.RequestedAtAnnotation]; ok {
		st.LastHandledRequestedAt = v
	}
	markReady(wi, now, imagesv1.SucceededReason, readyMessage(wi, res, listing.Len()))
	metrics.SetUpgrade(wi.Namespace, wi.Name, wi.Spec.Image, wi.Spec.CurrentTag, latest, st.UpgradeAvailable)

	// Announced when the answer moves, not when it is first known: the first scan's answer is
	// in status already, and a controller starting over 1,000 new resources would otherwise
	// double its writes with 1,000 events nobody is waiting for.
	if previous != "" && latest != previous && st.UpgradeAvailable {
		r.event(wi, "Normal", "UpgradeAvailable", "Scan", fmt.Sprintf("%s upgrade available: %s -> %s", t.strategy, previous, latest))
	}
}

func readyMessage(wi *imagesv1.WatchedImage, res versions.Result, tagCount int) string {
	msg := fmt.Sprintf("%s is the newest %s version for %s (%d tags listed)",
		wi.Status.LatestTag, wi.Spec.Strategy, wi.Spec.CurrentTag, tagCount)
	if !wi.Status.UpgradeAvailable {
		msg = fmt.Sprintf("no newer %s version than %s (%d tags listed)", wi.Spec.Strategy, wi.Spec.CurrentTag, tagCount)
	}
	if !res.CurrentFound {
		msg += fmt.Sprintf("; note: currentTag %s is not in the registry", wi.Spec.CurrentTag)
	}
	return msg
}

// failureReason maps a failed scan to the Ready reason a person acts on.
func failureReason(err error) string {
	if errors.Is(err, credentials.ErrCredentials) {
		return imagesv1.UnauthorizedReason
	}
	switch registry.KindOf(err) {
	case registry.NotFound:
		return imagesv1.NotFoundReason
	case registry.Unauthorized:
		return imagesv1.UnauthorizedReason
	case registry.RateLimited:
		return imagesv1.RateLimitedReason
	default:
		return imagesv1.RegistryErrorReason
	}
}

func wasSuspended(wi *imagesv1.WatchedImage) bool {
	ready := readyCondition(wi)
	return ready != nil && ready.Reason == imagesv1.SuspendedReason
}

func readyCondition(wi *imagesv1.WatchedImage) *metav1.Condition {
	for i := range wi.Status.Conditions {
		if wi.Status.Conditions[i].Type == imagesv1.ReadyCondition {
			return &wi.Status.Conditions[i]
		}
	}
	return nil
}

func (r *WatchedImageReconciler) event(wi *imagesv1.WatchedImage, eventType, reason, action, note string) {
	if r.Recorder != nil {
		r.Recorder.Eventf(wi, nil, eventType, reason, action, "%s", note)
	}
}

func (r *WatchedImageReconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// usersOfSecret maps a changed Secret to the WatchedImages that may read it: those naming it
// in secretRef or certSecretRef, and those using a ServiceAccount (whose imagePullSecrets
// may list it). Their backoff is cleared, so a fixed pull secret is tried at once.
func (r *WatchedImageReconciler) usersOfSecret(ctx context.Context, secret client.Object) []reconcile.Request {
	var list imagesv1.WatchedImageList
	if err := r.List(ctx, &list, client.InNamespace(secret.GetNamespace())); err != nil {
		log.FromContext(ctx).Error(err, "listing WatchedImages for a changed Secret", "secret", secret.GetName())
		return nil
	}
	var requests []reconcile.Request
	for _, wi := range list.Items {
		s := wi.Spec
		if (s.SecretRef != nil && s.SecretRef.Name == secret.GetName()) ||
			(s.CertSecretRef != nil && s.CertSecretRef.Name == secret.GetName()) ||
			s.ServiceAccountName != "" {
			key := types.NamespacedName{Namespace: wi.Namespace, Name: wi.Name}
			r.backoff.forget(key)
			requests = append(requests, reconcile.Request{NamespacedName: key})
		}
	}
	return requests
}

// SetupWithManager registers the reconciler. Status writes are watch events too, so only a
// new generation (spec change) or an annotation change (a rescan request) triggers a
// reconcile; the interval is kept by RequeueAfter.
func (r *WatchedImageReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return r.setupWith(mgr, r)
}

// CacheOptions is how the manager caches what the controller watches (WatchedImages, and
// Secrets' metadata): without managedFields, which the controller never reads and which
// make up much of each cached object.
func CacheOptions() cache.Options {
	return cache.Options{DefaultTransform: cache.TransformStripManagedFields()}
}

// setupWith registers rec, which is r itself or, in tests, r wrapped to observe its calls.
func (r *WatchedImageReconciler) setupWith(mgr ctrl.Manager, rec reconcile.Reconciler) error {
	if r.Cache == nil {
		r.Cache = &tagcache.Cache{Now: r.Now}
	}
	if r.Keychain == nil {
		r.Keychain = authn.DefaultKeychain
	}
	r.backoff = newBackoff(cmp.Or(r.RetryBase, 5*time.Second), cmp.Or(r.RetryMax, 10*time.Minute))
	watched := &imagesv1.WatchedImage{}
	// Only a Secret's metadata: the event is what matters, and the data is read when a scan
	// needs it.
	secrets := &metav1.PartialObjectMetadata{}
	secrets.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	c := mgr.GetCache()
	return ctrl.NewControllerManagedBy(mgr).
		WatchesRawSource(newPromptKind(c, watched, &handler.EnqueueRequestForObject{},
			predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		WatchesRawSource(newPromptKind(c, secrets, handler.EnqueueRequestsFromMapFunc(r.usersOfSecret))).
		WithOptions(controller.Options{MaxConcurrentReconciles: cmp.Or(r.MaxConcurrentReconciles, DefaultMaxConcurrentReconciles)}).
		Named("watchedimage").
		Complete(rec)
}
