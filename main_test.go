package main

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/imagewatcher/image-watcher/internal/registrytest"
)

// The test binary doubles as image-watcher: with IMAGE_WATCHER_RUN_MAIN set it runs main,
// so the tests below exercise the real command line, exit codes included.
func TestMain(m *testing.M) {
	if os.Getenv("IMAGE_WATCHER_RUN_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

func imageWatcher(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "IMAGE_WATCHER_RUN_MAIN=1")
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()
}

func TestCheckCommand(t *testing.T) {
	reg := registrytest.New(t, registrytest.WithPageSize(2))
	reg.SetTags("mojaloop/central-ledger", strings.Fields("v11.0.0 v11.0.0-patch.1 v11.0.1 v11.1.0 v12.0.0"))

	t.Run("prints the answer as JSON and exits 0", func(t *testing.T) {
		code, out, errOut := imageWatcher(t, "check", reg.Host()+"/mojaloop/central-ledger:v11.0.0", "--strategy", "patch", "--insecure")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		var got struct {
			Tag, FullImage string
			Latest         map[string]string
		}
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		if got.Tag != "v11.0.0-patch.1" || got.FullImage != reg.Host()+"/mojaloop/central-ledger:v11.0.0-patch.1" || got.Latest["major"] != "v12.0.0" {
			t.Errorf("answer %+v", got)
		}
	})
	t.Run("exits non-zero with one line on stderr for a registry failure", func(t *testing.T) {
		code, out, errOut := imageWatcher(t, "check", reg.Host()+"/mojaloop/unknown:v1.0.0", "--insecure")
		if code == 0 || out != "" || strings.Count(errOut, "\n") != 1 {
			t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
		}
	})
}
