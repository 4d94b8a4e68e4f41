// Command image-watcher runs the WatchedImage controller, or with `check` answers one
// question about one image without a cluster.
package main

import (
	"context"
	"flag"
	"net/http"
	"net/http/pprof"
	"os"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	imagesv1 "github.com/imagewatcher/image-watcher/api/v1alpha1"
	"github.com/imagewatcher/image-watcher/controllers"
	"github.com/imagewatcher/image-watcher/internal/api"
	"github.com/imagewatcher/image-watcher/internal/check"
	"github.com/imagewatcher/image-watcher/internal/metrics"
	"github.com/imagewatcher/image-watcher/internal/registry"
	"github.com/imagewatcher/image-watcher/internal/tagcache"
)

var scheme = runtime.NewScheme()

func init() {
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(imagesv1.AddToScheme(scheme))
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "check" {
		ctx, cancel := context.WithCancel(context.Background())
		code := check.Run(ctx, os.Args[2:], os.Stdout, os.Stderr)
		cancel()
		os.Exit(code)
	}
	os.Exit(runManager())
}

func runManager() int {
	var (
		metricsAddr, probeAddr  string
		leaderElect             bool
		maxConcurrentReconciles int
		registryTimeout         time.Duration
		registryConcurrency     int
		kubeQPS                 float64
		kubeBurst               int
		profiling               bool
		apiAddr, apiRegistry    string
	)
	flag.StringVar(&metricsAddr, "metrics-bind-address", ":8080", "address the Prometheus metrics endpoint binds to; 0 turns metrics off")
	flag.StringVar(&probeAddr, "health-probe-bind-address", ":8081", "address the health and readiness probes bind to")
	flag.BoolVar(&leaderElect, "leader-elect", false, "elect a leader so that only one replica reconciles")
	flag.IntVar(&maxConcurrentReconciles, "max-concurrent-reconciles", controllers.DefaultMaxConcurrentReconciles, "WatchedImages reconciled at once; most of a reconcile is waiting on the API server or a registry")
	flag.DurationVar(&registryTimeout, "registry-timeout", 60*time.Second, "bound on one whole tag listing (all pages)")
	flag.IntVar(&registryConcurrency, "max-concurrent-registry-calls", 10, "tag listings in flight to one registry host at once; 0 means no bound")
	flag.Float64Var(&kubeQPS, "kube-api-qps", 500, "sustained requests per second to the API server")
	flag.IntVar(&kubeBurst, "kube-api-burst", 1000, "burst of requests to the API server")
	flag.StringVar(&apiAddr, "api-bind-address", "", "address of the seed's HTTP API (GET /images/{org}/{image}/{tag}), e.g. :4006; empty turns it off")
	flag.StringVar(&apiRegistry, "api-registry", "docker.io", "the registry the seed API reads: docker.io, host:port, or http://host:port for plain HTTP")
	flag.BoolVar(&profiling, "pprof", false, "serve Go's pprof profiles under /debug/pprof/ on the metrics endpoint")
	opts := zap.Options{Development: false}
	opts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&opts)))
	setupLog := ctrl.Log.WithName("setup")

	cfg, err := ctrl.GetConfig()
	if err != nil {
		setupLog.Error(err, "no Kubernetes configuration: pass --kubeconfig, set KUBECONFIG, or run in a cluster")
		return 1
	}
	cfg.QPS, cfg.Burst = float32(kubeQPS), kubeBurst

	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme,
		Cache:                  controllers.CacheOptions(),
		Metrics:                metricsOptions(metricsAddr, profiling),
		HealthProbeBindAddress: probeAddr,
		LeaderElection:         leaderElect,
		LeaderElectionID:       "image-watcher.images.imagewatcher.dev",
	})
	if err != nil {
		setupLog.Error(err, "creating the manager")
		return 1
	}

	// One registry client and one tag cache serve the controller and the seed API alike.
	registryClient := &registry.Client{
		Timeout:                  registryTimeout,
		MaxConcurrentPerRegistry: registryConcurrency,
		Transport:                metrics.Transport{Base: remote.DefaultTransport},
	}
	cache := &tagcache.Cache{}
	reconciler := &controllers.WatchedImageReconciler{
		Client:                  mgr.GetClient(),
		APIReader:               mgr.GetAPIReader(),
		Registry:                registryClient,
		Cache:                   cache,
		Keychain:                authn.DefaultKeychain,
		Recorder:                mgr.GetEventRecorder("image-watcher"),
		MaxConcurrentReconciles: maxConcurrentReconciles,
	}
	if err := reconciler.SetupWithManager(mgr); err != nil {
		setupLog.Error(err, "setting up the WatchedImage controller")
		return 1
	}
	if apiAddr != "" {
		seedAPI := &api.Server{Addr: apiAddr, Registry: apiRegistry, Lister: registryClient, Cache: cache, Keychain: authn.DefaultKeychain}
		if err := mgr.Add(seedAPI); err != nil {
			setupLog.Error(err, "adding the seed API")
			return 1
		}
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		setupLog.Error(err, "adding the health check")
		return 1
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		setupLog.Error(err, "adding the readiness check")
		return 1
	}

	setupLog.Info("starting the manager")
	if err := mgr.Start(ctrl.SetupSignalHandler()); err != nil {
		setupLog.Error(err, "running the manager")
		return 1
	}
	return 0
}

// metricsOptions serves Prometheus metrics on addr and, when asked, pprof beside them.
func metricsOptions(addr string, profiling bool) metricsserver.Options {
	opts := metricsserver.Options{BindAddress: addr}
	if profiling {
		opts.ExtraHandlers = map[string]http.Handler{
			"/debug/pprof/":        http.HandlerFunc(pprof.Index),
			"/debug/pprof/cmdline": http.HandlerFunc(pprof.Cmdline),
			"/debug/pprof/profile": http.HandlerFunc(pprof.Profile),
			"/debug/pprof/symbol":  http.HandlerFunc(pprof.Symbol),
			"/debug/pprof/trace":   http.HandlerFunc(pprof.Trace),
		}
	}
	return opts
}
