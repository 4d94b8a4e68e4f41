package registrytest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/sync/errgroup"
)

// DistributionBinary is the command StartDistribution runs: CNCF distribution 2.8 as
// Debian's docker-registry package installs it (/usr/bin/docker-registry).
const DistributionBinary = "docker-registry"

// SkipRealRegistryEnv, set to "1", lets tests that need a real registry skip when
// DistributionBinary is not installed. Without it a missing binary fails the test: CI
// installs the package, and a silently skipped test would prove nothing there.
const SkipRealRegistryEnv = "IMAGE_WATCHER_SKIP_REAL_REGISTRY"

// Distribution is a real CNCF distribution registry process started for one test: it
// listens on 127.0.0.1 on a free port, keeps its config and filesystem storage in
// t.TempDir(), and by default requires htpasswd (bcrypt) basic auth and serves TLS with a
// certificate (IP SAN 127.0.0.1) from a CA made for the test. t.Cleanup stops it.
//
// Pagination: distribution 2.8 ignores n and last on tags/list. Every tag comes back in
// one response, in storage directory order rather than sorted, and without a Link header
// (checked with curl against 2.8.2 and pinned by TestDistributionListsEveryTagInOnePage).
// Tests of page handling therefore use Server; Distribution proves the auth handshake, TLS
// and the wire format against the real thing.
type Distribution struct {
	host      string
	user      string
	pass      string
	plainHTTP bool
	noAuth    bool
	caPEM     []byte
	transport *http.Transport
	log       *tailBuffer
}

// DistributionOption configures a Distribution.
type DistributionOption func(*Distribution)

// WithDistributionCredentials sets the one htpasswd user; by default it is "watcher" with a
// random password, so a test can search error messages for the password and know any hit
// came from the code under test.
func WithDistributionCredentials(user, pass string) DistributionOption {
	return func(d *Distribution) { d.user, d.pass = user, pass }
}

// WithoutDistributionAuth serves anonymous pulls and pushes, like a public registry.
func WithoutDistributionAuth() DistributionOption {
	return func(d *Distribution) { d.noAuth = true }
}

// WithDistributionPlainHTTP serves plain HTTP instead of TLS, like a registry that needs
// `insecure: true`. CAPEM then returns nil.
func WithDistributionPlainHTTP() DistributionOption {
	return func(d *Distribution) { d.plainHTTP = true }
}

// StartDistribution starts a Distribution and returns once it answers GET /v2/. When
// DistributionBinary is missing it fails the test, or skips it when SkipRealRegistryEnv
// is "1".
func StartDistribution(t testing.TB, opts ...DistributionOption) *Distribution {
	t.Helper()
	bin, err := exec.LookPath(DistributionBinary)
	if err != nil {
		if os.Getenv(SkipRealRegistryEnv) == "1" {
			t.Skipf("registrytest: %s not found and %s=1: skipping the test against a real registry", DistributionBinary, SkipRealRegistryEnv)
		}
		t.Fatalf("registrytest: %s not found: install docker-registry (apt-get install docker-registry), or set %s=1 to skip tests against a real registry", DistributionBinary, SkipRealRegistryEnv)
	}

	d := &Distribution{user: "watcher", pass: randomHex(t, 16), log: &tailBuffer{max: 64 << 10}}
	for _, o := range opts {
		o(d)
	}
	dir := t.TempDir()
	d.transport = http.DefaultTransport.(*http.Transport).Clone()
	if !d.plainHTTP {
		d.caPEM = writeTestCertificates(t, dir)
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(d.caPEM)
		d.transport.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	t.Cleanup(d.transport.CloseIdleConnections)
	if !d.noAuth {
		hash, err := bcrypt.GenerateFromPassword([]byte(d.pass), bcrypt.MinCost)
		if err != nil {
			t.Fatalf("registrytest: hashing the password: %v", err)
		}
		writeFile(t, filepath.Join(dir, "htpasswd"), fmt.Appendf(nil, "%s:%s\n", d.user, hash))
	}

	// The registry binds the port itself, so another process can take a port between
	// freePort closing it and the registry binding it; such a start is retried.
	const attempts = 5
	for attempt := 1; ; attempt++ {
		d.host = freePort(t)
		config := filepath.Join(dir, "config.yml")
		writeFile(t, config, d.config(t, dir))
		err := d.start(t, bin, config)
		if err == nil {
			return d
		}
		if attempt < attempts && strings.Contains(d.log.String(), "address already in use") {
			d.log.Reset()
			continue
		}
		t.Fatalf("registrytest: %s did not start: %v\n%s", bin, err, d.log.String())
	}
}

// Host returns "127.0.0.1:port", the registry part of an image reference.
func (d *Distribution) Host() string { return d.host }

// CAPEM returns the PEM certificate of the CA that signed the registry's certificate; nil
// for a plain-HTTP registry.
func (d *Distribution) CAPEM() []byte { return bytes.Clone(d.caPEM) }

// Username returns the htpasswd user.
func (d *Distribution) Username() string { return d.user }

// Password returns the htpasswd user's password.
func (d *Distribution) Password() string { return d.pass }

// Transport returns a transport that trusts CAPEM and nothing else, so a test passing it
// proves the CA is what made TLS work.
func (d *Distribution) Transport() http.RoundTripper { return d.transport }

// PushTags pushes one small random image to repo under the first tag and points every
// other tag at the same manifest. Only the first tag uploads blobs; the others are one
// manifest PUT each, run in parallel over one authenticated transport, which keeps a few
// hundred tags to a second or two.
func (d *Distribution) PushTags(t testing.TB, repo string, tags ...string) {
	t.Helper()
	if len(tags) == 0 {
		t.Fatal("registrytest: PushTags needs at least one tag")
	}
	r, err := name.NewRepository(d.host + "/" + repo)
	if err != nil {
		t.Fatalf("registrytest: repository %q: %v", repo, err)
	}
	refs := make([]name.Tag, len(tags))
	for i, tag := range tags {
		if refs[i], err = name.NewTag(r.Name() + ":" + tag); err != nil {
			t.Fatalf("registrytest: tag %q: %v", tag, err)
		}
	}
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatalf("registrytest: making an image: %v", err)
	}
	auth := authn.Anonymous
	if !d.noAuth {
		auth = authn.FromConfig(authn.AuthConfig{Username: d.user, Password: d.pass})
	}
	pusher, err := remote.NewPusher(remote.WithTransport(d.transport), remote.WithAuth(auth))
	if err != nil {
		t.Fatalf("registrytest: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	if err := pusher.Push(ctx, refs[0], img); err != nil {
		t.Fatalf("registrytest: pushing %s: %v", refs[0], err)
	}
	g, gctx := errgroup.WithContext(ctx)
	// More parallelism than this only queues up in the registry's filesystem driver.
	g.SetLimit(16)
	for _, ref := range refs[1:] {
		g.Go(func() error {
			if err := pusher.Put(gctx, ref, img); err != nil {
				return fmt.Errorf("tagging %s: %w", ref, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatalf("registrytest: %v", err)
	}
}

// config is the registry's configuration. Its format is distribution's version 0.1, the
// only one 2.8 reads.
func (d *Distribution) config(t testing.TB, dir string) []byte {
	var b bytes.Buffer
	// Warnings and errors still reach the captured log, which a failing test prints; access
	// logs would only bury them.
	fmt.Fprintf(&b, "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\n")
	// Deletes stay off (distribution's default): nothing here deletes, and 2.8 cannot delete
	// a tag without deleting every tag of its manifest anyway. Upload purging is a
	// background sweep with nothing to sweep in a registry that lives for one test.
	fmt.Fprintf(&b, "storage:\n  filesystem:\n    rootdirectory: %q\n", filepath.Join(dir, "storage"))
	fmt.Fprintf(&b, "  maintenance:\n    uploadpurging:\n      enabled: false\n")
	// Without a fixed secret the registry makes one up and warns about it on every start.
	fmt.Fprintf(&b, "http:\n  addr: %s\n  secret: %s\n", d.host, randomHex(t, 16))
	if !d.plainHTTP {
		fmt.Fprintf(&b, "  tls:\n    certificate: %q\n    key: %q\n", filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"))
	}
	if !d.noAuth {
		fmt.Fprintf(&b, "auth:\n  htpasswd:\n    realm: registrytest\n    path: %q\n", filepath.Join(dir, "htpasswd"))
	}
	return b.Bytes()
}

// start runs the registry and waits until it answers GET /v2/. On error the process is
// gone and its output is in d.log.
func (d *Distribution) start(t testing.TB, bin, config string) error {
	cmd := exec.Command(bin, "serve", config)
	cmd.Stdout, cmd.Stderr = d.log, d.log
	// Go's environment could carry REGISTRY_* variables, which override the config file.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "REGISTRY_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()
	stop := func() {
		// Storage lives in a temporary directory, so nothing needs a graceful shutdown.
		_ = cmd.Process.Kill()
		<-exited
	}

	scheme := "https"
	if d.plainHTTP {
		scheme = "http"
	}
	client := &http.Client{Transport: d.transport, Timeout: 2 * time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-exited:
			return fmt.Errorf("exited before answering: %v", waitErr)
		default:
		}
		resp, err := client.Get(scheme + "://" + d.host + "/v2/")
		if err == nil {
			_ = resp.Body.Close()
			// The header proves it is the registry answering, not whatever else may
			// have taken the port.
			if resp.Header.Get("Docker-Distribution-API-Version") != "" {
				break
			}
			err = fmt.Errorf("GET /v2/ answered %s without Docker-Distribution-API-Version", resp.Status)
		}
		if time.Now().After(deadline) {
			stop()
			return fmt.Errorf("no answer to GET /v2/ within 30s: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("registrytest: %s log:\n%s", DistributionBinary, d.log.String())
		}
	})
	return nil
}

// writeTestCertificates writes tls.crt and tls.key for 127.0.0.1 into dir, signed by a new
// CA, and returns the CA certificate in PEM.
func writeTestCertificates(t testing.TB, dir string) []byte {
	t.Helper()
	now := time.Now()
	caKey := newKey(t)
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(t),
		Subject:               pkix.Name{CommonName: "registrytest CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatalf("registrytest: CA certificate: %v", err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatalf("registrytest: CA certificate: %v", err)
	}

	key := newKey(t)
	leafTmpl := &x509.Certificate{
		SerialNumber: serial(t),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"localhost"},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatalf("registrytest: server certificate: %v", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatalf("registrytest: server key: %v", err)
	}
	writeFile(t, filepath.Join(dir, "tls.crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leafDER}))
	writeFile(t, filepath.Join(dir, "tls.key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("registrytest: key: %v", err)
	}
	return key
}

func serial(t testing.TB) *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		t.Fatalf("registrytest: serial number: %v", err)
	}
	return n
}

func randomHex(t testing.TB, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("registrytest: random: %v", err)
	}
	return hex.EncodeToString(b)
}

// freePort returns "127.0.0.1:port" for a port that was free a moment ago.
func freePort(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("registrytest: listen: %v", err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		t.Fatalf("registrytest: listen: %v", err)
	}
	return addr
}

func writeFile(t testing.TB, path string, data []byte) {
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatalf("registrytest: %v", err)
	}
}

// tailBuffer keeps the last max bytes written to it: the registry's output, kept for
// failure messages without growing with a long test.
type tailBuffer struct {
	max int

	mu  sync.Mutex
	buf []byte
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - b.max; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}

func (b *tailBuffer) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = b.buf[:0]
}
