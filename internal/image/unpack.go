package image

import (
	"archive/tar"
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"syscall"

	"compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// bufSize is the size of the buffers that file contents and decompressed
// streams move through: large enough that a write is one system call per
// megabyte, small enough that a few of them per unpack cost nothing.
const bufSize = 1 << 20

// ErrUnsafeLayer is wrapped by the errors of layers that try to write
// outside the root file system.
var ErrUnsafeLayer = errors.New("unsafe layer")

// unpacker applies layers, in order, to one root file system. All writes go
// through an os.Root, which refuses any path (.., or a symlink met on the
// way) that resolves outside the root: a layer can never write outside it.
type unpacker struct {
	root *os.Root
	buf  []byte
	// written counts bytes of file content and a nominal 512 per entry;
	// check, when set, is called after each file with the running total
	// and may stop the unpack (the cache is full).
	written int64
	check   func(written int64) error
	skipped int // device nodes and FIFOs
}

func newUnpacker(dir string) (*unpacker, error) {
	r, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	return &unpacker{root: r, buf: make([]byte, bufSize)}, nil
}

func (u *unpacker) Close() error { return u.root.Close() }

// decompress returns the tar stream in r, which may be gzip, zstd or plain.
// Decompression runs in its own goroutine, a few megabytes ahead of the
// writer, so that one core inflates while another writes files.
func decompress(r io.Reader) (io.ReadCloser, error) {
	br := bufio.NewReaderSize(r, bufSize)
	magic, _ := br.Peek(4)
	switch {
	case len(magic) >= 2 && magic[0] == 0x1f && magic[1] == 0x8b:
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, err
		}
		return readAhead(zr, func() { zr.Close() }), nil
	case bytes.Equal(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(2))
		if err != nil {
			return nil, err
		}
		return readAhead(zr, zr.Close), nil
	}
	return readAhead(br, func() {}), nil
}

// aheadReader hands out chunks that a goroutine has read from src.
type aheadReader struct {
	full  chan []byte
	free  chan []byte
	errc  chan error
	stop  chan struct{}
	cur   []byte
	chunk []byte
	err   error
}

func readAhead(src io.Reader, done func()) io.ReadCloser {
	const n = 4
	a := &aheadReader{full: make(chan []byte, n), free: make(chan []byte, n), errc: make(chan error, 1), stop: make(chan struct{})}
	for range n {
		a.free <- make([]byte, bufSize)
	}
	go func() {
		defer done()
		for {
			var b []byte
			select {
			case b = <-a.free:
			case <-a.stop:
				return
			}
			m, err := io.ReadFull(src, b[:cap(b)])
			if m > 0 {
				a.full <- b[:m]
			}
			if err != nil {
				if err == io.ErrUnexpectedEOF {
					err = io.EOF
				}
				a.errc <- err
				close(a.full)
				return
			}
		}
	}()
	return a
}

func (a *aheadReader) Read(p []byte) (int, error) {
	for len(a.cur) == 0 {
		if a.chunk != nil {
			a.free <- a.chunk[:cap(a.chunk)]
			a.chunk = nil
		}
		b, ok := <-a.full
		if !ok {
			if a.err == nil {
				a.err = <-a.errc
			}
			return 0, a.err
		}
		a.chunk, a.cur = b, b
	}
	n := copy(p, a.cur)
	a.cur = a.cur[n:]
	return n, nil
}

func (a *aheadReader) Close() error {
	select {
	case <-a.stop:
	default:
		close(a.stop)
	}
	// Let a producer blocked on a full channel finish.
	go func() {
		for range a.full {
		}
	}()
	return nil
}

// layerName is how errors name a layer.
type layerName string

// apply unpacks one layer (a tar stream, compressed or not), applying its
// whiteouts to what the layers before it left.
func (u *unpacker) apply(r io.Reader, layer layerName) error {
	rc, err := decompress(r)
	if err != nil {
		return fmt.Errorf("layer %s: %w", layer, err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	// Entries this layer made: an opaque directory hides what lower layers
	// put in it, never what its own layer adds.
	mine := map[string]bool{}
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("layer %s: reading its tar stream: %w", layer, err)
		}
		rel, err := cleanEntry(hdr.Name)
		if err != nil {
			return fmt.Errorf("%w: layer %s: %v", ErrUnsafeLayer, layer, err)
		}
		if err := u.entry(tr, hdr, rel, mine); err != nil {
			var pe *fs.PathError
			if errors.As(err, &pe) && strings.Contains(pe.Err.Error(), "escapes") {
				return fmt.Errorf("%w: layer %s: entry %q: %v", ErrUnsafeLayer, layer, hdr.Name, err)
			}
			return fmt.Errorf("layer %s: entry %q: %w", layer, hdr.Name, err)
		}
		if u.check != nil {
			if err := u.check(u.written); err != nil {
				return err
			}
		}
	}
}

// cleanEntry turns a tar name into a path relative to the root, refusing
// any that climbs out with "..".
func cleanEntry(name string) (string, error) {
	for _, c := range strings.Split(name, "/") {
		if c == ".." {
			return "", fmt.Errorf("entry %q climbs out of the root file system with ..", name)
		}
	}
	rel := strings.TrimPrefix(path.Clean("/"+name), "/")
	if rel == "" {
		rel = "."
	}
	return rel, nil
}

const (
	whiteoutPrefix = ".wh."
	opaqueMarker   = ".wh..wh..opq"
)

func (u *unpacker) entry(tr *tar.Reader, hdr *tar.Header, rel string, mine map[string]bool) error {
	dir, base := path.Split(rel)
	dir = strings.TrimSuffix(dir, "/")
	if dir == "" {
		dir = "."
	}
	switch {
	case base == opaqueMarker:
		return u.opaque(dir, mine)
	case strings.HasPrefix(base, whiteoutPrefix):
		return u.removeAll(path.Join(dir, strings.TrimPrefix(base, whiteoutPrefix)))
	}
	u.written += 512
	if rel == "." {
		if hdr.Typeflag == tar.TypeDir {
			return u.root.Chmod(".", dirMode(hdr.Mode))
		}
		return nil
	}
	mine[rel] = true
	// Create first and look only when something is in the way: most
	// entries are new, and a look costs a path walk.
	switch hdr.Typeflag {
	case tar.TypeDir:
		err := u.withParent(rel, func() error { return u.root.Mkdir(rel, 0o700) })
		if errors.Is(err, fs.ErrExist) {
			old, lerr := u.root.Lstat(rel)
			switch {
			case lerr != nil:
				return lerr
			case old.IsDir():
				err = nil // merged with the lower layers' directory
			default:
				if err = u.removeAll(rel); err == nil {
					err = u.root.Mkdir(rel, 0o700)
				}
			}
		}
		if err != nil {
			return err
		}
		return u.root.Chmod(rel, dirMode(hdr.Mode))
	case tar.TypeReg, tar.TypeRegA:
		var f *os.File
		err := u.replace(rel, func() (err error) {
			f, err = u.root.OpenFile(rel, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			return err
		})
		if err != nil {
			return err
		}
		n, err := io.CopyBuffer(onlyWriter{f}, tr, u.buf)
		u.written += n
		if err == nil {
			err = f.Chmod(fileMode(hdr.Mode))
		}
		if err == nil && !hdr.ModTime.IsZero() {
			tv := []syscall.Timeval{syscall.NsecToTimeval(hdr.ModTime.UnixNano()), syscall.NsecToTimeval(hdr.ModTime.UnixNano())}
			err = syscall.Futimes(int(f.Fd()), tv)
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return err
	case tar.TypeSymlink:
		return u.replace(rel, func() error { return u.root.Symlink(hdr.Linkname, rel) })
	case tar.TypeLink:
		target, err := cleanEntry(hdr.Linkname)
		if err != nil {
			return fmt.Errorf("%w: hard link: %v", ErrUnsafeLayer, err)
		}
		return u.replace(rel, func() error { return u.root.Link(target, rel) })
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		// What was there is gone in this layer all the same.
		if err := u.removeAll(rel); err != nil {
			return err
		}
		// A rootless container cannot use device nodes of its own; the
		// runtime binds the ones a job may have.
		u.skipped++
		return nil
	}
	return nil
}

// onlyWriter hides os.File's ReadFrom, so that io.CopyBuffer uses the big
// buffer instead of os.File's small-chunked copy_file_range fallbacks.
type onlyWriter struct{ io.Writer }

// replace runs fn, which creates rel; if something is already there
// (from a lower layer, or earlier in this one), it is removed first, as
// tar does.
func (u *unpacker) replace(rel string, fn func() error) error {
	err := u.withParent(rel, fn)
	if errors.Is(err, fs.ErrExist) {
		if err = u.removeAll(rel); err == nil {
			err = fn()
		}
	}
	return err
}

// withParent runs fn, creating the missing parent directories of rel
// (tar streams need not list them) if it fails for lack of them.
func (u *unpacker) withParent(rel string, fn func() error) error {
	err := fn()
	if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := u.root.MkdirAll(path.Dir(rel), 0o755); err != nil {
		return err
	}
	return fn()
}

func (u *unpacker) removeAll(rel string) error {
	if rel == "." || rel == "" {
		return fmt.Errorf("%w: a whiteout of the root itself", ErrUnsafeLayer)
	}
	err := u.root.RemoveAll(rel)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// opaque removes from dir what lower layers put there, keeping what this
// layer has already added (and, inside directories this layer re-made, again
// only this layer's entries).
func (u *unpacker) opaque(dir string, mine map[string]bool) error {
	d, err := u.root.Open(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	ents, err := d.ReadDir(-1)
	d.Close()
	if err != nil {
		return err
	}
	for _, e := range ents {
		p := path.Join(dir, e.Name())
		if !mine[p] {
			if err := u.removeAll(p); err != nil {
				return err
			}
		} else if e.IsDir() {
			if err := u.opaque(p, mine); err != nil {
				return err
			}
		}
	}
	return nil
}

// dirMode keeps the sticky bit and the owner's bits, drops set-uid/gid and
// write for group and others, and lets everyone list and enter: jobs of any
// user run from this tree, and the store's owner must be able to remove it.
func dirMode(m int64) fs.FileMode {
	mode := fs.FileMode(m&0o755) | 0o755
	if m&0o1000 != 0 {
		mode |= fs.ModeSticky
	}
	return mode
}

// fileMode lets everyone read, everyone execute what its owner (or anyone)
// may execute, and no one but the store's owner write; set-uid and set-gid
// bits are dropped (see the package documentation).
func fileMode(m int64) fs.FileMode {
	mode := fs.FileMode(0o644)
	if m&0o111 != 0 {
		mode |= 0o111
	}
	return mode
}
