//go:build !client

package cli

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gefion-hpc/gefion/internal/image"
	"github.com/gefion-hpc/gefion/internal/textsafe"
)

// The node's image cache: operators list, remove and prune it with these
// commands, run on the node itself (they read the cache directory, not the
// controller).
func init() {
	register(&command{path: "image ls", summary: "list the container images cached on this node (operators)", run: runImageLs})
	register(&command{path: "image rm", summary: "remove cached container images from this node (operators)", run: runImageRm})
	register(&command{path: "image prune", summary: "remove unused cached container images, oldest use first (operators)", run: runImagePrune})
}

// Settings of the node's image cache, from the agent's environment:
//
//	GEFION_IMAGE_CACHE_DIR  where images are kept ($GEFION_AGENT_STATE_DIR/images)
//	GEFION_IMAGE_CACHE_MAX  its size bound, such as 200G (none)
const (
	envImageDir = "GEFION_IMAGE_CACHE_DIR"
	envImageMax = "GEFION_IMAGE_CACHE_MAX"
)

// defaultImageDir is where the agent keeps its image cache.
func defaultImageDir(e *Env) string { return imageDir(e.getenv) }

// imageDir is $GEFION_IMAGE_CACHE_DIR, else the images directory of the
// agent's state directory ($GEFION_AGENT_STATE_DIR, else
// $TMPDIR/gefion-agent, as agent.ProcessConfig). One cache serves every
// node that an agent process runs on this host.
func imageDir(getenv func(string) string) string {
	if d := getenv(envImageDir); d != "" {
		return d
	}
	state := getenv(envStateDir)
	if state == "" {
		state = filepath.Join(os.TempDir(), "gefion-agent")
	}
	return filepath.Join(state, "images")
}

// openAgentImages opens the agent's image cache as its environment says.
func openAgentImages(getenv func(string) string, log *slog.Logger) (*image.Store, error) {
	opt := image.Options{Log: log}
	if v := getenv(envImageMax); v != "" {
		n, err := parseByteSize(v)
		if err != nil {
			return nil, fmt.Errorf("%s=%q: %v", envImageMax, v, err)
		}
		opt.MaxBytes = n
	}
	return image.Open(imageDir(getenv), opt)
}

// openImageCache opens an existing cache: an operator's typo must not
// create an empty one and report it as empty.
func openImageCache(e *Env, dir string) (*image.Store, error) {
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("no image cache at %s: give the agent's with --cache-dir (default $%s, else $%s/images)", dir, envImageDir, envStateDir)
	}
	return image.Open(dir, image.Options{})
}

func runImageLs(e *Env, args []string) error {
	fs := newFlags(e, "image ls")
	dir := fs.String("cache-dir", defaultImageDir(e), "the node's image cache directory")
	asJSON := fs.Bool("json", false, "print one JSON document")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("image ls takes no arguments")
	}
	s, err := openImageCache(e, *dir)
	if err != nil {
		return err
	}
	defer s.Close()
	es, err := s.List()
	if err != nil {
		return err
	}
	if *asJSON {
		if es == nil {
			es = []image.Entry{}
		}
		var total int64
		for _, x := range es {
			total += x.Size
		}
		return writeJSON(e.Stdout, map[string]any{"cache_dir": s.Dir(), "images": es, "bytes": total})
	}
	tw := tabwriter.NewWriter(e.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "DIGEST\tSIZE\tLAST_USED\tIN_USE\tREFERENCES")
	for _, x := range es {
		refs := make([]string, len(x.Refs))
		for i, r := range x.Refs {
			refs[i] = textsafe.Field(r)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", shortDigest(x.Digest), humanBytes(x.Size),
			x.LastUsed.Local().Format(time.DateTime), x.InUse, strings.Join(refs, ","))
	}
	return tw.Flush()
}

func shortDigest(d string) string {
	h := strings.TrimPrefix(d, "sha256:")
	if len(h) > 12 {
		h = h[:12]
	}
	return h
}

func runImageRm(e *Env, args []string) error {
	fs := newFlags(e, "image rm")
	dir := fs.String("cache-dir", defaultImageDir(e), "the node's image cache directory")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usagef("image rm: name the images to remove, by digest (or its first 12 digits) or reference, as gefion image ls shows them")
	}
	s, err := openImageCache(e, *dir)
	if err != nil {
		return err
	}
	defer s.Close()
	var errs []error
	for _, p := range pos {
		if err := s.Remove(p); err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Fprintf(e.Stdout, "removed %s\n", textsafe.Field(p))
	}
	return errors.Join(errs...)
}

func runImagePrune(e *Env, args []string) error {
	fs := newFlags(e, "image prune")
	dir := fs.String("cache-dir", defaultImageDir(e), "the node's image cache directory")
	keep := fs.String("keep", "0", "keep up to this much (bytes, or with K, M, G, T), most recently used first; 0 removes every image not in use")
	asJSON := fs.Bool("json", false, "print one JSON document")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("image prune takes no arguments (give --keep SIZE)")
	}
	k, err := parseByteSize(*keep)
	if err != nil {
		return usagef("--keep=%s: %v", *keep, err)
	}
	s, err := openImageCache(e, *dir)
	if err != nil {
		return err
	}
	defer s.Close()
	freed, err := s.Prune(k)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(e.Stdout, map[string]any{"cache_dir": s.Dir(), "freed_bytes": freed})
	}
	fmt.Fprintf(e.Stdout, "freed %s\n", humanBytes(freed))
	return nil
}

// parseByteSize reads 1234, 10K, 500M, 20G, 1T (binary multiples).
func parseByteSize(s string) (int64, error) {
	t := strings.TrimSuffix(strings.ToUpper(strings.TrimSpace(s)), "B")
	t = strings.TrimSuffix(t, "I")
	mult := int64(1)
	if n := len(t); n > 0 {
		switch t[n-1] {
		case 'K':
			mult = 1 << 10
		case 'M':
			mult = 1 << 20
		case 'G':
			mult = 1 << 30
		case 'T':
			mult = 1 << 40
		}
		if mult > 1 {
			t = t[:n-1]
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || v < 0 || v*float64(mult) > 1<<62 {
		return 0, errors.New("give a size such as 0, 500M or 20G")
	}
	return int64(v * float64(mult)), nil
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1fG", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1fM", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1fK", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%dB", n)
}
