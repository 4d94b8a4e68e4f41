package registry

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"

	"github.com/imagewatcher/image-watcher/internal/registrytest"
)

func TestARateLimitPausesTheWholeRegistry(t *testing.T) {
	s := registrytest.New(t)
	s.SetTags("org/a", []string{"1.0.0"})
	s.SetTags("org/b", []string{"1.0.0"})
	c := &Client{}
	repoA, _ := ParseRepository(s.Host()+"/org/a", true)
	repoB, _ := ParseRepository(s.Host()+"/org/b", true)

	s.SetFault(registrytest.Fault{Status: http.StatusTooManyRequests, RetryAfter: "2", Repo: "org/a"})
	if _, err := c.ListTags(context.Background(), repoA, authn.DefaultKeychain, nil); KindOf(err) != RateLimited {
		t.Fatalf("err = %v, want RateLimited", err)
	}
	s.SetFault(registrytest.Fault{})

	// Another repository on the same registry is held back too, without a request.
	_, err := c.ListTags(context.Background(), repoB, authn.DefaultKeychain, nil)
	if KindOf(err) != RateLimited || RetryAfter(err) <= 0 || RetryAfter(err) > 2*time.Second {
		t.Errorf("during the pause: err = %v (retry after %s), want RateLimited within 2s", err, RetryAfter(err))
	}
	if got := s.TagListRequests("org/b"); got != 0 {
		t.Errorf("org/b was listed %d times while the registry was paused", got)
	}
	if !strings.Contains(err.Error(), "rate limited") {
		t.Errorf("message %q does not say rate limited", err)
	}

	time.Sleep(2100 * time.Millisecond)
	if tags, err := c.ListTags(context.Background(), repoB, authn.DefaultKeychain, nil); err != nil || len(tags) != 1 {
		t.Errorf("after the pause: %v, %v", tags, err)
	}
}

func TestConcurrentListingsPerRegistryAreBounded(t *testing.T) {
	var inFlight, peak atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/tags/list") {
			n := inFlight.Add(1)
			defer inFlight.Add(-1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
			time.Sleep(50 * time.Millisecond)
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"name":"x","tags":["1.0.0"]}`))
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")

	c := &Client{MaxConcurrentPerRegistry: 2}
	var wg sync.WaitGroup
	for i := range 8 {
		repo, err := name.NewRepository(host+"/org/app"+string(rune('a'+i)), name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			if _, err := c.ListTags(context.Background(), repo, authn.DefaultKeychain, nil); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if got := peak.Load(); got != 2 {
		t.Errorf("peak listings in flight = %d, want 2", got)
	}
}
