package image

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// testRegistry serves ggcr's in-memory registry on loopback, behind basic
// authentication when user is set, and counts requests.
type testRegistry struct {
	host     string
	requests atomic.Int64
	// tamper, when set, is a blob digest whose bytes are altered on the
	// way out.
	tamper atomic.Value
}

func newRegistry(t *testing.T, user, pass string) *testRegistry {
	tr := &testRegistry{}
	tr.tamper.Store("")
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tr.requests.Add(1)
		if user != "" {
			if u, p, ok := r.BasicAuth(); !ok || u != user || p != pass {
				w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
				http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
				return
			}
		}
		if d := tr.tamper.Load().(string); d != "" && r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/blobs/"+d) {
			rec := httptest.NewRecorder()
			reg.ServeHTTP(rec, r)
			b := rec.Body.Bytes()
			b[len(b)/2] ^= 0xff
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.Code)
			w.Write(b)
			return
		}
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	tr.host = strings.TrimPrefix(srv.URL, "http://")
	return tr
}

// push puts a layout-built image into the registry as repo:tag and returns
// it.
func (tr *testRegistry) push(t *testing.T, repo, tag string, auth authn.Authenticator, layers ...[]byte) v1.Image {
	lay := t.TempDir()
	writeLayout(t, lay, "latest", []string{"FROM=registry"}, layers...)
	p, err := layout.FromPath(lay)
	if err != nil {
		t.Fatal(err)
	}
	idx, _ := p.ImageIndex()
	m, _ := idx.IndexManifest()
	img, err := idx.Image(m.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.NewTag(fmt.Sprintf("%s/%s:%s", tr.host, repo, tag))
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, remote.WithAuth(auth)); err != nil {
		t.Fatalf("pushing %s: %v", ref, err)
	}
	return img
}

func TestRegistryPull(t *testing.T) {
	tr := newRegistry(t, "", "")
	pushed := tr.push(t, "nvidia/pytorch", "24.05-py3", authn.Anonymous, baseLayers(t)...)
	want, _ := pushed.Digest()
	s := openStore(t, Options{Insecure: true})
	ref := tr.host + "#nvidia/pytorch:24.05-py3" // Pyxis's form
	img, err := s.Get(ctx, ref, Access{})
	if err != nil {
		t.Fatalf("Get(%s) = %v", ref, err)
	}
	img.Release()
	if img.Digest != want.String() {
		t.Errorf("Digest = %s; want %s", img.Digest, want)
	}
	if got := readFile(t, filepath.Join(img.Rootfs, "bin/tool")); !strings.Contains(got, "upper") {
		t.Errorf("bin/tool = %q; want the upper layer's", got)
	}
	if img.Config.Env[0] != "FROM=registry" {
		t.Errorf("Env = %v", img.Config.Env)
	}

	// A cached tag starts without asking the registry again, and so does
	// the same image by digest or in the usual registry/image:tag form.
	n := tr.requests.Load()
	for _, r := range []string{ref, tr.host + "/nvidia/pytorch@" + want.String(), tr.host + "/nvidia/pytorch:24.05-py3"} {
		img, err := s.Get(ctx, r, Access{})
		if err != nil {
			t.Fatalf("Get(%s) = %v", r, err)
		}
		img.Release()
	}
	if got := tr.requests.Load() - n; got != 0 {
		t.Errorf("Gets of a cached image made %d registry requests; want 0", got)
	}
	if u := s.unpacks.Load(); u != 1 {
		t.Errorf("unpacked %d times; want 1", u)
	}

	// Past RefreshAfter the tag is asked again (one manifest request), and
	// the image is not unpacked again.
	s2, err := Open(s.dir, Options{RefreshAfter: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	n = tr.requests.Load()
	img, err = s2.Get(ctx, ref, Access{})
	if err != nil {
		t.Fatal(err)
	}
	img.Release()
	if got := tr.requests.Load() - n; got == 0 {
		t.Errorf("with RefreshAfter<0 the registry was not asked")
	}
	if u := s2.unpacks.Load(); u != 0 {
		t.Errorf("a refreshed tag naming the cached digest unpacked again")
	}
}

func TestRegistryUnknownImage(t *testing.T) {
	tr := newRegistry(t, "", "")
	tr.push(t, "there", "1", authn.Anonymous, tarOf(t, file("x", "x", 0o644)))
	s := openStore(t, Options{})
	for _, ref := range []string{tr.host + "/not/there:1", tr.host + "/there:2"} {
		_, err := s.Get(ctx, ref, Access{})
		if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), ref) {
			t.Errorf("Get(%s) = %v; want ErrNotFound naming the image", ref, err)
		}
	}
	tmpEmpty(t, s)
}

func TestRegistryTamperedLayer(t *testing.T) {
	tr := newRegistry(t, "", "")
	img := tr.push(t, "x", "1", authn.Anonymous, baseLayers(t)...)
	ls, _ := img.Layers()
	bad, _ := ls[0].Digest()
	tr.tamper.Store(bad.String())
	s := openStore(t, Options{})
	_, err := s.Get(ctx, tr.host+"/x:1", Access{})
	var de *DigestError
	if !errors.As(err, &de) || de.Layer != bad.String() || !strings.Contains(err.Error(), bad.String()) {
		t.Fatalf("Get with a tampered layer = %v; want a DigestError naming layer %s", err, bad)
	}
	if es, _ := s.List(); len(es) != 0 {
		t.Errorf("List = %v; want nothing", es)
	}
	if ents, _ := os.ReadDir(filepath.Join(s.dir, "blobs", "sha256")); len(ents) != 0 {
		t.Errorf("%d blobs left after a failed pull", len(ents))
	}
	tmpEmpty(t, s)
}

func TestRegistryCredentials(t *testing.T) {
	const user, pass = "$oauthtoken", "s3cret:with-colon"
	tr := newRegistry(t, user, pass)
	tr.push(t, "private/img", "1", &authn.Basic{Username: user, Password: pass}, tarOf(t, file("x", "private", 0o644)))
	ref := tr.host + "#private/img:1"

	write := func(home, rel, body string) {
		p := filepath.Join(home, rel)
		os.MkdirAll(filepath.Dir(p), 0o700)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	auth := base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
	wrong := base64.StdEncoding.EncodeToString([]byte(user + ":nope"))
	for _, tc := range []struct {
		name  string
		files map[string]string
		ok    bool
	}{
		{"docker config", map[string]string{".docker/config.json": `{"auths":{"` + tr.host + `":{"auth":"` + auth + `"}}}`}, true},
		{"docker config with URL key", map[string]string{".docker/config.json": `{"auths":{"http://` + tr.host + `/v1/":{"username":"` + user + `","password":"` + pass + `"}}}`}, true},
		{"enroot credentials", map[string]string{".config/enroot/.credentials": "machine nvcr.io login x password y\nmachine " + tr.host + " login " + user + " password " + pass + "\n"}, true},
		{"enroot before docker", map[string]string{
			".config/enroot/.credentials": "machine " + tr.host + " login " + user + " password " + pass + "\n",
			".docker/config.json":         `{"auths":{"` + tr.host + `":{"auth":"` + wrong + `"}}}`}, true},
		{"wrong password", map[string]string{".docker/config.json": `{"auths":{"` + tr.host + `":{"auth":"` + wrong + `"}}}`}, false},
		{"no credentials", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			home := t.TempDir()
			for rel, body := range tc.files {
				write(home, rel, body)
			}
			s := openStore(t, Options{})
			img, err := s.Get(ctx, ref, Access{Home: home})
			if tc.ok {
				if err != nil {
					t.Fatalf("Get = %v", err)
				}
				img.Release()
				if got := readFile(t, filepath.Join(img.Rootfs, "x")); got != "private" {
					t.Errorf("x = %q", got)
				}
				return
			}
			if !errors.Is(err, ErrUnauthorized) || !strings.Contains(err.Error(), ".credentials") {
				t.Errorf("Get = %v; want ErrUnauthorized saying where credentials go", err)
			}
		})
	}
}

func TestRegistryUnreachableUsesCache(t *testing.T) {
	tr := newRegistry(t, "", "")
	tr.push(t, "x", "1", authn.Anonymous, tarOf(t, file("x", "x", 0o644)))
	s := openStore(t, Options{RefreshAfter: -1})
	ref := tr.host + "/x:1"
	img, err := s.Get(ctx, ref, Access{})
	if err != nil {
		t.Fatal(err)
	}
	img.Release()
	// A transport that fails stands for a registry out of reach.
	s2, _ := Open(s.dir, Options{RefreshAfter: -1, Transport: failing{}})
	defer s2.Close()
	ctx2, cancel := contextWithTimeout(5 * time.Second)
	defer cancel()
	img, err = s2.Get(ctx2, ref, Access{})
	if err != nil {
		t.Fatalf("Get of a cached tag with the registry unreachable = %v; want the cached image", err)
	}
	img.Release()
}

type failing struct{}

func (failing) RoundTrip(*http.Request) (*http.Response, error) {
	return nil, errors.New("network unreachable")
}

var _ = io.EOF
var _ = bytes.MinRead

func TestRegistryLayersAreSharedBetweenImages(t *testing.T) {
	tr := newRegistry(t, "", "")
	base := tarOf(t, file("base", strings.Repeat("b", 4096), 0o644))
	tr.push(t, "a", "1", authn.Anonymous, base, tarOf(t, file("a", "a", 0o644)))
	tr.push(t, "b", "1", authn.Anonymous, base, tarOf(t, file("b", "b", 0o644)))
	s := openStore(t, Options{})
	for _, r := range []string{tr.host + "/a:1", tr.host + "/b:1"} {
		img, err := s.Get(ctx, r, Access{})
		if err != nil {
			t.Fatal(err)
		}
		img.Release()
	}
	ents, _ := os.ReadDir(filepath.Join(s.dir, "blobs", "sha256"))
	if len(ents) != 3 {
		t.Errorf("%d layer blobs stored; want 3 (the base layer once)", len(ents))
	}
	// Removing one image keeps the layer the other needs.
	if err := s.Remove(tr.host + "/a:1"); err != nil {
		t.Fatal(err)
	}
	ents, _ = os.ReadDir(filepath.Join(s.dir, "blobs", "sha256"))
	if len(ents) != 2 {
		t.Errorf("%d layer blobs after removing one image; want 2", len(ents))
	}
}

func TestRegistryPrivateImageNeedsEachUsersRight(t *testing.T) {
	const user, pass = "alice", "pw"
	tr := newRegistry(t, user, pass)
	pushed := tr.push(t, "private/img", "1", &authn.Basic{Username: user, Password: pass}, tarOf(t, file("x", "private", 0o644)))
	d, _ := pushed.Digest()
	alice, bob := t.TempDir(), t.TempDir()
	os.MkdirAll(filepath.Join(alice, ".docker"), 0o700)
	os.WriteFile(filepath.Join(alice, ".docker", "config.json"), []byte(`{"auths":{"`+tr.host+`":{"username":"alice","password":"pw"}}}`), 0o600)
	s := openStore(t, Options{})
	ref := tr.host + "/private/img:1"
	img, err := s.Get(ctx, ref, Access{Home: alice})
	if err != nil {
		t.Fatal(err)
	}
	img.Release()
	// Bob has no credentials: neither the cached tag nor the digest gives
	// him alice's private image.
	for _, r := range []string{ref, tr.host + "/private/img@" + d.String()} {
		if _, err := s.Get(ctx, r, Access{Home: bob}); !errors.Is(err, ErrUnauthorized) {
			t.Errorf("Get(%s) by a user without credentials = %v; want ErrUnauthorized", r, err)
		}
	}
	// Once bob has his own, the cached image is his without a new unpack.
	os.MkdirAll(filepath.Join(bob, ".config", "enroot"), 0o700)
	os.WriteFile(filepath.Join(bob, ".config", "enroot", ".credentials"), []byte("machine "+tr.host+" login alice password pw\n"), 0o600)
	img, err = s.Get(ctx, ref, Access{Home: bob})
	if err != nil {
		t.Fatalf("Get with credentials = %v", err)
	}
	img.Release()
	if n := s.unpacks.Load(); n != 1 {
		t.Errorf("unpacked %d times; want 1", n)
	}
}

func TestRegistryPublicImageIsShared(t *testing.T) {
	tr := newRegistry(t, "", "")
	tr.push(t, "public/img", "1", authn.Anonymous, tarOf(t, file("x", "x", 0o644)))
	s := openStore(t, Options{})
	ref := tr.host + "/public/img:1"
	img, err := s.Get(ctx, ref, Access{Home: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	img.Release()
	n := tr.requests.Load()
	img, err = s.Get(ctx, ref, Access{Home: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	img.Release()
	if got := tr.requests.Load() - n; got != 0 {
		t.Errorf("another user's Get of a cached public image made %d requests; want 0", got)
	}
}

func TestRegistryPullIntoFullCache(t *testing.T) {
	tr := newRegistry(t, "", "")
	body := make([]byte, 1<<20)
	x := uint32(7)
	for i := range body {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		body[i] = byte(x)
	}
	tr.push(t, "big", "1", authn.Anonymous, tarOf(t, file("data", string(body), 0o644)))
	s := openStore(t, Options{MaxBytes: 512 << 10})
	_, err := s.Get(ctx, tr.host+"/big:1", Access{})
	if !errors.Is(err, ErrCacheFull) {
		t.Fatalf("Get of a 1 MiB image into a 512 KiB cache = %v; want ErrCacheFull", err)
	}
	if ents, _ := os.ReadDir(filepath.Join(s.dir, "blobs", "sha256")); len(ents) != 0 {
		t.Errorf("%d blobs written into a full cache", len(ents))
	}
	if ents, _ := os.ReadDir(filepath.Join(s.dir, "images")); len(ents) != 0 {
		t.Errorf("%d images left in a full cache", len(ents))
	}
	tmpEmpty(t, s)
}
