package registrytest

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

type page struct {
	status int
	header http.Header
	Name   string   `json:"name"`
	Tags   []string `json:"tags"`
	Errors []struct {
		Code string `json:"code"`
	} `json:"errors"`
}

func get(t *testing.T, ctx context.Context, url string, setAuth func(*http.Request)) page {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if setAuth != nil {
		setAuth(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer func() { _ = resp.Body.Close() }()
	p := page{status: resp.StatusCode, header: resp.Header}
	if err := json.NewDecoder(resp.Body).Decode(&p); err != nil {
		t.Fatalf("GET %s: decoding body: %v", url, err)
	}
	return p
}

func TestPaginationFollowsLinkHeadersUpToTheCap(t *testing.T) {
	s := New(t, WithPageSize(3))
	s.SetTags("org/app", []string{"e", "a", "d", "b", "c", "g", "f", "a"})

	tests := []struct {
		name      string
		query     string
		wantPages [][]string
	}{
		{"without n the cap is the page size", "", [][]string{{"a", "b", "c"}, {"d", "e", "f"}, {"g"}}},
		{"n above the cap is cut to the cap", "?n=1000", [][]string{{"a", "b", "c"}, {"d", "e", "f"}, {"g"}}},
		{"n below the cap is honoured", "?n=2", [][]string{{"a", "b"}, {"c", "d"}, {"e", "f"}, {"g"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s.ResetCounts()
			next := "/v2/org/app/tags/list" + tt.query
			var got [][]string
			for next != "" {
				p := get(t, context.Background(), s.URL()+next, nil)
				if p.status != http.StatusOK || p.Name != "org/app" {
					t.Fatalf("GET %s = %d %q, want 200 for org/app", next, p.status, p.Name)
				}
				got = append(got, p.Tags)
				next = ""
				if link := p.header.Get("Link"); link != "" {
					target, rel, ok := strings.Cut(link, ">; ")
					if !ok || rel != `rel="next"` || !strings.HasPrefix(target, "</v2/org/app/tags/list?n=") {
						t.Fatalf("malformed Link header %q", link)
					}
					next = strings.TrimPrefix(target, "<")
				}
			}
			if !slices.EqualFunc(got, tt.wantPages, slices.Equal) {
				t.Errorf("pages = %v, want %v", got, tt.wantPages)
			}
			if n := s.TagListRequests("org/app"); n != len(tt.wantPages) {
				t.Errorf("TagListRequests = %d, want %d", n, len(tt.wantPages))
			}
		})
	}
}

func TestUnknownRepositoryAnswersNameUnknown(t *testing.T) {
	s := New(t)
	p := get(t, context.Background(), s.URL()+"/v2/nope/tags/list", nil)
	if p.status != http.StatusNotFound || len(p.Errors) != 1 || p.Errors[0].Code != "NAME_UNKNOWN" {
		t.Errorf("got %d %+v, want 404 NAME_UNKNOWN", p.status, p.Errors)
	}
}

func TestAddTagsKeepsTagsSortedAndUnique(t *testing.T) {
	s := New(t)
	s.AddTags("app", "b", "a")
	s.AddTags("app", "c", "a")
	p := get(t, context.Background(), s.URL()+"/v2/app/tags/list", nil)
	if want := []string{"a", "b", "c"}; !slices.Equal(p.Tags, want) {
		t.Errorf("tags = %v, want %v", p.Tags, want)
	}
}

func TestBasicAuthIsRequiredWhenConfigured(t *testing.T) {
	s := New(t, WithBasicAuth("user", "secret"))
	s.SetTags("app", []string{"1.0.0"})
	for _, path := range []string{"/v2/", "/v2/app/tags/list"} {
		p := get(t, context.Background(), s.URL()+path, nil)
		if p.status != http.StatusUnauthorized || !strings.HasPrefix(p.header.Get("WWW-Authenticate"), "Basic realm=") {
			t.Errorf("GET %s without credentials = %d %q, want 401 with a Basic challenge", path, p.status, p.header.Get("WWW-Authenticate"))
		}
		p = get(t, context.Background(), s.URL()+path, func(r *http.Request) { r.SetBasicAuth("user", "wrong") })
		if p.status != http.StatusUnauthorized {
			t.Errorf("GET %s with a wrong password = %d, want 401", path, p.status)
		}
		p = get(t, context.Background(), s.URL()+path, func(r *http.Request) { r.SetBasicAuth("user", "secret") })
		if p.status != http.StatusOK {
			t.Errorf("GET %s with the right credentials = %d, want 200", path, p.status)
		}
	}
}

func TestFaults(t *testing.T) {
	s := New(t, WithPageSize(2))
	s.SetTags("a", []string{"1", "2", "3", "4", "5"})
	s.SetTags("b", []string{"1"})

	s.SetFault(Fault{Status: http.StatusTooManyRequests, RetryAfter: "7", Repo: "a"})
	p := get(t, context.Background(), s.URL()+"/v2/a/tags/list", nil)
	if p.status != http.StatusTooManyRequests || p.header.Get("Retry-After") != "7" || p.Errors[0].Code != "TOOMANYREQUESTS" {
		t.Errorf("faulted repository: got %d Retry-After %q %+v, want 429 Retry-After 7 TOOMANYREQUESTS", p.status, p.header.Get("Retry-After"), p.Errors)
	}
	if p := get(t, context.Background(), s.URL()+"/v2/b/tags/list", nil); p.status != http.StatusOK {
		t.Errorf("other repository: got %d, want 200", p.status)
	}
	if p := get(t, context.Background(), s.URL()+"/v2/", nil); p.status != http.StatusOK {
		t.Errorf("/v2/ under a fault: got %d, want 200", p.status)
	}

	s.SetFault(Fault{Status: http.StatusInternalServerError, OnPage: 2})
	if p := get(t, context.Background(), s.URL()+"/v2/a/tags/list", nil); p.status != http.StatusOK {
		t.Errorf("page 1 with a fault on page 2: got %d, want 200", p.status)
	}
	if p := get(t, context.Background(), s.URL()+"/v2/a/tags/list?n=2&last=2", nil); p.status != http.StatusInternalServerError {
		t.Errorf("page 2 with a fault on page 2: got %d, want 500", p.status)
	}
	if p := get(t, context.Background(), s.URL()+"/v2/a/tags/list?n=2&last=4", nil); p.status != http.StatusOK {
		t.Errorf("page 3 with a fault on page 2: got %d, want 200", p.status)
	}

	s.SetFault(Fault{})
	if p := get(t, context.Background(), s.URL()+"/v2/a/tags/list?n=2&last=2", nil); p.status != http.StatusOK {
		t.Errorf("after clearing the fault: got %d, want 200", p.status)
	}
}

func TestHangEndsWithTheClientOrTheServer(t *testing.T) {
	s := New(t)
	s.SetTags("app", []string{"1"})
	s.SetFault(Fault{Hang: true})

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL()+"/v2/app/tags/list", nil)
	start := time.Now()
	if resp, err := http.DefaultClient.Do(req); err == nil {
		_ = resp.Body.Close()
		t.Fatalf("a hanging request answered %d", resp.StatusCode)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("the client waited %s for a 100ms timeout", d)
	}

	// A request with no deadline at all must not keep Close from returning.
	errc := make(chan error, 1)
	go func() {
		resp, err := http.Get(s.URL() + "/v2/app/tags/list")
		if err == nil {
			_ = resp.Body.Close()
		}
		errc <- err
	}()
	for s.TagListRequests("app") < 2 {
		time.Sleep(5 * time.Millisecond)
	}
	closed := make(chan struct{})
	go func() { s.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close blocked on a hanging request")
	}
	<-errc
}

func TestClosedServerRefusesConnections(t *testing.T) {
	s := New(t)
	s.Close()
	resp, err := http.Get(s.URL() + "/v2/")
	if err == nil {
		_ = resp.Body.Close()
		t.Fatalf("a closed server answered %d", resp.StatusCode)
	}
}
