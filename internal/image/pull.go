package image

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

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

// unsquash extracts a squashfs file with Debian's unsquashfs, then gives
// the tree the store's modes: the same rules as for layers. The pure-Go
// reader of go-diskfs (filesystem/squashfs) was weighed and left out: its
// xz decoder alone adds 33 KiB of allocations to every start of the
// binary, and unsquashfs, the reference implementation, decompresses on
// all cores.
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
