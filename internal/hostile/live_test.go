package hostile

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gefion-hpc/gefion/internal/testdev"
)

// When peerEnv is set the test binary is a client process, possibly of
// another user: it sends the request described in peerEnv (JSON of
// peerRequest) and prints "STATUS <code>" and the body.
const peerEnv = "GEFION_HOSTILE_PEER"

type peerRequest struct {
	Method, URL, Body string
	Header            map[string]string
}

func TestMain(m *testing.M) {
	if spec := os.Getenv(peerEnv); spec != "" {
		os.Exit(runPeer(spec))
	}
	os.Exit(m.Run())
}

func runPeer(spec string) int {
	var pr peerRequest
	if err := json.Unmarshal([]byte(spec), &pr); err != nil {
		fmt.Println("ERR", err)
		return 1
	}
	req, err := http.NewRequest(pr.Method, pr.URL, strings.NewReader(pr.Body))
	if err != nil {
		fmt.Println("ERR", err)
		return 1
	}
	for k, v := range pr.Header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Println("ERR", err)
		return 1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Printf("STATUS %d\n%s", resp.StatusCode, body)
	return 0
}

// dev is a running `gefion dev` (package testdev starts it).
type dev struct {
	t    *testing.T
	bin  string // the gefion binary
	addr string // http://127.0.0.1:PORT
	dir  string // its data directory
}

// startDev starts gefion dev on a free loopback port with a fresh data
// directory and one real (process) node without cgroups.
func startDev(t *testing.T, extra ...string) *dev {
	t.Helper()
	td := testdev.Start(t, append([]string{"--node-name", "probe1", "--gpus", "2"}, extra...)...)
	d := &dev{t: t, bin: td.Bin, addr: td.Addr, dir: td.Dir}
	d.waitNode()
	return d
}

func (d *dev) waitNode() {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		code, body := d.do("GET", "/v1/nodes", "", nil)
		if code == 200 && strings.Contains(body, `"probe1"`) && !strings.Contains(body, `"down"`) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	d.t.Fatal("the dev node did not come up within 30 s")
}

// do sends a request as the test's own user and returns status and body.
func (d *dev) do(method, path, body string, hdr map[string]string) (int, string) {
	d.t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, d.addr+path, strings.NewReader(body))
	if err != nil {
		d.t.Fatal(err)
	}
	// Send the owner's name as the CLI does, unless the probe says
	// otherwise (an empty value sends no header).
	req.Header.Set("X-Gefion-User", ownerName(d.t))
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		d.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// doAs sends a request from a separate process running as uid/gid.
func (d *dev) doAs(uid, gid uint32, pr peerRequest) (int, string) {
	d.t.Helper()
	pr.URL = d.addr + pr.URL
	spec, _ := json.Marshal(pr)
	cmd := exec.Command(sharedCopy(d.t, os.Args[0]), "-test.run=^$")
	cmd.Env = append(os.Environ(), peerEnv+"="+string(spec))
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid}}
	cmd.Dir = "/"
	out, err := cmd.Output()
	if err != nil {
		d.t.Fatalf("peer as uid %d: %v\n%s", uid, err, out)
	}
	var code int
	first, rest, _ := strings.Cut(string(out), "\n")
	if _, err := fmt.Sscanf(first, "STATUS %d", &code); err != nil {
		d.t.Fatalf("peer as uid %d said %q", uid, out)
	}
	return code, rest
}

func ownerName(t *testing.T) string {
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	return u.Username
}

var sharedBins = map[string]string{}

// sharedCopy copies an executable where any user may run it (go test
// builds in a private directory).
func sharedCopy(t *testing.T, path string) string {
	if p, ok := sharedBins[path]; ok {
		return p
	}
	dir, err := os.MkdirTemp("", "gefion-hostile-peer-")
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, filepath.Base(path))
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	sharedBins[path] = bin
	return bin
}

// jobs lists every job the owner can see.
func (d *dev) jobs() []map[string]any {
	d.t.Helper()
	code, body := d.do("GET", "/v1/jobs?all=1", "", nil)
	if code != 200 {
		d.t.Fatalf("GET /v1/jobs: %d %s", code, body)
	}
	var js []map[string]any
	if err := json.Unmarshal([]byte(body), &js); err != nil {
		d.t.Fatalf("GET /v1/jobs: %v: %s", err, body)
	}
	return js
}

func errorCode(t *testing.T, body string) string {
	t.Helper()
	var e struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("not an error body: %q", body)
	}
	if e.Error.Message == "" {
		t.Errorf("error without a message: %q", body)
	}
	return e.Error.Code
}
