// Package registry is the only place that talks to container registries: it parses image
// references, lists every tag of a repository across all pages, and turns failures into
// typed errors (Kind) that tell callers which status reason and retry policy apply.
package registry

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

const (
	// DefaultTimeout bounds one whole listing when Client.Timeout is 0.
	DefaultTimeout = 60 * time.Second
	// DefaultPageSize is the n asked for when Client.PageSize is 0: as large as ECR accepts,
	// so big repositories take few round trips. Servers cap it lower as they see fit.
	DefaultPageSize = 1000
)

// Client lists tags. The zero value is ready to use: it resolves credentials with
// authn.DefaultKeychain, talks through remote.DefaultTransport and gives up after
// DefaultTimeout. A Client is safe for concurrent use.
type Client struct {
	// Transport carries the HTTP requests, e.g. one trusting a private CA; nil means
	// remote.DefaultTransport.
	Transport http.RoundTripper
	// Timeout bounds one whole listing, every page included; 0 means DefaultTimeout.
	Timeout time.Duration
	// PageSize is the number of tags per page asked for; 0 means DefaultPageSize.
	PageSize int
	// MaxConcurrentPerRegistry bounds the listings in flight to one registry host; 0 means
	// no bound.
	MaxConcurrentPerRegistry int

	gatesMu sync.Mutex
	gates   map[string]*gate
}

// ListTags returns every tag of repo, following the registry's Link headers page by page.
// A listing that fails on any page is discarded whole (nil, err): callers must never see a
// partial list as if it were complete. Only GET /v2/ (the auth handshake) and tags/list are
// requested; manifests are never fetched, so Docker Hub pull limits are not touched.
// keychain nil means authn.DefaultKeychain; transport nil means c.Transport (pass one trusting
// a private CA for a registry that needs it). Failures are *Error.
//
// Nothing is retried here: the controller owns backoff, and a hidden retry loop would hide
// a 429 or 5xx from it and multiply the load on a registry that is already struggling.
func (c *Client) ListTags(ctx context.Context, repo name.Repository, keychain authn.Keychain, transport http.RoundTripper) ([]string, error) {
	if keychain == nil {
		keychain = authn.DefaultKeychain
	}
	timeout := cmp.Or(c.Timeout, DefaultTimeout)
	pageSize := cmp.Or(max(c.PageSize, 0), DefaultPageSize)
	start := time.Now()
	lctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	g := c.gate(repo.RegistryStr())
	if wait, err := g.enter(lctx, start); wait > 0 {
		return nil, pausedError(repo.RegistryStr(), repo.RepositoryStr(), wait)
	} else if err != nil {
		return nil, classify(lctx, start, repo, nil, &recorder{}, err)
	}
	defer g.leave()
	tags, err := c.list(lctx, start, repo, keychain, cmp.Or(transport, c.Transport), pageSize)
	if KindOf(err) == RateLimited {
		g.pause(time.Now(), cmp.Or(RetryAfter(err), DefaultRateLimitPause))
	}
	return tags, err
}

// list reads every page of repo's tags.
func (c *Client) list(lctx context.Context, start time.Time, repo name.Repository, keychain authn.Keychain, transport http.RoundTripper, pageSize int) ([]string, error) {
	auth, err := authn.Resolve(lctx, keychain, repo)
	if err != nil {
		return nil, &Error{
			Kind: Unauthorized, Registry: repo.RegistryStr(), Repository: repo.RepositoryStr(),
			Err: err, detail: oneLine(err.Error(), nil),
		}
	}
	rec := &recorder{inner: transport, scheme: repo.Scheme()}
	if rec.inner == nil {
		rec.inner = remote.DefaultTransport
	}
	fail := func(err error) error { return classify(lctx, start, repo, auth, rec, err) }

	puller, err := remote.NewPuller(
		remote.WithContext(lctx),
		remote.WithAuth(auth),
		remote.WithTransport(rec),
		remote.WithPageSize(pageSize),
		remote.WithUserAgent("image-watcher"),
		// remote wraps the transport in a retry loop (3 tries, 1s then 3s apart, on
		// network errors and on 408/429/5xx). One step runs the request exactly once,
		// and no predicate or status code asks for another.
		remote.WithRetryBackoff(remote.Backoff{Steps: 1}),
		remote.WithRetryPredicate(func(error) bool { return false }),
		remote.WithRetryStatusCodes(),
	)
	if err != nil {
		return nil, fail(err)
	}
	// Lister pings /v2/, authenticates and reads the first page.
	lister, err := puller.Lister(lctx, repo)
	if err != nil {
		return nil, fail(err)
	}
	tags := []string{}
	seen := map[string]bool{}
	for lister.HasNext() {
		page, err := lister.Next(lctx)
		if err != nil {
			return nil, fail(err)
		}
		tags = append(tags, page.Tags...)
		// A registry whose Link header points back at a page already read would otherwise
		// be followed until the timeout, and the listing would fail as "unreachable".
		if page.Next != "" {
			if seen[page.Next] {
				return nil, fail(fmt.Errorf("the registry's Link header repeats a page already read (%d tags so far); its pagination is broken", len(tags)))
			}
			seen[page.Next] = true
		}
	}
	return tags, nil
}

// recorder sits under go-containerregistry's transports and sees every HTTP attempt. It
// keeps what transport.Error drops: the Retry-After header, and which tags/list page was
// being read when the listing failed.
type recorder struct {
	inner http.RoundTripper
	// scheme is the one go-containerregistry expects of this registry (repo.Scheme()). It
	// says "http" for loopback and private addresses even when the registry answered on
	// HTTPS, and then refuses every Link to an https URL; see RoundTrip.
	scheme string

	mu sync.Mutex
	// pages holds the tags/list URLs requested: the page being read is their number. URLs,
	// not attempts, because the bearer transport resends a request after refreshing a token.
	pages      map[string]bool
	retryAfter string
}

var _ http.RoundTripper = (*recorder)(nil)

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	if strings.HasSuffix(req.URL.Path, "/tags/list") {
		r.mu.Lock()
		if r.pages == nil {
			r.pages = map[string]bool{}
		}
		r.pages[req.URL.String()] = true
		r.mu.Unlock()
	}
	resp, err := r.inner.RoundTrip(req)
	if err == nil && r.scheme != "" && req.URL.Scheme != r.scheme && resp.Header.Get("Link") != "" {
		// go-containerregistry resolves the next page against resp.Request and insists on
		// repo.Scheme(); its scheme transport turns the request back into HTTPS on the way
		// out. Without this, an HTTPS registry on a private IP (a Harbor at 10.0.0.5) could
		// never be read past its first page.
		resp.Request = resp.Request.Clone(resp.Request.Context())
		resp.Request.URL.Scheme = r.scheme
		resp.Header.Set("Link", strings.Replace(resp.Header.Get("Link"), "<"+req.URL.Scheme+"://", "<"+r.scheme+"://", 1))
	}
	if err == nil && (resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable) {
		r.mu.Lock()
		r.retryAfter = resp.Header.Get("Retry-After")
		r.mu.Unlock()
	}
	return resp, err
}

func (r *recorder) state() (pages int, retryAfter string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.pages), r.retryAfter
}

// classify turns a failure from go-containerregistry into an *Error.
func classify(ctx context.Context, start time.Time, repo name.Repository, auth authn.Authenticator, rec *recorder, err error) *Error {
	pages, retryAfter := rec.state()
	e := &Error{
		Kind:       RegistryError,
		Registry:   repo.RegistryStr(),
		Repository: repo.RepositoryStr(),
		Err:        err,
		anonymous:  auth == authn.Anonymous,
		page:       pages,
	}
	secrets := secretsOf(auth)

	var terr *transport.Error
	switch {
	case errors.As(err, &terr):
		e.StatusCode = terr.StatusCode
		e.Kind = kindOfStatus(terr)
		e.detail = diagnostics(terr, secrets)
		if terr.StatusCode == http.StatusTooManyRequests || terr.StatusCode == http.StatusServiceUnavailable {
			e.RetryAfter = parseRetryAfter(retryAfter, time.Now())
		}
	case errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded):
		e.Kind = Unreachable
		// The deadline is the client's timeout or, when it came first, the caller's.
		deadline, _ := ctx.Deadline()
		// A deadline already past at the start still timed out; never report "after 0s".
		e.timeout = max(deadline.Sub(start).Round(time.Millisecond), time.Millisecond)
	case errors.Is(err, context.Canceled):
		e.Kind = Unreachable
	default:
		e.detail = oneLine(err.Error(), secrets)
		if hint, ok := unreachable(err); ok {
			e.Kind = Unreachable
			if hint != "" {
				e.detail += " (" + hint + ")"
			}
		}
	}
	return e
}

func kindOfStatus(terr *transport.Error) Kind {
	tagsList := terr.Request != nil && strings.HasSuffix(terr.Request.URL.Path, "/tags/list")
	switch terr.StatusCode {
	case http.StatusTooManyRequests:
		return RateLimited
	case http.StatusUnauthorized, http.StatusForbidden:
		return Unauthorized
	case http.StatusNotFound:
		// A 404 from /v2/ or a token endpoint says the URL is not a registry, which is a
		// registry problem, not a missing repository.
		if tagsList {
			return NotFound
		}
	}
	for _, d := range terr.Errors {
		switch d.Code {
		case transport.TooManyRequestsErrorCode:
			return RateLimited
		case transport.NameUnknownErrorCode:
			return NotFound
		}
	}
	return RegistryError
}

// diagnostics is the registry's own explanation of a failure, naming the request when it
// was not the tag listing itself (the /v2/ ping or a token endpoint).
func diagnostics(terr *transport.Error, secrets []string) string {
	var parts []string
	for _, d := range terr.Errors {
		parts = append(parts, d.String())
	}
	msg := strings.Join(parts, "; ")
	if r := terr.Request; r != nil && !strings.HasSuffix(r.URL.Path, "/tags/list") {
		// Only the path: token endpoint queries carry scopes and, on some registries,
		// account names.
		msg = strings.TrimSuffix(fmt.Sprintf("%s %s answered %d: %s", r.Method, r.URL.Path, terr.StatusCode, msg), ": ")
	}
	return oneLine(msg, secrets)
}

// unreachable reports whether err means no usable answer arrived, with a hint when the
// fix is in the resource's settings rather than the network.
func unreachable(err error) (hint string, ok bool) {
	var (
		netErr   net.Error
		opErr    *net.OpError
		dnsErr   *net.DNSError
		recErr   tls.RecordHeaderError
		alertErr tls.AlertError
		verErr   *tls.CertificateVerificationError
		authErr  x509.UnknownAuthorityError
		hostErr  x509.HostnameError
		invErr   x509.CertificateInvalidError
	)
	const tlsHint = "a registry with a private CA needs its CA certificate; a plain-HTTP registry must be marked insecure"
	switch {
	case strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return "the registry speaks plain HTTP: mark it insecure", true
	case errors.As(err, &recErr), errors.As(err, &alertErr), errors.As(err, &verErr),
		errors.As(err, &authErr), errors.As(err, &hostErr), errors.As(err, &invErr):
		return tlsHint, true
	case errors.As(err, &dnsErr), errors.As(err, &opErr),
		errors.As(err, &netErr) && netErr.Timeout(),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET):
		return "", true
	}
	return "", false
}

// secretsOf lists the strings that must not appear in messages: whatever auth would send.
func secretsOf(auth authn.Authenticator) []string {
	if auth == nil || auth == authn.Anonymous {
		return nil
	}
	// A credential helper may run again here; bound it so a broken helper cannot stall
	// the error path.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cfg, err := authn.Authorization(ctx, auth)
	if err != nil || cfg == nil {
		return nil
	}
	secrets := []string{cfg.Password, cfg.Auth, cfg.IdentityToken, cfg.RegistryToken}
	if cfg.Username != "" && cfg.Password != "" {
		secrets = append(secrets, base64.StdEncoding.EncodeToString([]byte(cfg.Username+":"+cfg.Password)))
	}
	return secrets
}
