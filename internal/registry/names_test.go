package registry

import (
	"strings"
	"testing"
)

func TestParseRepository(t *testing.T) {
	tests := []struct {
		image   string
		want    string // Repository.Name(), registry included
		wantErr string // substring of the error; "" means success
	}{
		{image: "nginx", want: "index.docker.io/library/nginx"},
		{image: "library/nginx", want: "index.docker.io/library/nginx"},
		{image: "docker.io/library/nginx", want: "index.docker.io/library/nginx"},
		{image: "mojaloop/central-ledger", want: "index.docker.io/mojaloop/central-ledger"},
		{image: "ghcr.io/org/team/app", want: "ghcr.io/org/team/app"},
		{image: "localhost:5000/org/app", want: "localhost:5000/org/app"},
		{image: "127.0.0.1:5000/app", want: "127.0.0.1:5000/app"},
		{image: "registry.example.com/my_app.v2/some-thing", want: "registry.example.com/my_app.v2/some-thing"},
		{image: "", wantErr: "empty"},
		{image: "nginx:1.25", wantErr: "has a tag"},
		{image: "localhost:5000/org/app:v1", wantErr: "has a tag"},
		{image: "nginx:", wantErr: "ends with ':'"},
		{image: "nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", wantErr: "has a digest"},
		{image: "Nginx", wantErr: "invalid image"},
		{image: "org/App", wantErr: "invalid image"},
		{image: "org//app", wantErr: "path component"},
		{image: "org/-app", wantErr: "path component"},
		{image: "https://ghcr.io/org/app", wantErr: "URL scheme"},
		{image: "org/app name", wantErr: "invalid image"},
	}
	for _, tt := range tests {
		t.Run(tt.image, func(t *testing.T) {
			repo, err := ParseRepository(tt.image, false)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseRepository(%q) error = %v, want one containing %q", tt.image, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseRepository(%q): %v", tt.image, err)
			}
			if repo.Name() != tt.want {
				t.Errorf("ParseRepository(%q) = %s, want %s", tt.image, repo.Name(), tt.want)
			}
		})
	}
}

func TestParseRepositoryInsecureAllowsPlainHTTP(t *testing.T) {
	for _, tt := range []struct {
		insecure bool
		want     string
	}{{false, "https"}, {true, "http"}} {
		repo, err := ParseRepository("registry.example.com/app", tt.insecure)
		if err != nil {
			t.Fatal(err)
		}
		if got := repo.Scheme(); got != tt.want {
			t.Errorf("insecure=%v: scheme %q, want %q", tt.insecure, got, tt.want)
		}
	}
}

func TestParseTagged(t *testing.T) {
	tests := []struct {
		ref      string
		wantRepo string
		wantTag  string
		wantErr  string
	}{
		{ref: "nginx:1.25", wantRepo: "index.docker.io/library/nginx", wantTag: "1.25"},
		{ref: "mojaloop/central-ledger:v11.0.0", wantRepo: "index.docker.io/mojaloop/central-ledger", wantTag: "v11.0.0"},
		{ref: "localhost:5000/org/app:v1.2.3-rc.1", wantRepo: "localhost:5000/org/app", wantTag: "v1.2.3-rc.1"},
		{ref: "nginx", wantErr: "has no tag"},
		{ref: "localhost:5000/org/app", wantErr: "has no tag"},
		{ref: "nginx:", wantErr: "has no tag"},
		{ref: "nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", wantErr: "has a digest"},
		{ref: "nginx:1.25@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", wantErr: "has a digest"},
		{ref: "nginx:-bad", wantErr: "invalid tag"},
		{ref: "Nginx:1.25", wantErr: "invalid image"},
		{ref: "", wantErr: "has no tag"},
	}
	for _, tt := range tests {
		t.Run(tt.ref, func(t *testing.T) {
			repo, tag, err := ParseTagged(tt.ref, false)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseTagged(%q) error = %v, want one containing %q", tt.ref, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseTagged(%q): %v", tt.ref, err)
			}
			if repo.Name() != tt.wantRepo || tag != tt.wantTag {
				t.Errorf("ParseTagged(%q) = %s, %q; want %s, %q", tt.ref, repo.Name(), tag, tt.wantRepo, tt.wantTag)
			}
		})
	}
}

func TestFullImage(t *testing.T) {
	tests := []struct {
		image, tag, want string
	}{
		{"nginx", "1.25", "nginx:1.25"},
		{"docker.io/library/nginx", "1.25", "nginx:1.25"},
		{"mojaloop/central-ledger", "v11.0.1", "mojaloop/central-ledger:v11.0.1"},
		{"localhost:5000/org/app", "v1", "localhost:5000/org/app:v1"},
		{"ghcr.io/org/app", "1.0.0", "ghcr.io/org/app:1.0.0"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			repo, err := ParseRepository(tt.image, false)
			if err != nil {
				t.Fatal(err)
			}
			got := FullImage(repo, tt.tag)
			if got != tt.want {
				t.Errorf("FullImage(%s, %q) = %q, want %q", repo, tt.tag, got, tt.want)
			}
			// What users are told to pull must name the same repository again.
			back, tag, err := ParseTagged(got, false)
			if err != nil || back.Name() != repo.Name() || tag != tt.tag {
				t.Errorf("ParseTagged(%q) = %s, %q, %v; want %s, %q", got, back, tag, err, repo, tt.tag)
			}
		})
	}
}
