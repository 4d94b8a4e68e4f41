package controllers

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	imagesv1 "github.com/imagewatcher/image-watcher/api/v1alpha1"
	"github.com/imagewatcher/image-watcher/internal/registrytest"
)

// pullSecret creates a kubernetes.io/dockerconfigjson Secret for host.
func pullSecret(t *testing.T, ns, name, host, user, pass string) {
	t.Helper()
	auth := base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Type:       corev1.SecretTypeDockerConfigJson,
		Data: map[string][]byte{
			corev1.DockerConfigJsonKey: fmt.Appendf(nil, `{"auths":{%q:{"auth":%q}}}`, host, auth),
		},
	}
	if err := k8sClient.Create(context.Background(), s); err != nil {
		t.Fatal(err)
	}
}

func readyText(wi *imagesv1.WatchedImage) string {
	if c := meta.FindStatusCondition(wi.Status.Conditions, imagesv1.ReadyCondition); c != nil {
		return c.Message
	}
	return ""
}

// TestARealRegistryWithPullSecretsAndAPrivateCA lists a CNCF distribution registry (TLS from
// a test CA, htpasswd auth) through the controller, with credentials from a Secret and from
// a ServiceAccount's imagePullSecrets; the password must appear in no status, event or log.
func TestARealRegistryWithPullSecretsAndAPrivateCA(t *testing.T) {
	d := registrytest.StartDistribution(t)
	tags := make([]string, 300)
	for i := range tags {
		tags[i] = fmt.Sprintf("v1.%d.%d", i/30, i%30)
	}
	d.PushTags(t, "team/app", tags...)

	ns := newNamespace(t)
	pullSecret(t, ns, "regcred", d.Host(), d.Username(), d.Password())
	ca := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "registry-ca"}, Data: map[string][]byte{"ca.crt": d.CAPEM()}}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "builder"}, ImagePullSecrets: []corev1.LocalObjectReference{{Name: "regcred"}}}
	for _, o := range []client.Object{ca, sa} {
		if err := k8sClient.Create(context.Background(), o); err != nil {
			t.Fatal(err)
		}
	}

	image := d.Host() + "/team/app"
	withSecret := newWatchedImage(ns, "with-secret", image, "v1.0.0", "minor")
	withSecret.Spec.Insecure = false
	withSecret.Spec.SecretRef = &imagesv1.LocalObjectReference{Name: "regcred"}
	withSecret.Spec.CertSecretRef = &imagesv1.LocalObjectReference{Name: "registry-ca"}
	withSA := withSecret.DeepCopy()
	withSA.Name, withSA.Spec.SecretRef, withSA.Spec.ServiceAccountName = "with-service-account", nil, "builder"
	without := withSecret.DeepCopy()
	without.Name, without.Spec.SecretRef = "without-credentials", nil
	for _, wi := range []*imagesv1.WatchedImage{withSecret, withSA, without} {
		create(t, wi)
	}

	for _, name := range []string{"with-secret", "with-service-account"} {
		t.Run(name+" lists every tag", func(t *testing.T) {
			wi := waitReady(t, ns, name, metav1.ConditionTrue, imagesv1.SucceededReason)
			if wi.Status.TagCount != 300 || wi.Status.LatestTag != "v1.9.29" {
				t.Errorf("tagCount %d latestTag %q, want 300 and v1.9.29", wi.Status.TagCount, wi.Status.LatestTag)
			}
		})
	}
	t.Run("without credentials is Unauthorized", func(t *testing.T) {
		wi := waitReady(t, ns, "without-credentials", metav1.ConditionFalse, imagesv1.UnauthorizedReason)
		if !strings.Contains(readyText(wi), "credentials") {
			t.Errorf("message %q does not point at credentials", readyText(wi))
		}
	})
	t.Run("a missing secret is Unauthorized and named", func(t *testing.T) {
		missing := withSecret.DeepCopy()
		missing.ResourceVersion, missing.Name, missing.Spec.SecretRef.Name = "", "missing-secret", "nope"
		create(t, missing)
		wi := waitReady(t, ns, "missing-secret", metav1.ConditionFalse, imagesv1.UnauthorizedReason)
		if !strings.Contains(readyText(wi), `"nope"`) {
			t.Errorf("message %q does not name the secret", readyText(wi))
		}
	})
	t.Run("the password appears in no status, event or log", func(t *testing.T) {
		basic := base64.StdEncoding.EncodeToString([]byte(d.Username() + ":" + d.Password()))
		var everything strings.Builder
		for _, name := range []string{"with-secret", "with-service-account", "without-credentials", "missing-secret"} {
			fmt.Fprintf(&everything, "%+v\n", get(t, ns, name).Status)
			for _, e := range eventsFor(t, ns, name) {
				everything.WriteString(e.Note + "\n")
			}
		}
		everything.WriteString(logs.String())
		if !strings.Contains(everything.String(), d.Host()) {
			t.Fatal("the logs, events and status say nothing about this registry; the check below would prove nothing")
		}
		for _, secret := range []string{d.Password(), basic} {
			if strings.Contains(everything.String(), secret) {
				t.Errorf("%q appears in status, events or logs", secret)
			}
		}
	})
}

func TestCredentialsAreNeverSharedAcrossNamespaces(t *testing.T) {
	reg := registrytest.New(t, registrytest.WithBasicAuth("robot", "s3cret"))
	reg.SetTags("private/app", []string{"1.0.0", "1.1.0"})
	allowed, other := newNamespace(t), newNamespace(t)
	pullSecret(t, allowed, "regcred", reg.Host(), "robot", "s3cret")

	wi := newWatchedImage(allowed, "app", reg.Host()+"/private/app", "1.0.0", "minor")
	wi.Spec.SecretRef = &imagesv1.LocalObjectReference{Name: "regcred"}
	create(t, wi)
	waitReady(t, allowed, "app", metav1.ConditionTrue, imagesv1.SucceededReason)
	afterFirst := reg.TagListRequests("private/app")

	// The same repository from a namespace without the secret: the listing is cached, but
	// this resource could not have fetched it, so it must ask the registry and be refused.
	create(t, newWatchedImage(other, "app", reg.Host()+"/private/app", "1.0.0", "minor"))
	refused := waitReady(t, other, "app", metav1.ConditionFalse, imagesv1.UnauthorizedReason)
	if refused.Status.LatestTag != "" || refused.Status.TagCount != 0 {
		t.Errorf("the namespace without credentials learned the tags: %+v", refused.Status)
	}
	if reg.TagListRequests("private/app") == afterFirst {
		t.Error("the refused resource never asked the registry: it must have been served the other namespace's listing")
	}

	// Fixing the credentials (a Secret appears) is picked up without waiting for backoff.
	pullSecret(t, other, "regcred", reg.Host(), "robot", "s3cret")
	update(t, other, "app", func(wi *imagesv1.WatchedImage) { wi.Spec.SecretRef = &imagesv1.LocalObjectReference{Name: "regcred"} })
	waitReady(t, other, "app", metav1.ConditionTrue, imagesv1.SucceededReason)
}

// Fifty resources spread over 1, 5 and 50 repositories of 250 tags (3 pages each) cost one
// listing per repository: 3, 15 and 150 tag-list requests.
func TestFiftyResourcesCostOneListingPerRepository(t *testing.T) {
	tags := make([]string, 250)
	for i := range tags {
		tags[i] = fmt.Sprintf("2.%d.%d", i/10, i%10)
	}
	for _, repos := range []int{1, 5, 50} {
		t.Run(fmt.Sprintf("on %d repositories", repos), func(t *testing.T) {
			reg := registrytest.New(t) // pages of 100
			for r := range repos {
				reg.SetTags(fmt.Sprintf("shared/app%d", r), tags)
			}
			ns := newNamespace(t)
			for i := range 50 {
				image := fmt.Sprintf("%s/shared/app%d", reg.Host(), i%repos)
				create(t, newWatchedImage(ns, fmt.Sprintf("app-%02d", i), image, "2.0.0", []string{"patch", "bugfix", "minor", "major"}[i%4]))
			}
			for i := range 50 {
				wi := waitReady(t, ns, fmt.Sprintf("app-%02d", i), metav1.ConditionTrue, imagesv1.SucceededReason)
				if wi.Status.TagCount != 250 {
					t.Fatalf("%s saw %d tags", wi.Name, wi.Status.TagCount)
				}
			}
			total := 0
			for r := range repos {
				total += reg.TagListRequests(fmt.Sprintf("shared/app%d", r))
			}
			t.Logf("50 resources on %d repositories: %d tag-list requests", repos, total)
			if total != 3*repos {
				t.Errorf("%d tag-list requests, want %d (one 3-page listing per repository)", total, 3*repos)
			}
		})
	}
}

func TestRegistryFaultsEndInTheRightReasonAndRecover(t *testing.T) {
	cases := []struct {
		name   string
		fault  registrytest.Fault
		reason string
		says   string
	}{
		{"a 429 with Retry-After", registrytest.Fault{Status: http.StatusTooManyRequests, RetryAfter: "1"}, imagesv1.RateLimitedReason, "rate limited"},
		{"a 500", registrytest.Fault{Status: http.StatusInternalServerError}, imagesv1.RegistryErrorReason, "HTTP 500"},
		{"a hang past the timeout", registrytest.Fault{Hang: true}, imagesv1.RegistryErrorReason, "timed out"},
		{"a 401", registrytest.Fault{Status: http.StatusUnauthorized}, imagesv1.UnauthorizedReason, "401"},
		{"a 404", registrytest.Fault{Status: http.StatusNotFound}, imagesv1.NotFoundReason, "not found"},
		{"a failure on the middle page of three", registrytest.Fault{Status: http.StatusInternalServerError, OnPage: 2}, imagesv1.RegistryErrorReason, "page 2"},
	}
	for _, tc := range cases {
		t.Run(tc.name+" is "+tc.reason+", keeps the last good status and recovers", func(t *testing.T) {
			reg := registrytest.New(t, registrytest.WithPageSize(2))
			reg.SetTags("org/app", []string{"3.0.0", "3.0.1", "3.1.0", "3.2.0", "4.0.0"})
			ns := newNamespace(t)
			create(t, newWatchedImage(ns, "app", reg.Host()+"/org/app", "3.0.0", "minor"))
			good := waitReady(t, ns, "app", metav1.ConditionTrue, imagesv1.SucceededReason)

			reg.AddTags("org/app", "3.9.0") // on the last page: a partial listing would miss it
			reg.SetFault(tc.fault)
			update(t, ns, "app", func(wi *imagesv1.WatchedImage) {
				wi.Annotations = map[string]string{imagesv1.RequestedAtAnnotation: "fault"}
			})
			failed := waitReady(t, ns, "app", metav1.ConditionFalse, tc.reason)
			if !strings.Contains(readyText(failed), tc.says) {
				t.Errorf("message %q does not say %q", readyText(failed), tc.says)
			}
			if failed.Status.LatestTag != good.Status.LatestTag || failed.Status.TagCount != good.Status.TagCount ||
				!failed.Status.LastScanTime.Equal(good.Status.LastScanTime) {
				t.Errorf("the failure changed the result: was %s/%d/%s, now %s/%d/%s",
					good.Status.LatestTag, good.Status.TagCount, good.Status.LastScanTime,
					failed.Status.LatestTag, failed.Status.TagCount, failed.Status.LastScanTime)
			}

			reg.SetFault(registrytest.Fault{})
			eventually(t, 15*time.Second, func() error {
				wi := get(t, ns, "app")
				if wi.Status.LatestTag != "3.9.0" {
					return fmt.Errorf("latestTag %q (%s), want 3.9.0 after recovery", wi.Status.LatestTag, readyText(wi))
				}
				return nil
			})
		})
	}
}

// A resource that has never scanned successfully still backs off: 200ms doubling to the
// suite's 1s cap allows about 5 attempts in 3s, where a retry loop without backoff would
// make 15 or more.
func TestFailingScansBackOffExponentially(t *testing.T) {
	reg := registrytest.New(t)
	reg.SetTags("org/app", []string{"1.0.0"})
	reg.SetFault(registrytest.Fault{Status: http.StatusServiceUnavailable})
	ns := newNamespace(t)
	create(t, newWatchedImage(ns, "app", reg.Host()+"/org/app", "1.0.0", "minor"))
	waitReady(t, ns, "app", metav1.ConditionFalse, imagesv1.RegistryErrorReason)
	start := reg.TagListRequests("org/app")
	time.Sleep(3 * time.Second)
	if got := reg.TagListRequests("org/app") - start; got < 2 || got > 8 {
		t.Errorf("%d attempts in 3s, want 2 to 8 (exponential backoff from 200ms to 1s)", got)
	}
}

// A changed Secret reconciles the resources that read it at once, not at their next
// interval (1m here).
func TestAChangedSecretReconcilesItsUsers(t *testing.T) {
	reg := registrytest.New(t, registrytest.WithBasicAuth("robot", "s3cret"))
	reg.SetTags("private/app", []string{"1.0.0", "1.1.0"})
	ns := newNamespace(t)
	pullSecret(t, ns, "regcred", reg.Host(), "robot", "s3cret")
	user := newWatchedImage(ns, "user", reg.Host()+"/private/app", "1.0.0", "minor")
	user.Spec.SecretRef = &imagesv1.LocalObjectReference{Name: "regcred"}
	create(t, user)
	waitReady(t, ns, "user", metav1.ConditionTrue, imagesv1.SucceededReason)
	eventually(t, 5*time.Second, func() error {
		if reconciles.count(ns, "user") == 0 {
			return errors.New("the first reconcile has not finished")
		}
		return nil
	})
	before := reconciles.count(ns, "user")

	secret := &corev1.Secret{}
	if err := k8sClient.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "regcred"}, secret); err != nil {
		t.Fatal(err)
	}
	secret.Annotations = map[string]string{"rotated": "yes"}
	if err := k8sClient.Update(context.Background(), secret); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() error {
		if got := reconciles.count(ns, "user"); got == before {
			return fmt.Errorf("user reconciled %d times, the same as before the Secret changed", got)
		}
		return nil
	})
}
