// Command bench measures a cold start at scale: R repositories of T tags on a local registry
// that pages at P tags, N WatchedImages already stored, then the manager started from zero
// as its own process. It prints the seconds until every resource shows its correct
// latestTag, the API-server floor measured the same way in the same run (8 concurrent
// clients making N plain status patches), their ratio, the same floor with the status the
// controller writes, the tag-list requests the registry saw, the manager's status writes
// and its peak RSS. Run it with `make bench`; docs/benchmark.md says how to read it.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	imagesv1 "github.com/imagewatcher/image-watcher/api/v1alpha1"
	"github.com/imagewatcher/image-watcher/internal/registry"
	"github.com/imagewatcher/image-watcher/internal/registrytest"
	"github.com/imagewatcher/image-watcher/internal/versions"
)

type config struct {
	resources, repos, tags, pageSize int
	timeout, steady                  time.Duration
	jsonOut, verbose                 bool
	manager, managerLog              string
	cpuProfile, apiProfile           string
	managerArgs                      []string
}

// result is what one run measured.
type result struct {
	Resources       int     `json:"resources"`
	Repositories    int     `json:"repositories"`
	TagsPerRepo     int     `json:"tagsPerRepository"`
	PageSize        int     `json:"pageSize"`
	ConvergeSeconds float64 `json:"convergeSeconds"`
	FloorSeconds    float64 `json:"floorSeconds"`
	Ratio           float64 `json:"ratio"`
	// FullFloorSeconds is the floor again with the status the controller writes in place
	// of {"tagCount":1}; FullRatio is convergence over it.
	FullFloorSeconds float64 `json:"fullStatusFloorSeconds"`
	FullRatio        float64 `json:"fullStatusRatio"`
	TagListRequests  int     `json:"tagListRequests"`
	MinimumRequests  int     `json:"minimumTagListRequests"`
	StatusWrites     int     `json:"statusWrites"`
	PeakRSSMiB       float64 `json:"peakRSSMiB"`
	// Steady* are what happened in the -steady period after converging (0 s: not watched).
	SteadySeconds  float64 `json:"steadySeconds"`
	SteadyWrites   int     `json:"steadyStatusWrites"`
	SteadyRequests int     `json:"steadyTagListRequests"`
}

func main() {
	var cfg config
	flag.IntVar(&cfg.resources, "resources", 1000, "WatchedImages stored before the manager starts")
	flag.IntVar(&cfg.repos, "repos", 100, "repositories on the local registry")
	flag.IntVar(&cfg.tags, "tags", 300, "tags per repository")
	flag.IntVar(&cfg.pageSize, "page-size", 100, "the registry's page size cap")
	flag.DurationVar(&cfg.timeout, "timeout", 2*time.Minute, "give up when not converged by then")
	flag.DurationVar(&cfg.steady, "steady", 0, "after converging, watch this long for writes and registry calls that should not happen")
	flag.BoolVar(&cfg.jsonOut, "json", false, "print the result as JSON")
	flag.BoolVar(&cfg.verbose, "v", false, "print progress while converging on stderr")
	flag.StringVar(&cfg.cpuProfile, "cpuprofile", "", "write the manager's CPU profile of the cold start to this file (starts the manager with --pprof)")
	flag.StringVar(&cfg.apiProfile, "apiserver-cpuprofile", "", "write the API server's CPU profile of the cold start to this file")
	flag.StringVar(&cfg.manager, "manager", "bin/image-watcher", "the manager binary")
	flag.StringVar(&cfg.managerLog, "manager-log", "", "also write the manager's log to this file")
	flag.Parse()
	cfg.managerArgs = flag.Args() // after "--": passed to the manager
	if err := run(cfg); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(cfg config) error {
	env := &envtest.Environment{CRDDirectoryPaths: []string{"config/crd/bases"}, ErrorIfCRDPathMissing: true}
	restCfg, err := env.Start()
	if err != nil {
		return fmt.Errorf("starting the control plane (KUBEBUILDER_ASSETS=%q): %w", os.Getenv("KUBEBUILDER_ASSETS"), err)
	}
	defer func() { _ = env.Stop() }()
	restCfg.QPS, restCfg.Burst = -1, -1 // the bench's own clients must not be the bottleneck
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = imagesv1.AddToScheme(scheme)
	c, err := client.New(restCfg, client.Options{Scheme: scheme})
	if err != nil {
		return err
	}

	reg, err := registrytest.Start(registrytest.WithPageSize(cfg.pageSize))
	if err != nil {
		return fmt.Errorf("starting the registry: %w", err)
	}
	defer reg.Close()
	want := map[string]string{} // resource name → expected latestTag
	strategies := []string{"patch", "bugfix", "minor", "major"}
	for r := range cfg.repos {
		reg.SetTags(fmt.Sprintf("bench/repo-%d", r), tagsFor(cfg.tags))
	}
	listing := versions.NewListing(tagsFor(cfg.tags))
	answers, err := versions.Evaluate(listing, "v1.0.0", versions.Filter{})
	if err != nil {
		return err
	}

	ctx := context.Background()
	for _, ns := range []string{"bench", "floor"} {
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			return err
		}
	}
	objects := func(ns string) []*imagesv1.WatchedImage {
		out := make([]*imagesv1.WatchedImage, cfg.resources)
		for i := range out {
			s := strategies[i%len(strategies)]
			out[i] = &imagesv1.WatchedImage{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("wi-%04d", i)},
				Spec: imagesv1.WatchedImageSpec{
					Image:      fmt.Sprintf("%s/bench/repo-%d", reg.Host(), i%cfg.repos),
					CurrentTag: "v1.0.0",
					Strategy:   s,
					Insecure:   true,
				},
			}
			want[out[i].Name] = answers.For(versions.Strategy(s))
		}
		return out
	}
	if err := parallel(16, objects("bench"), func(wi *imagesv1.WatchedImage) error { return c.Create(ctx, wi) }); err != nil {
		return fmt.Errorf("creating WatchedImages: %w", err)
	}

	// The floor: the same number of plain status patches from 8 concurrent clients, on
	// throwaway objects, removed before the manager starts. Then the same again with the
	// status the controller writes, which shows how much of the ratio is the status's size.
	floorObjects := objects("floor")
	if err := parallel(16, floorObjects, func(wi *imagesv1.WatchedImage) error { return c.Create(ctx, wi) }); err != nil {
		return err
	}
	settle()
	floorCPU := cpuOf("kube-apiserver", "etcd")
	floor, err := patchAll(ctx, c, floorObjects, func(*imagesv1.WatchedImage) ([]byte, error) { return []byte(`{"status":{"tagCount":1}}`), nil })
	if err != nil {
		return fmt.Errorf("measuring the floor: %w", err)
	}
	floorCPU = cpuOf("kube-apiserver", "etcd").minus(floorCPU)
	settle()
	fullFloor, err := patchAll(ctx, c, floorObjects, func(wi *imagesv1.WatchedImage) ([]byte, error) {
		return fullStatus(wi, answers, cfg.tags)
	})
	if err != nil {
		return fmt.Errorf("measuring the floor with full status: %w", err)
	}
	if err := c.DeleteAllOf(ctx, &imagesv1.WatchedImage{}, client.InNamespace("floor")); err != nil {
		return err
	}

	kubeconfig, err := writeKubeconfig(env)
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(filepath.Dir(kubeconfig)) }()
	addrs, err := freeAddresses(2)
	if err != nil {
		return err
	}
	metricsAddr, probeAddr := addrs[0], addrs[1]
	args := append([]string{"--kubeconfig=" + kubeconfig, "--metrics-bind-address=" + metricsAddr, "--health-probe-bind-address=" + probeAddr}, cfg.managerArgs...)
	if cfg.cpuProfile != "" {
		args = append(args, "--pprof")
	}
	mgr := exec.Command(cfg.manager, args...)
	var mgrLog strings.Builder
	var logOut io.Writer = &lockedWriter{w: &mgrLog}
	if cfg.managerLog != "" {
		f, err := os.Create(cfg.managerLog)
		if err != nil {
			return err
		}
		defer func() { _ = f.Close() }()
		logOut = io.MultiWriter(logOut, f)
	}
	mgr.Stdout, mgr.Stderr = io.Discard, logOut
	settle()
	runCPU := cpuOf("kube-apiserver", "etcd")
	start := time.Now()
	if err := mgr.Start(); err != nil {
		return fmt.Errorf("starting the manager: %w", err)
	}
	// A manager that exits ends the wait at once, with its log.
	ctx, stop := context.WithCancelCause(ctx)
	exited := make(chan struct{})
	go func() {
		err := mgr.Wait()
		stop(fmt.Errorf("the manager exited: %v", err))
		close(exited)
	}()
	defer func() { _ = mgr.Process.Kill(); <-exited }()
	if cfg.verbose {
		fmt.Fprintf(os.Stderr, "manager started at %s\n", start.UTC().Format(time.RFC3339Nano))
	}

	if cfg.cpuProfile != "" {
		profiled := profileCPU(http.DefaultClient, "http://"+metricsAddr, cfg.cpuProfile)
		defer func() {
			if err := <-profiled; err != nil {
				fmt.Fprintln(os.Stderr, "bench: manager cpu profile:", err)
			}
		}()
	}
	if cfg.apiProfile != "" {
		hc, err := rest.HTTPClientFor(restCfg)
		if err != nil {
			return err
		}
		profiled := profileCPU(hc, strings.TrimSuffix(restCfg.Host, "/"), cfg.apiProfile)
		defer func() {
			if err := <-profiled; err != nil {
				fmt.Fprintln(os.Stderr, "bench: API server cpu profile:", err)
			}
		}()
	}
	converged, err := waitConverged(ctx, c, restCfg, want, cfg.timeout, cfg.verbose)
	if err != nil {
		return fmt.Errorf("%w\nmanager log (tail):\n%s", err, tail(mgrLog.String(), 20))
	}
	elapsed := converged.Sub(start)
	runCPU = cpuOf("kube-apiserver", "etcd").minus(runCPU)
	if cfg.verbose {
		managerCPU, _ := processCPU(mgr.Process.Pid)
		fmt.Fprintf(os.Stderr, "CPU seconds during the floor: %s\n", floorCPU)
		fmt.Fprintf(os.Stderr, "CPU seconds during the cold start: %s, image-watcher %.2f\n", runCPU, managerCPU.Seconds())
	}
	res := result{
		Resources: cfg.resources, Repositories: cfg.repos, TagsPerRepo: cfg.tags, PageSize: cfg.pageSize,
		ConvergeSeconds: elapsed.Seconds(), FloorSeconds: floor.Seconds(), Ratio: elapsed.Seconds() / floor.Seconds(),
		FullFloorSeconds: fullFloor.Seconds(), FullRatio: elapsed.Seconds() / fullFloor.Seconds(),
		TagListRequests: reg.AllTagListRequests(), MinimumRequests: cfg.repos * ((cfg.tags + cfg.pageSize - 1) / cfg.pageSize),
	}
	if res.StatusWrites, err = statusWrites(metricsAddr); err != nil {
		return err
	}
	if cfg.steady > 0 {
		requests := reg.AllTagListRequests()
		time.Sleep(cfg.steady)
		writes, err := statusWrites(metricsAddr)
		if err != nil {
			return err
		}
		res.SteadySeconds, res.SteadyWrites, res.SteadyRequests = cfg.steady.Seconds(), writes-res.StatusWrites, reg.AllTagListRequests()-requests
	}
	if res.PeakRSSMiB, err = peakRSS(mgr.Process.Pid); err != nil {
		return err
	}
	return report(res, cfg.jsonOut)
}

// patchAll sends one status merge patch per object from 8 concurrent clients and returns
// how long they took.
func patchAll(ctx context.Context, c client.Client, objs []*imagesv1.WatchedImage, body func(*imagesv1.WatchedImage) ([]byte, error)) (time.Duration, error) {
	patches := make([][]byte, len(objs)) // built beforehand: only the API server is timed
	for i, wi := range objs {
		b, err := body(wi)
		if err != nil {
			return 0, err
		}
		patches[i] = b
	}
	indexes := make([]int, len(objs))
	for i := range indexes {
		indexes[i] = i
	}
	start := time.Now()
	err := parallel(8, indexes, func(i int) error {
		return c.Status().Patch(ctx, objs[i], client.RawPatch(types.MergePatchType, patches[i]))
	})
	return time.Since(start), err
}

// fullStatus is the status patch the controller writes on a resource's first scan: every
// field it sets, with the same values and a Ready condition of the same length.
func fullStatus(wi *imagesv1.WatchedImage, answers versions.Result, tagCount int) ([]byte, error) {
	repo, err := registry.ParseRepository(wi.Spec.Image, wi.Spec.Insecure)
	if err != nil {
		return nil, err
	}
	now := metav1.Now()
	latest := answers.For(versions.Strategy(wi.Spec.Strategy))
	st := imagesv1.WatchedImageStatus{
		ObservedGeneration: wi.Generation,
		LatestTag:          latest,
		LatestImage:        registry.FullImage(repo, latest),
		UpgradeAvailable:   latest != wi.Spec.CurrentTag,
		Latest:             &imagesv1.LatestTags{Patch: answers.Patch, Bugfix: answers.Bugfix, Minor: answers.Minor, Major: answers.Major},
		TagCount:           tagCount,
		LastScanTime:       &now,
		Conditions: []metav1.Condition{{
			Type: imagesv1.ReadyCondition, Status: metav1.ConditionTrue, Reason: imagesv1.SucceededReason,
			ObservedGeneration: wi.Generation, LastTransitionTime: now,
			Message: fmt.Sprintf("%s is the newest %s version for %s (%d tags listed)", latest, wi.Spec.Strategy, wi.Spec.CurrentTag, tagCount),
		}},
	}
	return json.Marshal(map[string]any{"status": st})
}

// tagsFor is a repository's tags: v1.0.0 … in minors of 30 patches, with a hotfix build and
// a release candidate now and then, so every strategy has a real answer.
func tagsFor(n int) []string {
	tags := make([]string, 0, n)
	for i := 0; len(tags) < n; i++ {
		v := fmt.Sprintf("v%d.%d.%d", 1+i/150, (i/30)%5, i%30)
		switch i % 20 {
		case 7:
			tags = append(tags, v+"-patch.1")
		case 13:
			tags = append(tags, v+"-rc.1")
		default:
			tags = append(tags, v)
		}
	}
	return tags
}

// waitConverged watches the resources until every one shows its expected latestTag with
// Ready True. A watch, not polling: listing 1,000 objects over and over would load the API
// server the manager is measured against. The watch is read raw and decoded only for the
// three fields it checks, so the bench's own CPU takes little from the two the manager
// and the control plane share.
func waitConverged(ctx context.Context, c client.Client, restCfg *rest.Config, want map[string]string, timeout time.Duration, verbose bool) (time.Time, error) {
	started := time.Now()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var list imagesv1.WatchedImageList
	if err := c.List(ctx, &list, client.InNamespace("bench")); err != nil {
		return time.Time{}, err
	}
	done := map[string]bool{}
	observe := func(name, latestTag string, conditions []metav1.Condition) {
		ready := meta.IsStatusConditionTrue(conditions, imagesv1.ReadyCondition)
		if latestTag == want[name] && ready {
			done[name] = true
		} else {
			delete(done, name)
		}
	}
	for _, wi := range list.Items {
		observe(wi.Name, wi.Status.LatestTag, wi.Status.Conditions)
	}

	hc, err := rest.HTTPClientFor(restCfg)
	if err != nil {
		return time.Time{}, err
	}
	url := fmt.Sprintf("%s/apis/%s/namespaces/bench/watchedimages?watch=true&resourceVersion=%s",
		strings.TrimSuffix(restCfg.Host, "/"), imagesv1.GroupVersion, list.ResourceVersion)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return time.Time{}, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return time.Time{}, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return time.Time{}, fmt.Errorf("watching WatchedImages: %s", resp.Status)
	}
	dec := json.NewDecoder(resp.Body)
	lastReport, firstStatus := started, false
	for len(done) < len(want) {
		var ev struct {
			Object struct {
				Metadata struct {
					Name string `json:"name"`
				} `json:"metadata"`
				Status struct {
					LatestTag  string             `json:"latestTag"`
					Conditions []metav1.Condition `json:"conditions"`
				} `json:"status"`
			} `json:"object"`
		}
		if err := dec.Decode(&ev); err != nil {
			if errors.Is(context.Cause(ctx), context.DeadlineExceeded) {
				return time.Time{}, fmt.Errorf("after %s only %d of %d resources show their latest tag", timeout, len(done), len(want))
			}
			if ctx.Err() != nil {
				return time.Time{}, context.Cause(ctx)
			}
			return time.Time{}, fmt.Errorf("reading the watch: %w", err)
		}
		observe(ev.Object.Metadata.Name, ev.Object.Status.LatestTag, ev.Object.Status.Conditions)
		if verbose && !firstStatus && ev.Object.Status.LatestTag != "" {
			firstStatus = true
			fmt.Fprintf(os.Stderr, "%6.2f s  first status written\n", time.Since(started).Seconds())
		}
		if now := time.Now(); verbose && now.Sub(lastReport) > 500*time.Millisecond {
			lastReport = now
			fmt.Fprintf(os.Stderr, "%6.2f s  %d of %d converged\n", now.Sub(started).Seconds(), len(done), len(want))
		}
	}
	return time.Now(), nil
}

// statusWrites counts the manager's PATCH requests to the API server, from client-go's own
// request metric on the manager's metrics endpoint. Status patches are the only PATCHes it
// makes towards WatchedImages; event series updates are PATCHes too, but no event repeats
// in a cold start.
func statusWrites(metricsAddr string) (int, error) {
	resp, err := http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		return 0, err
	}
	defer func() { _ = resp.Body.Close() }()
	total := 0
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if os.Getenv("DUMP") != "" && strings.HasPrefix(line, "rest_client_requests_total{") {
			fmt.Fprintln(os.Stderr, line)
		}
		if strings.HasPrefix(line, "rest_client_requests_total{") && strings.Contains(line, `method="PATCH"`) {
			f := strings.Fields(line)
			n, err := strconv.ParseFloat(f[len(f)-1], 64)
			if err != nil {
				return 0, err
			}
			total += int(n)
		}
	}
	return total, sc.Err()
}

// profileCPU fetches a CPU profile over the next seconds from base's /debug/pprof, retrying
// until it answers (the manager's metrics endpoint takes a moment to start).
func profileCPU(hc *http.Client, base, path string) <-chan error {
	done := make(chan error, 1)
	go func() {
		for range 100 {
			resp, err := hc.Get(base + "/debug/pprof/profile?seconds=8")
			if err != nil {
				time.Sleep(20 * time.Millisecond)
				continue
			}
			defer func() { _ = resp.Body.Close() }()
			f, err := os.Create(path)
			if err != nil {
				done <- err
				return
			}
			_, err = io.Copy(f, resp.Body)
			done <- errors.Join(err, f.Close())
			return
		}
		done <- errors.New("the manager's metrics endpoint never answered")
	}()
	return done
}

// settle waits until the control plane is idle (under a tenth of a core over a quarter of
// a second, at most 10 s), so neither measurement pays for the work before it: creating
// 2,000 objects, deleting 1,000.
func settle() {
	const window = 250 * time.Millisecond
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		before := cpuOf("kube-apiserver", "etcd")
		time.Sleep(window)
		var used time.Duration
		for _, d := range cpuOf("kube-apiserver", "etcd").minus(before) {
			used += d
		}
		if used < window/10 {
			return
		}
	}
}

// cpuUse is CPU time by process name.
type cpuUse map[string]time.Duration

// cpuOf reads the CPU time used so far by this process's children of the given names (the
// control plane envtest started).
func cpuOf(names ...string) cpuUse {
	use := cpuUse{}
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		comm := string(b[strings.IndexByte(string(b), '(')+1 : strings.LastIndexByte(string(b), ')')])
		fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
		if ppid, _ := strconv.Atoi(fields[1]); ppid != os.Getpid() || !slices.Contains(names, comm) {
			continue
		}
		cpu, _ := processCPU(pid)
		use[comm] += cpu
	}
	return use
}

func (u cpuUse) minus(before cpuUse) cpuUse {
	out := cpuUse{}
	for k, v := range u {
		out[k] = v - before[k]
	}
	return out
}

func (u cpuUse) String() string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(u)) {
		parts = append(parts, fmt.Sprintf("%s %.2f", k, u[k].Seconds()))
	}
	return strings.Join(parts, ", ")
}

// processCPU is a process's user and system CPU time so far, from /proc/<pid>/stat.
func processCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	utime, _ := strconv.Atoi(fields[11])
	stime, _ := strconv.Atoi(fields[12])
	return time.Duration(utime+stime) * time.Second / 100, nil // USER_HZ is 100 on Linux
}

// peakRSS reads the process's high-water mark of resident memory.
func peakRSS(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			return float64(kb) / 1024, err
		}
	}
	return 0, errors.New("no VmHWM in /proc/<pid>/status")
}

func report(r result, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	fmt.Printf("resources             %d (over %d repositories of %d tags, pages of %d)\n", r.Resources, r.Repositories, r.TagsPerRepo, r.PageSize)
	fmt.Printf("converged in          %.2f s\n", r.ConvergeSeconds)
	fmt.Printf("API-server floor      %.2f s (8 clients, %d status patches)\n", r.FloorSeconds, r.Resources)
	fmt.Printf("ratio                 %.2f\n", r.Ratio)
	fmt.Printf("full-status floor     %.2f s (the same patches carrying the controller's status; ratio %.2f)\n", r.FullFloorSeconds, r.FullRatio)
	fmt.Printf("tag-list requests     %d (minimum %d)\n", r.TagListRequests, r.MinimumRequests)
	fmt.Printf("status writes         %d\n", r.StatusWrites)
	fmt.Printf("manager peak RSS      %.1f MiB\n", r.PeakRSSMiB)
	if r.SteadySeconds > 0 {
		fmt.Printf("steady %4.0f s          %d status writes, %d tag-list requests\n", r.SteadySeconds, r.SteadyWrites, r.SteadyRequests)
	}
	return nil
}

// parallel runs fn over items with n workers and returns the first error.
func parallel[T any](n int, items []T, fn func(T) error) error {
	var (
		wg    sync.WaitGroup
		next  atomic.Int64
		mu    sync.Mutex
		first error
	)
	for range n {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(items) {
					return
				}
				if err := fn(items[i]); err != nil {
					mu.Lock()
					first = errors.Join(first, err)
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	return first
}

func writeKubeconfig(env *envtest.Environment) (string, error) {
	user, err := env.AddUser(envtest.User{Name: "bench", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return "", err
	}
	b, err := user.KubeConfig()
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "bench-kubeconfig")
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "kubeconfig")
	return path, os.WriteFile(path, b, 0o600)
}

// freeAddresses finds n distinct free ports on 127.0.0.1: all are held open until all are
// found, so no two are the same.
func freeAddresses(n int) ([]string, error) {
	var addrs []string
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer func() { _ = l.Close() }()
		addrs = append(addrs, l.Addr().String())
	}
	return addrs, nil
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
