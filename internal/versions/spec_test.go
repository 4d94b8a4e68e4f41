package versions

import (
	"strings"
	"testing"
)

// TestSpecExamples holds every worked example of SPEC §3, verbatim.
func TestSpecExamples(t *testing.T) {
	ledger := "v11.0.0 v11.0.0-patch.1 v11.0.1 v11.1.0 v12.0.0"
	cases := []struct {
		tags, current string
		strategy      Strategy
		want          string
	}{
		{ledger, "v11.0.0", Patch, "v11.0.0-patch.1"},
		{ledger, "v11.0.0", Bugfix, "v11.0.1"},
		{ledger, "v11.0.0", Minor, "v11.1.0"},
		{ledger, "v11.0.0", Major, "v12.0.0"},
		{"v8.8.0-snapshot v8.8.0-snapshot.2 v8.9.0 v8.9.1-snapshot.1", "v8.8.0-snapshot", Minor, "v8.9.1-snapshot.1"},
		{"1.25.3-alpine 1.25.4 1.25.4-alpine 1.26 1.26.0-alpine", "1.25.3-alpine", Minor, "1.26.0-alpine"},
		{"v2.0.0 v2.1.0-rc.1 latest sha-abc", "v2.0.0", Major, "v2.0.0"},
	}
	for _, tc := range cases {
		t.Run(tc.current+" with "+string(tc.strategy)+" among "+tc.tags+" is "+tc.want, func(t *testing.T) {
			res, err := Evaluate(NewListing(strings.Fields(tc.tags)), tc.current, Filter{})
			if err != nil {
				t.Fatal(err)
			}
			if got := res.For(tc.strategy); got != tc.want {
				t.Errorf("got %q, want %q (all: %+v)", got, tc.want, res)
			}
		})
	}
}
