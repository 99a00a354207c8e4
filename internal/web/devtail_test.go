package web

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/testdev"
)

// TestDevTailFromTheNode runs gefion dev with two nodes and follows a job
// on the second: its output is read by that node's agent (dev gives the
// web view no way to read files itself), for the API and the job's page.
func TestDevTailFromTheNode(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts gefion dev; skipped with -short")
	}
	d := testdev.Start(t, "--nodes", "2", "--gpus", "0")
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(d.Addr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, body := get("/v1/nodes")
		if code == 200 && strings.Contains(body, `"dev2"`) && strings.Count(body, `"idle"`) >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("dev's two nodes did not come up: %d %s", code, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// dev1 drained, the job runs on dev2.
	req, _ := http.NewRequest("POST", d.Addr+"/v1/nodes/drain", strings.NewReader(`{"nodes":"dev1","reason":"the job must run on dev2"}`))
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("draining dev1: %v %v", resp, err)
	}
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(d.Bin, "sbatch", "--output", filepath.Join(dir, "tail-%j.out"),
		"--wrap", "for i in 1 2 3; do echo tail-line-$i; done; sleep 60")
	cmd.Env = append(os.Environ(), "GEFION_ADDR="+d.Addr)
	cmd.Dir = dir
	b, err := cmd.CombinedOutput()
	var id int
	m := regexp.MustCompile(`Submitted batch job (\d+)`).FindSubmatch(b)
	if err != nil || m == nil {
		t.Fatalf("sbatch: %v, %s", err, b)
	}
	id, _ = strconv.Atoi(string(m[1]))
	t.Cleanup(func() {
		c := exec.Command(d.Bin, "scancel", fmt.Sprint(id))
		c.Env = cmd.Env
		_ = c.Run()
	})

	var out api.Output
	deadline = time.Now().Add(20 * time.Second)
	for {
		code, body := get(fmt.Sprintf("/v1/jobs/%d/output", id))
		if code == 200 {
			if err := json.Unmarshal([]byte(body), &out); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(out.Text, "tail-line-3") {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %d's output never came: %d %s", id, code, body)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if out.Node != "dev2" || out.Text != "tail-line-1\ntail-line-2\ntail-line-3\n" {
		t.Errorf("output = node %q, %q; want dev2's three lines", out.Node, out.Text)
	}
	code, page := get(fmt.Sprintf("/jobs/%d", id))
	if code != 200 || !strings.Contains(page, "tail-line-3") {
		t.Errorf("job page = %d, with the output: %v; want the node's tail on it", code, strings.Contains(page, "tail-line-3"))
	}

	// In the browser (which runs as this test's user, dev's owner, so
	// the kernel vouches for it), the page follows the output live: a
	// line the job writes now appears without a reload.
	ctx := tab(t, "")
	if err := chromedp.Do(ctx, chromedp.Navigate(fmt.Sprintf("%s/jobs/%d", d.Addr, id)), chromedp.WaitVisible(chromedp.CSS("#tail"))); err != nil {
		t.Fatal(err)
	}
	poll(t, ctx, "the node's output", "document.getElementById('tail').innerText.includes('tail-line-3')", 5*time.Second)
	eval[bool](t, ctx, "window.__noReload = true")
	f, err := os.OpenFile(filepath.Join(dir, fmt.Sprintf("tail-%d.out", id)), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(f, "tail-line-4")
	f.Close()
	poll(t, ctx, "the new line", "document.getElementById('tail').innerText.includes('tail-line-4')", 5*time.Second)
	if !eval[bool](t, ctx, "window.__noReload === true") {
		t.Error("the job's page reloaded; want the output followed in place")
	}
	screenshot(t, ctx, "job-tail-from-node")
}
