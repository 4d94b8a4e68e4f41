package registrytest

import (
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"
)

// getTags reads one tags/list response from d with the given transport and credentials.
func getTags(t *testing.T, d *Distribution, rt http.RoundTripper, scheme, path, user, pass string) (*http.Response, []string, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, scheme+"://"+d.Host()+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" || pass != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := (&http.Client{Transport: rt}).Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	var body struct {
		Tags []string `json:"tags"`
	}
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			t.Fatalf("GET %s: decoding body: %v", path, err)
		}
	}
	return resp, body.Tags, nil
}

func TestDistributionRequiresTheTestCAAndTheHtpasswdUser(t *testing.T) {
	d := StartDistribution(t)
	d.PushTags(t, "org/app", "v1.0.0")

	tests := []struct {
		name       string
		user, pass string
		wantStatus int
	}{
		{"the configured user is let in", d.Username(), d.Password(), http.StatusOK},
		{"a wrong password is refused", d.Username(), d.Password() + "x", http.StatusUnauthorized},
		{"no credentials are refused", "", "", http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, _, err := getTags(t, d, d.Transport(), "https", "/v2/org/app/tags/list", tt.user, tt.pass)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.wantStatus)
			}
		})
	}

	t.Run("the certificate is not trusted without the test CA", func(t *testing.T) {
		_, _, err := getTags(t, d, http.DefaultTransport, "https", "/v2/", "", "")
		var unknown x509.UnknownAuthorityError
		if !errors.As(err, &unknown) {
			t.Errorf("GET with system roots: err = %v, want x509.UnknownAuthorityError", err)
		}
	})
	t.Run("CAPEM is the CA that signed the certificate", func(t *testing.T) {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(d.CAPEM()) {
			t.Fatal("CAPEM holds no certificate")
		}
		rt := http.DefaultTransport.(*http.Transport).Clone()
		rt.TLSClientConfig.RootCAs = pool
		defer rt.CloseIdleConnections()
		resp, _, err := getTags(t, d, rt, "https", "/v2/", d.Username(), d.Password())
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Errorf("GET /v2/ trusting CAPEM: %v, %v", resp, err)
		}
	})
}

// TestDistributionListsEveryTagInOnePage pins what distribution.go's comment says about
// 2.8: n and last are ignored and no Link header is sent. If CI's package moves to a
// distribution that paginates, this fails and the comment (and tests relying on it) must
// change.
func TestDistributionListsEveryTagInOnePage(t *testing.T) {
	d := StartDistribution(t)
	want := make([]string, 300)
	for i := range want {
		want[i] = fmt.Sprintf("v1.%d.%d", i/100, i%100)
	}
	start := time.Now()
	d.PushTags(t, "org/app", want...)
	t.Logf("PushTags of %d tags took %s", len(want), time.Since(start).Round(time.Millisecond))
	slices.Sort(want)

	for _, query := range []string{"", "?n=10", "?n=10&last=v1.1.50"} {
		t.Run("tags/list"+query, func(t *testing.T) {
			resp, got, err := getTags(t, d, d.Transport(), "https", "/v2/org/app/tags/list"+query, d.Username(), d.Password())
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status = %d, want 200", resp.StatusCode)
			}
			if link := resp.Header.Get("Link"); link != "" {
				t.Errorf("Link = %q, want none", link)
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("got %d tags, want all %d", len(got), len(want))
			}
		})
	}
}

func TestDistributionPlainHTTPWithoutAuth(t *testing.T) {
	d := StartDistribution(t, WithDistributionPlainHTTP(), WithoutDistributionAuth())
	if d.CAPEM() != nil {
		t.Errorf("CAPEM = %q, want nil for plain HTTP", d.CAPEM())
	}
	d.PushTags(t, "library/nginx", "1.25.3", "1.25.4")
	resp, got, err := getTags(t, d, d.Transport(), "http", "/v2/library/nginx/tags/list", "", "")
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	if resp.StatusCode != http.StatusOK || !slices.Equal(got, []string{"1.25.3", "1.25.4"}) {
		t.Errorf("anonymous GET over HTTP = %d %v, want 200 [1.25.3 1.25.4]", resp.StatusCode, got)
	}
}
