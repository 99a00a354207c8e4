package image

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
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

func (s *Store) blobBytes(layers []string) int64 {
	var n int64
	seen := map[string]bool{}
	for _, l := range layers {
		if seen[l] {
			continue
		}
		seen[l] = true
		if fi, err := os.Stat(s.blobPath(l)); err == nil {
			n += fi.Size()
		}
	}
	return n
}

// total is the bytes the cache holds (call with the index locked).
func (s *Store) total(ix *index) int64 {
	var n int64
	for _, r := range ix.Images {
		n += r.RootfsSize
	}
	ents, _ := os.ReadDir(filepath.Join(s.dir, "blobs", "sha256"))
	for _, e := range ents {
		if fi, err := e.Info(); err == nil {
			n += fi.Size()
		}
	}
	return n
}

// reserve makes room for n more bytes, evicting least recently used
// images not in use, and counts them as taken until unreserve.
func (s *Store) reserve(n int64, want string) error {
	if n <= 0 {
		return nil
	}
	return s.withIndex(func(ix *index) (bool, error) {
		if s.opt.MaxBytes <= 0 {
			s.reserved += n
			return false, nil
		}
		need := s.total(ix) + s.reserved + n - s.opt.MaxBytes
		if need > 0 {
			freed := s.evictLRU(ix, need)
			need -= freed
			if need > 0 {
				return freed > 0, fmt.Errorf("%w: %s needs %s more, and the cache (bound %s) holds only images in use; raise the bound, or wait for jobs using other images to end", ErrCacheFull, want, human(need), human(s.opt.MaxBytes))
			}
		}
		s.reserved += n
		return true, nil
	})
}

func (s *Store) unreserve(n int64) {
	if n <= 0 {
		return
	}
	s.mu.Lock()
	s.reserved -= n
	s.mu.Unlock()
}

// evictLRU removes images not in use, least recently used first, until
// need bytes are freed or none is left; it returns the bytes freed.
func (s *Store) evictLRU(ix *index, need int64) int64 {
	recs := make([]*record, 0, len(ix.Images))
	for _, r := range ix.Images {
		recs = append(recs, r)
	}
	slices.SortFunc(recs, func(a, b *record) int { return a.LastUsed.Compare(b.LastUsed) })
	var freed int64
	for _, r := range recs {
		if freed >= need {
			break
		}
		n, err := s.evict(ix, r.Digest)
		if err != nil {
			continue
		}
		freed += n
		s.log.Info("evicted image to make room", "digest", r.Digest, "refs", r.Refs, "bytes", n)
	}
	return freed
}

// evict removes one image not in use and the layers no other image needs
// (call with the index locked).
func (s *Store) evict(ix *index, digest string) (int64, error) {
	r := ix.Images[digest]
	if r == nil {
		return 0, nil
	}
	if s.inuse[digest] > 0 {
		return 0, fmt.Errorf("%w: %s (%s) is used by %d running container(s) here; remove it when they have ended", ErrInUse, digest, strings.Join(r.Refs, ", "), s.inuse[digest])
	}
	lf, err := os.OpenFile(s.imageLock(digest), os.O_RDONLY|os.O_CREATE, 0o644)
	if err != nil {
		return 0, err
	}
	defer lf.Close()
	if err := syscall.Flock(int(lf.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return 0, fmt.Errorf("%w: %s (%s) is used by a running container (of another process on this node); remove it when it has ended", ErrInUse, digest, strings.Join(r.Refs, ", "))
	}
	freed := r.RootfsSize
	tmp, err := s.tmpDir("evict")
	if err != nil {
		return 0, err
	}
	if err := os.Rename(filepath.Join(s.dir, "images", hexOf(digest)), filepath.Join(tmp, "img")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		os.RemoveAll(tmp)
		return 0, err
	}
	delete(ix.Images, digest)
	for k, v := range ix.Refs {
		if v.Digest == digest {
			delete(ix.Refs, k)
		}
	}
	os.Remove(s.imageLock(digest))
	if err := os.RemoveAll(tmp); err != nil {
		s.log.Warn("could not remove an evicted image", "dir", tmp, "err", err)
	}
	freed += s.gcBlobs(ix, r.Layers)
	return freed, nil
}

// gcBlobs removes the given layers unless an image in the index or a pull
// in progress (in this process) needs them.
func (s *Store) gcBlobs(ix *index, layers []string) int64 {
	need := map[string]bool{}
	for _, r := range ix.Images {
		for _, l := range r.Layers {
			need[l] = true
		}
	}
	var freed int64
	for _, l := range layers {
		if need[l] || s.pinned[l] > 0 {
			continue
		}
		p := s.blobPath(l)
		if fi, err := os.Stat(p); err == nil && os.Remove(p) == nil {
			freed += fi.Size()
			need[l] = true // counted once
		}
	}
	return freed
}

// pull fetches and unpacks src, and records it. On any error it leaves the
// cache as it was: no root file system, no layer it fetched.
func (s *Store) pull(ctx context.Context, src *source, canon string) (err error) {
	start := time.Now()
	work, err := s.tmpDir(hexOf(src.digest)[:12])
	if err != nil {
		return fmt.Errorf("image cache %s: %w", s.dir, err)
	}
	defer os.RemoveAll(work)
	rootfs := filepath.Join(work, "img", "rootfs")
	if err := os.MkdirAll(rootfs, 0o755); err != nil {
		return err
	}
	os.Chmod(filepath.Join(work, "img"), 0o755)

	var layers []string
	for _, l := range src.layers {
		layers = append(layers, l.digest)
	}
	s.mu.Lock()
	for _, l := range layers {
		s.pinned[l]++
	}
	s.mu.Unlock()
	var fetched []string
	var reserved int64
	defer func() {
		s.unreserve(reserved)
		s.withIndex(func(ix *index) (bool, error) {
			for _, l := range layers {
				s.pinned[l]--
				if s.pinned[l] <= 0 {
					delete(s.pinned, l)
				}
			}
			if err != nil {
				s.gcBlobs(ix, fetched)
			}
			return false, nil
		})
	}()

	var size int64
	if src.squashfs != nil {
		size, err = s.unsquash(ctx, src.squashfs, rootfs)
		if err != nil {
			return err
		}
		if err = s.reserve(size, canon); err != nil {
			return err
		}
		reserved += size
		if b, rerr := os.ReadFile(filepath.Join(rootfs, "etc", "environment")); rerr == nil {
			src.config.Env = envFile(b)
		}
	} else {
		size, fetched, err = s.fetchAndUnpack(ctx, src, canon, rootfs, &reserved)
		if err != nil {
			return err
		}
	}
	// Into place in one rename: a root file system is whole or absent.
	final := filepath.Join(s.dir, "images", hexOf(src.digest))
	if rerr := os.Rename(filepath.Join(work, "img"), final); rerr != nil {
		if _, serr := os.Stat(filepath.Join(final, "rootfs")); serr != nil {
			return fmt.Errorf("image cache %s: %w", s.dir, rerr)
		}
		// Another process unpacked it first; ours is dropped with work.
	}
	s.unpacks.Add(1)
	err = s.withIndex(func(ix *index) (bool, error) {
		if ix.Images[src.digest] == nil {
			ix.Images[src.digest] = &record{Digest: src.digest, Refs: []string{canon}, Layers: layers, RootfsSize: size, LastUsed: time.Now(), Config: src.config, Registry: src.registry}
		}
		return true, nil
	})
	if err == nil {
		el := time.Since(start)
		s.log.Info("image ready", "ref", canon, "digest", src.digest, "bytes", size, "took", el.Round(time.Millisecond),
			"mb_per_s", fmt.Sprintf("%.0f", float64(size)/1e6/el.Seconds()))
	}
	return err
}

// fetchAndUnpack fetches the layers missing from the store, several at once,
// and applies each, in order, as soon as it is here.
func (s *Store) fetchAndUnpack(ctx context.Context, src *source, canon, rootfs string, reserved *int64) (int64, []string, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		fetched bool
		err     error
	}
	ready := make([]chan result, len(src.layers))
	var want int64
	for i, l := range src.layers {
		ready[i] = make(chan result, 1)
		if _, err := os.Stat(s.blobPath(l.digest)); err == nil || l.local {
			ready[i] <- result{}
			continue
		}
		if l.size > 0 {
			want += l.size
		}
	}
	if err := s.reserve(want, canon); err != nil {
		return 0, nil, err
	}
	*reserved += want
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	defer wg.Wait()
	for i, l := range src.layers {
		if len(ready[i]) > 0 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				ready[i] <- result{err: ctx.Err()}
				return
			}
			defer func() { <-sem }()
			fetched, err := s.fetchBlob(ctx, l)
			ready[i] <- result{fetched: fetched, err: err}
		}()
	}
	u, err := newUnpacker(rootfs)
	if err != nil {
		return 0, nil, err
	}
	defer u.Close()
	// Grow the reservation as the unpack writes: a full cache stops it
	// before the disk fills, and the work directory is then removed.
	step := int64(64 << 20)
	if s.opt.MaxBytes > 0 {
		step = min(step, max(s.opt.MaxBytes/64, 64<<10))
	}
	var granted int64
	u.check = func(written int64) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if written <= granted {
			return nil
		}
		more := max(step, written-granted)
		if err := s.reserve(more, canon); err != nil {
			return err
		}
		*reserved += more
		granted += more
		return nil
	}
	var fetched []string
	var firstErr error
	for i, l := range src.layers {
		r := <-ready[i]
		if r.fetched {
			fetched = append(fetched, l.digest)
			// Now on disk, the layer counts in the total: its
			// reservation ends.
			if l.size > 0 {
				s.unreserve(l.size)
				*reserved -= l.size
			}
		}
		if firstErr != nil {
			continue
		}
		if r.err != nil {
			firstErr = r.err
			cancel()
			continue
		}
		if err := s.applyLayer(u, l); err != nil {
			firstErr = err
			cancel()
		}
	}
	if firstErr != nil {
		return 0, fetched, firstErr
	}
	if u.skipped > 0 {
		s.log.Debug("device nodes and FIFOs skipped", "ref", canon, "count", u.skipped)
	}
	return u.written, fetched, nil
}

// applyLayer unpacks a layer from the store, or, for a local layer not in
// it, from its source, verifying the digest as it reads: a mismatch fails
// the pull, whose work directory is then removed.
func (s *Store) applyLayer(u *unpacker, l layerSrc) error {
	f, err := os.Open(s.blobPath(l.digest))
	if err == nil {
		defer f.Close()
		return u.apply(f, layerName(l.digest))
	}
	if !l.local {
		return fmt.Errorf("layer %s: %w", l.digest, err)
	}
	if !strings.HasPrefix(l.digest, "sha256:") || len(hexOf(l.digest)) != 64 {
		return fmt.Errorf("%w: layer digest %q: only sha256 is supported", ErrUnsupported, l.digest)
	}
	rc, err := l.open()
	if err != nil {
		return err
	}
	defer rc.Close()
	h := sha256.New()
	tee := io.TeeReader(rc, h)
	aerr := u.apply(tee, layerName(l.digest))
	// The tar stream may end before the layer does (padding, trailing
	// blocks): the digest covers every byte. When the unpack failed, a
	// mismatch is the better explanation of why.
	if _, err := io.CopyBuffer(io.Discard, tee, u.buf); err != nil {
		return errors.Join(aerr, fmt.Errorf("layer %s: %w", l.digest, err))
	}
	if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != l.digest {
		return &DigestError{Layer: l.digest, Got: got}
	}
	return aerr
}

// fetchBlob copies a layer into the store, verifying its digest, and moves
// it into place only when it matches. It reports whether it wrote one.
func (s *Store) fetchBlob(ctx context.Context, l layerSrc) (bool, error) {
	final := s.blobPath(l.digest)
	if _, err := os.Stat(final); err == nil {
		return false, nil
	}
	if !strings.HasPrefix(l.digest, "sha256:") || len(hexOf(l.digest)) != 64 {
		return false, fmt.Errorf("%w: layer digest %q: only sha256 is supported", ErrUnsupported, l.digest)
	}
	rc, err := l.open()
	if err != nil {
		return false, err
	}
	defer rc.Close()
	f, err := os.CreateTemp(filepath.Join(s.dir, "tmp"), fmt.Sprintf("%d-blob-", os.Getpid()))
	if err != nil {
		return false, err
	}
	defer os.Remove(f.Name())
	h := sha256.New()
	n, err := io.CopyBuffer(onlyWriter{io.MultiWriter(f, h)}, ctxReader{ctx, rc}, make([]byte, bufSize))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	got := "sha256:" + hex.EncodeToString(h.Sum(nil))
	if err != nil && n == l.size && got != l.digest {
		// The registry client's own check failed on the whole layer:
		// a mismatch, like ours.
		return false, &DigestError{Layer: l.digest, Got: got}
	}
	if err != nil {
		return false, fmt.Errorf("fetching layer %s: %w", l.digest, err)
	}
	if got != l.digest {
		return false, &DigestError{Layer: l.digest, Got: got}
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		return false, err
	}
	if err := os.Rename(f.Name(), final); err != nil {
		return false, err
	}
	return true, nil
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// unsquash extracts a squashfs file with Debian's unsquashfs (no
// maintained pure-Go reader of squashfs is available), then gives the tree
// the store's modes: the same rules as for layers.
func (s *Store) unsquash(ctx context.Context, f *os.File, rootfs string) (int64, error) {
	bin, err := exec.LookPath("unsquashfs")
	if err != nil {
		return 0, fmt.Errorf("%w: the squashfs image %s needs unsquashfs on this node: install Debian's squashfs-tools package (apt-get install squashfs-tools), or give the image as an OCI layout or a docker save tar", ErrNoUnsquashfs, f.Name())
	}
	if err := os.Remove(rootfs); err != nil {
		return 0, err
	}
	// The file was opened with the job user's rights; unsquashfs reads
	// that open file, not the path.
	cmd := exec.CommandContext(ctx, bin, "-no-progress", "-no-xattrs", "-d", rootfs, "/dev/fd/3")
	cmd.ExtraFiles = []*os.File{f}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("unpacking squashfs %s: unsquashfs: %v: %s", f.Name(), err, strings.TrimSpace(lastLines(string(out), 5)))
	}
	var size int64
	err = filepath.WalkDir(rootfs, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		m := fi.Mode()
		size += 512
		switch {
		case m.IsDir():
			return os.Chmod(p, dirMode(int64(m.Perm())|stickyBits(m)))
		case m.IsRegular():
			size += fi.Size()
			if os.Geteuid() == 0 {
				if err := os.Lchown(p, 0, 0); err != nil {
					return err
				}
			}
			return os.Chmod(p, fileMode(int64(m.Perm())))
		case m&fs.ModeSymlink != 0:
			if os.Geteuid() == 0 {
				return os.Lchown(p, 0, 0)
			}
			return nil
		default:
			return os.Remove(p) // devices, FIFOs, sockets
		}
	})
	if err == nil && os.Geteuid() == 0 {
		err = filepath.WalkDir(rootfs, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				err = os.Lchown(p, 0, 0)
			}
			return err
		})
	}
	if err != nil {
		return 0, fmt.Errorf("unpacking squashfs %s: %w", f.Name(), err)
	}
	return size, nil
}

func stickyBits(m fs.FileMode) int64 {
	if m&fs.ModeSticky != 0 {
		return 0o1000
	}
	return 0
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// List describes the cached images, most recently used first.
func (s *Store) List() ([]Entry, error) {
	var out []Entry
	err := s.withIndex(func(ix *index) (bool, error) {
		for _, r := range ix.Images {
			e := Entry{Digest: r.Digest, Refs: slices.Clone(r.Refs), Size: r.RootfsSize + s.blobBytes(r.Layers), LastUsed: r.LastUsed, InUse: s.inuse[r.Digest]}
			if e.InUse == 0 && s.heldElsewhere(r.Digest) {
				e.InUse = 1
			}
			out = append(out, e)
		}
		return false, nil
	})
	slices.SortFunc(out, func(a, b Entry) int { return b.LastUsed.Compare(a.LastUsed) })
	return out, err
}

func (s *Store) heldElsewhere(digest string) bool {
	lf, err := os.Open(s.imageLock(digest))
	if err != nil {
		return false
	}
	defer lf.Close()
	if syscall.Flock(int(lf.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
		return true
	}
	syscall.Flock(int(lf.Fd()), syscall.LOCK_UN)
	return false
}

// Remove removes one image, named by digest (sha256:HEX, or a unique
// prefix of HEX of at least 6 digits) or by a reference it was used under.
// It refuses an image in use.
func (s *Store) Remove(refOrDigest string) error {
	return s.withIndex(func(ix *index) (bool, error) {
		d, err := s.find(ix, refOrDigest)
		if err != nil {
			return false, err
		}
		_, err = s.evict(ix, d)
		return err == nil, err
	})
}

func (s *Store) find(ix *index, q string) (string, error) {
	if _, ok := ix.Images[q]; ok {
		return q, nil
	}
	h := hexOf(q)
	if len(h) >= 6 && strings.Trim(h, "0123456789abcdef") == "" {
		var hits []string
		for d := range ix.Images {
			if strings.HasPrefix(hexOf(d), h) {
				hits = append(hits, d)
			}
		}
		if len(hits) == 1 {
			return hits[0], nil
		}
		if len(hits) > 1 {
			return "", fmt.Errorf("%q names %d images: give more digits", q, len(hits))
		}
	}
	canon := q
	if r, err := ParseRef(q); err == nil {
		canon = r.String()
	}
	for d, r := range ix.Images {
		if slices.Contains(r.Refs, canon) || slices.Contains(r.Refs, q) {
			return d, nil
		}
	}
	return "", fmt.Errorf("%w: no image %q in the cache %s (gefion image ls lists them)", ErrNotFound, q, s.dir)
}

// Prune evicts images not in use, least recently used first, until the
// cache holds at most keepBytes, and returns the bytes freed. Prune(0)
// removes every image not in use.
func (s *Store) Prune(keepBytes int64) (int64, error) {
	if keepBytes < 0 {
		return 0, fmt.Errorf("prune: keep %d bytes: give 0 or more", keepBytes)
	}
	var freed int64
	err := s.withIndex(func(ix *index) (bool, error) {
		over := s.total(ix) - keepBytes
		if over <= 0 {
			return false, nil
		}
		freed = s.evictLRU(ix, over)
		// Layers no image refers to (left by a crash) go too.
		var orphans []string
		ents, _ := os.ReadDir(filepath.Join(s.dir, "blobs", "sha256"))
		for _, e := range ents {
			orphans = append(orphans, "sha256:"+e.Name())
		}
		freed += s.gcBlobs(ix, orphans)
		return true, nil
	})
	return freed, err
}

func human(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
