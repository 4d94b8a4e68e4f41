package credentials

import (
	"testing"
)

func TestCanonicalHostMatchesDockerConfigKeysTheWayDockerDoes(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"https://index.docker.io/v1/", "index.docker.io"},
		{"index.docker.io", "index.docker.io"},
		{"docker.io", "index.docker.io"},
		{"registry-1.docker.io", "index.docker.io"},
		{"https://ghcr.io/v2/", "ghcr.io"},
		{"http://127.0.0.1:5000", "127.0.0.1:5000"},
		{"Registry.Example.COM:8443/path", "registry.example.com:8443"},
		{"localhost:5000", "localhost:5000"},
		{"localhost", "localhost"},
	}
	for _, tt := range tests {
		t.Run(tt.in+" names "+tt.want, func(t *testing.T) {
			if got := canonicalHost(tt.in); got != tt.want {
				t.Errorf("canonicalHost(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestLookup(t *testing.T) {
	tests := []struct {
		name     string
		entries  map[string]dockerAuth
		host     string
		wantOK   bool
		wantUser string
	}{
		{"a port must match exactly",
			map[string]dockerAuth{"localhost:5000": {Username: "u", Password: "p"}}, "localhost:5001", false, ""},
		{"the key spelled like the host wins over an alias",
			map[string]dockerAuth{
				"https://index.docker.io/v1/": {Username: "legacy", Password: "p"},
				"index.docker.io":             {Username: "exact", Password: "p"},
				"docker.io":                   {Username: "alias", Password: "p"},
			}, "index.docker.io", true, "exact"},
		{"among aliases the first in byte order wins",
			map[string]dockerAuth{
				"registry-1.docker.io":        {Username: "r1", Password: "p"},
				"https://index.docker.io/v1/": {Username: "legacy", Password: "p"},
			}, "index.docker.io", true, "legacy"},
		{"an entry without credentials is passed over",
			map[string]dockerAuth{"ghcr.io": {}, "https://ghcr.io": {Username: "u", Password: "p"}}, "ghcr.io", true, "u"},
		{"auth wins over username and password",
			map[string]dockerAuth{"ghcr.io": {Auth: basic("from-auth", "p"), Username: "spelled", Password: "q"}}, "ghcr.io", true, "from-auth"},
		{"no entries",
			nil, "ghcr.io", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, ok, err := lookup(tt.entries, canonicalHost(tt.host))
			if err != nil {
				t.Fatal(err)
			}
			if ok != tt.wantOK || cfg.Username != tt.wantUser {
				t.Errorf("lookup = %q, %v; want %q, %v", cfg.Username, ok, tt.wantUser, tt.wantOK)
			}
		})
	}
}

func TestParseBothSecretFormats(t *testing.T) {
	entries, err := parseDockerConfigJSON([]byte(`{"auths":{"ghcr.io":{"auth":"dTpw"}},"credsStore":"desktop"}`))
	if err != nil || entries["ghcr.io"].Auth != "dTpw" {
		t.Errorf("dockerconfigjson = %v, %v", entries, err)
	}
	entries, err = parseDockercfg([]byte(`{"ghcr.io":{"auth":"dTpw","email":"x@y.z"}}`))
	if err != nil || entries["ghcr.io"].Auth != "dTpw" {
		t.Errorf("dockercfg = %v, %v", entries, err)
	}
}
