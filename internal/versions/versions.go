// Package versions decides which tag is newest: it parses tags as versions, orders them, and
// answers, for a current tag, the newest eligible tag under every upgrade strategy at once.
// It is pure: no Kubernetes, no registry, no clock.
package versions

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/Masterminds/semver/v3"
)

// Strategy is how far an upgrade may go from the current tag.
type Strategy string

// The strategies, narrowest first.
const (
	// Patch allows hotfix builds and revisions of the very same release (same MAJOR.MINOR.BUGFIX).
	Patch Strategy = "patch"
	// Bugfix allows any version with the same MAJOR.MINOR.
	Bugfix Strategy = "bugfix"
	// Minor allows any version with the same MAJOR.
	Minor Strategy = "minor"
	// Major allows any version.
	Major Strategy = "major"
)

// Strategies lists every strategy, narrowest first.
var Strategies = []Strategy{Patch, Bugfix, Minor, Major}

// ParseStrategy returns the strategy named s.
func ParseStrategy(s string) (Strategy, error) {
	for _, st := range Strategies {
		if string(st) == s {
			return st, nil
		}
	}
	return "", fmt.Errorf("unknown strategy %q: want one of patch, bugfix, minor, major", s)
}

// window is how many leading numeric parts a candidate must share with the current tag.
func (s Strategy) window() int {
	switch s {
	case Patch:
		return 3
	case Bugfix:
		return 2
	case Minor:
		return 1
	default:
		return 0
	}
}

// Version is a tag that fits [v]N[.N[.N[.N]]][-SUFFIX][+BUILD].
type Version struct {
	// Raw is the tag as listed.
	Raw string
	// Parts are MAJOR.MINOR.BUGFIX.REVISION; missing parts are 0.
	Parts [4]uint64
	// NumParts is how many numeric parts the tag spells out: its shape.
	NumParts int
	// V is true when the tag starts with "v".
	V bool
	// Channel is the suffix without its trailing counter; "" for releases and hotfix builds.
	Channel string
	// Counter is the suffix's trailing numbers (rc1 → [1], alpine3.18 → [3 18]); missing are 0.
	Counter [2]uint64
}

// hotfixChannels are suffixes that mark post-release builds of a release, not pre-releases.
var hotfixChannels = map[string]bool{"patch": true, "hotfix": true}

// Parse parses one tag; ok is false when the tag is not a version (latest, main, sha-1a2b3c,
// sha256-….sig). It does not allocate: Raw and Channel are substrings of tag.
func Parse(tag string) (v Version, ok bool) {
	v.Raw = tag
	s := tag
	if strings.HasPrefix(s, "v") {
		v.V = true
		s = s[1:]
	}
	for {
		if v.NumParts == 4 {
			return Version{}, false
		}
		n, rest, ok := number(s)
		if !ok {
			return Version{}, false
		}
		v.Parts[v.NumParts] = n
		v.NumParts++
		s = rest
		if s == "" || s[0] != '.' {
			break
		}
		s = s[1:]
	}
	build := ""
	if i := strings.IndexByte(s, '+'); i >= 0 {
		s, build = s[:i], s[i+1:]
		if !identChars(build) {
			return Version{}, false
		}
	}
	if s == "" {
		return v, true
	}
	if s[0] != '-' || !identChars(s[1:]) {
		return Version{}, false
	}
	suffix := s[1:]
	v.Channel, v.Counter = channel(suffix)
	if hotfixChannels[v.Channel] {
		v.Channel = ""
	} else if v.Channel == "" {
		// An all-digit suffix ("1.2.3-4") is a build counter on the release channel's
		// neighbour: keep it apart from releases so a release team never gets it.
		v.Channel = "-"
	}
	return v, true
}

// number reads a decimal number at the start of s; it fails on overflow and on no digits.
func number(s string) (n uint64, rest string, ok bool) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		d := uint64(s[i] - '0')
		if n > (1<<64-1-d)/10 {
			return 0, s, false
		}
		n = n*10 + d
		i++
	}
	return n, s[i:], i > 0
}

// identChars reports whether s is a non-empty run of [0-9A-Za-z.-].
func identChars(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && c != '.' && c != '-' {
			return false
		}
	}
	return true
}

// channel splits a suffix into its channel and counter: drop a last dot-separated
// identifier that is all digits, then trailing digits of what is left
// (snapshot.3 → snapshot [3], rc1 → rc [1], alpine3.18 → alpine [3 18]).
func channel(suffix string) (string, [2]uint64) {
	var nums [2]uint64
	var found []uint64
	rest := suffix
	if i := strings.LastIndexByte(rest, '.'); i >= 0 {
		if n, tail, ok := number(rest[i+1:]); ok && tail == "" {
			found = append(found, n)
			rest = rest[:i]
		}
	}
	j := len(rest)
	for j > 0 && rest[j-1] >= '0' && rest[j-1] <= '9' {
		j--
	}
	if j < len(rest) {
		if n, _, ok := number(rest[j:]); ok {
			found = append([]uint64{n}, found...)
			rest = rest[:j]
		}
	}
	copy(nums[:], found)
	return rest, nums
}

// Compare orders two versions: numeric parts, then the suffix counter, then the raw tag.
// It is meaningful within one channel; the channel itself is not compared.
func Compare(a, b Version) int {
	if c := compareKey(a, b); c != 0 {
		return c
	}
	return strings.Compare(a.Raw, b.Raw)
}

// compareKey is Compare without the raw-tag tie-break: v1.2.3 and 1.2.3 are equal here.
func compareKey(a, b Version) int {
	// Hand-written over the arrays: this is the comparison NewListing's sort spends its
	// time in.
	for i := range a.Parts {
		if a.Parts[i] != b.Parts[i] {
			if a.Parts[i] < b.Parts[i] {
				return -1
			}
			return 1
		}
	}
	for i := range a.Counter {
		if a.Counter[i] != b.Counter[i] {
			if a.Counter[i] < b.Counter[i] {
				return -1
			}
			return 1
		}
	}
	return 0
}

// Listing is one registry listing, parsed once. Its versions are sorted by shape and
// channel, then newest first, so an evaluation reads only its own group and can jump over
// versions outside a strategy's window. Read-only after NewListing, so any number of
// evaluations may share it.
type Listing struct {
	versions []Version
	groups   map[group]span
	count    int
}

type group struct {
	parts   int
	channel string
}

// span is a group's range in Listing.versions.
type span struct{ start, end int }

// NewListing parses tags once.
func NewListing(tags []string) *Listing {
	vs := make([]Version, 0, len(tags))
	for _, t := range tags {
		if v, ok := Parse(t); ok {
			vs = append(vs, v)
		}
	}
	slices.SortFunc(vs, func(a, b Version) int {
		if a.NumParts != b.NumParts {
			return a.NumParts - b.NumParts
		}
		if c := strings.Compare(a.Channel, b.Channel); c != 0 {
			return c
		}
		return Compare(b, a) // newest first
	})
	l := &Listing{versions: vs, groups: map[group]span{}, count: len(tags)}
	for i := 0; i < len(vs); {
		g := group{vs[i].NumParts, vs[i].Channel}
		j := i + 1
		for j < len(vs) && vs[j].NumParts == g.parts && vs[j].Channel == g.channel {
			j++
		}
		l.groups[g] = span{i, j}
		i = j
	}
	return l
}

// Len is the number of tags listed, versions or not.
func (l *Listing) Len() int { return l.count }

// group returns the versions of v's shape and channel, newest first.
func (l *Listing) group(v Version) []Version {
	sp, ok := l.groups[group{v.NumParts, v.Channel}]
	if !ok {
		return nil
	}
	return l.versions[sp.start:sp.end]
}

// Has reports whether tag was listed as a version (tags that are not versions are not kept).
func (l *Listing) Has(tag string) bool {
	v, ok := Parse(tag)
	if !ok {
		return false
	}
	vs := l.group(v)
	i, found := slices.BinarySearchFunc(vs, v, func(e, target Version) int { return Compare(target, e) })
	return found && vs[i].Raw == tag
}

// Filter is a WatchedImage's optional constraint and tag filter, compiled once.
type Filter struct {
	constraint       *semver.Constraints
	include, exclude *regexp.Regexp
}

// NewFilter compiles a semver range and include/exclude regexps; "" means no restriction.
func NewFilter(constraint, include, exclude string) (Filter, error) {
	var f Filter
	var err error
	if constraint != "" {
		if f.constraint, err = semver.NewConstraint(constraint); err != nil {
			return Filter{}, fmt.Errorf("constraint %q: %w", constraint, err)
		}
	}
	if include != "" {
		if f.include, err = regexp.Compile(include); err != nil {
			return Filter{}, fmt.Errorf("tagFilter.include %q: %w", include, err)
		}
	}
	if exclude != "" {
		if f.exclude, err = regexp.Compile(exclude); err != nil {
			return Filter{}, fmt.Errorf("tagFilter.exclude %q: %w", exclude, err)
		}
	}
	return f, nil
}

// allows applies the filter. The constraint sees MAJOR.MINOR.BUGFIX without the suffix:
// channels are the channel rule's business, and semver's pre-release rule would otherwise
// drop every hotfix build and every channel tag.
func (f Filter) allows(v Version) bool {
	if f.include != nil && !f.include.MatchString(v.Raw) {
		return false
	}
	if f.exclude != nil && f.exclude.MatchString(v.Raw) {
		return false
	}
	if f.constraint != nil && !f.constraint.Check(semver.New(v.Parts[0], v.Parts[1], v.Parts[2], "", "")) {
		return false
	}
	return true
}

// Result is the newest eligible tag for every strategy.
type Result struct {
	// Current is the tag the answers are measured from.
	Current string
	// Patch, Bugfix, Minor and Major are each strategy's answer; Current when none is newer.
	Patch, Bugfix, Minor, Major string
	// CurrentFound is true when Current was in the listing.
	CurrentFound bool
}

// For returns the answer for strategy s.
func (r Result) For(s Strategy) string {
	switch s {
	case Patch:
		return r.Patch
	case Bugfix:
		return r.Bugfix
	case Minor:
		return r.Minor
	default:
		return r.Major
	}
}

// Evaluate answers all four strategies in one pass, newest first, over the versions of
// current's shape and channel. Whole runs of versions outside the widest window still
// undecided (a newer MAJOR, for minor) are skipped by binary search, and the filter is
// applied only to versions some strategy could still take; the pass ends when every
// strategy has its answer or the versions fall below current. It fails only when current is
// not a version.
func Evaluate(l *Listing, current string, f Filter) (Result, error) {
	cur, ok := Parse(current)
	if !ok {
		return Result{}, fmt.Errorf("current tag %q is not a version such as v1.2.3", current)
	}
	res := Result{Current: current, CurrentFound: l.Has(current)}
	var best [4]*Version // indexed like Strategies, narrowest first
	undecided := len(Strategies)
	vs := l.group(cur)
	for i := 0; i < len(vs) && undecided > 0; {
		v := &vs[i]
		if compareKey(*v, cur) < 0 {
			break
		}
		// The widest undecided strategy is the last one; nested windows mean a version
		// outside it is outside every undecided window.
		w := Strategies[undecided-1].window()
		if !sameLeading(*v, cur, w) {
			rest := vs[i:]
			i += sort.Search(len(rest), func(k int) bool { return slices.Compare(rest[k].Parts[:w], cur.Parts[:w]) <= 0 })
			continue
		}
		if f.allows(*v) {
			for si := undecided - 1; si >= 0 && sameLeading(*v, cur, Strategies[si].window()); si-- {
				best[si] = preferSpelling(vs[i:], cur, f)
				undecided = si
			}
		}
		i++
	}
	answers := [4]*string{&res.Patch, &res.Bugfix, &res.Minor, &res.Major}
	for si := range Strategies {
		*answers[si] = current
		if best[si] != nil {
			*answers[si] = best[si].Raw
		}
	}
	return res, nil
}

// sameLeading reports whether a and b share their first n numeric parts.
func sameLeading(a, b Version, n int) bool {
	return slices.Equal(a.Parts[:n], b.Parts[:n])
}

// preferSpelling picks, among the versions equal to vs[0] but for spelling, the one spelled
// like current (with or without "v"); vs is sorted newest first, so equals are adjacent.
func preferSpelling(vs []Version, cur Version, f Filter) *Version {
	if vs[0].V == cur.V {
		return &vs[0]
	}
	for i := 1; i < len(vs) && compareKey(vs[i], vs[0]) == 0; i++ {
		if vs[i].V == cur.V && f.allows(vs[i]) {
			return &vs[i]
		}
	}
	return &vs[0]
}
