package registry

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		value string
		want  time.Duration
	}{
		{"7", 7 * time.Second},
		{" 120 ", 2 * time.Minute},
		{"0", 0},
		{"-5", 0},
		{"", 0},
		{"soon", 0},
		{"Wed, 25 Nov 2026 10:00:30 GMT", 30 * time.Second},
		{"Wed, 25 Nov 2026 09:59:00 GMT", 0},
		{"99999999999999999", 365 * 24 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			if got := parseRetryAfter(tt.value, now); got != tt.want {
				t.Errorf("parseRetryAfter(%q) = %s, want %s", tt.value, got, tt.want)
			}
		})
	}
	// An HTTP date between whole seconds rounds up, so callers never come back early.
	if got := parseRetryAfter("Wed, 25 Nov 2026 10:00:30 GMT", now.Add(300*time.Millisecond)); got != 30*time.Second {
		t.Errorf("with a fractional now: %s, want 30s", got)
	}
}

func TestErrorMessages(t *testing.T) {
	tests := []struct {
		err  *Error
		want string
	}{
		{
			&Error{Kind: NotFound, Registry: "127.0.0.1:5000", Repository: "org/app", StatusCode: 404},
			`registry 127.0.0.1:5000: repository "org/app" not found (HTTP 404)`,
		},
		{
			&Error{Kind: RateLimited, Registry: "index.docker.io", Repository: "library/nginx", StatusCode: 429, RetryAfter: 30 * time.Second},
			`registry index.docker.io: rate limited (HTTP 429), retry after 30s`,
		},
		{
			&Error{Kind: Unreachable, Registry: "ghcr.io", Repository: "org/app", timeout: 2 * time.Second},
			`registry ghcr.io: listing tags of repository "org/app" timed out after 2s`,
		},
		{
			&Error{Kind: Unauthorized, Registry: "quay.io", Repository: "org/app", StatusCode: 401},
			`registry quay.io: credentials rejected for repository "org/app" (HTTP 401): check the pull secret`,
		},
		{
			&Error{Kind: Unauthorized, Registry: "quay.io", Repository: "org/app", StatusCode: 401, anonymous: true},
			`registry quay.io: repository "org/app" needs credentials (HTTP 401): it is private or does not exist; add a pull secret if it is private`,
		},
		{
			&Error{Kind: RegistryError, Registry: "r.example", Repository: "a", StatusCode: 502},
			`registry r.example: listing tags of repository "a" failed (HTTP 502)`,
		},
		{
			&Error{Kind: Unreachable, Registry: "r.example", Err: errors.New("dial tcp: lookup r.example: no such host")},
			`registry r.example: cannot reach the registry: dial tcp: lookup r.example: no such host`,
		},
		{
			&Error{Err: errors.New("boom")},
			`listing tags of the repository failed: boom`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("Error() = %q\nwant      %q", got, tt.want)
			}
		})
	}
}

func TestKindOfAndRetryAfterLookThroughWrapping(t *testing.T) {
	cause := errors.New("cause")
	e := &Error{Kind: RateLimited, RetryAfter: 7 * time.Second, Err: cause}
	wrapped := fmt.Errorf("scan: %w", e)
	if KindOf(wrapped) != RateLimited || RetryAfter(wrapped) != 7*time.Second || !errors.Is(wrapped, cause) {
		t.Errorf("KindOf = %s, RetryAfter = %s, Is(cause) = %v", KindOf(wrapped), RetryAfter(wrapped), errors.Is(wrapped, cause))
	}
	if KindOf(nil) != "" {
		t.Errorf("KindOf(nil) = %q, want empty", KindOf(nil))
	}
	if KindOf(errors.New("x")) != RegistryError || KindOf(&Error{}) != RegistryError {
		t.Errorf("unknown errors should be RegistryError")
	}
	if RetryAfter(errors.New("x")) != 0 {
		t.Errorf("RetryAfter of a foreign error should be 0")
	}
}

func TestOneLineRedactsAndBounds(t *testing.T) {
	got := oneLine("token  hunter2\n\tin\r\nbody", []string{"hunter2", ""})
	if got != "token [redacted] in body" {
		t.Errorf("oneLine = %q", got)
	}
	long := oneLine(strings.Repeat("é", 400), nil)
	if len(long) > 310 || !strings.HasSuffix(long, "…") || !utf8.ValidString(long) {
		t.Errorf("long detail not cut cleanly: %d bytes", len(long))
	}
}
