// Package api serves the seed's HTTP API (GET /images/{org}/{image}/{tag}) from the shared
// tag cache and the version rules, for clients of the service image-watcher replaces.
package api

import (
	"cmp"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"

	"github.com/imagewatcher/image-watcher/internal/credentials"
	"github.com/imagewatcher/image-watcher/internal/registry"
	"github.com/imagewatcher/image-watcher/internal/tagcache"
	"github.com/imagewatcher/image-watcher/internal/versions"
)

//go:embed openapi.yaml
var openAPI []byte

// TagLister lists every tag of a repository; *registry.Client is the real one.
type TagLister interface {
	ListTags(ctx context.Context, repo name.Repository, keychain authn.Keychain, transport http.RoundTripper) ([]string, error)
}

var _ TagLister = (*registry.Client)(nil)

// Server answers the seed's API. Every repository it reads is on Registry: callers name an
// organisation and an image, never a host.
type Server struct {
	// Addr is where Start listens, e.g. ":4006".
	Addr string
	// Registry is the registry host ("" or "docker.io" for Docker Hub, "host:port"), or
	// "http://host:port" for a plain-HTTP registry.
	Registry string
	// Lister lists tags; Cache shares listings with the controller.
	Lister TagLister
	Cache  *tagcache.Cache
	// Keychain is the controller's own credentials.
	Keychain authn.Keychain
	// MaxAge is how old a cached listing may be; 0 means 15m, the default interval.
	MaxAge time.Duration
	// Timeout bounds one request; 0 means 30s.
	Timeout time.Duration
}

// pathComponent is one component of a distribution repository name (lowercase letters and
// digits, single separators), so a caller cannot smuggle a host, a port or "..".
var pathComponent = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$`)

// Handler returns the API's routes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /images/{org}/{image}/{tag}", s.image)
	// The seed's README documents the singular path too; both answer.
	mux.HandleFunc("GET /image/{org}/{image}/{tag}", s.image)
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /openapi.yaml", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/yaml")
		_, _ = w.Write(openAPI)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "NOT_FOUND", fmt.Sprintf("no route for %s %s", r.Method, r.URL.Path))
	})
	return methodNotAllowedAsJSON(mux)
}

// Answer is the seed's response body.
type Answer struct {
	Tag       string `json:"tag"`
	FullImage string `json:"fullImage"`
}

func (s *Server) image(w http.ResponseWriter, r *http.Request) {
	org, image, tag := r.PathValue("org"), r.PathValue("image"), r.PathValue("tag")
	strategy, err := versions.ParseStrategy(cmp.Or(r.URL.Query().Get("strategy"), string(versions.Bugfix)))
	if err != nil {
		writeError(w, http.StatusBadRequest, "INVALID_STRATEGY", err.Error())
		return
	}
	if !pathComponent.MatchString(org) || !pathComponent.MatchString(image) {
		writeError(w, http.StatusBadRequest, "INVALID_NAME", fmt.Sprintf("%q/%q is not a repository name: lowercase letters, digits and . _ - separators only", org, image))
		return
	}
	if _, ok := versions.Parse(tag); !ok {
		writeError(w, http.StatusBadRequest, "INVALID_TAG", fmt.Sprintf("tag %q is not a version such as v1.2.3", tag))
		return
	}
	repo, err := s.repository(org + "/" + image)
	if err != nil {
		writeError(w, http.StatusBadRequest, "INVALID_NAME", err.Error())
		return
	}

	ctx, cancel := context.WithTimeout(r.Context(), cmp.Or(s.Timeout, 30*time.Second))
	defer cancel()
	// The controller's own credentials, as for a resource without secretRef: both share listings.
	key := tagcache.Key(repo, credentials.IdentityController, "")
	listing, err := s.Cache.Get(ctx, key, cmp.Or(s.MaxAge, 15*time.Minute), func(ctx context.Context) ([]string, error) {
		return s.Lister.ListTags(ctx, repo, s.Keychain, nil)
	})
	if err != nil {
		status, code := http.StatusBadGateway, "REGISTRY_ERROR"
		switch {
		case registry.KindOf(err) == registry.NotFound:
			status, code = http.StatusNotFound, "NOT_FOUND"
		case registry.KindOf(err) == registry.RateLimited:
			code = "RATE_LIMITED"
			if wait := registry.RetryAfter(err); wait > 0 {
				w.Header().Set("Retry-After", fmt.Sprint(int(wait.Seconds())))
			}
		case errors.Is(err, context.DeadlineExceeded):
			status, code = http.StatusGatewayTimeout, "TIMEOUT"
		}
		writeError(w, status, code, err.Error())
		return
	}
	res, err := versions.Evaluate(listing.Listing, tag, versions.Filter{})
	if err != nil {
		writeError(w, http.StatusBadRequest, "INVALID_TAG", err.Error())
		return
	}
	latest := res.For(strategy)
	writeJSON(w, http.StatusOK, Answer{Tag: latest, FullImage: registry.FullImage(repo, latest)})
}

// repository names path on the configured registry.
func (s *Server) repository(path string) (name.Repository, error) {
	host, insecure := s.Registry, false
	if h, ok := strings.CutPrefix(host, "http://"); ok {
		host, insecure = h, true
	}
	host = strings.TrimPrefix(host, "https://")
	if host == "" || host == "docker.io" {
		// Spelled out: "evil.com/x" alone would name the host evil.com.
		host = name.DefaultRegistry
	}
	return registry.ParseRepository(host+"/"+path, insecure)
}

// Start serves on Addr until ctx ends, then shuts down gracefully. It lets the manager run
// the API as one of its runnables.
func (s *Server) Start(ctx context.Context) error {
	l, err := net.Listen("tcp", s.Addr)
	if err != nil {
		return fmt.Errorf("seed API: %w", err)
	}
	return s.Serve(ctx, l)
}

// Serve serves on l until ctx ends.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return srv.Shutdown(shutdown)
	}
}

// NeedLeaderElection is false: every replica answers, from its own cache.
func (s *Server) NeedLeaderElection() bool { return false }

type errorBody struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}

func writeError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, errorBody{Error: message, Code: code})
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

// methodNotAllowedAsJSON turns the mux's plain-text 405 into a JSON error like every other.
func methodNotAllowedAsJSON(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET")
			writeError(w, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED", r.Method+" is not allowed; the API is read-only (GET)")
			return
		}
		next.ServeHTTP(w, r)
	})
}
