// Package tagcache shares tag listings between every resource that watches the same
// repository with the same credentials: one registry listing and one parse serve them all.
package tagcache

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"golang.org/x/sync/singleflight"

	"github.com/imagewatcher/image-watcher/internal/metrics"
	"github.com/imagewatcher/image-watcher/internal/versions"
)

// Key is the cache key of a repository's listing fetched with the credentials named
// identity over the TLS trust named trust ("" for the system roots). Every caller builds its
// key here, so the controller and the seed API share listings exactly when they may.
func Key(repo name.Repository, identity, trust string) string {
	return strings.Join([]string{repo.Scheme(), repo.String(), identity, trust}, "|")
}

// Fetch lists a repository's tags from its registry.
type Fetch func(ctx context.Context) ([]string, error)

// Listing is a parsed tag listing and when it was fetched.
type Listing struct {
	*versions.Listing
	FetchedAt time.Time
}

// Cache holds the last listing per key. The key must name the registry, the repository and
// the identity of the credentials used, so a listing is never served to a caller that could
// not have fetched it itself.
type Cache struct {
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	mu        sync.Mutex
	entries   map[string]*entry
	lastEvict time.Time
	flight    singleflight.Group
}

// evictEvery spaces eviction sweeps: a sweep reads every entry, and Get runs once per
// reconcile. Entries live at least two minutes (twice the minimum interval), so a sweep a
// minute is timely enough.
const evictEvery = time.Minute

type entry struct {
	listing Listing
	// keepFor is the longest freshness any caller asked of this entry; an entry nobody has
	// asked for within twice that is evicted, so memory follows what is being watched.
	keepFor time.Duration
}

// Get returns the listing for key if one was fetched within maxAge; otherwise it calls fetch,
// sharing one in-flight call among concurrent callers of the same key. maxAge 0 forces a new
// listing (a rescan request), still shared with callers already waiting for one. A failed
// fetch leaves the previous listing in place and is returned to every caller that shared it.
func (c *Cache) Get(ctx context.Context, key string, maxAge time.Duration, fetch Fetch) (Listing, error) {
	now := c.now()
	c.mu.Lock()
	c.evictLocked(now)
	if e, ok := c.entries[key]; ok {
		e.keepFor = max(e.keepFor, maxAge)
		if maxAge > 0 && now.Sub(e.listing.FetchedAt) < maxAge {
			l := e.listing
			c.mu.Unlock()
			metrics.CacheRequests.WithLabelValues("hit").Inc()
			return l, nil
		}
	}
	c.mu.Unlock()

	// The shared call must not die with the first caller's context; the fetch carries its own
	// timeout (the registry client's).
	ran := false // set when this caller's fetch is the one that runs
	ch := c.flight.DoChan(key, func() (any, error) {
		ran = true
		start := time.Now()
		tags, err := fetch(context.WithoutCancel(ctx))
		if err != nil {
			metrics.ListingDuration.WithLabelValues("error").Observe(time.Since(start).Seconds())
			return nil, err
		}
		metrics.ListingDuration.WithLabelValues("success").Observe(time.Since(start).Seconds())
		metrics.ListingTags.Observe(float64(len(tags)))
		l := Listing{Listing: versions.NewListing(tags), FetchedAt: c.now()}
		c.mu.Lock()
		if c.entries == nil {
			c.entries = map[string]*entry{}
		}
		e, ok := c.entries[key]
		if !ok {
			e = &entry{}
			c.entries[key] = e
		}
		e.listing = l
		e.keepFor = max(e.keepFor, maxAge)
		c.mu.Unlock()
		return l, nil
	})
	select {
	case r := <-ch:
		if ran {
			metrics.CacheRequests.WithLabelValues("miss").Inc()
		} else {
			metrics.CacheRequests.WithLabelValues("shared").Inc()
		}
		if r.Err != nil {
			return Listing{}, r.Err
		}
		return r.Val.(Listing), nil
	case <-ctx.Done():
		return Listing{}, ctx.Err()
	}
}

// Len is the number of listings held.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

func (c *Cache) evictLocked(now time.Time) {
	if now.Sub(c.lastEvict) < evictEvery {
		return
	}
	c.lastEvict = now
	for k, e := range c.entries {
		if now.Sub(e.listing.FetchedAt) > 2*e.keepFor {
			delete(c.entries, k)
		}
	}
}

func (c *Cache) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}
