package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"sigs.k8s.io/yaml"

	"github.com/imagewatcher/image-watcher/internal/registry"
	"github.com/imagewatcher/image-watcher/internal/registrytest"
	"github.com/imagewatcher/image-watcher/internal/tagcache"
)

// newAPI serves the API over real HTTP against a paginating local registry holding the
// seed's mojaloop/central-ledger tags.
func newAPI(t *testing.T) (*registrytest.Server, *httptest.Server) {
	t.Helper()
	reg := registrytest.New(t, registrytest.WithPageSize(3))
	reg.SetTags("mojaloop/central-ledger", strings.Fields(
		"v11.0.0 v11.0.0-patch.1 v11.0.1 v11.1.0 v12.0.0 v8.8.0-snapshot v8.8.0-snapshot.2 v8.9.0 v8.9.1-snapshot.1 latest"))
	s := &Server{
		Registry: "http://" + reg.Host(),
		Lister:   &registry.Client{Timeout: time.Second},
		Cache:    &tagcache.Cache{},
		Keychain: authn.DefaultKeychain,
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return reg, srv
}

func call(t *testing.T, srv *httptest.Server, method, path string) (int, http.Header, string) {
	t.Helper()
	req, _ := http.NewRequest(method, srv.URL+path, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(body)
}

func TestTheSeedsQueriesAnswerAsItsREADMEShows(t *testing.T) {
	reg, srv := newAPI(t)
	full := reg.Host() + "/mojaloop/central-ledger:"
	cases := []struct{ path, tag string }{
		{"/images/mojaloop/central-ledger/v11.0.0?strategy=patch", "v11.0.0-patch.1"},
		{"/images/mojaloop/central-ledger/v11.0.0?strategy=bugfix", "v11.0.1"},
		{"/images/mojaloop/central-ledger/v11.0.0?strategy=minor", "v11.1.0"},
		{"/images/mojaloop/central-ledger/v11.0.0?strategy=major", "v12.0.0"},
		{"/images/mojaloop/central-ledger/v11.0.0", "v11.0.1"},
		{"/images/mojaloop/central-ledger/v8.8.0-snapshot?strategy=major", "v8.9.1-snapshot.1"},
		{"/images/mojaloop/central-ledger/v8.8.0-snapshot?strategy=patch", "v8.8.0-snapshot.2"},
		{"/image/mojaloop/central-ledger/v11.0.0?strategy=patch", "v11.0.0-patch.1"},
	}
	for _, tc := range cases {
		t.Run(tc.path+" answers "+tc.tag, func(t *testing.T) {
			code, header, body := call(t, srv, http.MethodGet, tc.path)
			if code != http.StatusOK || header.Get("Content-Type") != "application/json" {
				t.Fatalf("%d %s: %s", code, header.Get("Content-Type"), body)
			}
			var a Answer
			if err := json.Unmarshal([]byte(body), &a); err != nil {
				t.Fatal(err)
			}
			if a != (Answer{Tag: tc.tag, FullImage: full + tc.tag}) {
				t.Errorf("answer %+v, want %s", a, tc.tag)
			}
		})
	}
	if got := reg.TagListRequests("mojaloop/central-ledger"); got != 4 {
		t.Errorf("%d tag-list requests for %d queries, want 4 (one listing of 4 pages, shared)", got, len(cases))
	}
}

func TestErrorsAreJSONWithTheSeedsStatusCodes(t *testing.T) {
	reg, srv := newAPI(t)
	reg.SetTags("mojaloop/down", []string{"v1.0.0"})
	reg.SetFault(registrytest.Fault{Status: http.StatusInternalServerError, Repo: "mojaloop/down"})
	cases := []struct {
		name, method, path string
		status             int
		code               string
	}{
		{"an unknown strategy", "GET", "/images/mojaloop/central-ledger/v11.0.0?strategy=newest", 400, "INVALID_STRATEGY"},
		{"a tag that is not a version", "GET", "/images/mojaloop/central-ledger/latest", 400, "INVALID_TAG"},
		{"a name with a host in it", "GET", "/images/evil.com:443/x/v1.0.0", 400, "INVALID_NAME"},
		{"an unknown repository", "GET", "/images/mojaloop/nope/v1.0.0", 404, "NOT_FOUND"},
		{"a registry failure", "GET", "/images/mojaloop/down/v1.0.0", 502, "REGISTRY_ERROR"},
		{"a write", "POST", "/images/mojaloop/central-ledger/v11.0.0", 405, "METHOD_NOT_ALLOWED"},
		{"an unknown path", "GET", "/nothing", 404, "NOT_FOUND"},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%s is %d %s", tc.name, tc.status, tc.code), func(t *testing.T) {
			code, header, body := call(t, srv, tc.method, tc.path)
			var e errorBody
			if err := json.Unmarshal([]byte(body), &e); err != nil || header.Get("Content-Type") != "application/json" {
				t.Fatalf("body %q (%s) is not a JSON error: %v", body, header.Get("Content-Type"), err)
			}
			if code != tc.status || e.Code != tc.code || e.Error == "" {
				t.Errorf("%d %+v, want %d %s with a message", code, e, tc.status, tc.code)
			}
		})
	}
	t.Run("a closed registry is 502", func(t *testing.T) {
		reg.Close()
		if code, _, body := call(t, srv, "GET", "/images/mojaloop/other/v1.0.0"); code != http.StatusBadGateway {
			t.Errorf("%d %s, want 502", code, body)
		}
	})
}

func TestAHostileNameCannotRedirectTheRegistry(t *testing.T) {
	s := &Server{Registry: ""}
	for _, path := range []string{"evil.com/x", "localhost/x"} {
		repo, err := s.repository(path)
		if err != nil {
			t.Fatal(err)
		}
		if repo.RegistryStr() != "index.docker.io" || repo.RepositoryStr() != path {
			t.Errorf("%q names %s / %s, want Docker Hub / %s", path, repo.RegistryStr(), repo.RepositoryStr(), path)
		}
	}
}

func TestHealthAndOpenAPI(t *testing.T) {
	_, srv := newAPI(t)
	if code, _, body := call(t, srv, "GET", "/health"); code != 200 || !strings.Contains(body, `"ok"`) {
		t.Errorf("/health: %d %s", code, body)
	}
	code, _, body := call(t, srv, "GET", "/openapi.yaml")
	var doc struct {
		OpenAPI string         `json:"openapi"`
		Paths   map[string]any `json:"paths"`
	}
	if err := yaml.Unmarshal([]byte(body), &doc); code != 200 || err != nil {
		t.Fatalf("/openapi.yaml: %d %v", code, err)
	}
	for _, p := range []string{"/images/{org}/{image}/{tag}", "/image/{org}/{image}/{tag}", "/health", "/openapi.yaml"} {
		if _, ok := doc.Paths[p]; !ok {
			t.Errorf("the OpenAPI document lacks %s", p)
		}
	}
}

func TestStartServesUntilTheContextEnds(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- (&Server{}).Serve(ctx, l) }()
	resp, err := http.Get("http://" + l.Addr().String() + "/health")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("/health: %v %v", resp, err)
	}
	_ = resp.Body.Close()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve returned %v after shutdown", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not stop")
	}
}
