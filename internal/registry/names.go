package registry

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
)

var (
	// pathComponent is the distribution grammar for one repository path component.
	// go-containerregistry only checks the character set, which lets "a//b" or "-app" through
	// to fail later as a confusing registry error instead of an invalid spec now.
	pathComponent = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$`)
	tagPattern    = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$`)
)

// ParseRepository normalises an image repository named without tag or digest. Docker Hub
// short names get their registry and, for official images, the library/ namespace
// ("nginx" → index.docker.io/library/nginx, "mojaloop/central-ledger" →
// index.docker.io/mojaloop/central-ledger); "host:port/path" is kept. insecure lets the
// client fall back to plain HTTP. A tag, a digest, a URL scheme or upper-case letters are
// errors that say so, because the spec names a repository and the tag lives elsewhere.
func ParseRepository(image string, insecure bool) (name.Repository, error) {
	if image == "" {
		return name.Repository{}, fmt.Errorf("image is empty: name a repository such as nginx or ghcr.io/org/app")
	}
	if strings.Contains(image, "://") {
		return name.Repository{}, fmt.Errorf("image %q must not start with a URL scheme: write host[:port]/path (plain HTTP registries are marked insecure instead)", image)
	}
	if i := strings.IndexByte(image, '@'); i >= 0 {
		return name.Repository{}, fmt.Errorf("image %q has a digest (%s): name the repository only", image, image[i+1:])
	}
	if base, tag, ok := splitTag(image); ok {
		if tag == "" {
			return name.Repository{}, fmt.Errorf("image %q ends with ':': name the repository only, %q", image, base)
		}
		return name.Repository{}, fmt.Errorf("image %q has a tag (%q): name the repository only, %q", image, tag, base)
	}
	repo, err := name.NewRepository(image, nameOptions(insecure)...)
	if err != nil {
		return name.Repository{}, fmt.Errorf("invalid image %q: %w", image, err)
	}
	for _, c := range strings.Split(repo.RepositoryStr(), "/") {
		if !pathComponent.MatchString(c) {
			return name.Repository{}, fmt.Errorf("invalid image %q: path component %q must be lower-case letters and digits, separated by '.', '_', '__' or '-'", image, c)
		}
	}
	return repo, nil
}

// ParseTagged splits "IMAGE:TAG", as given to the check command, into the repository and
// the tag. A digest or a missing tag is an error: the version rules need a tag to compare
// against, and silently assuming "latest" would compare against nothing.
func ParseTagged(ref string, insecure bool) (name.Repository, string, error) {
	if i := strings.IndexByte(ref, '@'); i >= 0 {
		return name.Repository{}, "", fmt.Errorf("reference %q has a digest: give IMAGE:TAG", ref)
	}
	base, tag, ok := splitTag(ref)
	if !ok || tag == "" {
		return name.Repository{}, "", fmt.Errorf("reference %q has no tag: give IMAGE:TAG", ref)
	}
	if !tagPattern.MatchString(tag) {
		return name.Repository{}, "", fmt.Errorf("reference %q: invalid tag %q", ref, tag)
	}
	repo, err := ParseRepository(base, insecure)
	if err != nil {
		return name.Repository{}, "", err
	}
	return repo, tag, nil
}

// FullImage returns the reference a user would pull: the familiar Docker Hub form
// ("nginx:1.25", "mojaloop/central-ledger:v11.0.1") and "host:port/org/image:tag" elsewhere,
// which is what the seed's API promised its clients.
func FullImage(repo name.Repository, tag string) string {
	path := repo.RepositoryStr()
	if repo.RegistryStr() != name.DefaultRegistry {
		return repo.RegistryStr() + "/" + path + ":" + tag
	}
	if short, ok := strings.CutPrefix(path, "library/"); ok && !strings.Contains(short, "/") {
		path = short
	}
	return path + ":" + tag
}

// splitTag splits a tag off ref. A colon counts only in the last path component, so the
// port in "host:5000/app" is not mistaken for a tag.
func splitTag(ref string) (base, tag string, ok bool) {
	last := ref[strings.LastIndexByte(ref, '/')+1:]
	i := strings.LastIndexByte(last, ':')
	if i < 0 {
		return ref, "", false
	}
	cut := len(ref) - len(last) + i
	return ref[:cut], ref[cut+1:], true
}

func nameOptions(insecure bool) []name.Option {
	if insecure {
		return []name.Option{name.Insecure}
	}
	return nil
}
