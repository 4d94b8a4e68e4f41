package metrics

import (
	"fmt"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestUpgradeSeriesAreReplacedAndForgotten(t *testing.T) {
	SetUpgrade("ns", "app", "org/app", "v1.0.0", "v1.1.0", true)
	SetUpgrade("ns", "other", "org/other", "v2.0.0", "v2.0.0", false)
	SetUpgrade("ns", "app", "org/app", "v1.0.0", "v1.2.0", true) // a newer answer replaces the series
	want := `
# HELP image_watcher_upgrade_available 1 when a newer eligible tag exists for the WatchedImage, 0 otherwise.
# TYPE image_watcher_upgrade_available gauge
image_watcher_upgrade_available{current="v1.0.0",image="org/app",latest="v1.2.0",name="app",namespace="ns"} 1
image_watcher_upgrade_available{current="v2.0.0",image="org/other",latest="v2.0.0",name="other",namespace="ns"} 0
`
	if err := testutil.CollectAndCompare(UpgradeAvailable, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}

	ForgetUpgrade("ns", "app")
	ForgetUpgrade("ns", "never-seen")
	if n := testutil.CollectAndCount(UpgradeAvailable); n != 1 {
		t.Fatalf("%d series after forgetting app, want 1", n)
	}
	ForgetUpgrade("ns", "other")
	if n := testutil.CollectAndCount(UpgradeAvailable); n != 0 {
		t.Fatalf("%d series after forgetting both, want 0", n)
	}
}

// BenchmarkSetUpgrade records answers for 1,000 resources: each costs the same whatever the
// number of series (a partial-match delete made it linear in them).
func BenchmarkSetUpgrade(b *testing.B) {
	names := make([]string, 1000)
	for i := range names {
		names[i] = fmt.Sprintf("wi-%04d", i)
	}
	for i := 0; b.Loop(); i++ {
		SetUpgrade("bench", names[i%len(names)], "org/app", "v1.0.0", "v1.1.0", true)
	}
}
