package image

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseRef(t *testing.T) {
	const dg = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	for _, tc := range []struct {
		in   string
		want Ref
		str  string
	}{
		{"nvcr.io#nvidia/pytorch:24.05-py3", Ref{Kind: KindRegistry, Registry: "nvcr.io", Repository: "nvidia/pytorch", Tag: "24.05-py3"}, "nvcr.io/nvidia/pytorch:24.05-py3"},
		{"nvcr.io/nvidia/pytorch:24.05-py3", Ref{Kind: KindRegistry, Registry: "nvcr.io", Repository: "nvidia/pytorch", Tag: "24.05-py3"}, "nvcr.io/nvidia/pytorch:24.05-py3"},
		{"ubuntu:22.04", Ref{Kind: KindRegistry, Registry: "index.docker.io", Repository: "library/ubuntu", Tag: "22.04"}, "index.docker.io/library/ubuntu:22.04"},
		{"ubuntu", Ref{Kind: KindRegistry, Registry: "index.docker.io", Repository: "library/ubuntu", Tag: "latest"}, "index.docker.io/library/ubuntu:latest"},
		{"docker://alpine", Ref{Kind: KindRegistry, Registry: "index.docker.io", Repository: "library/alpine", Tag: "latest"}, "index.docker.io/library/alpine:latest"},
		{"localhost:5000#team/img", Ref{Kind: KindRegistry, Registry: "localhost:5000", Repository: "team/img", Tag: "latest"}, "localhost:5000/team/img:latest"},
		{"alpine@" + dg, Ref{Kind: KindRegistry, Registry: "index.docker.io", Repository: "library/alpine", Digest: dg}, "index.docker.io/library/alpine@" + dg},
		{"/images/pytorch.sqsh", Ref{Kind: KindSquashfs, Path: "/images/pytorch.sqsh"}, "/images/pytorch.sqsh"},
		{"/images/x.squashfs", Ref{Kind: KindSquashfs, Path: "/images/x.squashfs"}, "/images/x.squashfs"},
		{"/images/saved.tar", Ref{Kind: KindTarball, Path: "/images/saved.tar"}, "/images/saved.tar"},
		{"/images//oci/", Ref{Kind: KindLayout, Path: "/images/oci"}, "/images/oci"},
	} {
		got, err := ParseRef(tc.in)
		if err != nil {
			t.Errorf("ParseRef(%q) = %v", tc.in, err)
			continue
		}
		if d := cmp.Diff(tc.want, got); d != "" {
			t.Errorf("ParseRef(%q) (-want +got):\n%s", tc.in, d)
		}
		if got.String() != tc.str {
			t.Errorf("ParseRef(%q).String() = %q; want %q", tc.in, got.String(), tc.str)
		}
	}
	for _, in := range []string{"", "./img.sqsh", "img.sqsh#", "#img", "nvcr.io#a#b", "nvcr.io/x#img", "UPPER/Case:tag", "img:bad tag", "img@sha256:short", "a b"} {
		_, err := ParseRef(in)
		if !errors.Is(err, ErrBadRef) || !strings.Contains(err.Error(), "expected registry#image:tag") {
			t.Errorf("ParseRef(%q) = %v; want ErrBadRef saying which forms are expected", in, err)
		}
	}
}

// FuzzParseRef checks that a parsed reference's canonical form parses to
// the same reference.
func FuzzParseRef(f *testing.F) {
	for _, s := range []string{"nvcr.io#nvidia/pytorch:24.05-py3", "ubuntu", "/a/b.sqsh", "localhost:5000/x@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "a#b", "docker://x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRef(s)
		if err != nil {
			return
		}
		r2, err := ParseRef(r.String())
		if err != nil {
			t.Fatalf("ParseRef(%q) = %+v, whose String %q does not parse: %v", s, r, r.String(), err)
		}
		if r.Kind == KindRegistry && r != r2 {
			t.Fatalf("ParseRef(%q) = %+v; its String %q parses to %+v", s, r, r.String(), r2)
		}
	})
}
