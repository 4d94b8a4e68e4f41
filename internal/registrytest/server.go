// Package registrytest runs a small OCI distribution registry for tests. It serves only what
// tag listing needs, but serves it the way real registries do: capped, paginated pages linked
// by RFC 5988 Link headers, distribution-style JSON errors, optional basic auth, and injected
// faults (error statuses, Retry-After, hangs) so callers can prove how they behave when the
// registry misbehaves.
package registrytest

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// DefaultPageSize is the page size cap of a Server without WithPageSize. It is small on
// purpose so that ordinary tests already cross page boundaries.
const DefaultPageSize = 100

// Server is an httptest OCI distribution registry answering GET /v2/ and
// GET /v2/<repo>/tags/list. Every method is safe for concurrent use.
type Server struct {
	ts       *httptest.Server
	pageSize int
	user     string
	pass     string
	tls      bool

	// closing releases hanging handlers: httptest.Server.Close waits for active requests,
	// so a hang that only ended with its request context could block Close forever.
	closing   chan struct{}
	closeOnce sync.Once

	mu     sync.Mutex
	repos  map[string][]string
	counts map[string]int
	fault  Fault
}

// Fault makes tags/list requests fail. It never applies to GET /v2/, so clients still get
// through their ping and auth handshake and TagListRequests counts every failed attempt.
type Fault struct {
	// Status is the HTTP status answered, with a distribution JSON error body.
	Status int
	// RetryAfter, when set, is sent as the Retry-After header (seconds or an HTTP date).
	RetryAfter string
	// Hang blocks the request until the client gives up or the server closes; it wins over
	// Status.
	Hang bool
	// OnPage limits the fault to the k-th page (1-based) of each listing; 0 means every
	// tags/list request. The page is derived from the `last` and `n` parameters, so it holds
	// for concurrent listings too as long as each keeps its page size.
	OnPage int
	// Repo limits the fault to one repository; "" means all.
	Repo string
}

// Option configures a Server.
type Option func(*Server)

// WithPageSize sets the page size cap: a request for more tags per page, or one without n,
// gets n tags per page, as on real registries.
func WithPageSize(n int) Option {
	return func(s *Server) { s.pageSize = n }
}

// WithBasicAuth requires HTTP basic credentials on /v2/ and tags/list; without them the
// server answers 401 with a Basic challenge, which is what makes clients send credentials.
func WithBasicAuth(user, pass string) Option {
	return func(s *Server) { s.user, s.pass = user, pass }
}

// WithTLS serves HTTPS with httptest's certificate; Transport trusts it.
func WithTLS() Option {
	return func(s *Server) { s.tls = true }
}

// New starts a Server on 127.0.0.1 and closes it when the test ends.
func New(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s, err := Start(opts...)
	if err != nil {
		t.Fatalf("registrytest: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// Start starts a Server on 127.0.0.1 outside a test (the scale benchmark uses it); the
// caller closes it.
func Start(opts ...Option) (*Server, error) {
	s := &Server{
		pageSize: DefaultPageSize,
		closing:  make(chan struct{}),
		repos:    map[string][]string{},
		counts:   map[string]int{},
	}
	for _, o := range opts {
		o(s)
	}
	if s.pageSize < 1 {
		return nil, fmt.Errorf("page size must be positive, got %d", s.pageSize)
	}
	// Listen explicitly so Host is always a loopback IP literal, which go-containerregistry
	// treats as a plain-HTTP registry without further options.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	s.ts = httptest.NewUnstartedServer(http.HandlerFunc(s.serveHTTP))
	s.ts.Listener = l
	if s.tls {
		s.ts.StartTLS()
	} else {
		s.ts.Start()
	}
	return s, nil
}

// Transport is an HTTP transport that trusts the server's certificate (WithTLS).
func (s *Server) Transport() http.RoundTripper { return s.ts.Client().Transport }

// Host returns "127.0.0.1:port", the registry part of an image reference.
func (s *Server) Host() string { return s.ts.Listener.Addr().String() }

// URL returns the server's base URL, "http://127.0.0.1:port".
func (s *Server) URL() string { return s.ts.URL }

// Close stops the server, releasing hanging requests first; later requests are refused at
// the TCP level, like a registry that went away. It is called at test cleanup and may be
// called earlier.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.closing)
		s.ts.Close()
	})
}

// SetTags creates repo or replaces its tags. Tags are kept sorted and unique, the order in
// which distribution pages them.
func (s *Server) SetTags(repo string, tags []string) {
	sorted := slices.Clone(tags)
	slices.Sort(sorted)
	sorted = slices.Compact(sorted)
	if sorted == nil {
		sorted = []string{}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.repos[repo] = sorted
}

// AddTags adds tags to repo, creating it if needed.
func (s *Server) AddTags(repo string, tags ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	// Clone so a page slice already handed to a response is never written to.
	merged := append(slices.Clone(s.repos[repo]), tags...)
	slices.Sort(merged)
	s.repos[repo] = slices.Compact(merged)
}

// TagListRequests returns how many tags/list requests arrived for repo since the start or
// the last ResetCounts, whatever they were answered with (pages, errors, faults).
func (s *Server) TagListRequests(repo string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[repo]
}

// AllTagListRequests is TagListRequests summed over every repository.
func (s *Server) AllTagListRequests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	total := 0
	for _, n := range s.counts {
		total += n
	}
	return total
}

// ResetCounts sets every TagListRequests count back to zero.
func (s *Server) ResetCounts() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.counts)
}

// SetFault injects f into subsequent tags/list requests; Fault{} clears it.
func (s *Server) SetFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault = f
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		writeError(w, http.StatusMethodNotAllowed, "UNSUPPORTED", "only GET is served")
		return
	}
	if r.URL.Path == "/v2/" {
		if s.authorized(w, r) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte("{}"))
		}
		return
	}
	repo, ok := strings.CutSuffix(strings.TrimPrefix(r.URL.Path, "/v2/"), "/tags/list")
	if !ok || !strings.HasPrefix(r.URL.Path, "/v2/") || repo == "" {
		writeError(w, http.StatusNotFound, "UNSUPPORTED", "registrytest serves only /v2/ and tags/list")
		return
	}
	s.mu.Lock()
	s.counts[repo]++
	s.mu.Unlock()
	if s.authorized(w, r) {
		s.serveTags(w, r, repo)
	}
}

// authorized answers 401 with a Basic challenge and returns false when basic auth is
// required and the request does not carry the right credentials.
func (s *Server) authorized(w http.ResponseWriter, r *http.Request) bool {
	if s.user == "" && s.pass == "" {
		return true
	}
	user, pass, ok := r.BasicAuth()
	if ok && subtle.ConstantTimeCompare([]byte(user), []byte(s.user)) == 1 &&
		subtle.ConstantTimeCompare([]byte(pass), []byte(s.pass)) == 1 {
		return true
	}
	w.Header().Set("WWW-Authenticate", `Basic realm="registrytest"`)
	writeError(w, http.StatusUnauthorized, "UNAUTHORIZED", "authentication required")
	return false
}

func (s *Server) serveTags(w http.ResponseWriter, r *http.Request, repo string) {
	q := r.URL.Query()
	n := s.pageSize
	if v := q.Get("n"); v != "" {
		asked, err := strconv.Atoi(v)
		if err != nil || asked < 1 {
			writeError(w, http.StatusBadRequest, "PAGINATION_NUMBER_INVALID", fmt.Sprintf("invalid n %q", v))
			return
		}
		n = min(asked, s.pageSize)
	}
	last := q.Get("last")

	s.mu.Lock()
	all, known := s.repos[repo]
	fault := s.fault
	s.mu.Unlock()

	// Tags sort lexically, so the tags up to and including `last` are the pages already read.
	start, found := slices.BinarySearch(all, last)
	if found {
		start++
	}
	page := 1 + start/n

	if fault.applies(repo, page) {
		if fault.Hang {
			select {
			case <-r.Context().Done():
			case <-s.closing:
			}
			return
		}
		if fault.RetryAfter != "" {
			w.Header().Set("Retry-After", fault.RetryAfter)
		}
		writeError(w, fault.Status, errorCode(fault.Status), "injected fault")
		return
	}
	if !known {
		writeError(w, http.StatusNotFound, "NAME_UNKNOWN", "repository name not known to registry")
		return
	}

	end := min(start+n, len(all))
	tags := all[start:end]
	if end < len(all) {
		next := fmt.Sprintf("/v2/%s/tags/list?n=%d&last=%s", repo, n, url.QueryEscape(tags[len(tags)-1]))
		w.Header().Set("Link", fmt.Sprintf(`<%s>; rel="next"`, next))
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(struct {
		Name string   `json:"name"`
		Tags []string `json:"tags"`
	}{repo, tags})
}

func (f Fault) applies(repo string, page int) bool {
	if f.Status == 0 && !f.Hang {
		return false
	}
	return (f.Repo == "" || f.Repo == repo) && (f.OnPage == 0 || f.OnPage == page)
}

// errorCode picks the distribution error code a real registry sends with status.
func errorCode(status int) string {
	switch status {
	case http.StatusUnauthorized:
		return "UNAUTHORIZED"
	case http.StatusForbidden:
		return "DENIED"
	case http.StatusNotFound:
		return "NAME_UNKNOWN"
	case http.StatusTooManyRequests:
		return "TOOMANYREQUESTS"
	case http.StatusServiceUnavailable:
		return "UNAVAILABLE"
	default:
		return "UNKNOWN"
	}
}

func writeError(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	type diagnostic struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	_ = json.NewEncoder(w).Encode(struct {
		Errors []diagnostic `json:"errors"`
	}{[]diagnostic{{code, message}}})
}
