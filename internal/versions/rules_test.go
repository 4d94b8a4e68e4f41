package versions

import (
	"fmt"
	"strings"
	"testing"
)

func TestRulesBeyondTheSpecExamples(t *testing.T) {
	cases := []struct {
		name                       string
		tags                       string
		current                    string
		strategy                   Strategy
		constraint, include, exclu string
		want                       string
	}{
		{name: "numeric order beats lexical order", tags: "v1.9.0 v1.10.0 v1.2.0", current: "v1.2.0", strategy: Minor, want: "v1.10.0"},
		{name: "a leading v does not matter for order", tags: "1.3.0 v1.2.0 v1.4.0", current: "v1.2.0", strategy: Minor, want: "v1.4.0"},
		{name: "the spelling of current wins a tie (v)", tags: "1.3.0 v1.3.0 v1.2.0", current: "v1.2.0", strategy: Minor, want: "v1.3.0"},
		{name: "the spelling of current wins a tie (no v)", tags: "1.3.0 v1.3.0 1.2.0", current: "1.2.0", strategy: Minor, want: "1.3.0"},
		{name: "four-part versions: patch picks revisions of the same release", tags: "1.2.3.4 1.2.3.9 1.2.4.0 1.3.0.0", current: "1.2.3.4", strategy: Patch, want: "1.2.3.9"},
		{name: "four-part versions: bugfix moves the third part", tags: "1.2.3.4 1.2.3.9 1.2.4.0 1.3.0.0", current: "1.2.3.4", strategy: Bugfix, want: "1.2.4.0"},
		{name: "a floating two-part tag is not a newer version of a three-part one", tags: "1.25.3 1.26 2", current: "1.25.3", strategy: Major, want: "1.25.3"},
		{name: "hotfix labels order after the release and before the next bugfix", tags: "v1.0.0 v1.0.0-hotfix.1 v1.0.0-hotfix.2 v1.0.1", current: "v1.0.0", strategy: Patch, want: "v1.0.0-hotfix.2"},
		{name: "a hotfix of an older release is older than current", tags: "v1.0.0-patch.5 v1.0.1", current: "v1.0.1", strategy: Patch, want: "v1.0.1"},
		{name: "release teams never get pre-releases", tags: "v1.0.0 v1.1.0-rc.1 v1.1.0-beta2 v1.0.1-alpha", current: "v1.0.0", strategy: Major, want: "v1.0.0"},
		{name: "rc teams get newer rcs, numbered either way", tags: "v1.1.0-rc1 v1.1.0-rc2 v1.2.0-rc1 v1.2.0", current: "v1.1.0-rc1", strategy: Minor, want: "v1.2.0-rc1"},
		{name: "suffix counters compare numerically", tags: "1.0.0-build.9 1.0.0-build.10", current: "1.0.0-build.9", strategy: Patch, want: "1.0.0-build.10"},
		{name: "alpine3.18 and alpine3.19 are one channel", tags: "1.25.3-alpine3.18 1.25.4-alpine3.19", current: "1.25.3-alpine3.18", strategy: Bugfix, want: "1.25.4-alpine3.19"},
		{name: "junk tags are ignored", tags: "latest main sha-1a2b3c sha256-abc.sig sha256-abc.att 1.2.3.4.5 v -1 1..2 1.2.3- 1.2.3+ V1.9.0 1.0.0", current: "1.0.0", strategy: Major, want: "1.0.0"},
		{name: "older tags are ignored", tags: "v0.9.0 v1.0.0", current: "v1.0.0", strategy: Major, want: "v1.0.0"},
		{name: "current missing from the registry still gets an answer", tags: "v1.0.1 v1.1.0", current: "v1.0.0", strategy: Bugfix, want: "v1.0.1"},
		{name: "the constraint restricts the range", tags: "v11.0.0 v12.0.0 v13.1.0", current: "v11.0.0", strategy: Major, constraint: "<13", want: "v12.0.0"},
		{name: "the constraint keeps hotfix builds", tags: "v11.0.0 v11.0.0-patch.1", current: "v11.0.0", strategy: Patch, constraint: ">=11, <12", want: "v11.0.0-patch.1"},
		{name: "include keeps only matching tags", tags: "v1.0.0 v1.1.0 v1.2.0-x", current: "v1.0.0", strategy: Minor, include: `^v1\.1`, want: "v1.1.0"},
		{name: "exclude drops matching tags", tags: "v1.0.0 v1.1.0 v1.2.0", current: "v1.0.0", strategy: Minor, exclu: `^v1\.2`, want: "v1.1.0"},
		{name: "a build suffix does not make a channel", tags: "1.0.0 1.0.1+build.5", current: "1.0.0", strategy: Bugfix, want: "1.0.1+build.5"},
		{name: "a numeric-only suffix is not a release", tags: "1.0.0 1.0.1-4", current: "1.0.0", strategy: Bugfix, want: "1.0.0"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, err := NewFilter(tc.constraint, tc.include, tc.exclu)
			if err != nil {
				t.Fatal(err)
			}
			res, err := Evaluate(NewListing(strings.Fields(tc.tags)), tc.current, f)
			if err != nil {
				t.Fatal(err)
			}
			if got := res.For(tc.strategy); got != tc.want {
				t.Errorf("%s from %s among %q = %q, want %q", tc.strategy, tc.current, tc.tags, got, tc.want)
			}
		})
	}
}

func TestEvaluateReportsWhetherCurrentWasListed(t *testing.T) {
	l := NewListing([]string{"v1.0.0", "v1.0.1"})
	for current, want := range map[string]bool{"v1.0.0": true, "v0.9.0": false} {
		res, err := Evaluate(l, current, Filter{})
		if err != nil || res.CurrentFound != want {
			t.Errorf("%s: CurrentFound = %v (err %v), want %v", current, res.CurrentFound, err, want)
		}
	}
	if _, err := Evaluate(l, "latest", Filter{}); err == nil {
		t.Error("a current tag that is not a version evaluated without error")
	}
}

func TestParse(t *testing.T) {
	cases := []struct {
		tag     string
		ok      bool
		parts   int
		channel string
		counter [2]uint64
	}{
		{"v11.0.0", true, 3, "", [2]uint64{}},
		{"v11.0.0-patch.1", true, 3, "", [2]uint64{1}},
		{"v8.8.0-snapshot.2", true, 3, "snapshot", [2]uint64{2}},
		{"1.25.3-alpine", true, 3, "alpine", [2]uint64{}},
		{"1.25.3-alpine3.18", true, 3, "alpine", [2]uint64{3, 18}},
		{"2.1.0-rc1", true, 3, "rc", [2]uint64{1}},
		{"1.26", true, 2, "", [2]uint64{}},
		{"20", true, 1, "", [2]uint64{}},
		{"1.2.3.4+build", true, 4, "", [2]uint64{}},
		{"18446744073709551616.0.0", false, 0, "", [2]uint64{}},
		{"latest", false, 0, "", [2]uint64{}},
		{"sha256-3f5c.sig", false, 0, "", [2]uint64{}},
		{"", false, 0, "", [2]uint64{}},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%q", tc.tag), func(t *testing.T) {
			v, ok := Parse(tc.tag)
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v", ok, tc.ok)
			}
			if ok && (v.NumParts != tc.parts || v.Channel != tc.channel || v.Counter != tc.counter || v.Raw != tc.tag) {
				t.Errorf("got %+v", v)
			}
		})
	}
}

func TestParseStrategyAndFilterErrors(t *testing.T) {
	if _, err := ParseStrategy("newest"); err == nil || !strings.Contains(err.Error(), "patch, bugfix, minor, major") {
		t.Errorf("ParseStrategy error %v does not list the strategies", err)
	}
	for _, s := range Strategies {
		if got, err := ParseStrategy(string(s)); err != nil || got != s {
			t.Errorf("ParseStrategy(%q) = %q, %v", s, got, err)
		}
	}
	for field, args := range map[string][3]string{
		"constraint":        {"<<1", "", ""},
		"tagFilter.include": {"", "(", ""},
		"tagFilter.exclude": {"", "", "["},
	} {
		if _, err := NewFilter(args[0], args[1], args[2]); err == nil || !strings.HasPrefix(err.Error(), field) {
			t.Errorf("error %v does not start with %s", err, field)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, seed := range []string{"v11.0.0-patch.1", "1.25.3-alpine3.18", "1.2.3.4+b", "sha256-x.sig", "v", "1..2", "9999999999999999999999"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, tag string) {
		v, ok := Parse(tag)
		if !ok {
			return
		}
		if v.Raw != tag || v.NumParts < 1 || v.NumParts > 4 {
			t.Fatalf("Parse(%q) = %+v", tag, v)
		}
		again, ok := Parse(v.Raw)
		if !ok || again != v {
			t.Fatalf("re-parse of %q differs: %+v vs %+v", tag, again, v)
		}
		if _, err := Evaluate(NewListing([]string{tag, "1.0.0"}), tag, Filter{}); err != nil {
			t.Fatalf("Evaluate with current %q: %v", tag, err)
		}
	})
}

// benchTags makes n realistic tags: releases, hotfixes, release candidates, alpine builds
// and junk, in registry (lexical) order.
func benchTags(n int) []string {
	tags := make([]string, 0, n)
	for i := 0; len(tags) < n; i++ {
		major, minor, patch := i/2000, (i/50)%40, i%50
		switch i % 10 {
		case 7:
			tags = append(tags, fmt.Sprintf("v%d.%d.%d-rc.%d", major, minor, patch, i%3))
		case 8:
			tags = append(tags, fmt.Sprintf("%d.%d.%d-alpine", major, minor, patch))
		case 9:
			tags = append(tags, fmt.Sprintf("sha-%07x", i))
		case 6:
			tags = append(tags, fmt.Sprintf("v%d.%d.%d-patch.%d", major, minor, patch, i%4))
		default:
			tags = append(tags, fmt.Sprintf("v%d.%d.%d", major, minor, patch))
		}
	}
	return tags
}

// BenchmarkEvaluate measures a whole decision, as the controller makes it per listing:
// parse every tag once, then answer all four strategies.
func BenchmarkEvaluate(b *testing.B) {
	for _, n := range []int{1000, 10000, 100000} {
		tags := benchTags(n)
		b.Run(fmt.Sprintf("tags=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Evaluate(NewListing(tags), "v1.0.0", Filter{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkEvaluateShared measures one more resource on a listing already parsed: the cost
// the N-th WatchedImage on a repository adds.
func BenchmarkEvaluateShared(b *testing.B) {
	for _, n := range []int{1000, 10000, 100000} {
		l := NewListing(benchTags(n))
		f, _ := NewFilter("<100", `^v`, `-rc`)
		b.Run(fmt.Sprintf("tags=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Evaluate(l, "v1.0.0", f); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
