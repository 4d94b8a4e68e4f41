package credentials

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

func certSecret(name string, data map[string][]byte) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Data: data}
}

// selfSigned returns the DER of a new self-signed certificate.
func selfSigned(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "another CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func pemCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// get requests url through rt and returns the status, or the error.
func get(t *testing.T, rt http.RoundTripper, url string) (int, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return 0, err
	}
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

func TestTLSTransportTrustsTheSecretsCA(t *testing.T) {
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	// The handshake the default transport refuses below would be logged as noise.
	ts.Config.ErrorLog = log.New(io.Discard, "", 0)
	ts.StartTLS()
	defer ts.Close()
	c := fake.NewClientBuilder().WithObjects(
		certSecret("registry-ca", map[string][]byte{CAKey: pemCert(ts.Certificate().Raw)}),
		certSecret("registry-ca-copy", map[string][]byte{CAKey: pemCert(ts.Certificate().Raw)}),
		certSecret("other-ca", map[string][]byte{CAKey: pemCert(selfSigned(t))}),
	).Build()

	rt, id, err := TLSTransport(context.Background(), c, ns, "registry-ca", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("the registry's certificate is trusted", func(t *testing.T) {
		if status, err := get(t, rt, ts.URL); err != nil || status != http.StatusOK {
			t.Errorf("GET = %d, %v; want 200", status, err)
		}
	})
	t.Run("without the Secret it is not", func(t *testing.T) {
		var unknown x509.UnknownAuthorityError
		if _, err := get(t, remote.DefaultTransport, ts.URL); !errors.As(err, &unknown) {
			t.Errorf("GET through the default transport: err = %v, want x509.UnknownAuthorityError", err)
		}
	})
	t.Run("the base transport is not changed", func(t *testing.T) {
		// The default transport may have a TLS config of its own by now (HTTP/2 setup on
		// first use), but never the Secret's roots.
		cfg := remote.DefaultTransport.(*http.Transport).TLSClientConfig
		if rt == remote.DefaultTransport || cfg != nil && cfg.RootCAs != nil {
			t.Error("TLSTransport modified remote.DefaultTransport")
		}
	})
	t.Run("the same CA has the same identity part and another CA another", func(t *testing.T) {
		_, same, err := TLSTransport(context.Background(), c, ns, "registry-ca-copy", nil)
		if err != nil {
			t.Fatal(err)
		}
		_, diff, err := TLSTransport(context.Background(), c, ns, "other-ca", nil)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(id, "tls-") || same != id || diff == id {
			t.Errorf("identities = %q, copy %q, other CA %q; want tls- prefixed, equal for the copy, different for the other", id, same, diff)
		}
	})
}

func TestTLSTransportWithoutASecretReturnsTheBase(t *testing.T) {
	base := &http.Transport{}
	rt, id, err := TLSTransport(context.Background(), fake.NewClientBuilder().Build(), ns, "", base)
	if err != nil || rt != base || id != "" {
		t.Errorf("TLSTransport(\"\") = %v, %q, %v; want the base, \"\", nil", rt, id, err)
	}
}

func TestTLSTransportPresentsTheClientCertificate(t *testing.T) {
	var peers int
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		peers = len(r.TLS.PeerCertificates)
	}))
	ts.TLS = &tls.Config{ClientAuth: tls.RequireAnyClientCert}
	ts.StartTLS()
	defer ts.Close()
	// The server's own pair serves as the client's: the server only checks that one comes.
	pair := ts.TLS.Certificates[0]
	keyDER, err := x509.MarshalPKCS8PrivateKey(pair.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	c := fake.NewClientBuilder().WithObjects(certSecret("mtls", map[string][]byte{
		CAKey:   pemCert(ts.Certificate().Raw),
		CertKey: pemCert(pair.Certificate[0]),
		KeyKey:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	})).Build()
	rt, _, err := TLSTransport(context.Background(), c, ns, "mtls", nil)
	if err != nil {
		t.Fatal(err)
	}
	if status, err := get(t, rt, ts.URL); err != nil || status != http.StatusOK || peers != 1 {
		t.Errorf("GET = %d, %v with %d client certificates; want 200 with 1", status, err, peers)
	}
}

func TestTLSTransportErrors(t *testing.T) {
	const leak = "PRIVATE-LEAK"
	tests := []struct {
		name    string
		data    map[string][]byte
		wantMsg string
	}{
		{"a Secret with no usable key", map[string][]byte{"ca.pem": []byte(leak)}, "no ca.crt, nor tls.crt and tls.key"},
		{"ca.crt that is not PEM", map[string][]byte{CAKey: []byte(leak)}, "ca.crt holds no PEM certificate"},
		{"a client certificate without a valid key", map[string][]byte{CertKey: []byte(leak), KeyKey: []byte(leak)}, "tls.crt and tls.key are not a certificate and its key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := fake.NewClientBuilder().WithObjects(certSecret("registry-ca", tt.data)).Build()
			_, _, err := TLSTransport(context.Background(), c, ns, "registry-ca", nil)
			if !errors.Is(err, ErrCredentials) || !strings.Contains(err.Error(), tt.wantMsg) || !strings.Contains(err.Error(), `secret "registry-ca"`) {
				t.Errorf("err = %v, want ErrCredentials naming the secret and saying %q", err, tt.wantMsg)
			}
			if err != nil && strings.Contains(err.Error(), leak) {
				t.Errorf("err = %q contains the Secret's content", err)
			}
		})
	}
	t.Run("a missing Secret", func(t *testing.T) {
		_, _, err := TLSTransport(context.Background(), fake.NewClientBuilder().Build(), ns, "registry-ca", nil)
		if !errors.Is(err, ErrCredentials) || !strings.Contains(err.Error(), `secret "registry-ca" not found in namespace "team-a"`) {
			t.Errorf("err = %v, want ErrCredentials naming the secret and namespace", err)
		}
	})
}
