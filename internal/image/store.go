package image

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Options configure a Store. The zero value is a valid configuration.
type Options struct {
	// MaxBytes bounds the cache (layers and root file systems); 0 means
	// unbounded. Least recently used images are evicted to make room,
	// never one in use.
	MaxBytes int64
	// Log receives the store's messages; nil discards them.
	Log *slog.Logger
	// Insecure allows plain-HTTP registries (tests on loopback; ggcr
	// already uses HTTP for localhost and 127.0.0.0/8).
	Insecure bool
	// RefreshAfter is how long a tag resolved in a registry is trusted
	// before it is asked again (default 10 minutes; negative: always
	// ask). Within it a cached image starts without any network request.
	// When the registry cannot be reached, a cached resolution is used
	// however old.
	RefreshAfter time.Duration
	// Transport, when set, carries registry requests (tests).
	Transport http.RoundTripper
}

// Errors of the cache itself.
var (
	// ErrCacheFull: making room would mean evicting images in use.
	ErrCacheFull = errors.New("image cache full")
	// ErrInUse: the image is used by a running container.
	ErrInUse = errors.New("image in use")
)

// Store is one node's image cache. It is safe for concurrent use, and
// several processes may share its directory.
type Store struct {
	dir  string
	opt  Options
	log  *slog.Logger
	lock *os.File // flock(2)ed around index reads and writes

	mu       sync.Mutex // with lock: the index
	reserved int64      // bytes being written by pulls in progress
	pinned   map[string]int
	inuse    map[string]int

	fmu     sync.Mutex
	flights map[string]*flight

	unpacks atomic.Int64 // images unpacked by this Store (tests count them)
}

type flight struct {
	done chan struct{}
	err  error
}

// Image is an image ready on this node.
type Image struct {
	// Digest identifies the image: the manifest's digest for registry and
	// layout images, the config's (Docker's image ID) for save tars, the
	// file's for squashfs.
	Digest string
	// Rootfs holds the unpacked root file system. Treat it as read-only:
	// every job using the image shares it.
	Rootfs string
	Config ImageConfig
	// Size is the bytes the image takes in the cache.
	Size int64
	// Release says the container using the image has ended. It may be
	// called more than once.
	Release func()
}

// Entry describes a cached image.
type Entry struct {
	Digest   string    `json:"digest"`
	Refs     []string  `json:"refs"`
	Size     int64     `json:"size"`
	LastUsed time.Time `json:"last_used"`
	// InUse counts this process's users; an image used only by another
	// process (the agent, seen from `gefion image ls`) shows 1.
	InUse int `json:"in_use"`
}

// record is an image in index.json.
type record struct {
	Digest     string      `json:"digest"`
	Refs       []string    `json:"refs"`
	Layers     []string    `json:"layers,omitempty"`
	RootfsSize int64       `json:"rootfs_size"`
	LastUsed   time.Time   `json:"last_used"`
	Config     ImageConfig `json:"config"`
	// Registry images pulled with credentials are given from the cache
	// only to the users (by home directory) whom the registry gave them;
	// Public ones, pulled anonymously, to everyone. Local images are
	// opened with the user's rights at each Get instead.
	Registry bool     `json:"registry,omitempty"`
	Public   bool     `json:"public,omitempty"`
	Users    []string `json:"users,omitempty"`
}

// allows says whether the user (by home directory) may have r from the
// cache without asking the registry.
func (r *record) allows(user string) bool {
	return !r.Registry || r.Public || slices.Contains(r.Users, user)
}

// refRecord remembers what a reference resolved to and when.
type refRecord struct {
	Digest   string    `json:"digest"`
	Resolved time.Time `json:"resolved"`
	// Stamp identifies a local file's version (size, mtime, inode): a
	// squashfs file is not hashed again while it is unchanged.
	Stamp string `json:"stamp,omitempty"`
}

type index struct {
	Images map[string]*record   `json:"images"`
	Refs   map[string]refRecord `json:"refs"`
}

// Open opens the store in dir, creating it. It removes work left by
// processes that died while pulling.
func Open(dir string, opt Options) (*Store, error) {
	if dir == "" {
		return nil, errors.New("image cache: no directory given")
	}
	if opt.MaxBytes < 0 {
		return nil, fmt.Errorf("image cache: size bound %d: give a positive number of bytes, or 0 for none", opt.MaxBytes)
	}
	if opt.RefreshAfter == 0 {
		opt.RefreshAfter = 10 * time.Minute
	}
	log := opt.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	for _, d := range []string{dir, filepath.Join(dir, "blobs", "sha256"), filepath.Join(dir, "images"), filepath.Join(dir, "tmp")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("image cache %s: %w", dir, err)
		}
	}
	// Jobs of every user run from the root file systems under dir.
	for _, d := range []string{dir, filepath.Join(dir, "images")} {
		if err := os.Chmod(d, 0o755); err != nil {
			return nil, fmt.Errorf("image cache %s: %w", dir, err)
		}
	}
	lf, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("image cache %s: %w", dir, err)
	}
	s := &Store{dir: dir, opt: opt, log: log, lock: lf, pinned: map[string]int{}, inuse: map[string]int{}, flights: map[string]*flight{}}
	s.clearTmp()
	return s, nil
}

// Close releases the store's lock file. Images still held stay usable
// until released.
func (s *Store) Close() error { return s.lock.Close() }

// Dir is the store's directory.
func (s *Store) Dir() string { return s.dir }

// clearTmp removes work directories of processes that no longer run.
func (s *Store) clearTmp() {
	ents, _ := os.ReadDir(filepath.Join(s.dir, "tmp"))
	for _, e := range ents {
		pid, err := strconv.Atoi(strings.SplitN(e.Name(), "-", 2)[0])
		if err == nil && pid != os.Getpid() && syscall.Kill(pid, 0) == syscall.ESRCH {
			os.RemoveAll(filepath.Join(s.dir, "tmp", e.Name()))
		}
	}
}

func (s *Store) tmpDir(what string) (string, error) {
	return os.MkdirTemp(filepath.Join(s.dir, "tmp"), fmt.Sprintf("%d-%s-", os.Getpid(), what))
}

func hexOf(digest string) string { return strings.TrimPrefix(digest, "sha256:") }

func (s *Store) rootfsDir(digest string) string {
	return filepath.Join(s.dir, "images", hexOf(digest), "rootfs")
}

func (s *Store) imageLock(digest string) string {
	return filepath.Join(s.dir, "images", hexOf(digest)+".lock")
}

func (s *Store) blobPath(digest string) string {
	return filepath.Join(s.dir, "blobs", "sha256", hexOf(digest))
}

// withIndex runs fn with the index loaded and locked against this process
// and others; the index is saved if fn says so.
func (s *Store) withIndex(fn func(ix *index) (save bool, err error)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := syscall.Flock(int(s.lock.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("image cache %s: lock: %w", s.dir, err)
	}
	defer syscall.Flock(int(s.lock.Fd()), syscall.LOCK_UN)
	ix := &index{Images: map[string]*record{}, Refs: map[string]refRecord{}}
	p := filepath.Join(s.dir, "index.json")
	b, err := os.ReadFile(p)
	switch {
	case err == nil:
		if err := json.Unmarshal(b, ix); err != nil {
			return fmt.Errorf("image cache %s: index.json is damaged (%v): remove the directory to start afresh", s.dir, err)
		}
		if ix.Images == nil {
			ix.Images = map[string]*record{}
		}
		if ix.Refs == nil {
			ix.Refs = map[string]refRecord{}
		}
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("image cache %s: %w", s.dir, err)
	}
	save, err := fn(ix)
	if !save {
		return err
	}
	out, merr := json.MarshalIndent(ix, "", " ")
	if merr != nil {
		return merr
	}
	tmp := p + ".tmp"
	if werr := os.WriteFile(tmp, out, 0o644); werr != nil {
		return fmt.Errorf("image cache %s: %w", s.dir, werr)
	}
	if rerr := os.Rename(tmp, p); rerr != nil {
		return fmt.Errorf("image cache %s: %w", s.dir, rerr)
	}
	return err
}

// Get makes the image ref ready on this node and returns its root file
// system. Concurrent Gets of one image, in this process, share one pull
// and one unpack; other processes sharing the directory may unpack it too,
// and the first to finish wins. Call Release when the container has ended.
func (s *Store) Get(ctx context.Context, refStr string, acc Access) (*Image, error) {
	ref, err := ParseRef(refStr)
	if err != nil {
		return nil, err
	}
	canon := ref.String()
	digest, stamp := s.known(ref, canon, acc)
	var src *source
	defer func() { src.close() }()
	for {
		if digest != "" {
			img, err := s.acquire(digest, canon, stamp, acc.Home, src)
			if err != nil || img != nil {
				return img, err
			}
		}
		if src == nil {
			if src, err = s.resolve(ctx, ref, acc); err != nil {
				if d := s.fallback(ref, canon, acc.Home, err); d != "" {
					digest = d
					continue
				}
				return nil, err
			}
			digest = src.digest
			continue
		}
		s.fmu.Lock()
		f := s.flights[digest]
		if f != nil {
			s.fmu.Unlock()
			select {
			case <-f.done:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			if f.err != nil && !(errors.Is(f.err, context.Canceled) || errors.Is(f.err, context.DeadlineExceeded)) {
				return nil, f.err
			}
			continue
		}
		f = &flight{done: make(chan struct{})}
		s.flights[digest] = f
		s.fmu.Unlock()
		f.err = s.pull(ctx, src, canon)
		s.fmu.Lock()
		delete(s.flights, digest)
		s.fmu.Unlock()
		close(f.done)
		if f.err != nil {
			return nil, f.err
		}
	}
}

// known returns the digest a reference resolved to before, when it may be
// trusted without asking again: a digest reference, a tag resolved within
// RefreshAfter, an unchanged squashfs file.
func (s *Store) known(ref Ref, canon string, acc Access) (digest, stamp string) {
	if ref.Kind == KindRegistry && ref.Digest != "" {
		return ref.Digest, ""
	}
	if ref.Kind == KindSquashfs || ref.Kind == KindLayout || ref.Kind == KindTarball {
		f, err := acc.open(ref.Path)
		if err != nil {
			return "", ""
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil || fi.IsDir() {
			return "", ""
		}
		st, _ := fi.Sys().(*syscall.Stat_t)
		if st == nil {
			return "", ""
		}
		stamp = fmt.Sprintf("%d:%d:%d:%d", st.Dev, st.Ino, fi.Size(), fi.ModTime().UnixNano())
	}
	var d string
	s.withIndex(func(ix *index) (bool, error) {
		r, ok := ix.Refs[canon]
		switch {
		case !ok:
		case stamp != "":
			if r.Stamp == stamp {
				d = r.Digest
			}
		case ref.Kind == KindRegistry && s.opt.RefreshAfter > 0 && time.Since(r.Resolved) < s.opt.RefreshAfter:
			d = r.Digest
		}
		return false, nil
	})
	return d, stamp
}

// fallback gives the cached resolution of a registry tag when the registry
// could not be reached (not when it answered that the image is gone or
// access is refused).
func (s *Store) fallback(ref Ref, canon, user string, err error) string {
	if ref.Kind != KindRegistry || errors.Is(err, ErrNotFound) || errors.Is(err, ErrUnauthorized) || errors.Is(err, ErrBadRef) {
		return ""
	}
	var d string
	s.withIndex(func(ix *index) (bool, error) {
		if r, ok := ix.Refs[canon]; ok && ix.Images[r.Digest] != nil && ix.Images[r.Digest].allows(user) {
			d = r.Digest
		}
		return false, nil
	})
	if d != "" {
		s.log.Warn("registry unreachable; using the cached image", "ref", canon, "digest", d, "err", err)
	}
	return d
}

// acquire returns the cached image digest, held for use, or nil if it is
// not (completely) here or the user must first show the registry a right
// to it. granted, when set, is what the registry has just given the user.
func (s *Store) acquire(digest, canon, stamp, user string, granted *source) (*Image, error) {
	var img *Image
	err := s.withIndex(func(ix *index) (bool, error) {
		r := ix.Images[digest]
		if r == nil {
			return false, nil
		}
		if granted != nil && granted.registry && granted.digest == digest {
			switch {
			case granted.anonymous:
				r.Public = true
			case !slices.Contains(r.Users, user):
				r.Users = append(r.Users, user)
			}
		}
		if !r.allows(user) {
			return false, nil
		}
		if _, err := os.Stat(s.rootfsDir(digest)); err != nil {
			// Removed behind the index's back: forget it and pull again.
			delete(ix.Images, digest)
			return true, nil
		}
		lf, err := os.OpenFile(s.imageLock(digest), os.O_RDONLY|os.O_CREATE, 0o644)
		if err != nil {
			return false, err
		}
		if err := syscall.Flock(int(lf.Fd()), syscall.LOCK_SH); err != nil {
			lf.Close()
			return false, err
		}
		r.LastUsed = time.Now()
		if !slices.Contains(r.Refs, canon) {
			r.Refs = append(r.Refs, canon)
		}
		old := ix.Refs[canon]
		resolved := time.Now()
		if old.Digest == digest && stamp == "" && s.opt.RefreshAfter > 0 && time.Since(old.Resolved) < s.opt.RefreshAfter {
			resolved = old.Resolved // a cached answer does not extend its own life
		}
		ix.Refs[canon] = refRecord{Digest: digest, Resolved: resolved, Stamp: stamp}
		s.inuse[digest]++
		var once sync.Once
		img = &Image{Digest: digest, Rootfs: s.rootfsDir(digest), Config: r.Config, Size: r.RootfsSize + s.blobBytes(r.Layers),
			Release: func() {
				once.Do(func() {
					syscall.Flock(int(lf.Fd()), syscall.LOCK_UN)
					lf.Close()
					s.mu.Lock()
					s.inuse[digest]--
					if s.inuse[digest] <= 0 {
						delete(s.inuse, digest)
					}
					s.mu.Unlock()
				})
			}}
		return true, nil
	})
	return img, err
}
