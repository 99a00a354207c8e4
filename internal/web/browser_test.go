package web

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/accessibility"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/job"
)

// The browser tests drive Chromium (Debian's chromium package) through
// the DevTools protocol. They skip where no browser is installed.

var browser struct {
	once   sync.Once
	ctx    context.Context
	cancel func()
	err    error
}

// findBrowser returns the path of a Chromium or Chrome, or "".
func findBrowser() string {
	if p := os.Getenv("GEFION_TEST_BROWSER"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

func TestMain(m *testing.M) {
	code := m.Run()
	if browser.cancel != nil {
		browser.cancel()
	}
	os.Exit(code)
}

// tab opens a new browser tab whose requests carry user as the verified
// identity (the harness's stand-in for the kernel's word in gefion dev).
func tab(t *testing.T, user string) context.Context {
	t.Helper()
	return browserTab(t, user)
}

func browserTab(t testing.TB, user string) context.Context {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a browser; skipped with -short")
	}
	path := findBrowser()
	if path == "" {
		t.Skip("needs Chromium for the browser tests: apt-get install chromium (or set GEFION_TEST_BROWSER)")
	}
	browser.once.Do(func() {
		opts := append(chromedp.DefaultExecAllocatorOptions[:],
			chromedp.ExecPath(path),
			chromedp.NoSandbox, // CI runs as root, where Chromium's sandbox refuses to start
			chromedp.DisableGPU,
			chromedp.WindowSize(1400, 900),
		)
		actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
		bctx, bcancel := chromedp.NewContext(actx)
		browser.err = chromedp.Do(bctx) // starts the browser
		browser.ctx = bctx
		browser.cancel = func() { bcancel(); acancel() }
	})
	if browser.err != nil {
		t.Skipf("needs a working Chromium for the browser tests; %s did not start: %v", path, browser.err)
	}
	ctx, cancel := chromedp.NewContext(browser.ctx)
	t.Cleanup(cancel)
	ctx, cancelT := context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(cancelT)
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: network.Headers{testUserHeader: user}}); err != nil {
		t.Fatal(err)
	}
	return ctx
}

// screenshotDir is where the tests leave a screenshot of each page for a
// person to look at: GEFION_WEB_SCREENSHOTS, else a folder in the test's
// temporary directory (named in the log).
var screenshotDir = sync.OnceValue(func() string {
	if d := os.Getenv("GEFION_WEB_SCREENSHOTS"); d != "" {
		return d
	}
	d, err := os.MkdirTemp("", "gefion-web-screenshots-")
	if err != nil {
		return ""
	}
	return d
})

func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	dir := screenshotDir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(dir, name+".png")
	if err := os.WriteFile(f, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", f)
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

// poll waits up to d for the expression to be true, and returns how long
// that took.
func poll(t *testing.T, ctx context.Context, what, expr string, d time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < d {
		if eval[bool](t, ctx, expr) {
			return time.Since(start)
		}
		time.Sleep(20 * time.Millisecond)
	}
	html, _ := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("main")))
	t.Fatalf("waited %v for %s (%s); the page:\n%.3000s", d, what, expr, html)
	return 0
}

func TestBrowserSubmitAppearsLiveAndCompletes(t *testing.T) {
	h := newHarness(t, 2)
	jobs := tab(t, "alice")
	if err := chromedp.Do(jobs, chromedp.Navigate(h.srv.URL+"/"), chromedp.WaitVisible(chromedp.CSS("#rows"))); err != nil {
		t.Fatal(err)
	}
	// A mark that a reload would wipe: the row must come without one.
	eval[bool](t, jobs, "window.__noReload = true")

	form := tab(t, "alice")
	script := "#!/bin/bash\n#SBATCH --job-name=from-the-form\n#SBATCH --gpus-per-node=2\n#SBATCH --comment=duration=2\nhostname\n"
	if err := chromedp.Do(form,
		chromedp.Navigate(h.srv.URL+"/submit"),
		chromedp.SetValue(chromedp.CSS("#script"), script),
		chromedp.Click(chromedp.CSS(`button[value="preview"]`)),
		chromedp.WaitVisible(chromedp.CSS("#preview")),
	); err != nil {
		t.Fatal(err)
	}
	screenshot(t, form, "submit-preview")
	if txt := eval[string](t, form, "document.querySelector('#preview').innerText"); !strings.Contains(txt, "Estimated start") || !strings.Contains(txt, "from-the-form") {
		t.Fatalf("preview = %q; want the parsed job and its estimated start", txt)
	}
	if err := chromedp.Do(form,
		chromedp.Click(chromedp.CSS(`button[value="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(".done")),
	); err != nil {
		t.Fatal(err)
	}
	done := eval[string](t, form, "document.querySelector('.done').innerText")
	var id int
	if _, err := fmt.Sscanf(done, "Submitted batch job %d", &id); err != nil {
		t.Fatalf("after submitting: %q; want 'Submitted batch job ID'", done)
	}
	row := fmt.Sprintf("document.querySelector('#job-%d')", id)
	poll(t, jobs, "the job to appear", row+" !== null", 5*time.Second)
	poll(t, jobs, "RUNNING", row+".innerText.includes('RUNNING')", 10*time.Second)
	screenshot(t, jobs, "my-jobs")
	poll(t, jobs, "COMPLETED", row+".innerText.includes('COMPLETED')", 15*time.Second)
	if !eval[bool](t, jobs, "window.__noReload === true") {
		t.Error("My jobs reloaded; want the rows updated in place")
	}
	if err := chromedp.Do(jobs, chromedp.Navigate(fmt.Sprintf("%s/jobs/%d", h.srv.URL, id)), chromedp.WaitVisible(chromedp.CSS("pre.script"))); err != nil {
		t.Fatal(err)
	}
	screenshot(t, jobs, "job")
}

func TestBrowserClusterMapLive(t *testing.T) {
	h := newHarness(t, 191)
	// A working machine: whole-node jobs of 1 to 4 nodes and jobs on part
	// of a node, of two users, and one that waits for the whole machine.
	gpus := 0
	for i := range 40 {
		user := []string{"alice", "bob"}[i%2]
		spec := job.Spec{Name: fmt.Sprintf("train-%d", i), TimeLimitS: 3600, Comment: "duration=600", Script: "#!/bin/sh\n"}
		if i < 24 {
			spec.NodesMin, spec.GPUsPerNode = 1+i%4, 8
		} else {
			spec.NodesMin, spec.GPUsPerNode = 1, 1+i%7
		}
		gpus += spec.NodesMin * spec.GPUsPerNode
		if _, err := h.ctl.Submit(context.Background(), user, "", api.SubmitRequest{Spec: spec}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := h.ctl.Submit(context.Background(), "carol", "", api.SubmitRequest{Spec: job.Spec{Name: "everything", NodesMin: 191, GPUsPerNode: 8, TimeLimitS: 3600, Script: "#!/bin/sh\n"}}); err != nil {
		t.Fatal(err)
	}
	h.waitFor("the jobs to start", func() bool {
		jobs, err := h.ctl.ListJobs(context.Background(), "admin", true, true)
		running := 0
		for _, j := range jobs {
			if j.State == job.Running {
				running++
			}
		}
		return err == nil && running == 40
	})
	ctx := tab(t, "admin")
	if err := chromedp.Do(ctx, chromedp.Navigate(h.srv.URL+"/cluster"), chromedp.WaitVisible(chromedp.CSS(".map"))); err != nil {
		t.Fatal(err)
	}
	if n := eval[int](t, ctx, "document.querySelectorAll('.map .g').length"); n != 1528 {
		t.Fatalf("cluster map shows %d GPUs; want 1528", n)
	}
	if n := eval[int](t, ctx, "document.querySelectorAll('.map .g.alloc').length"); n != gpus {
		t.Errorf("cluster map shows %d allocated GPUs; want the jobs' %d", n, gpus)
	}
	// Drain a node no job holds, so that it goes straight to drained.
	nodes, err := h.ctl.Nodes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	drain := ""
	for _, n := range nodes {
		if n.State == "idle" {
			drain = n.Name
		}
	}
	// The whole machine fits one 1400x900 screen.
	if bottom := eval[float64](t, ctx, "document.querySelector('.map').getBoundingClientRect().bottom"); bottom > 900 {
		t.Errorf("the map ends %v px down; want it on one 900 px screen", bottom)
	}
	poll(t, ctx, "the live stream", "document.body.dataset.updated !== undefined", 5*time.Second)
	eval[bool](t, ctx, "window.__noReload = true")
	if _, err := h.ctl.SetNodes(context.Background(), "admin", api.NodeAction{Nodes: drain, Reason: "xid 79"}, true); err != nil {
		t.Fatal(err)
	}
	cell := fmt.Sprintf(`document.querySelector('[data-node="%s"] .g')`, drain)
	took := poll(t, ctx, drain+" to turn drained", cell+".classList.contains('drained')", 2*time.Second)
	t.Logf("drained node recoloured %v after the drain", took)
	if !eval[bool](t, ctx, "window.__noReload === true") {
		t.Error("the cluster page reloaded; want the cells recoloured in place")
	}
	label := eval[string](t, ctx, cell+".getAttribute('aria-label')")
	if !strings.Contains(label, "drained") || !strings.Contains(label, "xid 79") {
		t.Errorf("%s GPU 0's label = %q; want its state and reason", drain, label)
	}
	// Focus shows a GPU's details.
	if err := chromedp.Do(ctx, chromedp.Focus(chromedp.CSS(fmt.Sprintf(`[data-node="%s"] .g`, drain)))); err != nil {
		t.Fatal(err)
	}
	if d := eval[string](t, ctx, "document.getElementById('detail').innerText"); d != label {
		t.Errorf("detail after focusing the GPU = %q; want %q", d, label)
	}
	// Arrow keys walk the GPUs.
	if err := chromedp.Do(ctx, chromedp.KeyEvent(kb.ArrowRight)); err != nil {
		t.Fatal(err)
	}
	if got := eval[string](t, ctx, "document.activeElement.getAttribute('aria-label')"); !strings.HasPrefix(got, drain+" GPU 1:") {
		t.Errorf("after ArrowRight the focus is on %q; want %s GPU 1", got, drain)
	}
	screenshot(t, ctx, "cluster")
	var size int
	_, body := h.get("admin", "/cluster")
	size = len(body)
	t.Logf("cluster page: %d bytes of HTML", size)
}

func TestBrowserOtherUserSeesNoScript(t *testing.T) {
	h := newHarness(t, 1)
	id := submit(t, h, "alice", secretScript)
	ctx := tab(t, "bob")
	if err := chromedp.Do(ctx, chromedp.Navigate(fmt.Sprintf("%s/jobs/%d", h.srv.URL, id))); err != nil {
		t.Fatal(err)
	}
	text, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main")))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(text, "the-secret-of-alice") || strings.Contains(text, "alice") || !strings.Contains(text, "is not yours") {
		t.Errorf("bob's view of alice's job: %q; want the refusal and no script", text)
	}
	screenshot(t, ctx, "forbidden")
}

// TestBrowserControlsHaveNames reads each page's accessibility tree and
// asks that every control (links, buttons, fields, the map's GPUs) has a
// name, and that the Tab key reaches them.
func TestBrowserControlsHaveNames(t *testing.T) {
	h := newHarness(t, 2)
	id := submit(t, h, "alice", secretScript)
	grant, end := 10.0, time.Now().Unix()+86400*30
	if err := h.ctl.ChangeProject(context.Background(), "admin", api.ProjectChange{Name: "med", AddUsers: []string{"alice"}, GrantGPUHours: &grant, GrantEnd: &end}, true); err != nil {
		t.Fatal(err)
	}
	ctx := tab(t, "alice")
	controls := map[string]bool{"link": true, "button": true, "textbox": true, "combobox": true, "searchbox": true, "img": true, "image": true, "meter": true, "checkbox": true}
	for _, p := range []string{"/", "/submit", "/cluster", "/projects", "/projects?p=med", "/operators", "/whatif", fmt.Sprintf("/jobs/%d", id), fmt.Sprintf("/jobs/%d/cancel", id)} {
		if err := chromedp.Do(ctx, chromedp.Navigate(h.srv.URL+p), chromedp.WaitReady(chromedp.CSS("body"))); err != nil {
			t.Fatal(err)
		}
		tree, err := chromedp.Call(ctx, accessibility.GetFullAXTree, accessibility.GetFullAXTreeParams{})
		if err != nil {
			t.Fatal(err)
		}
		seen := 0
		for _, n := range tree.Nodes {
			if n.Ignored || n.Role == nil {
				continue
			}
			role := strings.Trim(string(n.Role.Value), `"`)
			if !controls[role] {
				continue
			}
			seen++
			if n.Name == nil || strings.Trim(string(n.Name.Value), `" `) == "" {
				t.Errorf("%s: a %s has no accessible name (DOM node %d)", p, role, n.BackendDOMNodeID)
			}
		}
		if seen == 0 {
			t.Errorf("%s: no controls in the accessibility tree", p)
		}
		// The first Tab lands on the skip link, the second in the menu.
		if err := chromedp.Do(ctx, chromedp.KeyEvent("\t"), chromedp.KeyEvent("\t")); err != nil {
			t.Fatal(err)
		}
		if got := eval[string](t, ctx, "document.activeElement.innerText"); got != "My jobs" {
			t.Errorf("%s: two Tabs focus %q; want the menu's My jobs", p, got)
		}
		name := strings.NewReplacer("/", "-", "-jobs-"+fmt.Sprint(id), "job", "?p=", "-").Replace(strings.Trim(p, "/"))
		if name == "" {
			name = "my-jobs-empty"
		}
		screenshot(t, ctx, "page-"+name)
	}
}

// TestBrowserJobPage follows a running job's output on its page, then
// cancels it through the confirmation, with the keyboard-free clicks a
// person would make.
func TestBrowserJobPage(t *testing.T) {
	h := newHarness(t, 1)
	id := submit(t, h, "alice", secretScript)
	h.outputs.Store(id, "epoch 1 loss 3.2\n")
	h.waitFor("job running", func() bool {
		j, err := h.ctl.Job(context.Background(), "alice", job.Ref{ID: id})
		return err == nil && j.State == job.Running
	})
	ctx := tab(t, "alice")
	if err := chromedp.Do(ctx, chromedp.Navigate(fmt.Sprintf("%s/jobs/%d", h.srv.URL, id)), chromedp.WaitVisible(chromedp.CSS("#tail"))); err != nil {
		t.Fatal(err)
	}
	poll(t, ctx, "the output", "document.getElementById('tail').innerText.includes('epoch 1')", 5*time.Second)
	eval[bool](t, ctx, "window.__noReload = true")
	h.outputs.Store(id, "epoch 1 loss 3.2\nepoch 2 loss 2.9\n")
	poll(t, ctx, "the new output line", "document.getElementById('tail').innerText.includes('epoch 2')", 3*time.Second)
	if !eval[bool](t, ctx, "window.__noReload === true") {
		t.Error("the job's page reloaded; want the output followed in place")
	}
	screenshot(t, ctx, "job-running")
	// Cancel asks first; keeping the job leaves it running.
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`a[href$="/cancel"]`)), chromedp.WaitVisible(chromedp.CSS("form.confirm"))); err != nil {
		t.Fatal(err)
	}
	screenshot(t, ctx, "job-cancel-confirm")
	if j, _ := h.ctl.Job(context.Background(), "alice", job.Ref{ID: id}); j.State != job.Running {
		t.Fatalf("job %d is %s after the cancel link alone; want it running until confirmed", id, j.State)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("form.confirm button")), chromedp.WaitVisible(chromedp.CSS("#jstate"))); err != nil {
		t.Fatal(err)
	}
	poll(t, ctx, "CANCELLED", "document.getElementById('jstate').innerText.includes('CANCELLED')", 5*time.Second)
}

// TestBrowserProjectReport opens a project's report with JavaScript off
// (the charts are drawn by the server) and reads, from the accessibility
// tree, that the burn-down and the energy and CO2 charts are there with
// their names, and that a member sees only their own row of the per-user
// split while the project's manager sees every member's.
func TestBrowserProjectReport(t *testing.T) {
	h := newHarness(t, 2)
	projectFixture(t, h)
	for _, c := range []struct {
		user     string
		rows     []string
		notRows  []string
		shotName string
	}{
		{"alice", []string{"alice"}, []string{"amy"}, "projects-report-member"},
		{"mia", []string{"alice", "amy"}, nil, "projects-report-manager"},
	} {
		ctx := tab(t, c.user)
		if _, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
			t.Fatal(err)
		}
		if err := chromedp.Do(ctx, chromedp.Navigate(h.srv.URL+"/projects?p=med"), chromedp.WaitReady(chromedp.CSS("#report"))); err != nil {
			t.Fatal(err)
		}
		tree, err := chromedp.Call(ctx, accessibility.GetFullAXTree, accessibility.GetFullAXTreeParams{})
		if err != nil {
			t.Fatal(err)
		}
		var imgs, cells []string
		for _, n := range tree.Nodes {
			if n.Ignored || n.Role == nil || n.Name == nil {
				continue
			}
			name := strings.Trim(string(n.Name.Value), `"`)
			switch strings.Trim(string(n.Role.Value), `"`) {
			case "img", "image":
				imgs = append(imgs, name)
			case "cell", "gridcell":
				cells = append(cells, name)
			}
		}
		for _, want := range []string{"Burn-down of project med's grant", "Energy of project med's jobs per day", "CO2 of project med's jobs per day, location- and market-based"} {
			found := false
			for _, n := range imgs {
				found = found || strings.HasPrefix(n, want)
			}
			if !found {
				t.Errorf("%s: no chart named %q among the page's images %q", c.user, want, imgs)
			}
		}
		for _, u := range c.rows {
			if !slices.Contains(cells, u) {
				t.Errorf("%s: no row of %s in the per-user split (cells %q)", c.user, u, cells)
			}
		}
		for _, u := range c.notRows {
			if slices.Contains(cells, u) {
				t.Errorf("%s sees %s's row of the per-user split; want only their own", c.user, u)
			}
		}
		screenshot(t, ctx, c.shotName)
	}
}
