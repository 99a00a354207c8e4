package image

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

var ctx = context.Background()

// baseLayers are two layers whose second whites out, replaces and makes
// opaque what the first put there.
func baseLayers(t testing.TB) [][]byte {
	l1 := tarOf(t,
		dir("bin/", 0o755),
		file("bin/tool", "#!/bin/sh\necho lower\n", 0o4755), // set-uid in the image: must be dropped
		file("etc/secret", "lower", 0o600),
		file("etc/keep", "keep", 0o644),
		dir("opq/", 0o755),
		file("opq/old", "hidden by the opaque marker", 0o644),
		dir("opq/sub/", 0o755),
		file("opq/sub/deep", "also hidden", 0o644),
		file("gone", "whited out", 0o644),
		dir("gonedir/", 0o755),
		file("gonedir/x", "whited out with its directory", 0o644),
		symlink("lib", "usr/lib"),
		file("usr/lib/libc.so", "libc", 0o755),
		dir("tmp/", 0o1777),
		file("replaced", "was a file", 0o644),
	)
	l2 := tarOf(t,
		dir("opq/", 0o755),
		whiteout("opq/.wh..wh..opq"),
		file("opq/new", "upper", 0o644),
		whiteout(".wh.gone"),
		whiteout(".wh.gonedir"),
		file("bin/tool", "#!/bin/sh\necho upper\n", 0o755),
		dir("replaced/", 0o700),
		file("replaced/inside", "now a directory", 0o644),
		tent{name: "hard", typ: tar.TypeLink, link: "etc/keep"},
		tent{name: "dev/null", typ: tar.TypeChar},
		tent{name: "fifo", typ: tar.TypeFifo},
		file("abs", "", 0o644),
		symlink("abslink", "/etc/keep"), // absolute, inside the rootfs: fine
	)
	return [][]byte{l1, l2}
}

// tree lists a root file system: path -> type, mode and content.
func tree(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "." {
			return nil
		}
		fi, _ := d.Info()
		switch {
		case d.IsDir():
			out[rel] = "dir " + fi.Mode().String()
		case fi.Mode()&fs.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			out[rel] = "-> " + l
		default:
			b, _ := os.ReadFile(p)
			out[rel] = fi.Mode().String() + " " + string(b)
		}
		return nil
	})
	return out
}

func TestGetLayoutAppliesWhiteoutsAndModes(t *testing.T) {
	lay := t.TempDir()
	want, _ := writeLayout(t, lay, "latest", []string{"PATH=/bin", "A=1"}, baseLayers(t)...)
	s := openStore(t, Options{})
	img, err := s.Get(ctx, lay, Access{})
	if err != nil {
		t.Fatalf("Get(%s) = %v", lay, err)
	}
	defer img.Release()
	if img.Digest != want {
		t.Errorf("Digest = %s; want the manifest's %s", img.Digest, want)
	}
	if d := cmp.Diff(ImageConfig{Env: []string{"PATH=/bin", "A=1"}, Cmd: []string{"/bin/sh"}, WorkingDir: "/work", User: "1000"}, img.Config); d != "" {
		t.Errorf("Config (-want +got):\n%s", d)
	}
	got := tree(t, img.Rootfs)
	wantTree := map[string]string{
		"bin":             "dir drwxr-xr-x",
		"bin/tool":        "-rwxr-xr-x #!/bin/sh\necho upper\n",
		"etc":             "dir drwxr-xr-x",
		"etc/secret":      "-rw-r--r-- lower", // readable by every job user
		"etc/keep":        "-rw-r--r-- keep",
		"hard":            "-rw-r--r-- keep",
		"opq":             "dir drwxr-xr-x",
		"opq/new":         "-rw-r--r-- upper",
		"lib":             "-> usr/lib",
		"usr":             "dir drwxr-xr-x",
		"usr/lib":         "dir drwxr-xr-x",
		"usr/lib/libc.so": "-rwxr-xr-x libc",
		"tmp":             "dir dtrwxr-xr-x", // sticky kept, world write dropped
		"replaced":        "dir drwxr-xr-x",
		"replaced/inside": "-rw-r--r-- now a directory",
		"abs":             "-rw-r--r-- ",
		"abslink":         "-> /etc/keep",
	}
	if d := cmp.Diff(wantTree, got); d != "" {
		t.Errorf("root file system (-want +got):\n%s", d)
	}
	// Hard links stay links.
	a, _ := os.Stat(filepath.Join(img.Rootfs, "hard"))
	b, _ := os.Stat(filepath.Join(img.Rootfs, "etc/keep"))
	if !os.SameFile(a, b) {
		t.Errorf("hard and etc/keep are not one file")
	}
	// Owned by the store's owner, never by the image's uid 1234.
	st := statT(t, filepath.Join(img.Rootfs, "etc/keep"))
	if int(st.Uid) != os.Geteuid() {
		t.Errorf("etc/keep owned by uid %d; want the store's owner %d", st.Uid, os.Geteuid())
	}
	tmpEmpty(t, s)
}

func TestLayerCannotWriteOutsideRootfs(t *testing.T) {
	outside := t.TempDir()
	for _, tc := range []struct {
		name  string
		layer []byte
	}{
		{"dotdot", tarOf(t, file("../../../../"+outside[1:]+"/evil", "x", 0o644))},
		{"symlink dir escape", tarOf(t, symlink("esc", outside), file("esc/evil", "x", 0o644))},
		{"relative symlink escape", tarOf(t, symlink("esc", "../../../../../../../../"+outside[1:]), file("esc/evil", "x", 0o644))},
		{"hard link out", tarOf(t, tent{name: "h", typ: tar.TypeLink, link: "../../../etc/passwd"})},
		{"whiteout of a symlinked dir's child", tarOf(t, symlink("esc", outside), whiteout("esc/.wh.victim"))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			os.WriteFile(filepath.Join(outside, "victim"), []byte("v"), 0o644)
			lay := t.TempDir()
			writeLayout(t, lay, "latest", nil, tc.layer)
			s := openStore(t, Options{})
			img, err := s.Get(ctx, lay, Access{})
			if err == nil {
				img.Release()
			}
			if _, serr := os.Stat(filepath.Join(outside, "evil")); serr == nil {
				t.Fatalf("the layer wrote %s/evil outside the root file system", outside)
			}
			if _, serr := os.Stat(filepath.Join(outside, "victim")); serr != nil {
				t.Fatalf("the layer removed %s/victim outside the root file system", outside)
			}
			if err == nil {
				// Removing through a symlink may be a no-op inside; the
				// only requirement is that nothing outside changed.
				if tc.name != "whiteout of a symlinked dir's child" {
					t.Fatalf("Get = nil error; want an unsafe layer refused")
				}
				return
			}
			if !errors.Is(err, ErrUnsafeLayer) {
				t.Errorf("Get = %v; want ErrUnsafeLayer", err)
			}
			if es, _ := s.List(); len(es) != 0 {
				t.Errorf("List after a refused layer = %v; want empty", es)
			}
			tmpEmpty(t, s)
		})
	}
}

func TestTamperedLayerIsRefused(t *testing.T) {
	lay := t.TempDir()
	_, layers := writeLayout(t, lay, "latest", nil, baseLayers(t)...)
	p := filepath.Join(lay, "blobs", "sha256", hexOf(layers[1]))
	b, _ := os.ReadFile(p)
	b[len(b)/2] ^= 0xff
	os.WriteFile(p, b, 0o644)
	s := openStore(t, Options{})
	_, err := s.Get(ctx, lay, Access{})
	var de *DigestError
	if !errors.As(err, &de) || de.Layer != layers[1] {
		t.Fatalf("Get of a tampered layout = %v; want a DigestError naming layer %s", err, layers[1])
	}
	if !strings.Contains(err.Error(), layers[1]) {
		t.Errorf("error %q does not name the layer", err)
	}
	if es, _ := s.List(); len(es) != 0 {
		t.Errorf("List = %v; want nothing cached", es)
	}
	if ents, _ := os.ReadDir(filepath.Join(s.dir, "blobs", "sha256")); len(ents) != 0 {
		t.Errorf("blobs left after a failed pull: %d", len(ents))
	}
	if ents, _ := os.ReadDir(filepath.Join(s.dir, "images")); len(ents) != 0 {
		t.Errorf("images left after a failed pull: %d", len(ents))
	}
	tmpEmpty(t, s)
}

func TestMissingLocalImage(t *testing.T) {
	s := openStore(t, Options{})
	for _, p := range []string{"/nonexistent/image.sqsh", "/nonexistent/layout"} {
		_, err := s.Get(ctx, p, Access{})
		if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), p) {
			t.Errorf("Get(%s) = %v; want ErrNotFound naming the path", p, err)
		}
	}
	notLayout := t.TempDir()
	if _, err := s.Get(ctx, notLayout, Access{}); !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "oci-layout") {
		t.Errorf("Get(a plain directory) = %v; want ErrUnsupported mentioning oci-layout", err)
	}
	garbage := filepath.Join(t.TempDir(), "junk.tar")
	os.WriteFile(garbage, []byte("not a tar"), 0o644)
	if _, err := s.Get(ctx, garbage, Access{}); !errors.Is(err, ErrUnsupported) {
		t.Errorf("Get(junk) = %v; want ErrUnsupported", err)
	}
}

func TestAccessOpenIsUsedForLocalImages(t *testing.T) {
	lay := t.TempDir()
	writeLayout(t, lay, "latest", nil, baseLayers(t)...)
	s := openStore(t, Options{})
	deny := Access{Open: func(p string) (*os.File, error) {
		return nil, &fs.PathError{Op: "open", Path: p, Err: fs.ErrPermission}
	}}
	if _, err := s.Get(ctx, lay, deny); !errors.Is(err, fs.ErrPermission) {
		t.Errorf("Get with a user who may not read the layout = %v; want a permission error", err)
	}
}

func TestConcurrentGetsUnpackOnce(t *testing.T) {
	lay := t.TempDir()
	writeLayout(t, lay, "latest", nil, baseLayers(t)...)
	s := openStore(t, Options{})
	const n = 16
	var wg sync.WaitGroup
	imgs := make([]*Image, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			imgs[i], errs[i] = s.Get(ctx, lay, Access{})
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("Get %d: %v", i, errs[i])
		}
		if imgs[i].Rootfs != imgs[0].Rootfs {
			t.Errorf("Get %d rootfs %s; want %s", i, imgs[i].Rootfs, imgs[0].Rootfs)
		}
	}
	if got := s.unpacks.Load(); got != 1 {
		t.Errorf("%d concurrent Gets unpacked %d times; want 1", n, got)
	}
	es, _ := s.List()
	if len(es) != 1 || es[0].InUse != n {
		t.Errorf("List = %+v; want one image in use %d times", es, n)
	}
	for _, img := range imgs {
		img.Release()
		img.Release() // twice is harmless
	}
	if es, _ := s.List(); es[0].InUse != 0 {
		t.Errorf("InUse after release = %d; want 0", es[0].InUse)
	}
}

// sized makes a layout image of about n bytes of incompressible content.
func sized(t *testing.T, n int, seed byte) string {
	lay := t.TempDir()
	body := make([]byte, n)
	x := uint32(seed) + 1
	for i := range body {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		body[i] = byte(x)
	}
	writeLayout(t, lay, "latest", nil, tarOf(t, file("data", string(body), 0o644)))
	return lay
}

func TestLRUEvictionAndFullCache(t *testing.T) {
	const mb = 1 << 20
	a, b, c := sized(t, mb, 1), sized(t, mb, 2), sized(t, mb, 3)
	// Each image takes about 1 MiB (local layers are read in place, not
	// copied): room for two.
	s := openStore(t, Options{MaxBytes: 5 * mb / 2})
	get := func(p string) *Image {
		t.Helper()
		img, err := s.Get(ctx, p, Access{})
		if err != nil {
			t.Fatalf("Get(%s): %v", p, err)
		}
		return img
	}
	get(a).Release()
	get(b).Release()
	get(a).Release() // a is now more recent than b
	get(c).Release() // evicts b
	refs := func() []string {
		es, _ := s.List()
		var out []string
		for _, e := range es {
			out = append(out, e.Refs...)
		}
		slices.Sort(out)
		return out
	}
	want := []string{a, c}
	slices.Sort(want)
	if d := cmp.Diff(want, refs()); d != "" {
		t.Errorf("cached after LRU eviction (-want +got):\n%s", d)
	}

	// With a and c in use, b cannot get room.
	ia, ic := get(a), get(c)
	before := tree(t, s.dir)
	_, err := s.Get(ctx, b, Access{})
	if !errors.Is(err, ErrCacheFull) {
		t.Fatalf("Get with every image in use = %v; want ErrCacheFull", err)
	}
	if !strings.Contains(err.Error(), "in use") {
		t.Errorf("error %q does not say why there is no room", err)
	}
	after := tree(t, s.dir)
	delete(before, "index.json")
	delete(after, "index.json")
	if d := cmp.Diff(before, after); d != "" {
		t.Errorf("a full cache changed the store (-before +after):\n%s", d)
	}
	ia.Release()
	ib, err := s.Get(ctx, b, Access{})
	if err != nil {
		t.Fatalf("Get after releasing a = %v; want a evicted for b", err)
	}
	ib.Release()
	ic.Release()
	want = []string{b, c}
	slices.Sort(want)
	if d := cmp.Diff(want, refs()); d != "" {
		t.Errorf("cached (-want +got):\n%s", d)
	}
}

func TestFullCacheDuringUnpack(t *testing.T) {
	// The image's compressed layer fits, its unpacked tree does not: the
	// unpack stops and leaves nothing.
	lay := t.TempDir()
	writeLayout(t, lay, "latest", nil, tarOf(t, file("zeros", strings.Repeat("\x00", 200<<20), 0o644)))
	s := openStore(t, Options{MaxBytes: 100 << 20})
	if _, err := s.Get(ctx, lay, Access{}); !errors.Is(err, ErrCacheFull) {
		t.Fatalf("Get of an image larger than the cache = %v; want ErrCacheFull", err)
	}
	tmpEmpty(t, s)
}

func TestRemoveRefusesImageInUse(t *testing.T) {
	lay := t.TempDir()
	writeLayout(t, lay, "latest", nil, baseLayers(t)...)
	s := openStore(t, Options{})
	img, err := s.Get(ctx, lay, Access{})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Remove(img.Digest)
	if !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), "running container") {
		t.Fatalf("Remove of an image in use = %v; want ErrInUse saying why", err)
	}
	// Another store on the same directory (gefion image rm) sees the lock.
	other, err := Open(s.dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if es, _ := other.List(); len(es) != 1 || es[0].InUse != 1 {
		t.Errorf("List from another store = %+v; want the image in use", es)
	}
	if err := other.Remove(img.Digest[7:19]); !errors.Is(err, ErrInUse) {
		t.Errorf("Remove from another store = %v; want ErrInUse", err)
	}
	if _, err := os.Stat(filepath.Join(img.Rootfs, "bin/tool")); err != nil {
		t.Errorf("rootfs damaged by a refused Remove: %v", err)
	}
	img.Release()
	if err := other.Remove(lay); err != nil {
		t.Fatalf("Remove by reference after release = %v", err)
	}
	if _, err := os.Stat(img.Rootfs); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("rootfs still there after Remove: %v", err)
	}
	if ents, _ := os.ReadDir(filepath.Join(s.dir, "blobs", "sha256")); len(ents) != 0 {
		t.Errorf("%d blobs left after removing the only image", len(ents))
	}
	if err := s.Remove("sha256:0123456789"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Remove of an unknown image = %v; want ErrNotFound", err)
	}
}

func TestPrune(t *testing.T) {
	const mb = 1 << 20
	a, b := sized(t, mb, 1), sized(t, mb, 2)
	s := openStore(t, Options{})
	ia, err := s.Get(ctx, a, Access{})
	if err != nil {
		t.Fatal(err)
	}
	ib, _ := s.Get(ctx, b, Access{})
	ib.Release()
	freed, err := s.Prune(0)
	if err != nil || freed < mb {
		t.Errorf("Prune(0) = %d, %v; want b's 1 MiB freed", freed, err)
	}
	es, _ := s.List()
	if len(es) != 1 || es[0].Refs[0] != a {
		t.Errorf("after Prune(0): %+v; want only a, which is in use", es)
	}
	ia.Release()
	// A root file system the index lost goes too.
	lost := filepath.Join(s.dir, "images", strings.Repeat("ab", 32), "rootfs")
	os.MkdirAll(lost, 0o755)
	os.WriteFile(filepath.Join(lost, "f"), []byte("x"), 0o644)
	if _, err := s.Prune(1 << 40); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Dir(lost)); err == nil {
		t.Errorf("Prune kept a root file system that no image owns")
	}
	if _, err := s.Prune(-1); err == nil {
		t.Errorf("Prune(-1) = nil error")
	}
}

func TestGetTarball(t *testing.T) {
	lay := t.TempDir()
	writeLayout(t, lay, "latest", []string{"X=1"}, baseLayers(t)...)
	p, err := layout.FromPath(lay)
	if err != nil {
		t.Fatal(err)
	}
	idx, _ := p.ImageIndex()
	m, _ := idx.IndexManifest()
	src, err := idx.Image(m.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	tag, _ := name.NewTag("example.org/test:1")
	tarPath := filepath.Join(t.TempDir(), "img.tar")
	if err := tarball.WriteToFile(tarPath, tag, src); err != nil {
		t.Fatal(err)
	}
	s := openStore(t, Options{})
	img, err := s.Get(ctx, tarPath, Access{})
	if err != nil {
		t.Fatalf("Get(%s) = %v", tarPath, err)
	}
	defer img.Release()
	cfg, _ := src.ConfigName()
	if img.Digest != cfg.String() {
		t.Errorf("Digest = %s; want the image ID %s", img.Digest, cfg)
	}
	if got := readFile(t, filepath.Join(img.Rootfs, "opq/new")); got != "upper" {
		t.Errorf("opq/new = %q", got)
	}
	if _, err := os.Stat(filepath.Join(img.Rootfs, "opq/old")); err == nil {
		t.Errorf("opq/old survived the opaque whiteout")
	}
	if d := cmp.Diff([]string{"X=1"}, img.Config.Env); d != "" {
		t.Errorf("Env (-want +got):\n%s", d)
	}
}

func TestGetSquashfs(t *testing.T) {
	mk, err := exec.LookPath("mksquashfs")
	if err != nil {
		t.Skip("needs mksquashfs and unsquashfs: apt-get install squashfs-tools")
	}
	if _, err := exec.LookPath("unsquashfs"); err != nil {
		t.Skip("needs unsquashfs: apt-get install squashfs-tools")
	}
	src := t.TempDir()
	os.MkdirAll(filepath.Join(src, "etc"), 0o755)
	os.WriteFile(filepath.Join(src, "etc/environment"), []byte("PATH=/usr/bin\nLANG=\"C.UTF-8\"\n"), 0o644)
	os.WriteFile(filepath.Join(src, "hello"), []byte("hi"), 0o4700)
	sq := filepath.Join(t.TempDir(), "img.sqsh")
	if out, err := exec.Command(mk, src, sq, "-quiet", "-no-progress").CombinedOutput(); err != nil {
		t.Fatalf("mksquashfs: %v: %s", err, out)
	}
	s := openStore(t, Options{})
	img, err := s.Get(ctx, sq, Access{})
	if err != nil {
		t.Fatalf("Get(%s) = %v", sq, err)
	}
	defer img.Release()
	fi, err := os.Stat(filepath.Join(img.Rootfs, "hello"))
	if err != nil || fi.Mode() != 0o755 {
		t.Errorf("hello: %v, %v; want mode 0755 (readable and executable by all, no set-uid)", fi, err)
	}
	if d := cmp.Diff([]string{"PATH=/usr/bin", "LANG=C.UTF-8"}, img.Config.Env); d != "" {
		t.Errorf("Env from /etc/environment (-want +got):\n%s", d)
	}
	// A second Get uses the cache without unpacking again.
	img2, err := s.Get(ctx, sq, Access{})
	if err != nil {
		t.Fatal(err)
	}
	img2.Release()
	if n := s.unpacks.Load(); n != 1 {
		t.Errorf("unpacked %d times; want 1", n)
	}
}

func TestSquashfsWithoutUnsquashfs(t *testing.T) {
	sq := filepath.Join(t.TempDir(), "img.sqsh")
	os.WriteFile(sq, []byte("hsqs and then nothing useful"), 0o644)
	t.Setenv("PATH", t.TempDir())
	s := openStore(t, Options{})
	_, err := s.Get(ctx, sq, Access{})
	if !errors.Is(err, ErrNoUnsquashfs) || !strings.Contains(err.Error(), "squashfs-tools") {
		t.Errorf("Get(squashfs) without unsquashfs = %v; want ErrNoUnsquashfs naming squashfs-tools", err)
	}
	tmpEmpty(t, s)
}

// TestRootfsUsableByOtherUsers runs a program as another user (nobody)
// against a root file system unpacked by root: jobs of every user share it.
func TestRootfsUsableByOtherUsers(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root, to run a check as another user")
	}
	base, err := os.MkdirTemp("", "gefion-image-users-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(base)
	os.Chmod(base, 0o755)
	lay := filepath.Join(base, "layout")
	writeLayout(t, lay, "latest", nil, tarOf(t,
		dir("root/", 0o700),
		file("root/secret", "in the image only", 0o600),
		file("bin/prog", "#!/bin/sh\n", 0o700),
	))
	s, err := Open(filepath.Join(base, "cache"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	img, err := s.Get(ctx, lay, Access{})
	if err != nil {
		t.Fatal(err)
	}
	defer img.Release()
	cmd := exec.Command("/bin/sh", "-c", `cat "$1"/root/secret && ls "$1"/root >/dev/null && test -x "$1"/bin/prog && ! touch "$1"/root/new 2>/dev/null`, "sh", img.Rootfs)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil || string(out) != "in the image only" {
		t.Errorf("as nobody: %v, %q; want the files readable, the program executable, nothing writable", err, out)
	}
}

func TestTwoStoresOnOneDirectory(t *testing.T) {
	lay := t.TempDir()
	writeLayout(t, lay, "latest", nil, baseLayers(t)...)
	dir := filepath.Join(t.TempDir(), "cache")
	// Work left by a process that died mid-pull goes at the next Open;
	// a live process's stays.
	os.MkdirAll(filepath.Join(dir, "tmp", "99999999-dead-1"), 0o755)
	os.MkdirAll(filepath.Join(dir, "tmp", fmt.Sprintf("%d-live-1", os.Getppid())), 0o755)
	a, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if _, err := os.Stat(filepath.Join(dir, "tmp", "99999999-dead-1")); err == nil {
		t.Errorf("a dead process's work directory survived Open")
	}
	if _, err := os.Stat(filepath.Join(dir, "tmp", fmt.Sprintf("%d-live-1", os.Getppid()))); err != nil {
		t.Errorf("a live process's work directory was removed: %v", err)
	}
	os.RemoveAll(filepath.Join(dir, "tmp", fmt.Sprintf("%d-live-1", os.Getppid())))
	b, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var wg sync.WaitGroup
	imgs := make([]*Image, 2)
	errs := make([]error, 2)
	for i, s := range []*Store{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			imgs[i], errs[i] = s.Get(ctx, lay, Access{})
		}()
	}
	wg.Wait()
	for i := range 2 {
		if errs[i] != nil {
			t.Fatalf("Get from store %d: %v", i, errs[i])
		}
		defer imgs[i].Release()
	}
	if imgs[0].Rootfs != imgs[1].Rootfs {
		t.Errorf("two stores on one directory gave %s and %s", imgs[0].Rootfs, imgs[1].Rootfs)
	}
	if got := readFile(t, filepath.Join(imgs[0].Rootfs, "opq/new")); got != "upper" {
		t.Errorf("opq/new = %q", got)
	}
	if es, _ := a.List(); len(es) != 1 || es[0].InUse != 1 {
		t.Errorf("List = %+v; want one image, in use", es)
	}
	tmpEmpty(t, a)
}
