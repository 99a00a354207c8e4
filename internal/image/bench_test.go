package image

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
)

// benchLayout writes, once per run, an OCI layout of about total bytes in
// nlayers gzip layers: files of 4 KiB to 4 MiB, half their bytes random and
// half text-like, so that gzip reaches a ratio near real images' (about 2:1).
func benchLayout(b *testing.B, total int64, nlayers int) (dir string, unpacked int64) {
	return benchLayoutSized(b, total, nlayers, 11)
}

// benchLayoutSized draws file sizes from 4 KiB << [0, shifts).
func benchLayoutSized(b *testing.B, total int64, nlayers, shifts int) (dir string, unpacked int64) {
	b.Helper()
	base, err := os.MkdirTemp("", "gefion-image-bench-")
	if err != nil {
		b.Fatal(err)
	}
	benchBases = append(benchBases, base)
	dir = filepath.Join(base, "layout")
	rng := rand.New(rand.NewPCG(1, 2))
	var ll []layoutLayer
	words := []byte("the quick brown fox jumps over the lazy dog 0123456789\n")
	for l := range nlayers {
		f, err := os.CreateTemp(base, "layer")
		if err != nil {
			b.Fatal(err)
		}
		hz, hu := sha256.New(), sha256.New()
		zw, _ := gzip.NewWriterLevel(io.MultiWriter(f, hz), gzip.BestSpeed)
		tw := tar.NewWriter(io.MultiWriter(zw, hu))
		var n int64
		for i := 0; n < total/int64(nlayers); i++ {
			size := int64(4<<10) << rng.IntN(shifts)
			body := make([]byte, size)
			for j := range body {
				if j < len(body)/2 {
					body[j] = byte(rng.Uint32())
				} else {
					body[j] = words[j%len(words)]
				}
			}
			name := filepath.Join("usr", "lib", string(rune('a'+l)), string(rune('a'+i%26)), "f"+itoa(i))
			tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: size, Typeflag: tar.TypeReg, ModTime: time.Unix(1700000000, 0)})
			tw.Write(body)
			n += size
		}
		tw.Close()
		zw.Close()
		unpacked += n
		st, _ := f.Stat()
		f.Close()
		d := "sha256:" + hex.EncodeToString(hz.Sum(nil))
		os.MkdirAll(filepath.Join(dir, "blobs", "sha256"), 0o755)
		if err := os.Rename(f.Name(), filepath.Join(dir, "blobs", "sha256", hexOf(d))); err != nil {
			b.Fatal(err)
		}
		ll = append(ll, layoutLayer{digest: d, diffID: "sha256:" + hex.EncodeToString(hu.Sum(nil)), size: st.Size()})
	}
	writeLayoutOf(b, dir, "latest", nil, ll)
	return dir, unpacked
}

func itoa(i int) string {
	return string(rune('0'+i%10)) + string(rune('a'+(i/10)%26)) + string(rune('a'+(i/260)%26)) + string(rune('a'+(i/6760)%26))
}

// benchBases are the benchmarks' image directories, removed by TestMain.
var benchBases []string

var benchImage struct {
	dir      string
	unpacked int64
}

// BenchmarkGetLayout1G measures a cold Get of a ~1 GB image from an OCI
// layout: verify and copy the layers in, unpack them, move into place.
// Metric: MB/s of unpacked content.
func BenchmarkGetLayout1G(b *testing.B) {
	if benchImage.dir == "" {
		benchImage.dir, benchImage.unpacked = benchLayout(b, 1<<30, 4)
	}
	b.SetBytes(benchImage.unpacked)
	for b.Loop() {
		b.StopTimer()
		s, err := Open(filepath.Join(b.TempDir(), "cache"), Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		img, err := s.Get(ctx, benchImage.dir, Access{})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		img.Release()
		os.RemoveAll(s.dir)
		s.Close()
		b.StartTimer()
	}
}

// BenchmarkUnpack1G measures the unpack alone: the layers already in the
// store, applied into a fresh directory.
func BenchmarkUnpack1G(b *testing.B) {
	if benchImage.dir == "" {
		benchImage.dir, benchImage.unpacked = benchLayout(b, 1<<30, 4)
	}
	src, err := resolveLayout(benchImage.dir, "", Access{})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(benchImage.unpacked)
	for b.Loop() {
		b.StopTimer()
		out := filepath.Join(b.TempDir(), "rootfs")
		os.Mkdir(out, 0o755)
		u, err := newUnpacker(out)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		for _, l := range src.layers {
			f, _ := os.Open(filepath.Join(benchImage.dir, "blobs", "sha256", hexOf(l.digest)))
			if err := u.apply(f, layerName(l.digest)); err != nil {
				b.Fatal(err)
			}
			f.Close()
		}
		b.StopTimer()
		u.Close()
		os.RemoveAll(out)
		b.StartTimer()
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	for _, d := range benchBases {
		os.RemoveAll(d)
	}
	os.Exit(code)
}

// BenchmarkGetCached measures the start of a container whose image is
// already here (a registry tag resolved within RefreshAfter): no network,
// two index reads and one write.
func BenchmarkGetCached(b *testing.B) {
	lay := b.TempDir()
	writeLayout(b, lay, "latest", nil, tarOf(b, file("x", "x", 0o644)))
	s, err := Open(filepath.Join(b.TempDir(), "cache"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	img, err := s.Get(ctx, lay, Access{})
	if err != nil {
		b.Fatal(err)
	}
	img.Release()
	// Stand for a registry tag: record the resolution as the registry
	// path would.
	const ref = "registry.example/team/img:1"
	s.withIndex(func(ix *index) (bool, error) {
		ix.Refs["registry.example/team/img:1"] = refRecord{Digest: img.Digest, Resolved: time.Now()}
		return true, nil
	})
	for b.Loop() {
		img, err := s.Get(ctx, ref, Access{})
		if err != nil {
			b.Fatal(err)
		}
		img.Release()
	}
}

var smallImage struct {
	dir      string
	unpacked int64
}

// BenchmarkUnpackSmallFilesGNUTar is the yardstick of
// BenchmarkUnpackSmallFiles: GNU tar extracting the same layers.
func BenchmarkUnpackSmallFilesGNUTar(b *testing.B) {
	if _, err := exec.LookPath("tar"); err != nil {
		b.Skip("needs GNU tar")
	}
	if smallImage.dir == "" {
		smallImage.dir, smallImage.unpacked = benchLayoutSized(b, 256<<20, 2, 2)
	}
	src, err := resolveLayout(smallImage.dir, "", Access{})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(smallImage.unpacked)
	for b.Loop() {
		b.StopTimer()
		out := filepath.Join(b.TempDir(), "rootfs")
		os.Mkdir(out, 0o755)
		b.StartTimer()
		for _, l := range src.layers {
			if o, err := exec.Command("tar", "-xzf", filepath.Join(smallImage.dir, "blobs", "sha256", hexOf(l.digest)), "-C", out).CombinedOutput(); err != nil {
				b.Fatalf("tar: %v: %s", err, o)
			}
		}
		b.StopTimer()
		os.RemoveAll(out)
		b.StartTimer()
	}
}

// BenchmarkUnpackSmallFiles measures the unpack of 256 MiB in files of 4
// to 8 KiB (about 45,000), where the cost per file, not per byte, counts.
func BenchmarkUnpackSmallFiles(b *testing.B) {
	if smallImage.dir == "" {
		smallImage.dir, smallImage.unpacked = benchLayoutSized(b, 256<<20, 2, 2)
	}
	dir, unpacked := smallImage.dir, smallImage.unpacked
	src, err := resolveLayout(dir, "", Access{})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(unpacked)
	var files int
	for b.Loop() {
		b.StopTimer()
		out := filepath.Join(b.TempDir(), "rootfs")
		os.Mkdir(out, 0o755)
		u, err := newUnpacker(out)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		for _, l := range src.layers {
			f, _ := os.Open(filepath.Join(dir, "blobs", "sha256", hexOf(l.digest)))
			if err := u.apply(f, layerName(l.digest)); err != nil {
				b.Fatal(err)
			}
			f.Close()
		}
		b.StopTimer()
		files = int(u.written-unpacked) / 512
		u.Close()
		os.RemoveAll(out)
		b.StartTimer()
	}
	b.ReportMetric(float64(files)*float64(b.N)/b.Elapsed().Seconds(), "files/s")
}
