package credentials

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"

	"github.com/google/go-containerregistry/pkg/v1/remote"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Keys read from the Secret named by certSecretRef, as cert-manager and Flux name them.
const (
	// CAKey holds PEM CA certificates trusted in addition to the system roots.
	CAKey = "ca.crt"
	// CertKey and KeyKey hold an optional PEM client certificate and key, for registries
	// that authenticate clients with mutual TLS.
	CertKey = "tls.crt"
	KeyKey  = "tls.key"
)

// TLSTransport returns base with its TLS configuration extended by the Secret
// certSecretName in namespace: the system roots plus the CA certificates in ca.crt, and
// the client certificate in tls.crt and tls.key when both are present. base nil means
// remote.DefaultTransport; it must be an *http.Transport, which is cloned, never changed.
// An empty certSecretName returns base unchanged and an empty identityPart.
//
// identityPart names the TLS material ("tls-" and a keyed hash) and belongs in the tag-cache
// key next to Resolve's identity: a resource that does not trust a private CA could not
// have fetched a listing over it, so it must not be served one.
//
// A new transport is made on every call. Callers need not keep it: its idle connections
// close after the base's IdleConnTimeout (90s for remote.DefaultTransport).
func TLSTransport(ctx context.Context, c client.Reader, namespace, certSecretName string, base http.RoundTripper) (rt http.RoundTripper, identityPart string, err error) {
	if certSecretName == "" {
		return base, "", nil
	}
	if base == nil {
		base = remote.DefaultTransport
	}
	ht, ok := base.(*http.Transport)
	if !ok {
		return nil, "", fmt.Errorf("credentials: cannot add a CA to a %T, want *http.Transport", base)
	}
	secret, err := getSecret(ctx, c, namespace, certSecretName)
	if err != nil {
		return nil, "", err
	}
	fail := func(format string, args ...any) error {
		return fmt.Errorf("%w: secret %q in namespace %q: %s", ErrCredentials, certSecretName, namespace, fmt.Sprintf(format, args...))
	}
	caPEM, certPEM, keyPEM := secret.Data[CAKey], secret.Data[CertKey], secret.Data[KeyKey]
	if len(caPEM) == 0 && (len(certPEM) == 0 || len(keyPEM) == 0) {
		return nil, "", fail("no %s, nor %s and %s", CAKey, CertKey, KeyKey)
	}

	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if ht.TLSClientConfig != nil {
		cfg = ht.TLSClientConfig.Clone()
	}
	if len(caPEM) > 0 {
		pool, err := x509.SystemCertPool()
		if err != nil {
			// No system roots (a scratch image without ca-certificates): the private CA is
			// still all a private registry needs.
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(caPEM) {
			return nil, "", fail("%s holds no PEM certificate", CAKey)
		}
		cfg.RootCAs = pool
	}
	if len(certPEM) > 0 || len(keyPEM) > 0 {
		// crypto/tls errors here describe the PEM blocks, never their bytes.
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, "", fail("%s and %s are not a certificate and its key: %v", CertKey, KeyKey, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	out := ht.Clone()
	out.TLSClientConfig = cfg
	return out, "tls-" + keyedHash(string(caPEM), string(certPEM), string(keyPEM)), nil
}
