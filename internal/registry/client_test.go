package registry

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"

	"github.com/imagewatcher/image-watcher/internal/registrytest"
)

// staticKeychain hands out fixed credentials per registry host, so tests never depend on
// the Docker config of the machine running them.
type staticKeychain map[string]authn.AuthConfig

func (k staticKeychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	if cfg, ok := k[r.RegistryStr()]; ok {
		return authn.FromConfig(cfg), nil
	}
	return authn.Anonymous, nil
}

// noCredentials resolves every registry to anonymous access.
var noCredentials = authn.NewMultiKeychain(staticKeychain{})

func repoOn(t *testing.T, host, path string) name.Repository {
	t.Helper()
	repo, err := ParseRepository(host+"/"+path, true)
	if err != nil {
		t.Fatal(err)
	}
	return repo
}

// pathRecorder records the path of every request the client sends.
type pathRecorder struct {
	mu    sync.Mutex
	paths []string
}

func (p *pathRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	p.mu.Lock()
	p.paths = append(p.paths, req.URL.Path)
	p.mu.Unlock()
	return http.DefaultTransport.RoundTrip(req)
}

func TestListTagsReadsEveryPage(t *testing.T) {
	// The newest version sorts last, so a client that stops after the first page, or
	// trusts page order, misses it.
	const total = 20000
	want := make([]string, 0, total)
	for i := range total - 1 {
		want = append(want, fmt.Sprintf("v1.%d.%d", i/100, i%100))
	}
	want = append(want, "v9.0.0")
	slices.Sort(want)

	tests := []struct {
		name      string
		serverCap int
		pageSize  int
		wantPages int
	}{
		{"the server caps the client's default n of 1000 at 100", 100, 0, 200},
		{"the client's default n of 1000 is below a cap of 5000", 5000, 0, 20},
		{"a client page size of 30 below the cap is used as is", 100, 30, 667},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := registrytest.New(t, registrytest.WithPageSize(tt.serverCap))
			s.SetTags("org/app", want)
			c := &Client{PageSize: tt.pageSize, Timeout: 30 * time.Second}

			got, err := c.ListTags(context.Background(), repoOn(t, s.Host(), "org/app"), noCredentials, nil)
			if err != nil {
				t.Fatalf("ListTags: %v", err)
			}
			if len(got) != total || got[len(got)-1] != "v9.0.0" {
				t.Fatalf("got %d tags ending in %q, want %d ending in v9.0.0", len(got), got[len(got)-1], total)
			}
			if !slices.Equal(got, want) {
				t.Errorf("the tags returned differ from the tags served")
			}
			if n := s.TagListRequests("org/app"); n != tt.wantPages {
				t.Errorf("tags/list requests = %d, want %d", n, tt.wantPages)
			}
		})
	}
}

func TestListTagsOfAnEmptyRepositoryIsAnEmptyList(t *testing.T) {
	s := registrytest.New(t)
	s.SetTags("org/app", nil)
	got, err := (&Client{}).ListTags(context.Background(), repoOn(t, s.Host(), "org/app"), noCredentials, nil)
	if err != nil || got == nil || len(got) != 0 {
		t.Errorf("ListTags = %v, %v; want an empty, non-nil list", got, err)
	}
}

func TestListTagsCallsOnlyThePingAndTagsList(t *testing.T) {
	s := registrytest.New(t, registrytest.WithPageSize(2))
	s.SetTags("org/app", []string{"1.0.0", "1.0.1", "1.1.0", "2.0.0", "latest"})
	rec := &pathRecorder{}
	c := &Client{Transport: rec}

	if _, err := c.ListTags(context.Background(), repoOn(t, s.Host(), "org/app"), noCredentials, nil); err != nil {
		t.Fatal(err)
	}
	for _, p := range rec.paths {
		if p != "/v2/" && p != "/v2/org/app/tags/list" {
			t.Errorf("unexpected request to %s", p)
		}
	}
	if n := s.TagListRequests("org/app"); n != 3 {
		t.Errorf("tags/list requests = %d, want 3", n)
	}
}

func TestListTagsUsesCredentialsFromTheKeychain(t *testing.T) {
	const password = "s3cr3t-pa55"
	s := registrytest.New(t, registrytest.WithBasicAuth("robot", password))
	s.SetTags("org/app", []string{"1.0.0", "1.1.0"})
	repo := repoOn(t, s.Host(), "org/app")
	kc := authn.NewMultiKeychain(staticKeychain{}, staticKeychain{s.Host(): {Username: "robot", Password: password}})
	c := &Client{}

	got, err := c.ListTags(context.Background(), repo, kc, nil)
	if err != nil {
		t.Fatalf("ListTags with the right credentials: %v", err)
	}
	if !slices.Equal(got, []string{"1.0.0", "1.1.0"}) {
		t.Errorf("tags = %v", got)
	}

	// Errors met while authenticated must not carry the credentials.
	s.SetFault(registrytest.Fault{Status: http.StatusInternalServerError})
	_, err = c.ListTags(context.Background(), repo, kc, nil)
	if err == nil {
		t.Fatal("ListTags succeeded under a 500 fault")
	}
	if msg := fmt.Sprintf("%v %+v", err, err); strings.Contains(msg, password) {
		t.Errorf("the error shows the password: %s", msg)
	}
}

func TestListTagsWithNilKeychainReadsTheDockerConfig(t *testing.T) {
	s := registrytest.New(t, registrytest.WithBasicAuth("robot", "pw"))
	s.SetTags("org/app", []string{"1.0.0"})
	home := t.TempDir()
	dir := filepath.Join(home, ".docker")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	config := fmt.Sprintf(`{"auths": {%q: {"username": "robot", "password": "pw"}}}`, s.Host())
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HOME", home)
	t.Setenv("DOCKER_CONFIG", dir)

	got, err := (&Client{}).ListTags(context.Background(), repoOn(t, s.Host(), "org/app"), nil, nil)
	if err != nil || !slices.Equal(got, []string{"1.0.0"}) {
		t.Errorf("ListTags = %v, %v; want [1.0.0]", got, err)
	}
}

func TestListTagsErrors(t *testing.T) {
	const wrongPassword = "not-the-pa55word"
	tests := []struct {
		name         string
		opts         []registrytest.Option
		fault        registrytest.Fault
		repo         string
		keychain     authn.Keychain
		wantKind     Kind
		wantStatus   int
		wantRetry    time.Duration
		wantRequests int    // tags/list requests: 1 proves nothing was retried behind our back
		wantMessage  string // substring, after "registry HOST: "
	}{
		{
			name: "an unknown repository is NotFound", repo: "org/missing",
			wantKind: NotFound, wantStatus: 404, wantRequests: 1,
			wantMessage: `repository "org/missing" not found (HTTP 404)`,
		},
		{
			name: "a 500 is a RegistryError, not retried", fault: registrytest.Fault{Status: 500},
			wantKind: RegistryError, wantStatus: 500, wantRequests: 1,
			wantMessage: `listing tags of repository "org/app" failed (HTTP 500): UNKNOWN: injected fault`,
		},
		{
			name: "a 503 is a RegistryError, not retried", fault: registrytest.Fault{Status: 503},
			wantKind: RegistryError, wantStatus: 503, wantRequests: 1,
		},
		{
			name: "a 429 is RateLimited with its Retry-After, not retried", fault: registrytest.Fault{Status: 429, RetryAfter: "7"},
			wantKind: RateLimited, wantStatus: 429, wantRetry: 7 * time.Second, wantRequests: 1,
			wantMessage: "rate limited (HTTP 429), retry after 7s",
		},
		{
			name: "a 401 without credentials is Unauthorized", opts: []registrytest.Option{registrytest.WithBasicAuth("robot", "pw")},
			wantKind: Unauthorized, wantStatus: 401, wantRequests: 1,
			wantMessage: `repository "org/app" needs credentials (HTTP 401)`,
		},
		{
			name: "a 401 with a wrong password is Unauthorized", opts: []registrytest.Option{registrytest.WithBasicAuth("robot", "pw")},
			keychain: staticKeychain{}, // replaced below: it needs the server's host
			wantKind: Unauthorized, wantStatus: 401, wantRequests: 1,
			wantMessage: `credentials rejected for repository "org/app" (HTTP 401): check the pull secret`,
		},
		{
			name: "a 403 is Unauthorized", fault: registrytest.Fault{Status: 403},
			wantKind: Unauthorized, wantStatus: 403, wantRequests: 1,
			wantMessage: `access to repository "org/app" denied (HTTP 403)`,
		},
		{
			name: "a failure on page 3 of 5 discards the listing", opts: []registrytest.Option{registrytest.WithPageSize(10)},
			fault:    registrytest.Fault{Status: 500, OnPage: 3},
			wantKind: RegistryError, wantStatus: 500, wantRequests: 3,
			wantMessage: `listing tags of repository "org/app" failed on page 3 (HTTP 500)`,
		},
		{
			name: "a 429 on page 2 is RateLimited", opts: []registrytest.Option{registrytest.WithPageSize(10)},
			fault:    registrytest.Fault{Status: 429, RetryAfter: "30", OnPage: 2},
			wantKind: RateLimited, wantStatus: 429, wantRetry: 30 * time.Second, wantRequests: 2,
			wantMessage: "rate limited on page 2 (HTTP 429), retry after 30s",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := registrytest.New(t, tt.opts...)
			tags := make([]string, 50)
			for i := range tags {
				tags[i] = fmt.Sprintf("1.0.%02d", i)
			}
			s.SetTags("org/app", tags)
			s.SetFault(tt.fault)
			repoPath := cmpOr(tt.repo, "org/app")
			kc := tt.keychain
			if kc == nil {
				kc = noCredentials
			} else {
				kc = staticKeychain{s.Host(): {Username: "robot", Password: wrongPassword}}
			}

			got, err := (&Client{PageSize: 10}).ListTags(context.Background(), repoOn(t, s.Host(), repoPath), kc, nil)
			if err == nil {
				t.Fatalf("ListTags succeeded with %d tags", len(got))
			}
			if got != nil {
				t.Errorf("a failed listing returned %d tags", len(got))
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v (%T) is not a *registry.Error", err, err)
			}
			if KindOf(err) != tt.wantKind || e.StatusCode != tt.wantStatus || RetryAfter(err) != tt.wantRetry {
				t.Errorf("kind %s, status %d, retry after %s; want %s, %d, %s (%v)",
					KindOf(err), e.StatusCode, RetryAfter(err), tt.wantKind, tt.wantStatus, tt.wantRetry, err)
			}
			if e.Registry != s.Host() || e.Repository != repoPath {
				t.Errorf("error names %s/%s, want %s/%s", e.Registry, e.Repository, s.Host(), repoPath)
			}
			if n := s.TagListRequests(repoPath); n != tt.wantRequests {
				t.Errorf("tags/list requests = %d, want %d", n, tt.wantRequests)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "registry "+s.Host()+": ") || !strings.Contains(msg, tt.wantMessage) || strings.Contains(msg, "\n") {
				t.Errorf("message %q, want one line starting with the registry and containing %q", msg, tt.wantMessage)
			}
			if strings.Contains(fmt.Sprintf("%v %+v", err, err), wrongPassword) {
				t.Errorf("the error shows the password: %v", err)
			}
		})
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func TestListTagsGivesUpOnAHangingRegistryWithinTheTimeout(t *testing.T) {
	s := registrytest.New(t, registrytest.WithPageSize(10))
	s.SetTags("org/app", []string{"1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11"})
	s.SetFault(registrytest.Fault{Hang: true, OnPage: 2})
	c := &Client{Timeout: 300 * time.Millisecond, PageSize: 10}

	start := time.Now()
	got, err := c.ListTags(context.Background(), repoOn(t, s.Host(), "org/app"), noCredentials, nil)
	elapsed := time.Since(start)
	if got != nil || KindOf(err) != Unreachable {
		t.Fatalf("ListTags = %v, %v (%s); want Unreachable", got, err, KindOf(err))
	}
	if elapsed < 300*time.Millisecond || elapsed > 2*time.Second {
		t.Errorf("gave up after %s, want about 300ms", elapsed)
	}
	if want := `listing tags of repository "org/app" timed out after 300ms on page 2`; !strings.Contains(err.Error(), want) {
		t.Errorf("message %q, want it to contain %q", err, want)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("errors.Is(%v, context.DeadlineExceeded) = false", err)
	}
}

func TestListTagsStopsWhenTheCallerCancels(t *testing.T) {
	s := registrytest.New(t)
	s.SetTags("org/app", []string{"1"})
	s.SetFault(registrytest.Fault{Hang: true})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)

	_, err := (&Client{}).ListTags(ctx, repoOn(t, s.Host(), "org/app"), noCredentials, nil)
	if KindOf(err) != Unreachable || !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "was canceled") {
		t.Errorf("ListTags = %v (%s); want Unreachable wrapping context.Canceled", err, KindOf(err))
	}
}

func TestListTagsOnAClosedPortIsUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	host := l.Addr().String()
	_ = l.Close()

	_, err = (&Client{Timeout: 5 * time.Second}).ListTags(context.Background(), repoOn(t, host, "org/app"), noCredentials, nil)
	if KindOf(err) != Unreachable {
		t.Fatalf("ListTags = %v (%s); want Unreachable", err, KindOf(err))
	}
	if !strings.Contains(err.Error(), "cannot reach the registry") || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("message %q, want it to say the registry cannot be reached and why", err)
	}
}

func TestListTagsDetectsAPaginationLoop(t *testing.T) {
	var requests int
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2/" {
			return
		}
		mu.Lock()
		requests++
		mu.Unlock()
		// Every page links to the same "next" page.
		w.Header().Set("Link", `</v2/org/app/tags/list?n=1&last=a>; rel="next"`)
		_, _ = fmt.Fprint(w, `{"name":"org/app","tags":["a"]}`)
	}))
	t.Cleanup(srv.Close)

	_, err := (&Client{Timeout: 5 * time.Second}).ListTags(context.Background(), repoOn(t, srv.Listener.Addr().String(), "org/app"), noCredentials, nil)
	if KindOf(err) != RegistryError || !strings.Contains(err.Error(), "pagination is broken") {
		t.Errorf("ListTags = %v (%s); want a RegistryError about pagination", err, KindOf(err))
	}
	if requests > 3 {
		t.Errorf("followed the loop for %d requests", requests)
	}
}

// go-containerregistry takes a registry on a loopback or private address for plain HTTP;
// when it answers on HTTPS, every page after the first must still be read.
func TestListTagsPaginatesAnHTTPSRegistryOnAPrivateAddress(t *testing.T) {
	s := registrytest.New(t, registrytest.WithTLS(), registrytest.WithPageSize(2))
	want := []string{"1.0.0", "1.0.1", "1.0.2", "1.1.0", "2.0.0"}
	s.SetTags("org/app", want)
	repo, err := ParseRepository(s.Host()+"/org/app", false)
	if err != nil {
		t.Fatal(err)
	}
	c := &Client{Transport: s.Transport()}
	got, err := c.ListTags(context.Background(), repo, authn.DefaultKeychain, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) || s.TagListRequests("org/app") != 3 {
		t.Errorf("got %v in %d requests, want %v in 3", got, s.TagListRequests("org/app"), want)
	}
}
