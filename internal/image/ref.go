package image

import (
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
)

// RefKind says where an image comes from.
type RefKind int

const (
	// KindRegistry is an image in a registry (Pyxis's registry#image:tag,
	// or registry/image:tag, image:tag, image@sha256:...).
	KindRegistry RefKind = iota + 1
	// KindLayout is an OCI image layout directory.
	KindLayout
	// KindTarball is a `docker save` or `podman save` tar file.
	KindTarball
	// KindSquashfs is a squashfs file holding a root file system (enroot's
	// images).
	KindSquashfs
)

// String names the kind as errors and listings show it.
func (k RefKind) String() string {
	switch k {
	case KindRegistry:
		return "registry"
	case KindLayout:
		return "oci-layout"
	case KindTarball:
		return "tarball"
	case KindSquashfs:
		return "squashfs"
	}
	return "unknown"
}

// DefaultRegistry is the registry of references that name none, as in
// Docker and enroot.
const DefaultRegistry = "index.docker.io"

// Ref is a parsed image reference. For registry images Registry,
// Repository and Tag or Digest are set; for local files Path (and, for a
// layout directory holding several images, Tag: DIR:NAME).
type Ref struct {
	Kind       RefKind
	Registry   string
	Repository string
	Tag        string
	Digest     string
	Path       string
}

// String gives the canonical form: registry/repository:tag,
// registry/repository@sha256:..., or the path (PATH:NAME for a named image
// of a layout directory).
func (r Ref) String() string {
	if r.Kind != KindRegistry {
		if r.Tag != "" {
			return r.Path + ":" + r.Tag
		}
		return r.Path
	}
	s := r.Registry + "/" + r.Repository
	if r.Digest != "" {
		return s + "@" + r.Digest
	}
	return s + ":" + r.Tag
}

// ErrBadRef is wrapped by every error of ParseRef.
var ErrBadRef = errors.New("invalid container image reference")

const refForms = "expected registry#image:tag (as Pyxis), registry/image:tag, image:tag or image@sha256:<64 hex digits>, or an absolute path to an OCI layout directory, a docker/podman save tar (.tar) or a squashfs file (.sqsh, .squashfs)"

// ParseRef checks a user-given reference without touching the file system
// or the network. A path's kind is guessed from its name (.sqsh, .sqfs,
// .squashfs: squashfs; .tar, .tar.gz, .tgz: tarball; else a layout
// directory); Get looks at the content and decides.
func ParseRef(s string) (Ref, error) {
	bad := func(why string, a ...any) (Ref, error) {
		return Ref{}, fmt.Errorf("%w %q: %s; %s", ErrBadRef, s, fmt.Sprintf(why, a...), refForms)
	}
	if s == "" {
		return bad("empty")
	}
	if strings.ContainsAny(s, " \t\n\r\x00") {
		return bad("it contains white space or control characters")
	}
	if strings.HasPrefix(s, "/") {
		return parsePath(s), nil
	}
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "~") {
		return bad("a local image must be given by its absolute path (the node resolves it, not the submitting shell)")
	}
	if strings.HasPrefix(s, "docker://") {
		s = strings.TrimPrefix(s, "docker://")
	}
	full := s
	if reg, img, ok := strings.Cut(s, "#"); ok {
		if reg == "" || img == "" || strings.Contains(img, "#") {
			return bad("Pyxis's form is registry#image:tag, with one '#'")
		}
		if strings.Contains(reg, "/") {
			return bad("the part before '#' must be a registry host (such as nvcr.io), not %q", reg)
		}
		full = reg + "/" + img
		if _, err := name.NewRegistry(reg, name.StrictValidation); err != nil {
			return bad("registry %q: %v", reg, err)
		}
	}
	ref, err := name.ParseReference(full, name.WithDefaultRegistry(DefaultRegistry))
	if err != nil {
		return bad("%v", err)
	}
	r := Ref{Kind: KindRegistry, Registry: ref.Context().RegistryStr(), Repository: ref.Context().RepositoryStr()}
	switch v := ref.(type) {
	case name.Tag:
		r.Tag = v.TagStr()
	case name.Digest:
		r.Digest = v.DigestStr()
	}
	// A short name gains its registry and library/ prefix, which can
	// take it past the 255 characters a repository may have: what is
	// accepted must stay valid in its full form.
	if _, err := name.ParseReference(r.String(), name.WithDefaultRegistry(DefaultRegistry)); err != nil {
		return bad("in its full form %s: %v", r.String(), err)
	}
	return r, nil
}

func parsePath(s string) Ref {
	p := path.Clean(s)
	r := Ref{Path: p}
	low := strings.ToLower(p)
	switch {
	case strings.HasSuffix(low, ".sqsh"), strings.HasSuffix(low, ".sqfs"), strings.HasSuffix(low, ".squashfs"):
		r.Kind = KindSquashfs
	case strings.HasSuffix(low, ".tar"), strings.HasSuffix(low, ".tar.gz"), strings.HasSuffix(low, ".tgz"):
		r.Kind = KindTarball
	default:
		r.Kind = KindLayout
	}
	return r
}
