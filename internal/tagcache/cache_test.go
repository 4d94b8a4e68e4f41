package tagcache

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
)

// fakeClock is a settable clock for freshness and eviction.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func counting(tags []string, calls *atomic.Int32) Fetch {
	return func(context.Context) ([]string, error) {
		calls.Add(1)
		return tags, nil
	}
}

func TestFreshListingIsShared(t *testing.T) {
	clk := &fakeClock{now: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)}
	c := &Cache{Now: clk.Now}
	var calls atomic.Int32
	fetch := counting([]string{"v1.0.0", "v1.0.1"}, &calls)
	ctx := context.Background()

	first, err := c.Get(ctx, "repo|creds", 15*time.Minute, fetch)
	if err != nil || first.Len() != 2 {
		t.Fatalf("first Get: %v, %d tags", err, first.Len())
	}
	clk.Advance(14 * time.Minute)
	second, _ := c.Get(ctx, "repo|creds", 15*time.Minute, fetch)
	if calls.Load() != 1 || second.Listing != first.Listing {
		t.Errorf("a listing 14m old was not served to a 15m interval: %d fetches", calls.Load())
	}
	if _, err := c.Get(ctx, "repo|creds", 10*time.Minute, fetch); err != nil || calls.Load() != 2 {
		t.Errorf("a listing 14m old was served to a 10m interval: %d fetches", calls.Load())
	}
	if _, err := c.Get(ctx, "repo|creds", 0, fetch); err != nil || calls.Load() != 3 {
		t.Errorf("maxAge 0 did not force a listing: %d fetches", calls.Load())
	}
	if _, err := c.Get(ctx, "repo|other-creds", 15*time.Minute, fetch); err != nil || calls.Load() != 4 {
		t.Errorf("a listing was served across credential identities: %d fetches", calls.Load())
	}
}

func TestConcurrentCallersShareOneFetch(t *testing.T) {
	c := &Cache{}
	var calls atomic.Int32
	release := make(chan struct{})
	fetch := func(context.Context) ([]string, error) {
		calls.Add(1)
		<-release
		return []string{"1.0.0"}, nil
	}
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if _, err := c.Get(context.Background(), "k", time.Minute, fetch); err != nil {
				t.Error(err)
			}
		})
	}
	time.Sleep(100 * time.Millisecond) // let all 50 join the one in-flight fetch
	close(release)
	wg.Wait()
	if calls.Load() != 1 {
		t.Errorf("50 concurrent callers caused %d fetches, want 1", calls.Load())
	}
}

func TestFailedFetchKeepsThePreviousListing(t *testing.T) {
	clk := &fakeClock{now: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)}
	c := &Cache{Now: clk.Now}
	ctx := context.Background()
	var calls atomic.Int32
	if _, err := c.Get(ctx, "k", time.Minute, counting([]string{"1.0.0"}, &calls)); err != nil {
		t.Fatal(err)
	}
	clk.Advance(2 * time.Minute)
	boom := errors.New("HTTP 500")
	if _, err := c.Get(ctx, "k", time.Minute, func(context.Context) ([]string, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Fatalf("err = %v, want the fetch's error", err)
	}
	got, err := c.Get(ctx, "k", time.Hour, counting(nil, &calls))
	if err != nil || got.Len() != 1 || calls.Load() != 1 {
		t.Errorf("previous listing lost after a failure: %v, %d tags, %d fetches", err, got.Len(), calls.Load())
	}
}

func TestUnwatchedListingsAreEvicted(t *testing.T) {
	clk := &fakeClock{now: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)}
	c := &Cache{Now: clk.Now}
	var calls atomic.Int32
	for _, k := range []string{"a", "b", "c"} {
		if _, err := c.Get(context.Background(), k, time.Minute, counting([]string{"1.0.0"}, &calls)); err != nil {
			t.Fatal(err)
		}
	}
	clk.Advance(90 * time.Second)
	_, _ = c.Get(context.Background(), "a", time.Minute, counting([]string{"1.0.0"}, &calls))
	if c.Len() != 3 {
		t.Errorf("entries = %d after 1.5 intervals, want 3 (still watched)", c.Len())
	}
	clk.Advance(3 * time.Minute)
	_, _ = c.Get(context.Background(), "a", time.Minute, counting([]string{"1.0.0"}, &calls))
	if c.Len() != 1 {
		t.Errorf("entries = %d, want 1: b and c were not asked for in over two intervals", c.Len())
	}
}

func TestCallerContextCancelLeavesTheSharedFetchRunning(t *testing.T) {
	c := &Cache{}
	release := make(chan struct{})
	var sawCancel atomic.Bool
	fetch := func(ctx context.Context) ([]string, error) {
		<-release
		sawCancel.Store(ctx.Err() != nil)
		return []string{"1.0.0"}, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { _, err := c.Get(ctx, "k", time.Minute, fetch); errc <- err }()
	time.Sleep(50 * time.Millisecond)
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled caller got %v", err)
	}
	close(release)
	got, err := c.Get(context.Background(), "k", time.Minute, fetch)
	if err != nil || got.Len() != 1 || sawCancel.Load() {
		t.Errorf("shared fetch: err %v, %d tags, saw cancel %v", err, got.Len(), sawCancel.Load())
	}
}

func TestKeysSeparateSchemesCredentialsAndTrust(t *testing.T) {
	repo := func(ref string, insecure bool) name.Repository {
		t.Helper()
		var opts []name.Option
		if insecure {
			opts = append(opts, name.Insecure)
		}
		r, err := name.NewRepository(ref, opts...)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	base := Key(repo("registry.example.com/org/app", false), "controller", "")
	if again := Key(repo("registry.example.com/org/app", false), "controller", ""); again != base {
		t.Errorf("the same repository and credentials give %q and %q", base, again)
	}
	for what, other := range map[string]string{
		"another repository":   Key(repo("registry.example.com/org/other", false), "controller", ""),
		"plain HTTP":           Key(repo("registry.example.com/org/app", true), "controller", ""),
		"other credentials":    Key(repo("registry.example.com/org/app", false), "cred-1234", ""),
		"a private CA trusted": Key(repo("registry.example.com/org/app", false), "controller", "tls-abcd"),
	} {
		if other == base {
			t.Errorf("%s shares the key %q", what, base)
		}
	}
}
