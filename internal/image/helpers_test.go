package image

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
)

// tent is one entry of a hand-made layer.
type tent struct {
	name string
	typ  byte // tar.TypeReg when 0
	body string
	mode int64
	link string
}

func dir(name string, mode int64) tent        { return tent{name: name, typ: tar.TypeDir, mode: mode} }
func file(name, body string, mode int64) tent { return tent{name: name, body: body, mode: mode} }
func symlink(name, target string) tent        { return tent{name: name, typ: tar.TypeSymlink, link: target} }
func whiteout(name string) tent               { return tent{name: name} }

// tarOf builds an uncompressed layer.
func tarOf(t testing.TB, ents ...tent) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range ents {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: e.mode, Linkname: e.link, ModTime: time.Unix(1700000000, 0), Uid: 1234, Gid: 1234}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
			h.Size = int64(len(e.body))
		}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			tw.Write([]byte(e.body))
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gz(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

func digestOf(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// layoutLayer is a layer already written as a blob.
type layoutLayer struct {
	digest, diffID string
	size           int64
}

func writeBlob(t testing.TB, dir string, b []byte) descriptor {
	t.Helper()
	d := digestOf(b)
	p := filepath.Join(dir, "blobs", "sha256", hexOf(d))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return descriptor{Digest: d, Size: int64(len(b))}
}

// writeLayout writes an OCI image layout in dir holding one image, named
// tag, with the given (uncompressed) layers, gzipped, and config env.
// It returns the manifest's digest and the layers' blob digests.
func writeLayout(t testing.TB, dir, tag string, env []string, layers ...[]byte) (string, []string) {
	t.Helper()
	var ll []layoutLayer
	for _, l := range layers {
		z := gz(t, l)
		d := writeBlob(t, dir, z)
		ll = append(ll, layoutLayer{digest: d.Digest, diffID: digestOf(l), size: d.Size})
	}
	return writeLayoutOf(t, dir, tag, env, ll), func() []string {
		var ds []string
		for _, l := range ll {
			ds = append(ds, l.digest)
		}
		return ds
	}()
}

func writeLayoutOf(t testing.TB, dir, tag string, env []string, ll []layoutLayer) string {
	t.Helper()
	var diffIDs []string
	var descs []descriptor
	for _, l := range ll {
		diffIDs = append(diffIDs, l.diffID)
		descs = append(descs, descriptor{MediaType: "application/vnd.oci.image.layer.v1.tar+gzip", Digest: l.digest, Size: l.size})
	}
	cfg, _ := json.Marshal(map[string]any{
		"architecture": runtime.GOARCH, "os": "linux",
		"config": map[string]any{"Env": env, "Cmd": []string{"/bin/sh"}, "WorkingDir": "/work", "User": "1000"},
		"rootfs": map[string]any{"type": "layers", "diff_ids": diffIDs},
	})
	cd := writeBlob(t, dir, cfg)
	cd.MediaType = "application/vnd.oci.image.config.v1+json"
	man, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "config": cd, "layers": descs})
	md := writeBlob(t, dir, man)
	md.MediaType = "application/vnd.oci.image.manifest.v1+json"
	md.Annotations = map[string]string{"org.opencontainers.image.ref.name": tag}
	idx, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": []descriptor{md}})
	if err := os.WriteFile(filepath.Join(dir, "index.json"), idx, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	return md.Digest
}

func openStore(t testing.TB, opt Options) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "cache"), opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func readFile(t testing.TB, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("reading %s: %v", p, err)
	}
	return string(b)
}

// tmpEmpty fails unless the store's work directory is empty.
func tmpEmpty(t testing.TB, s *Store) {
	t.Helper()
	ents, _ := os.ReadDir(filepath.Join(s.dir, "tmp"))
	if len(ents) != 0 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("work directory not empty: %v", names)
	}
}

var _ = io.EOF

func contextWithTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}
