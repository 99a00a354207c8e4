package image

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Errors a Get may wrap; match them with errors.Is.
var (
	// ErrNotFound: the registry has no such image, or the path does not
	// exist on this node.
	ErrNotFound = errors.New("image not found")
	// ErrUnauthorized: the registry refused the user's credentials (or
	// wants some and the user has none).
	ErrUnauthorized = errors.New("registry refused access")
	// ErrUnsupported: the file or manifest is of a form this store cannot
	// use.
	ErrUnsupported = errors.New("unsupported image")
	// ErrNoUnsquashfs: a squashfs image needs Debian's squashfs-tools.
	ErrNoUnsquashfs = errors.New("unsquashfs not installed")
)

// DigestError says that a layer's content does not match its digest: the
// file or the download was tampered with or corrupted.
type DigestError struct {
	Layer string // the digest the image names
	Got   string // the digest of what was read
}

// Error names the layer and says that nothing of the image was kept.
func (e *DigestError) Error() string {
	return fmt.Sprintf("layer %s: its content has digest %s: the image is corrupt or was tampered with; nothing of it was kept", e.Layer, e.Got)
}

// ImageConfig is what the image says about how to run it.
type ImageConfig struct {
	Env        []string `json:"env,omitempty"`
	Entrypoint []string `json:"entrypoint,omitempty"`
	Cmd        []string `json:"cmd,omitempty"`
	WorkingDir string   `json:"working_dir,omitempty"`
	User       string   `json:"user,omitempty"`
}

// layerSrc is one layer to fetch: the digest of the bytes open returns
// (compressed or not: unpack looks), and their size when known (-1).
type layerSrc struct {
	digest string
	size   int64
	open   func() (io.ReadCloser, error)
	// local layers (of layout directories and save tars) are read in
	// place, verified as they are unpacked, and not copied into the store:
	// a copy would double the writes of a cold start and save nothing.
	local bool
}

// source is a resolved image: its identity and how to get its content.
type source struct {
	digest   string
	config   ImageConfig
	layers   []layerSrc
	squashfs *os.File // for KindSquashfs: the open file (layers is empty)
	// registry is set for images from a registry; anonymous when the
	// registry gave it without credentials (a public image).
	registry, anonymous bool
}

func (s *source) close() {
	if s != nil && s.squashfs != nil {
		s.squashfs.Close()
	}
}

func configOf(cf *v1.ConfigFile) ImageConfig {
	if cf == nil {
		return ImageConfig{}
	}
	c := cf.Config
	return ImageConfig{Env: c.Env, Entrypoint: c.Entrypoint, Cmd: c.Cmd, WorkingDir: c.WorkingDir, User: c.User}
}

// resolve finds what ref names, reading (or asking the registry) only the
// small documents: manifests and configs. Layers are read later.
func (s *Store) resolve(ctx context.Context, ref Ref, acc Access) (*source, error) {
	switch ref.Kind {
	case KindRegistry:
		return s.resolveRemote(ctx, ref, acc)
	}
	p := ref.Path
	f, err := acc.open(p)
	if errors.Is(err, fs.ErrNotExist) && ref.Tag == "" {
		// DIR:NAME names one image of a layout directory.
		if i := strings.LastIndexByte(p, ':'); i > strings.LastIndexByte(p, '/') {
			if f2, err2 := acc.open(p[:i]); err2 == nil {
				f, err, ref.Path, ref.Tag, p = f2, nil, p[:i], p[i+1:], p[:i]
			}
		}
	}
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s does not exist on this node; give the absolute path of an OCI layout directory, a docker/podman save tar or a squashfs file that the job's user can read there", ErrNotFound, p)
	}
	if err != nil {
		return nil, fmt.Errorf("opening image %s: %w", p, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if fi.IsDir() {
		f.Close()
		return resolveLayout(p, ref.Tag, acc)
	}
	var magic [4]byte
	n, _ := f.ReadAt(magic[:], 0)
	if n == 4 && string(magic[:]) == "hsqs" {
		return resolveSquashfs(f)
	}
	f.Close()
	return resolveTarball(p, acc)
}

func (s *Store) resolveRemote(ctx context.Context, ref Ref, acc Access) (*source, error) {
	var opts []name.Option
	if s.opt.Insecure {
		opts = append(opts, name.Insecure)
	}
	nref, err := name.ParseReference(ref.String(), opts...)
	if err != nil {
		return nil, fmt.Errorf("%w %q: %v", ErrBadRef, ref.String(), err)
	}
	kc := &keychain{acc: acc}
	ropts := []remote.Option{
		remote.WithContext(ctx),
		remote.WithAuthFromKeychain(kc),
		remote.WithPlatform(v1.Platform{OS: "linux", Architecture: runtime.GOARCH}),
		remote.WithJobs(4),
	}
	if s.opt.Transport != nil {
		ropts = append(ropts, remote.WithTransport(s.opt.Transport))
	}
	img, err := remote.Image(nref, ropts...)
	if err != nil {
		return nil, remoteError(ref, err)
	}
	d, err := img.Digest()
	if err != nil {
		return nil, remoteError(ref, err)
	}
	m, err := img.Manifest()
	if err != nil {
		return nil, remoteError(ref, err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, remoteError(ref, err)
	}
	src := &source{digest: d.String(), config: configOf(cf), registry: true, anonymous: !kc.used.Load()}
	for _, l := range m.Layers {
		if err := layerMediaOK(l.MediaType); err != nil {
			return nil, fmt.Errorf("%s: layer %s: %w", ref, l.Digest, err)
		}
		h := l.Digest
		src.layers = append(src.layers, layerSrc{digest: h.String(), size: l.Size, open: func() (io.ReadCloser, error) {
			layer, err := img.LayerByDigest(h)
			if err != nil {
				return nil, remoteError(ref, err)
			}
			rc, err := layer.Compressed()
			if err != nil {
				return nil, remoteError(ref, err)
			}
			return rc, nil
		}})
	}
	return src, nil
}

func layerMediaOK(mt types.MediaType) error {
	switch mt {
	case types.DockerLayer, types.OCILayer, types.OCIUncompressedLayer, types.OCILayerZStd, types.DockerUncompressedLayer, "":
		return nil
	case types.DockerForeignLayer, types.OCIRestrictedLayer, types.OCIUncompressedRestrictedLayer:
		return fmt.Errorf("%w: foreign (non-distributable) layers are not fetched", ErrUnsupported)
	}
	return fmt.Errorf("%w: layer media type %s", ErrUnsupported, mt)
}

// remoteError turns a registry's answer into one that says what to fix.
func remoteError(ref Ref, err error) error {
	var te *transport.Error
	if errors.As(err, &te) {
		switch {
		case te.StatusCode == http.StatusNotFound || hasCode(te, transport.ManifestUnknownErrorCode, transport.NameUnknownErrorCode):
			return fmt.Errorf("%w: registry %s has no image %s: check the repository and tag (%v)", ErrNotFound, ref.Registry, ref, err)
		case te.StatusCode == http.StatusUnauthorized || te.StatusCode == http.StatusForbidden || hasCode(te, transport.UnauthorizedErrorCode, transport.DeniedErrorCode):
			return fmt.Errorf("%w: registry %s refused to give %s to the job's user: put a login and password (or API key) for %s in ~/.config/enroot/.credentials (machine %s login USER password SECRET) or ~/.docker/config.json (%v)", ErrUnauthorized, ref.Registry, ref, ref.Registry, ref.Registry, err)
		}
	}
	return fmt.Errorf("pulling %s: %w", ref, err)
}

func hasCode(te *transport.Error, codes ...transport.ErrorCode) bool {
	for _, d := range te.Errors {
		for _, c := range codes {
			if d.Code == c {
				return true
			}
		}
	}
	return false
}

// resolveLayout reads an OCI image layout directory itself (through
// acc.open, with the job user's rights), picking the image named tag (its
// org.opencontainers.image.ref.name), or the only one for this platform.
func resolveLayout(dir, tag string, acc Access) (*source, error) {
	read := func(p string) ([]byte, error) { return acc.readFileMax(filepath.Join(dir, p), 16<<20) }
	if _, err := read("oci-layout"); err != nil {
		return nil, fmt.Errorf("%w: %s is a directory but not an OCI image layout (it has no readable oci-layout file: %v); give an OCI layout directory (skopeo copy ... oci:DIR, umoci init), a docker/podman save tar or a squashfs file", ErrUnsupported, dir, err)
	}
	blob := func(h v1.Hash) string { return filepath.Join("blobs", h.Algorithm, h.Hex) }
	readBlob := func(d v1.Descriptor) ([]byte, error) {
		b, err := read(blob(d.Digest))
		if err != nil {
			return nil, err
		}
		if got := sha256Hex(b); d.Digest.Algorithm != "sha256" || got != d.Digest.Hex {
			return nil, &DigestError{Layer: d.Digest.String(), Got: "sha256:" + got}
		}
		return b, nil
	}
	raw, err := read("index.json")
	if err != nil {
		return nil, fmt.Errorf("%w: OCI layout %s: %v", ErrUnsupported, dir, err)
	}
	var pick *v1.Descriptor
	var names []string
	var walk func(raw []byte, depth int) error
	walk = func(raw []byte, depth int) error {
		idx, err := v1.ParseIndexManifest(bytes.NewReader(raw))
		if err != nil {
			return fmt.Errorf("%w: OCI layout %s: index: %v", ErrUnsupported, dir, err)
		}
		for _, d := range idx.Manifests {
			name := d.Annotations["org.opencontainers.image.ref.name"]
			if d.MediaType.IsIndex() && depth < 4 {
				sub, err := readBlob(d)
				if err != nil {
					return err
				}
				if err := walk(sub, depth+1); err != nil {
					return err
				}
				continue
			}
			if !d.MediaType.IsImage() {
				continue
			}
			if d.Platform != nil && (d.Platform.OS != "linux" || d.Platform.Architecture != runtime.GOARCH) {
				continue
			}
			if name != "" {
				names = append(names, name)
			}
			if tag != "" && name != tag {
				continue
			}
			if pick != nil && tag == "" {
				return fmt.Errorf("%w: OCI layout %s holds several images (%s): name one as %s:NAME", ErrUnsupported, dir, strings.Join(names, ", "), dir)
			}
			if pick == nil {
				dd := d
				pick = &dd
			}
		}
		return nil
	}
	if err := walk(raw, 0); err != nil {
		return nil, err
	}
	if pick == nil {
		if tag != "" {
			return nil, fmt.Errorf("%w: OCI layout %s has no image named %q (it has: %s)", ErrNotFound, dir, tag, strings.Join(names, ", "))
		}
		return nil, fmt.Errorf("%w: OCI layout %s holds no image for linux/%s", ErrNotFound, dir, runtime.GOARCH)
	}
	mraw, err := readBlob(*pick)
	if err != nil {
		return nil, fmt.Errorf("OCI layout %s: manifest: %w", dir, err)
	}
	m, err := v1.ParseManifest(bytes.NewReader(mraw))
	if err != nil {
		return nil, fmt.Errorf("%w: OCI layout %s: manifest %s: %v", ErrUnsupported, dir, pick.Digest, err)
	}
	craw, err := readBlob(m.Config)
	if err != nil {
		return nil, fmt.Errorf("OCI layout %s: config: %w", dir, err)
	}
	cf, err := v1.ParseConfigFile(bytes.NewReader(craw))
	if err != nil {
		return nil, fmt.Errorf("%w: OCI layout %s: config %s: %v", ErrUnsupported, dir, m.Config.Digest, err)
	}
	src := &source{digest: pick.Digest.String(), config: configOf(cf)}
	for _, l := range m.Layers {
		if err := layerMediaOK(l.MediaType); err != nil {
			return nil, fmt.Errorf("OCI layout %s: layer %s: %w", dir, l.Digest, err)
		}
		p := filepath.Join(dir, blob(l.Digest))
		src.layers = append(src.layers, layerSrc{digest: l.Digest.String(), size: l.Size, local: true, open: func() (io.ReadCloser, error) {
			f, err := acc.open(p)
			if errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("%w: OCI layout %s lacks the blob of layer %s", ErrNotFound, dir, l.Digest)
			}
			return f, err
		}})
	}
	return src, nil
}

// resolveTarball reads a docker/podman save tar. Its layers are taken
// uncompressed and known by their diff IDs, which the config (whose digest
// is the image's identity) names: ggcr would otherwise compress every layer
// just to compute a digest.
func resolveTarball(p string, acc Access) (*source, error) {
	img, err := tarball.Image(func() (io.ReadCloser, error) { return acc.open(p) }, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %s is neither a squashfs file nor a readable docker/podman save tar: %v", ErrUnsupported, p, err)
	}
	cfgName, err := img.ConfigName()
	if err != nil {
		return nil, fmt.Errorf("%w: %s: config: %v", ErrUnsupported, p, err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("%w: %s: config: %v", ErrUnsupported, p, err)
	}
	src := &source{digest: cfgName.String(), config: configOf(cf)}
	for _, d := range cf.RootFS.DiffIDs {
		src.layers = append(src.layers, layerSrc{digest: d.String(), size: -1, local: true, open: func() (io.ReadCloser, error) {
			l, err := img.LayerByDiffID(d)
			if err != nil {
				return nil, fmt.Errorf("%s: layer %s: %w", p, d, err)
			}
			return l.Uncompressed()
		}})
	}
	return src, nil
}

// resolveSquashfs hashes the file: its digest is the image's identity.
func resolveSquashfs(f *os.File) (*source, error) {
	h := sha256.New()
	if _, err := io.CopyBuffer(h, io.NewSectionReader(f, 0, 1<<62), make([]byte, bufSize)); err != nil {
		f.Close()
		return nil, fmt.Errorf("reading squashfs %s: %w", f.Name(), err)
	}
	return &source{digest: "sha256:" + hex.EncodeToString(h.Sum(nil)), squashfs: f}, nil
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func (a Access) readFileMax(p string, max int64) ([]byte, error) {
	f, err := a.open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err == nil && int64(len(b)) > max {
		err = fmt.Errorf("%s is larger than %d bytes", p, max)
	}
	return b, err
}

// envFile reads KEY=VALUE lines (enroot keeps a squashfs image's
// environment in /etc/environment).
func envFile(b []byte) []string {
	var env []string
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") || !strings.Contains(line, "=") {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		k, v, _ := strings.Cut(line, "=")
		if len(v) >= 2 && (v[0] == '"' && v[len(v)-1] == '"' || v[0] == '\'' && v[len(v)-1] == '\'') {
			v = v[1 : len(v)-1]
		}
		env = append(env, k+"="+v)
	}
	return env
}
