package image

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

// blobBytes is the size of the given layers in the store (once each).
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
		if over := s.total(ix) - keepBytes; over > 0 {
			freed = s.evictLRU(ix, over)
		}
		// Layers no image refers to (left by a crash) go too.
		var orphans []string
		ents, _ := os.ReadDir(filepath.Join(s.dir, "blobs", "sha256"))
		for _, e := range ents {
			orphans = append(orphans, "sha256:"+e.Name())
		}
		freed += s.gcBlobs(ix, orphans)
		// So do root file systems the index lost (a crash between their
		// rename into place and the index's write; a Get would adopt
		// them, but none may come).
		imgs, _ := os.ReadDir(filepath.Join(s.dir, "images"))
		for _, e := range imgs {
			d := "sha256:" + e.Name()
			if !e.IsDir() || ix.Images[d] != nil || s.inuse[d] > 0 || s.heldElsewhere(d) {
				continue
			}
			s.fmu.Lock()
			pulling := s.flights[d] != nil
			s.fmu.Unlock()
			if pulling {
				continue
			}
			if err := os.RemoveAll(filepath.Join(s.dir, "images", e.Name())); err == nil {
				os.Remove(s.imageLock(d))
			}
		}
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
