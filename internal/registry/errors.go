package registry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Kind says what went wrong with a listing, so callers can pick a status reason and a retry
// policy without parsing messages.
type Kind string

const (
	// NotFound means the registry does not know the repository.
	NotFound Kind = "NotFound"
	// Unauthorized means the registry refused the credentials sent, or that none were sent
	// and it wants some (HTTP 401 or 403), or that credentials could not be loaded.
	Unauthorized Kind = "Unauthorized"
	// RateLimited means the registry answered HTTP 429; RetryAfter says how long it asked
	// callers to wait, when it did.
	RateLimited Kind = "RateLimited"
	// Unreachable means no answer arrived: DNS and dial errors, refused or reset
	// connections, TLS failures and timeouts.
	Unreachable Kind = "Unreachable"
	// RegistryError covers 5xx answers and anything else unexpected.
	RegistryError Kind = "RegistryError"
)

// Error is a failed listing. Its message is one line a person can act on and never contains
// credentials.
type Error struct {
	// Kind classifies the failure.
	Kind Kind
	// Registry is the registry host, e.g. "index.docker.io" or "127.0.0.1:5000".
	Registry string
	// Repository is the repository path on that registry, e.g. "library/nginx".
	Repository string
	// StatusCode is the HTTP status the registry answered; 0 when none arrived.
	StatusCode int
	// RetryAfter is the wait the registry asked for with Retry-After (seconds or an HTTP
	// date) on a 429 or 503 answer; 0 when it did not say.
	RetryAfter time.Duration
	// Err is the underlying error, for errors.Is and errors.As. Its own text may be less
	// careful than Error's; log Error, not Err.
	Err error

	// anonymous records that no credentials were sent, so a 401 means "private or missing"
	// rather than "wrong password".
	anonymous bool
	// page is the tags/list page that failed (1-based); 0 when the listing failed before it.
	page int
	// timeout is how long the listing had when it ran out of time; 0 when it did not.
	timeout time.Duration
	// detail is the cause on one line with credentials removed.
	detail string
}

// Error returns a one-line message naming the registry, the repository and what to do,
// e.g. `registry 127.0.0.1:5000: repository "org/app" not found (HTTP 404)`.
func (e *Error) Error() string {
	var b strings.Builder
	if e.Registry != "" {
		fmt.Fprintf(&b, "registry %s: ", e.Registry)
	}
	repo := "the repository"
	if e.Repository != "" {
		repo = fmt.Sprintf("repository %q", e.Repository)
	}
	status := ""
	if e.StatusCode != 0 {
		status = fmt.Sprintf(" (HTTP %d)", e.StatusCode)
	}
	onPage := ""
	if e.page > 1 {
		onPage = fmt.Sprintf(" on page %d", e.page)
	}
	detail := e.detail
	if detail == "" && e.Err != nil {
		detail = oneLine(e.Err.Error(), nil)
	}

	switch e.Kind {
	case NotFound:
		fmt.Fprintf(&b, "%s not found%s", repo, status)
	case Unauthorized:
		switch {
		case e.StatusCode == http.StatusForbidden:
			fmt.Fprintf(&b, "access to %s denied%s: check that the pull secret grants read access", repo, status)
		case e.StatusCode == 0:
			fmt.Fprintf(&b, "credentials for %s could not be loaded: %s", repo, detail)
		case e.anonymous:
			fmt.Fprintf(&b, "%s needs credentials%s: it is private or does not exist; add a pull secret if it is private", repo, status)
		default:
			fmt.Fprintf(&b, "credentials rejected for %s%s: check the pull secret", repo, status)
		}
	case RateLimited:
		fmt.Fprintf(&b, "rate limited%s%s", onPage, status)
		if e.RetryAfter > 0 {
			fmt.Fprintf(&b, ", retry after %s", e.RetryAfter)
		}
	case Unreachable:
		switch {
		case e.timeout > 0:
			fmt.Fprintf(&b, "listing tags of %s timed out after %s%s", repo, e.timeout, onPage)
		case errors.Is(e.Err, context.Canceled):
			fmt.Fprintf(&b, "listing tags of %s was canceled", repo)
		default:
			fmt.Fprintf(&b, "cannot reach the registry: %s", detail)
		}
	default:
		fmt.Fprintf(&b, "listing tags of %s failed%s%s", repo, onPage, status)
		if detail != "" {
			fmt.Fprintf(&b, ": %s", detail)
		}
	}
	return b.String()
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// KindOf returns the Kind of err: "" for nil, and RegistryError for errors that did not
// come from this package, since nothing more is known about them.
func KindOf(err error) Kind {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) && e.Kind != "" {
		return e.Kind
	}
	return RegistryError
}

// RetryAfter returns the wait the registry asked for, or 0 when err carries none.
func RetryAfter(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}

// parseRetryAfter reads a Retry-After value, delay-seconds or an HTTP date, relative to now.
// Anything unparsable or already past is 0, meaning "not said", so callers fall back to
// their own backoff instead of retrying at once.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		// Cap before multiplying so absurd values cannot overflow into the past.
		if secs <= 0 {
			return 0
		}
		return time.Duration(min(secs, int64(365*24*time.Hour/time.Second))) * time.Second
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0
	}
	d := t.Sub(now)
	if d <= 0 {
		return 0
	}
	// HTTP dates have whole seconds; rounding up keeps callers from arriving early.
	if r := d % time.Second; r > 0 {
		d += time.Second - r
	}
	return d
}

// oneLine makes s fit a status message: whitespace runs collapsed, secrets removed, and
// length bounded, since registries and proxies can answer with whole HTML pages.
func oneLine(s string, secrets []string) string {
	for _, secret := range secrets {
		if secret != "" {
			s = strings.ReplaceAll(s, secret, "[redacted]")
		}
	}
	s = strings.Join(strings.Fields(s), " ")
	const maxLen = 300
	if len(s) > maxLen {
		cut := maxLen
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}
