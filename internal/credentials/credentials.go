// Package credentials finds the registry credentials and CA certificates a WatchedImage may
// use, from the Secrets of its own namespace, and names them with an identity so shared tag
// listings are only shared between resources that could each have fetched them.
package credentials

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/google/go-containerregistry/pkg/authn"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// ErrCredentials is wrapped by every error that a change to the resource or its Secrets
// must fix: a missing Secret or ServiceAccount, a Secret of the wrong type, a malformed
// docker config or CA certificate. Retrying does not help, so the controller reports these
// as Unauthorized. Other errors (the API server failing to answer) are transient.
var ErrCredentials = errors.New("registry credentials")

const (
	// IdentityController is the identity of the controller's own keychain, used when no
	// Secret of the resource has credentials for the registry.
	IdentityController = "controller"
	// IdentityAnonymous is the identity of anonymous access: no Secret matched and there is
	// no controller keychain.
	IdentityAnonymous = "anonymous"
)

// Resolve returns the keychain to list tags on registryHost with, and the identity of the
// credentials in it. Sources are tried in order and the first with credentials for
// registryHost wins: the Secret secretRef, then the imagePullSecrets of the ServiceAccount
// serviceAccountName (in their listed order), then fallback, the controller's own keychain.
// A nil fallback means anonymous access. Empty names skip a source. Secrets and the
// ServiceAccount are read from namespace only.
//
// Secrets must be of type kubernetes.io/dockerconfigjson or kubernetes.io/dockercfg. A Secret
// without an entry for registryHost is passed over, as kubelet does, and so is an
// imagePullSecret that does not exist (kubelet pulls anyway and the registry has the last
// word); a missing secretRef or ServiceAccount, named explicitly, is an error.
//
// identity is IdentityController or IdentityAnonymous for those sources, and otherwise
// "cred-" and a keyed SHA-256 of the credential material used for registryHost: equal
// credentials from any Secret or namespace give equal identities. It never contains the
// credentials. Errors wrap ErrCredentials when the resource's configuration is at fault and
// never quote Secret contents.
func Resolve(ctx context.Context, c client.Reader, namespace, secretRef, serviceAccountName, registryHost string, fallback authn.Keychain) (kc authn.Keychain, identity string, err error) {
	host := canonicalHost(registryHost)
	if secretRef != "" {
		secret, err := getSecret(ctx, c, namespace, secretRef)
		if err != nil {
			return nil, "", err
		}
		cfg, ok, err := authFromSecret(secret, host)
		if err != nil {
			return nil, "", err
		}
		if ok {
			return hostKeychain(host, cfg), identityOf(cfg), nil
		}
	}
	if serviceAccountName != "" {
		var sa corev1.ServiceAccount
		if err := c.Get(ctx, types.NamespacedName{Namespace: namespace, Name: serviceAccountName}, &sa); err != nil {
			if apierrors.IsNotFound(err) {
				return nil, "", fmt.Errorf("%w: service account %q not found in namespace %q", ErrCredentials, serviceAccountName, namespace)
			}
			return nil, "", fmt.Errorf("reading service account %q in namespace %q: %w", serviceAccountName, namespace, err)
		}
		for _, ref := range sa.ImagePullSecrets {
			if ref.Name == "" {
				continue
			}
			secret, err := getSecret(ctx, c, namespace, ref.Name)
			if errors.Is(err, errSecretNotFound) {
				continue
			}
			var (
				cfg authn.AuthConfig
				ok  bool
			)
			if err == nil {
				cfg, ok, err = authFromSecret(secret, host)
			}
			if err != nil {
				return nil, "", fmt.Errorf("%w (an imagePullSecret of service account %q)", err, serviceAccountName)
			}
			if ok {
				return hostKeychain(host, cfg), identityOf(cfg), nil
			}
		}
	}
	if fallback != nil {
		return fallback, IdentityController, nil
	}
	return anonymousKeychain{}, IdentityAnonymous, nil
}

// errSecretNotFound marks a missing Secret, which imagePullSecrets tolerate.
var errSecretNotFound = errors.New("not found")

func getSecret(ctx context.Context, c client.Reader, namespace, name string) (*corev1.Secret, error) {
	var s corev1.Secret
	if err := c.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, &s); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("%w: secret %q %w in namespace %q", ErrCredentials, name, errSecretNotFound, namespace)
		}
		return nil, fmt.Errorf("reading secret %q in namespace %q: %w", name, namespace, err)
	}
	return &s, nil
}

// authFromSecret returns the credentials secret holds for host, and whether it holds any.
func authFromSecret(secret *corev1.Secret, host string) (authn.AuthConfig, bool, error) {
	var (
		entries map[string]dockerAuth
		err     error
	)
	switch secret.Type {
	case corev1.SecretTypeDockerConfigJson:
		entries, err = parseDockerConfigJSON(secret.Data[corev1.DockerConfigJsonKey])
	case corev1.SecretTypeDockercfg:
		entries, err = parseDockercfg(secret.Data[corev1.DockerConfigKey])
	default:
		return authn.AuthConfig{}, false, fmt.Errorf("%w: secret %q in namespace %q has type %q, want %s or %s",
			ErrCredentials, secret.Name, secret.Namespace, secret.Type, corev1.SecretTypeDockerConfigJson, corev1.SecretTypeDockercfg)
	}
	if err != nil {
		return authn.AuthConfig{}, false, fmt.Errorf("%w: secret %q in namespace %q: %w", ErrCredentials, secret.Name, secret.Namespace, err)
	}
	cfg, ok, err := lookup(entries, host)
	if err != nil {
		return authn.AuthConfig{}, false, fmt.Errorf("%w: secret %q in namespace %q: %w", ErrCredentials, secret.Name, secret.Namespace, err)
	}
	return cfg, ok, nil
}

// hostKeychain hands cfg out for host only. Resolve picked cfg for that host; giving it to
// any other registry a caller might ask about would leak it there.
func hostKeychain(host string, cfg authn.AuthConfig) authn.Keychain {
	return singleHost{host: host, auth: authn.FromConfig(cfg)}
}

type singleHost struct {
	host string
	auth authn.Authenticator
}

var _ authn.Keychain = singleHost{}

func (k singleHost) Resolve(r authn.Resource) (authn.Authenticator, error) {
	if canonicalHost(r.RegistryStr()) == k.host {
		return k.auth, nil
	}
	return authn.Anonymous, nil
}

// anonymousKeychain is returned instead of nil, which registry.Client would read as "use
// the default keychain" and so hand the controller's own docker config to the resource.
type anonymousKeychain struct{}

var _ authn.Keychain = anonymousKeychain{}

func (anonymousKeychain) Resolve(authn.Resource) (authn.Authenticator, error) {
	return authn.Anonymous, nil
}

// identityKey keys the identity hashes. Identities only need to be stable for the life of
// the process, the life of the tag cache; a per-process key means an identity that ends up
// in a log or a dump cannot be used to test password guesses offline.
var identityKey = func() []byte {
	k := make([]byte, 32)
	_, _ = rand.Read(k) // crypto/rand.Read never fails on supported platforms.
	return k
}()

func identityOf(cfg authn.AuthConfig) string {
	return "cred-" + keyedHash(cfg.Username, cfg.Password, cfg.IdentityToken, cfg.RegistryToken)
}

// keyedHash is a short HMAC-SHA256 of parts. Each part is length-prefixed, so moving bytes
// from one part to the next changes the hash.
func keyedHash(parts ...string) string {
	mac := hmac.New(sha256.New, identityKey)
	for _, p := range parts {
		_ = binary.Write(mac, binary.BigEndian, uint64(len(p)))
		mac.Write([]byte(p))
	}
	// 128 bits: without the key nobody can aim for a collision, and a chance one between
	// two sets of credentials, which would share a listing, is out of reach.
	return hex.EncodeToString(mac.Sum(nil)[:16])
}
