package registry

import (
	"context"
	"net/http"
	"sync"
	"time"
)

// DefaultRateLimitPause is how long a registry that answered 429 without Retry-After is
// left alone.
const DefaultRateLimitPause = time.Minute

// gate guards one registry host: it bounds the listings in flight there, and after a 429 it
// holds every listing back until the registry's Retry-After has passed, so one resource's
// rate limit is honoured by all of them instead of each finding out on its own.
type gate struct {
	slots chan struct{} // nil: no limit

	mu          sync.Mutex
	pausedUntil time.Time
}

// gate returns the gate of a registry host, made on first use.
func (c *Client) gate(host string) *gate {
	c.gatesMu.Lock()
	defer c.gatesMu.Unlock()
	if c.gates == nil {
		c.gates = map[string]*gate{}
	}
	g, ok := c.gates[host]
	if !ok {
		g = &gate{}
		if c.MaxConcurrentPerRegistry > 0 {
			g.slots = make(chan struct{}, c.MaxConcurrentPerRegistry)
		}
		c.gates[host] = g
	}
	return g
}

// enter waits for a free slot; it fails at once while the registry is paused.
func (g *gate) enter(ctx context.Context, now time.Time) (wait time.Duration, err error) {
	g.mu.Lock()
	wait = g.pausedUntil.Sub(now)
	g.mu.Unlock()
	if wait > 0 {
		return wait, nil
	}
	if g.slots == nil {
		return 0, nil
	}
	select {
	case g.slots <- struct{}{}:
		return 0, nil
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

func (g *gate) leave() {
	if g.slots != nil {
		<-g.slots
	}
}

// pause holds the registry back for d from now (never shortening a longer pause).
func (g *gate) pause(now time.Time, d time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if until := now.Add(d); until.After(g.pausedUntil) {
		g.pausedUntil = until
	}
}

// pausedError is what a listing gets, without a request, while its registry is paused.
func pausedError(registry, repository string, wait time.Duration) *Error {
	return &Error{
		Kind: RateLimited, Registry: registry, Repository: repository,
		StatusCode: http.StatusTooManyRequests, RetryAfter: wait.Round(time.Second),
		detail: "waiting as the registry asked before listing again",
	}
}
