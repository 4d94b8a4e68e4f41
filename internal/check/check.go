// Package check answers one question without a cluster: which newer tag may IMAGE:TAG
// upgrade to? It uses the same registry client and version rules as the controller.
package check

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/imagewatcher/image-watcher/internal/registry"
	"github.com/imagewatcher/image-watcher/internal/versions"
)

// Answer is what check prints: the seed's {"tag","fullImage"} plus every strategy's answer.
type Answer struct {
	Tag       string            `json:"tag"`
	FullImage string            `json:"fullImage"`
	Latest    map[string]string `json:"latest"`
}

// Run runs `image-watcher check` with args (after the word "check") and returns the exit code:
// 0 with the JSON answer on stdout, 2 for bad input, 1 for a registry failure; errors are one
// line on stderr.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		_, _ = fmt.Fprintln(stderr, "usage: image-watcher check IMAGE:TAG [--strategy patch|bugfix|minor|major] [--constraint C] [--include RE] [--exclude RE] [--insecure] [--timeout D]")
		fs.PrintDefaults()
	}
	strategyName := fs.String("strategy", string(versions.Bugfix), "how far an upgrade may go: patch, bugfix, minor or major")
	constraint := fs.String("constraint", "", "semver range applied on top of the strategy, e.g. \"<13\"")
	include := fs.String("include", "", "only consider tags matching this regular expression")
	exclude := fs.String("exclude", "", "ignore tags matching this regular expression")
	insecure := fs.Bool("insecure", false, "allow a plain-HTTP registry")
	timeout := fs.Duration("timeout", time.Minute, "give up on the registry after this long")

	positional, err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		return fail(stderr, 2, err)
	}
	if len(positional) != 1 {
		return fail(stderr, 2, fmt.Errorf("want exactly one IMAGE:TAG, got %d arguments", len(positional)))
	}

	repo, current, err := registry.ParseTagged(positional[0], *insecure)
	if err != nil {
		return fail(stderr, 2, err)
	}
	strategy, err := versions.ParseStrategy(*strategyName)
	if err != nil {
		return fail(stderr, 2, err)
	}
	filter, err := versions.NewFilter(*constraint, *include, *exclude)
	if err != nil {
		return fail(stderr, 2, err)
	}
	if _, ok := versions.Parse(current); !ok {
		return fail(stderr, 2, fmt.Errorf("tag %q is not a version such as v1.2.3", current))
	}

	client := registry.Client{Timeout: *timeout}
	tags, err := client.ListTags(ctx, repo, authn.DefaultKeychain, nil)
	if err != nil {
		return fail(stderr, 1, err)
	}
	res, err := versions.Evaluate(versions.NewListing(tags), current, filter)
	if err != nil {
		return fail(stderr, 2, err)
	}

	answer := Answer{
		Tag:       res.For(strategy),
		FullImage: registry.FullImage(repo, res.For(strategy)),
		Latest:    map[string]string{},
	}
	for _, s := range versions.Strategies {
		answer.Latest[string(s)] = res.For(s)
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(answer); err != nil {
		return fail(stderr, 1, err)
	}
	return 0
}

// parseInterspersed lets flags follow the image, as in `check nginx:1.25.3 --strategy minor`;
// the standard flag package stops at the first argument that is not a flag.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return positional, nil
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

func fail(stderr io.Writer, code int, err error) int {
	_, _ = fmt.Fprintf(stderr, "image-watcher check: %v\n", err)
	return code
}
