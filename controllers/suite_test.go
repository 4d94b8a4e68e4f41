package controllers

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	imagesv1 "github.com/imagewatcher/image-watcher/api/v1alpha1"
	"github.com/imagewatcher/image-watcher/internal/metrics"
	"github.com/imagewatcher/image-watcher/internal/registry"
)

// The suite runs one real kube-apiserver and etcd (envtest) and one manager for every test
// in this package; each test works in a namespace of its own.
var (
	// metricsAddr is where the manager serves /metrics.
	metricsAddr string
	k8sClient   client.Client
	restCfg     *rest.Config
	clock       = &testClock{}
	// logs holds everything the manager logged, debug included.
	logs logBuffer
)

// testClock is real time plus an offset a test can add to, so "the interval has passed" is
// tested without waiting a minute.
type testClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

func TestMain(m *testing.M) {
	os.Exit(runSuite(m))
}

func runSuite(m *testing.M) int {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		fmt.Fprintln(os.Stderr, "controllers: KUBEBUILDER_ASSETS is not set; run `make test` (it provides etcd and kube-apiserver)")
		return 1
	}
	// Debug logs always go to logs, so tests can prove what never appears in them; to
	// stderr too with TEST_VERBOSE.
	var sink io.Writer = &logs
	if os.Getenv("TEST_VERBOSE") != "" {
		sink = io.MultiWriter(&logs, os.Stderr)
	}
	ctrl.SetLogger(zap.New(zap.UseDevMode(true), zap.Level(zapcore.Level(-5)), zap.WriteTo(sink)))

	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	cfg, err := env.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting envtest:", err)
		return 1
	}
	defer func() { _ = env.Stop() }()
	restCfg = cfg

	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(imagesv1.AddToScheme(scheme))
	k8sClient, err = client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		fmt.Fprintln(os.Stderr, "creating a client:", err)
		return 1
	}

	metricsAddr, err = freeAddress()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme,
		Cache:                  CacheOptions(),
		Metrics:                metricsserver.Options{BindAddress: metricsAddr},
		HealthProbeBindAddress: "0",
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "creating the manager:", err)
		return 1
	}
	reconciler := &WatchedImageReconciler{
		Client:    mgr.GetClient(),
		Registry:  &registry.Client{Timeout: 2 * time.Second, Transport: metrics.Transport{}},
		APIReader: mgr.GetAPIReader(),
		Recorder:  mgr.GetEventRecorder("image-watcher"),
		Now:       clock.Now,
		RetryBase: 200 * time.Millisecond,
		RetryMax:  time.Second,
	}
	if err := reconciler.setupWith(mgr, reconciles); err != nil {
		fmt.Fprintln(os.Stderr, "setting up the reconciler:", err)
		return 1
	}
	reconciles.next = reconciler
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	code := m.Run()
	cancel()
	if err := <-done; err != nil {
		fmt.Fprintln(os.Stderr, "manager:", err)
		return 1
	}
	return code
}

// logBuffer collects the manager's logs.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// freeAddress finds a free port on 127.0.0.1 for the manager's metrics endpoint.
func freeAddress() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer func() { _ = l.Close() }()
	return l.Addr().String(), nil
}

// newNamespace creates a namespace for one test and deletes it afterwards.
func newNamespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "wi-test-"}}
	if err := k8sClient.Create(context.Background(), ns); err != nil {
		t.Fatalf("creating namespace: %v", err)
	}
	t.Cleanup(func() { _ = k8sClient.Delete(context.Background(), ns) })
	return ns.Name
}

// eventually retries check until it returns nil or the timeout passes.
func eventually(t *testing.T, timeout time.Duration, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %v", timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// reconcileCounter counts finished reconciles per object (status write included), to prove
// there is no hot loop and to know when a reconcile has run its course.
type reconcileCounter struct {
	next reconcile.Reconciler

	mu     sync.Mutex
	counts map[types.NamespacedName]int
}

var reconciles = &reconcileCounter{counts: map[types.NamespacedName]int{}}

func (c *reconcileCounter) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	result, err := c.next.Reconcile(ctx, req)
	c.mu.Lock()
	c.counts[req.NamespacedName]++
	c.mu.Unlock()
	return result, err
}

func (c *reconcileCounter) count(ns, name string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.counts[types.NamespacedName{Namespace: ns, Name: name}]
}
