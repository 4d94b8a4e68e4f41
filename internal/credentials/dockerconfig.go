package credentials

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
)

// dockerAuth is one registry's entry in a docker config: either auth, base64 of
// "user:password", or username and password spelled out; registries that hand out tokens
// use identitytoken or registrytoken instead.
type dockerAuth struct {
	Auth          string `json:"auth"`
	Username      string `json:"username"`
	Password      string `json:"password"`
	IdentityToken string `json:"identitytoken"`
	RegistryToken string `json:"registrytoken"`
}

// parseDockerConfigJSON reads the .dockerconfigjson of a kubernetes.io/dockerconfigjson
// Secret: {"auths": {"<registry>": {...}}}.
func parseDockerConfigJSON(data []byte) (map[string]dockerAuth, error) {
	var cfg struct {
		Auths map[string]dockerAuth `json:"auths"`
	}
	if err := decode(data, &cfg, ".dockerconfigjson"); err != nil {
		return nil, err
	}
	return cfg.Auths, nil
}

// parseDockercfg reads the .dockercfg of a kubernetes.io/dockercfg Secret, the format
// before docker 1.7: {"<registry>": {...}}.
func parseDockercfg(data []byte) (map[string]dockerAuth, error) {
	var entries map[string]dockerAuth
	if err := decode(data, &entries, ".dockercfg"); err != nil {
		return nil, err
	}
	return entries, nil
}

// decode unmarshals data without letting encoding/json's messages through: a syntax error
// quotes the offending character, which is part of a secret here.
func decode(data []byte, v any, key string) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return fmt.Errorf("key %s is missing or empty", key)
	}
	err := json.Unmarshal(data, v)
	var (
		syntaxErr *json.SyntaxError
		typeErr   *json.UnmarshalTypeError
	)
	switch {
	case err == nil:
		return nil
	case errors.As(err, &syntaxErr):
		return fmt.Errorf("key %s is not valid JSON (syntax error at byte %d)", key, syntaxErr.Offset)
	case errors.As(err, &typeErr):
		// The field path and the JSON kind found say where the shape is wrong without
		// showing the value.
		return fmt.Errorf("key %s is not a docker config: found a JSON %s where %q needs a %s", key, typeErr.Value, typeErr.Field, typeErr.Type.Kind())
	default:
		return fmt.Errorf("key %s is not a docker config", key)
	}
}

// lookup returns the credentials entries hold for host (canonical). Several keys can name
// the same registry ("https://index.docker.io/v1/" and "docker.io"); the key spelled
// exactly like host wins, then the first in byte order, so the choice never depends on map
// order. Entries without any credentials are passed over, as docker does.
func lookup(entries map[string]dockerAuth, host string) (authn.AuthConfig, bool, error) {
	var keys []string
	for k, e := range entries {
		if canonicalHost(k) == host && e != (dockerAuth{}) {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return authn.AuthConfig{}, false, nil
	}
	slices.SortFunc(keys, func(a, b string) int {
		if (a == host) != (b == host) {
			if a == host {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	})
	e := entries[keys[0]]
	cfg := authn.AuthConfig{
		Username:      e.Username,
		Password:      e.Password,
		IdentityToken: e.IdentityToken,
		RegistryToken: e.RegistryToken,
	}
	// auth wins over username and password, as in docker, and is decoded so both spellings
	// of the same credentials send the same header and get the same identity.
	if e.Auth != "" {
		raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(e.Auth))
		if err != nil {
			return authn.AuthConfig{}, false, fmt.Errorf("the auth of registry %q is not valid base64", keys[0])
		}
		user, pass, ok := strings.Cut(string(raw), ":")
		if !ok {
			return authn.AuthConfig{}, false, fmt.Errorf(`the auth of registry %q does not decode to "user:password"`, keys[0])
		}
		cfg.Username, cfg.Password = user, pass
	}
	return cfg, true, nil
}

// canonicalHost reduces a docker config key or a registry host to the host it names, the
// way docker matches them: a scheme and any path are dropped ("https://ghcr.io/v2/" is
// "ghcr.io"), case is ignored, and Docker Hub's names all become name.DefaultRegistry,
// which is what go-containerregistry calls it.
func canonicalHost(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	s = strings.TrimPrefix(strings.TrimPrefix(s, "https://"), "http://")
	s, _, _ = strings.Cut(s, "/")
	switch s {
	case "docker.io", "index.docker.io", "registry-1.docker.io":
		return name.DefaultRegistry
	}
	return s
}
