package credentials

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
)

const ns = "team-a"

func secret(namespace, name string, typ corev1.SecretType, key, data string) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Type:       typ,
		Data:       map[string][]byte{key: []byte(data)},
	}
}

// pullSecret is a kubernetes.io/dockerconfigjson Secret with config as its .dockerconfigjson.
func pullSecret(namespace, name, config string) *corev1.Secret {
	return secret(namespace, name, corev1.SecretTypeDockerConfigJson, corev1.DockerConfigJsonKey, config)
}

func serviceAccount(name string, pullSecrets ...string) *corev1.ServiceAccount {
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	for _, s := range pullSecrets {
		sa.ImagePullSecrets = append(sa.ImagePullSecrets, corev1.LocalObjectReference{Name: s})
	}
	return sa
}

func basic(user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
}

// authFor resolves kc for a repository on host, the way registry.Client does.
func authFor(t *testing.T, kc authn.Keychain, host string) authn.AuthConfig {
	t.Helper()
	repo, err := name.NewRepository(host + "/org/app")
	if err != nil {
		t.Fatal(err)
	}
	a, err := kc.Resolve(repo)
	if err != nil {
		t.Fatalf("Resolve(%s): %v", repo, err)
	}
	cfg, err := a.Authorization()
	if err != nil {
		t.Fatalf("Authorization: %v", err)
	}
	return *cfg
}

// controllerKeychain stands for the controller's own docker config.
var controllerKeychain = authn.NewMultiKeychain(staticKeychain{authn.AuthConfig{Username: "controller", Password: "controller-pass"}})

type staticKeychain struct{ cfg authn.AuthConfig }

func (k staticKeychain) Resolve(authn.Resource) (authn.Authenticator, error) {
	return authn.FromConfig(k.cfg), nil
}

func TestResolvePicksTheFirstSourceWithCredentialsForTheHost(t *testing.T) {
	ghcrOnly := pullSecret(ns, "ghcr", `{"auths":{"ghcr.io":{"auth":"`+basic("gh-user", "gh-pass")+`"}}}`)
	quay := pullSecret(ns, "quay", `{"auths":{"quay.io":{"username":"quay-user","password":"quay-pass"}}}`)
	hub := secret(ns, "hub-legacy", corev1.SecretTypeDockercfg, corev1.DockerConfigKey,
		`{"https://index.docker.io/v1/":{"auth":"`+basic("hub-user", "hub-pass")+`","email":"a@b.c"}}`)
	objects := []client.Object{
		ghcrOnly, quay, hub,
		serviceAccount("builder", "does-not-exist", "", "quay", "ghcr"),
		serviceAccount("no-secrets"),
	}

	tests := []struct {
		name         string
		secretRef    string
		sa           string
		host         string
		fallback     authn.Keychain
		wantUser     string
		wantPass     string
		wantIdentity string // "" means a "cred-" hash
	}{
		{name: "no source and no fallback is anonymous", host: "ghcr.io",
			wantIdentity: IdentityAnonymous},
		{name: "no source falls back to the controller keychain", host: "ghcr.io", fallback: controllerKeychain,
			wantUser: "controller", wantPass: "controller-pass", wantIdentity: IdentityController},
		{name: "secretRef with an auth entry for the host is used", secretRef: "ghcr", host: "ghcr.io", fallback: controllerKeychain,
			wantUser: "gh-user", wantPass: "gh-pass"},
		{name: "secretRef with username and password is used", secretRef: "quay", host: "quay.io",
			wantUser: "quay-user", wantPass: "quay-pass"},
		{name: "a legacy dockercfg Secret for index.docker.io/v1/ serves Docker Hub", secretRef: "hub-legacy", host: "index.docker.io",
			wantUser: "hub-user", wantPass: "hub-pass"},
		{name: "docker.io as the host is Docker Hub too", secretRef: "hub-legacy", host: "docker.io",
			wantUser: "hub-user", wantPass: "hub-pass"},
		{name: "secretRef without an entry for the host falls through to the service account", secretRef: "ghcr", sa: "builder", host: "quay.io",
			wantUser: "quay-user", wantPass: "quay-pass"},
		{name: "the service account's pull secrets are tried in order, skipping missing ones", sa: "builder", host: "ghcr.io",
			wantUser: "gh-user", wantPass: "gh-pass"},
		{name: "a service account without a match falls back to the controller", sa: "no-secrets", host: "ghcr.io", fallback: controllerKeychain,
			wantUser: "controller", wantPass: "controller-pass", wantIdentity: IdentityController},
		{name: "a secretRef without a match and no fallback is anonymous", secretRef: "quay", host: "ghcr.io",
			wantIdentity: IdentityAnonymous},
	}
	c := fake.NewClientBuilder().WithObjects(objects...).Build()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kc, identity, err := Resolve(context.Background(), c, ns, tt.secretRef, tt.sa, tt.host, tt.fallback)
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			got := authFor(t, kc, tt.host)
			if got.Username != tt.wantUser || got.Password != tt.wantPass {
				t.Errorf("credentials = %q/%q, want %q/%q", got.Username, got.Password, tt.wantUser, tt.wantPass)
			}
			switch {
			case tt.wantIdentity != "" && identity != tt.wantIdentity:
				t.Errorf("identity = %q, want %q", identity, tt.wantIdentity)
			case tt.wantIdentity == "" && !strings.HasPrefix(identity, "cred-"):
				t.Errorf("identity = %q, want a cred- hash", identity)
			}
			if tt.wantPass != "" && strings.Contains(identity, tt.wantPass) {
				t.Errorf("identity %q contains the password", identity)
			}
		})
	}
}

func TestResolvedKeychainGivesCredentialsToTheirRegistryOnly(t *testing.T) {
	c := fake.NewClientBuilder().WithObjects(
		pullSecret(ns, "ghcr", `{"auths":{"ghcr.io":{"auth":"`+basic("gh-user", "gh-pass")+`"}}}`),
	).Build()
	kc, _, err := Resolve(context.Background(), c, ns, "ghcr", "", "ghcr.io", controllerKeychain)
	if err != nil {
		t.Fatal(err)
	}
	if got := authFor(t, kc, "evil.example.com"); got != (authn.AuthConfig{}) {
		t.Errorf("credentials for another registry = %+v, want anonymous", got)
	}
}

func TestIdentityFollowsTheCredentialsNotTheirSpelling(t *testing.T) {
	c := fake.NewClientBuilder().WithObjects(
		pullSecret("team-a", "auth-form", `{"auths":{"ghcr.io":{"auth":"`+basic("bot", "s3cret")+`"}}}`),
		pullSecret("team-b", "split-form", `{"auths":{"https://ghcr.io/v2/":{"username":"bot","password":"s3cret"}}}`),
		pullSecret("team-a", "other-password", `{"auths":{"ghcr.io":{"username":"bot","password":"s3cret2"}}}`),
		pullSecret("team-a", "other-user", `{"auths":{"ghcr.io":{"username":"bot2","password":"s3cret"}}}`),
		pullSecret("team-a", "shifted", `{"auths":{"ghcr.io":{"username":"bots","password":"3cret"}}}`),
		pullSecret("team-a", "token", `{"auths":{"ghcr.io":{"identitytoken":"s3cret"}}}`),
	).Build()
	identity := func(namespace, secretName string) string {
		t.Helper()
		_, id, err := Resolve(context.Background(), c, namespace, secretName, "", "ghcr.io", nil)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	base := identity("team-a", "auth-form")

	t.Run("the same credentials in another namespace and spelling have the same identity", func(t *testing.T) {
		if got := identity("team-b", "split-form"); got != base {
			t.Errorf("identity = %q, want %q", got, base)
		}
	})
	t.Run("resolving twice gives the same identity", func(t *testing.T) {
		if got := identity("team-a", "auth-form"); got != base {
			t.Errorf("identity = %q, want %q", got, base)
		}
	})
	for _, other := range []string{"other-password", "other-user", "shifted", "token"} {
		t.Run("different credentials ("+other+") have a different identity", func(t *testing.T) {
			if got := identity("team-a", other); got == base || got == IdentityAnonymous || got == IdentityController {
				t.Errorf("identity = %q, want one of its own", got)
			}
		})
	}
}

func TestResolveErrorsNameTheSecretAndNeverItsContent(t *testing.T) {
	const leak = "hunter2-LEAK"
	tests := []struct {
		name      string
		objects   []client.Object
		secretRef string
		sa        string
		wantMsg   []string
	}{
		{name: "a missing secretRef",
			secretRef: "regcred",
			wantMsg:   []string{`secret "regcred" not found in namespace "team-a"`}},
		{name: "a missing service account",
			sa:      "builder",
			wantMsg: []string{`service account "builder" not found in namespace "team-a"`}},
		{name: "an Opaque Secret",
			objects:   []client.Object{secret(ns, "regcred", corev1.SecretTypeOpaque, "password", leak)},
			secretRef: "regcred",
			wantMsg:   []string{`secret "regcred" in namespace "team-a" has type "Opaque"`, "kubernetes.io/dockerconfigjson"}},
		{name: "malformed JSON",
			objects:   []client.Object{pullSecret(ns, "regcred", `{"auths":{"ghcr.io":{"auth":"`+leak+`"`)},
			secretRef: "regcred",
			wantMsg:   []string{`secret "regcred"`, "not valid JSON"}},
		{name: "a syntax error at a secret character",
			objects:   []client.Object{pullSecret(ns, "regcred", `{"auths":{"ghcr.io":{"password":"x"`+leak+`}}}`)},
			secretRef: "regcred",
			wantMsg:   []string{`secret "regcred"`, "not valid JSON"}},
		{name: "JSON of the wrong shape",
			objects:   []client.Object{pullSecret(ns, "regcred", `{"auths":{"ghcr.io":["`+leak+`"]}}`)},
			secretRef: "regcred",
			wantMsg:   []string{`secret "regcred"`, "not a docker config"}},
		{name: "a dockerconfigjson Secret without its key",
			objects:   []client.Object{secret(ns, "regcred", corev1.SecretTypeDockerConfigJson, "config.json", leak)},
			secretRef: "regcred",
			wantMsg:   []string{".dockerconfigjson is missing"}},
		{name: "auth that is not base64",
			objects:   []client.Object{pullSecret(ns, "regcred", `{"auths":{"ghcr.io":{"auth":"`+leak+`!"}}}`)},
			secretRef: "regcred",
			wantMsg:   []string{`the auth of registry "ghcr.io" is not valid base64`}},
		{name: "auth without a colon",
			objects:   []client.Object{pullSecret(ns, "regcred", `{"auths":{"ghcr.io":{"auth":"`+base64.StdEncoding.EncodeToString([]byte(leak))+`"}}}`)},
			secretRef: "regcred",
			wantMsg:   []string{`does not decode to "user:password"`}},
		{name: "a malformed pull secret of the service account",
			objects: []client.Object{
				serviceAccount("builder", "broken"),
				secret(ns, "broken", corev1.SecretTypeDockercfg, corev1.DockerConfigKey, leak),
			},
			sa:      "builder",
			wantMsg: []string{`secret "broken"`, `service account "builder"`, "not valid JSON"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := fake.NewClientBuilder().WithObjects(tt.objects...).Build()
			kc, identity, err := Resolve(context.Background(), c, ns, tt.secretRef, tt.sa, "ghcr.io", controllerKeychain)
			if !errors.Is(err, ErrCredentials) {
				t.Fatalf("err = %v, want ErrCredentials", err)
			}
			if kc != nil || identity != "" {
				t.Errorf("got keychain %v and identity %q with an error", kc, identity)
			}
			for _, want := range tt.wantMsg {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("err = %q, want it to contain %q", err, want)
				}
			}
			for _, part := range []string{leak, "hunter", "LEAK", base64.StdEncoding.EncodeToString([]byte(leak))} {
				if strings.Contains(err.Error(), part) {
					t.Errorf("err = %q contains secret content %q", err, part)
				}
			}
		})
	}
}

func TestAPIServerFailuresAreNotCredentialErrors(t *testing.T) {
	c := fake.NewClientBuilder().WithInterceptorFuncs(interceptor.Funcs{
		Get: func(context.Context, client.WithWatch, client.ObjectKey, client.Object, ...client.GetOption) error {
			return apierrors.NewServiceUnavailable("etcd is down")
		},
	}).Build()
	for _, tt := range []struct{ secretRef, sa string }{{"regcred", ""}, {"", "builder"}} {
		_, _, err := Resolve(context.Background(), c, ns, tt.secretRef, tt.sa, "ghcr.io", nil)
		if err == nil || errors.Is(err, ErrCredentials) {
			t.Errorf("Resolve(secretRef %q, sa %q) err = %v, want a transient error, not ErrCredentials", tt.secretRef, tt.sa, err)
		}
		if !apierrors.IsServiceUnavailable(err) {
			t.Errorf("err = %v, want the API server's error wrapped", err)
		}
	}
}
