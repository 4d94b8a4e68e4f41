package credentials

import (
	"context"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/imagewatcher/image-watcher/internal/registry"
	"github.com/imagewatcher/image-watcher/internal/registrytest"
)

// TestListingARealRegistryWithAPullSecretAndAPrivateCA goes from Secrets to a tag listing
// the way the controller does, against CNCF distribution with htpasswd auth and TLS from a
// private CA.
func TestListingARealRegistryWithAPullSecretAndAPrivateCA(t *testing.T) {
	d := registrytest.StartDistribution(t)
	want := make([]string, 300)
	for i := range want {
		want[i] = fmt.Sprintf("v%d.%d.0", i/50, i%50)
	}
	d.PushTags(t, "org/app", want...)
	slices.Sort(want)

	dockerConfig := func(pass string) string {
		auth := base64.StdEncoding.EncodeToString([]byte(d.Username() + ":" + pass))
		return fmt.Sprintf(`{"auths":{"https://%s":{"auth":%q}}}`, d.Host(), auth)
	}
	wrongPassword := d.Password() + "-wrong"
	c := fake.NewClientBuilder().WithObjects(
		pullSecret(ns, "regcred", dockerConfig(d.Password())),
		pullSecret(ns, "wrongcred", dockerConfig(wrongPassword)),
		certSecret("registry-ca", map[string][]byte{CAKey: d.CAPEM()}),
	).Build()
	repo, err := name.NewRepository(d.Host() + "/org/app")
	if err != nil {
		t.Fatal(err)
	}
	list := func(t *testing.T, secretRef string) ([]string, error) {
		t.Helper()
		ctx := context.Background()
		kc, _, err := Resolve(ctx, c, ns, secretRef, "", repo.RegistryStr(), nil)
		if err != nil {
			t.Fatalf("Resolve: %v", err)
		}
		rt, _, err := TLSTransport(ctx, c, ns, "registry-ca", nil)
		if err != nil {
			t.Fatalf("TLSTransport: %v", err)
		}
		return (&registry.Client{Transport: rt}).ListTags(ctx, repo, kc, nil)
	}

	t.Run("the pull secret lists every tag", func(t *testing.T) {
		got, err := list(t, "regcred")
		if err != nil {
			t.Fatalf("ListTags: %v", err)
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("got %d tags, want all %d", len(got), len(want))
		}
	})
	for _, tt := range []struct{ name, secretRef, password string }{
		{"a wrong password is Unauthorized and not quoted", "wrongcred", wrongPassword},
		{"no credentials are Unauthorized", "", d.Password()},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := list(t, tt.secretRef)
			if kind := registry.KindOf(err); kind != registry.Unauthorized {
				t.Fatalf("KindOf(%v) = %q, want Unauthorized", err, kind)
			}
			basic := base64.StdEncoding.EncodeToString([]byte(d.Username() + ":" + tt.password))
			for e := error(err); e != nil; e = unwrapOne(e) {
				if msg := e.Error(); strings.Contains(msg, tt.password) || strings.Contains(msg, basic) {
					t.Errorf("error %q contains the password", msg)
				}
			}
		})
	}
}

// unwrapOne steps down an error chain so every level's message is checked, including the
// underlying errors a caller might log by mistake.
func unwrapOne(err error) error {
	if u, ok := err.(interface{ Unwrap() error }); ok {
		return u.Unwrap()
	}
	return nil
}
