package check

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/imagewatcher/image-watcher/internal/registrytest"
)

// run calls check as the command line would and returns exit code, stdout and stderr.
func run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := Run(context.Background(), args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestCheckAnswersEverySpecExample(t *testing.T) {
	reg := registrytest.New(t, registrytest.WithPageSize(2))
	reg.SetTags("mojaloop/central-ledger", strings.Fields("v11.0.0 v11.0.0-patch.1 v11.0.1 v11.1.0 v12.0.0"))
	reg.SetTags("mojaloop/snapshots", strings.Fields("v8.8.0-snapshot v8.8.0-snapshot.2 v8.9.0 v8.9.1-snapshot.1"))
	reg.SetTags("library/nginx", strings.Fields("1.25.3-alpine 1.25.4 1.25.4-alpine 1.26 1.26.0-alpine"))
	reg.SetTags("org/app", strings.Fields("v2.0.0 v2.1.0-rc.1 latest sha-abc"))
	cases := []struct{ image, strategy, want string }{
		{"mojaloop/central-ledger:v11.0.0", "patch", "v11.0.0-patch.1"},
		{"mojaloop/central-ledger:v11.0.0", "bugfix", "v11.0.1"},
		{"mojaloop/central-ledger:v11.0.0", "minor", "v11.1.0"},
		{"mojaloop/central-ledger:v11.0.0", "major", "v12.0.0"},
		{"mojaloop/snapshots:v8.8.0-snapshot", "minor", "v8.9.1-snapshot.1"},
		{"library/nginx:1.25.3-alpine", "minor", "1.26.0-alpine"},
		{"org/app:v2.0.0", "major", "v2.0.0"},
	}
	for _, tc := range cases {
		t.Run(tc.image+" with "+tc.strategy+" answers "+tc.want, func(t *testing.T) {
			code, out, errOut := run(t, reg.Host()+"/"+tc.image, "--strategy", tc.strategy, "--insecure")
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			var a Answer
			if err := json.Unmarshal([]byte(out), &a); err != nil {
				t.Fatalf("stdout is not JSON: %v\n%s", err, out)
			}
			repo := tc.image[:strings.LastIndex(tc.image, ":")]
			if a.Tag != tc.want || a.FullImage != reg.Host()+"/"+repo+":"+tc.want || a.Latest[tc.strategy] != tc.want {
				t.Errorf("answer %+v, want tag %s", a, tc.want)
			}
			if len(a.Latest) != 4 {
				t.Errorf("latest has %d strategies, want 4: %v", len(a.Latest), a.Latest)
			}
		})
	}
	t.Run("the strategy defaults to bugfix", func(t *testing.T) {
		code, out, errOut := run(t, "--insecure", reg.Host()+"/mojaloop/central-ledger:v11.0.0")
		if code != 0 || !strings.Contains(out, `"tag": "v11.0.1"`) {
			t.Errorf("exit %d, stdout %s, stderr %s", code, out, errOut)
		}
	})
	t.Run("filters and constraints apply", func(t *testing.T) {
		code, out, _ := run(t, reg.Host()+"/mojaloop/central-ledger:v11.0.0", "--strategy", "major", "--constraint", "<12", "--exclude", `^v11\.1`, "--insecure")
		if code != 0 || !strings.Contains(out, `"tag": "v11.0.1"`) {
			t.Errorf("exit %d, stdout %s", code, out)
		}
	})
}

func TestCheckReadsEveryPageOfTwentyThousandTags(t *testing.T) {
	reg := registrytest.New(t) // pages of 100
	tags := make([]string, 0, 20000)
	for i := range 20000 {
		tags = append(tags, fmt.Sprintf("1.%d.%d", i/100, i%100))
	}
	reg.SetTags("big/repo", tags) // served in lexical order: 1.99.99 is on the last page
	code, out, errOut := run(t, reg.Host()+"/big/repo:1.0.0", "--strategy", "minor", "--insecure")
	if code != 0 || !strings.Contains(out, `"tag": "1.199.99"`) {
		t.Fatalf("exit %d, stdout %s, stderr %s", code, out, errOut)
	}
	if got := reg.TagListRequests("big/repo"); got != 200 {
		t.Errorf("tag-list requests = %d, want 200 pages of 100", got)
	}
}

func TestCheckFailsWithOneClearLine(t *testing.T) {
	reg := registrytest.New(t)
	reg.SetTags("org/app", []string{"1.0.0"})
	reg.SetTags("org/down", []string{"1.0.0"})
	reg.SetTags("org/slow", []string{"1.0.0"})
	cases := []struct {
		name     string
		args     []string
		fault    *registrytest.Fault
		wantCode int
		wantErr  string
	}{
		{"no image", nil, nil, 2, "want exactly one IMAGE:TAG"},
		{"an image without a tag", []string{reg.Host() + "/org/app", "--insecure"}, nil, 2, "tag"},
		{"an unknown strategy", []string{reg.Host() + "/org/app:1.0.0", "--strategy", "newest", "--insecure"}, nil, 2, "unknown strategy"},
		{"a tag that is not a version", []string{reg.Host() + "/org/app:latest", "--insecure"}, nil, 2, "not a version"},
		{"a regexp that does not compile", []string{reg.Host() + "/org/app:1.0.0", "--include", "(", "--insecure"}, nil, 2, "include"},
		{"an unknown repository", []string{reg.Host() + "/org/nope:1.0.0", "--insecure"}, nil, 1, "not found"},
		{"a registry answering 500", []string{reg.Host() + "/org/down:1.0.0", "--insecure"}, &registrytest.Fault{Status: http.StatusInternalServerError, Repo: "org/down"}, 1, "500"},
		{"a registry that never answers", []string{reg.Host() + "/org/slow:1.0.0", "--insecure", "--timeout", "300ms"}, &registrytest.Fault{Hang: true, Repo: "org/slow"}, 1, "timed out"},
	}
	for _, tc := range cases {
		t.Run("exits "+fmt.Sprint(tc.wantCode)+" on "+tc.name, func(t *testing.T) {
			if tc.fault != nil {
				reg.SetFault(*tc.fault)
				defer reg.SetFault(registrytest.Fault{})
			}
			code, out, errOut := run(t, tc.args...)
			if code != tc.wantCode {
				t.Errorf("exit %d, want %d (stderr %q)", code, tc.wantCode, errOut)
			}
			if out != "" {
				t.Errorf("stdout %q, want nothing", out)
			}
			if strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, tc.wantErr) {
				t.Errorf("stderr %q, want one line containing %q", errOut, tc.wantErr)
			}
		})
	}
}
