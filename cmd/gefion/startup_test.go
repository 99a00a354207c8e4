package main

import (
	"bufio"
	"bytes"
	"debug/buildinfo"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/gefion-hpc/gefion/internal/client"
)

// Every client command (sbatch, squeue...) is this binary, and Go runs the
// initialisation of every package linked into it before main. These limits
// keep that work small (DESIGN: client commands start fast). Allocations
// are counted rather than time, because they do not depend on how busy the
// machine is.
const (
	// maxOwnInitBytes bounds what one package of this module may allocate
	// at initialisation: sentinel errors and the CLI's command table, no
	// tables, maps of data, parsed templates or libraries.
	maxOwnInitBytes = 4 << 10
	// maxInitBytes bounds the initialisation allocations of all packages
	// but the runtime's, third-party and standard library included. It was
	// about 96 KiB when set; the Prometheus client or a plotting library
	// alone would add about 200 KiB.
	maxInitBytes = 160 << 10
)

// heavyModules are modules whose initialisation is expensive and which a
// client command must not link; the controller and the twin use smaller
// means (package promtext, the twin's own SVG charts).
var heavyModules = []string{
	"gonum.org/v1/plot",                   // fonts and LaTeX symbols parsed at init
	"github.com/prometheus/client_golang", // default registry with Go and process collectors
	"github.com/prometheus/procfs",
	"google.golang.org/protobuf", // descriptor registration
	"codeberg.org/go-latex/latex",
	"codeberg.org/go-fonts/liberation",
	"golang.org/x/image",
}

// built is the gefion binary that buildGefion made, shared by the tests
// of one run; TestMain removes its directory.
var built struct {
	sync.Mutex
	dir, bin string
	err      error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// buildGefion builds this command into a temporary directory once per
// test binary run.
func buildGefion(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the gefion binary; skipped with -short")
	}
	// go test puts its own go command first on PATH.
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("needs the go tool to build the binary: %v", err)
	}
	built.Lock()
	defer built.Unlock()
	if built.bin == "" && built.err == nil {
		built.err = func() error {
			dir, err := os.MkdirTemp("", "gefion-startup-")
			if err != nil {
				return err
			}
			built.dir = dir
			bin := filepath.Join(dir, "gefion")
			if out, err := exec.Command(goTool, "build", "-o", bin, ".").CombinedOutput(); err != nil {
				return fmt.Errorf("go build: %v\n%s", err, out)
			}
			built.bin = bin
			return nil
		}()
	}
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.bin
}

// initRecord is one line of GODEBUG=inittrace=1.
type initRecord struct {
	pkg           string
	bytes, allocs int
}

// parseInitTrace reads lines such as
// "init internal/bytealg @0.017 ms, 0 ms clock, 0 bytes, 0 allocs".
func parseInitTrace(out []byte) ([]initRecord, error) {
	var recs []initRecord
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 11 || f[0] != "init" || f[8] != "bytes," || f[10] != "allocs" {
			continue
		}
		b, err1 := strconv.Atoi(f[7])
		a, err2 := strconv.Atoi(f[9])
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("unreadable inittrace line %q", sc.Text())
		}
		recs = append(recs, initRecord{pkg: f[1], bytes: b, allocs: a})
	}
	return recs, sc.Err()
}

func TestParseInitTrace(t *testing.T) {
	recs, err := parseInitTrace([]byte("gefion 0.1\ninit internal/bytealg @0.017 ms, 0 ms clock, 0 bytes, 0 allocs\n" +
		"init github.com/x/y @12 ms, 0.86 ms clock, 219368 bytes, 1503 allocs\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []initRecord{{"internal/bytealg", 0, 0}, {"github.com/x/y", 219368, 1503}}
	if !slices.Equal(recs, want) {
		t.Errorf("parseInitTrace = %v; want %v", recs, want)
	}
}

// TestClientStartsLight runs "gefion version" with the runtime's init
// trace and checks that the packages linked into every client command do
// little at initialisation, and that the heavy modules are not linked.
func TestClientStartsLight(t *testing.T) {
	bin := buildGefion(t)

	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range info.Deps {
		for _, heavy := range heavyModules {
			if m.Path == heavy {
				t.Errorf("the gefion binary links %s %s, whose package initialisation every client command would pay for: use it only behind a separate binary, or do without it", m.Path, m.Version)
			}
		}
	}

	cmd := exec.Command(bin, "version")
	cmd.Env = append(os.Environ(), "GODEBUG=inittrace=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("gefion version: %v\n%s", err, out)
	}
	recs, err := parseInitTrace(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) < 20 {
		t.Fatalf("found only %d init records in the output of GODEBUG=inittrace=1 gefion version:\n%s", len(recs), out)
	}
	total := 0
	for _, r := range recs {
		if r.pkg == "runtime" {
			continue
		}
		total += r.bytes
		if strings.HasPrefix(r.pkg, "github.com/gefion-hpc/gefion/") && r.bytes > maxOwnInitBytes {
			t.Errorf("package %s allocates %d bytes (%d allocations) at initialisation; the limit is %d: build its tables on first use (sync.OnceValue)", r.pkg, r.bytes, r.allocs, maxOwnInitBytes)
		}
	}
	if total > maxInitBytes {
		slices.SortFunc(recs, func(a, b initRecord) int { return b.bytes - a.bytes })
		var top []string
		for _, r := range recs[:min(8, len(recs))] {
			top = append(top, fmt.Sprintf("%s %d", r.pkg, r.bytes))
		}
		t.Errorf("package initialisation allocates %d bytes in all; the limit is %d. The largest: %s. Find what added it (GODEBUG=inittrace=1 gefion version) and make it lazy or leave it out of the binary",
			total, maxInitBytes, strings.Join(top, ", "))
	}
}

// TestCommandsUseOwnTransport runs squeue against a stand-in controller
// and checks that its request came through the client's own HTTP/1.1
// transport: net/http's Transport (pool, proxy and TLS set-up, HTTP/2)
// costs a command more start-up time than its one request.
func TestCommandsUseOwnTransport(t *testing.T) {
	bin := buildGefion(t)
	agents := make(chan string, 8)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		agents <- r.UserAgent()
		http.Error(w, `{"error":{"code":"internal","message":"stand-in controller"}}`, http.StatusInternalServerError)
	}))
	defer srv.Close()
	squeue := filepath.Join(t.TempDir(), "squeue")
	if err := os.Symlink(bin, squeue); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(squeue, "-h")
	cmd.Env = append(os.Environ(), "GEFION_ADDR="+srv.URL)
	out, _ := cmd.CombinedOutput() // the stand-in's error is expected
	select {
	case got := <-agents:
		if got != client.CommandUserAgent {
			t.Errorf("squeue -h sent User-Agent %q; want %q, the command transport's (client.New)", got, client.CommandUserAgent)
		}
	default:
		t.Fatalf("squeue -h sent no request to GEFION_ADDR=%s:\n%s", srv.URL, out)
	}
}
