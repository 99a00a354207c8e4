//go:build !client

package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/gefion-hpc/gefion/internal/image"
)

func TestImageCommands(t *testing.T) {
	state := t.TempDir()
	env := func(out, errb *bytes.Buffer) *Env {
		return &Env{Stdin: strings.NewReader(""), Stdout: out, Stderr: errb, Getenv: func(k string) string {
			if k == envStateDir {
				return state
			}
			return ""
		}}
	}
	run := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := RunEnv(env(&out, &errb), append([]string{"gefion"}, args...))
		return code, out.String(), errb.String()
	}
	if code, _, errs := run("image", "ls"); code != 1 || !strings.Contains(errs, "no image cache") {
		t.Fatalf("image ls without a cache: exit %d, %q; want 1 and a message", code, errs)
	}

	// The agent's cache under its state directory, with two images, one in use.
	s, err := image.Open(filepath.Join(state, "images"), image.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var held *image.Image
	var digests []string
	for i := range 2 {
		img, err := random.Image(4096, 2)
		if err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(t.TempDir(), "layout")
		p, err := layout.Write(dir, empty.Index)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.AppendImage(img); err != nil {
			t.Fatal(err)
		}
		got, err := s.Get(context.Background(), dir, image.Access{})
		if err != nil {
			t.Fatal(err)
		}
		digests = append(digests, got.Digest)
		if i == 0 {
			held = got
		} else {
			got.Release()
		}
	}
	defer held.Release()

	code, out, errs := run("image", "ls", "--json")
	if code != 0 {
		t.Fatalf("image ls: exit %d: %s", code, errs)
	}
	var ls struct {
		Images []image.Entry `json:"images"`
		Bytes  int64         `json:"bytes"`
	}
	if err := json.Unmarshal([]byte(out), &ls); err != nil || len(ls.Images) != 2 || ls.Bytes <= 0 {
		t.Fatalf("image ls --json = %s (%v); want two images", out, err)
	}
	code, out, _ = run("image", "ls")
	if code != 0 || !strings.Contains(out, digests[0][7:19]) || !strings.Contains(out, "IN_USE") {
		t.Errorf("image ls = %d, %q", code, out)
	}

	code, _, errs = run("image", "rm", digests[0][7:19])
	if code != 1 || !strings.Contains(errs, "in use") {
		t.Errorf("image rm of an image in use: exit %d, %q; want 1 and why", code, errs)
	}
	code, out, errs = run("image", "prune", "--json")
	if code != 0 || !strings.Contains(out, "freed_bytes") {
		t.Fatalf("image prune: exit %d, %q %q", code, out, errs)
	}
	es, _ := s.List()
	if len(es) != 1 || es[0].Digest != digests[0] {
		t.Errorf("after prune: %+v; want only the image in use", es)
	}
	held.Release()
	if code, out, errs := run("image", "rm", digests[0]); code != 0 || !strings.Contains(out, "removed") {
		t.Errorf("image rm after release: exit %d, %q %q", code, out, errs)
	}
	if code, _, _ := run("image", "prune", "--keep", "lots"); code != 2 {
		t.Errorf("image prune --keep lots: exit %d; want 2", code)
	}
}

func TestParseByteSize(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "1234": 1234, "10K": 10 << 10, "500M": 500 << 20, "20G": 20 << 30, "1.5GiB": 3 << 29, "1T": 1 << 40} {
		if got, err := parseByteSize(in); err != nil || got != want {
			t.Errorf("parseByteSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1", "x", "1Q"} {
		if _, err := parseByteSize(in); err == nil {
			t.Errorf("parseByteSize(%q) = nil error", in)
		}
	}
}

func TestOpenAgentImages(t *testing.T) {
	state := t.TempDir()
	env := map[string]string{envStateDir: state, envImageMax: "1G"}
	s, err := openAgentImages(func(k string) string { return env[k] }, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if want := filepath.Join(state, "images"); s.Dir() != want {
		t.Errorf("cache in %s; want %s", s.Dir(), want)
	}
	env[envImageMax] = "lots"
	if _, err := openAgentImages(func(k string) string { return env[k] }, nil); err == nil || !strings.Contains(err.Error(), envImageMax) {
		t.Errorf("GEFION_IMAGE_CACHE_MAX=lots: %v; want an error naming the variable", err)
	}
}
