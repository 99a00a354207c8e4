package web

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gefion-hpc/gefion/internal/agent"
	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/cluster"
	"github.com/gefion-hpc/gefion/internal/job"
	"github.com/gefion-hpc/gefion/internal/store"
)

const secretScript = "#!/bin/sh\n#SBATCH --comment=duration=600\n#SBATCH --gpus-per-node=1\necho the-secret-of-alice\n"

func submit(t *testing.T, h *harness, user, script string) job.ID {
	t.Helper()
	spec, _, err := job.ParseScript([]byte(script))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := h.ctl.Submit(context.Background(), user, "", api.SubmitRequest{Spec: *spec})
	if err != nil {
		t.Fatal(err)
	}
	return resp.ID
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`)

func csrfOf(t *testing.T, page string) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF token in the page:\n%s", page)
	}
	return m[1]
}

func (h *harness) post(user, path string, form url.Values, header map[string]string) (*http.Response, string) {
	h.t.Helper()
	req, _ := http.NewRequest("POST", h.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	return h.do(user, req)
}

func TestPagesCarrySecurityHeaders(t *testing.T) {
	h := newHarness(t, 1)
	for _, p := range []string{"/", "/submit", "/cluster", "/projects", "/operators", "/static/app.js"} {
		resp, _ := h.get("alice", p)
		if resp.StatusCode != 200 {
			t.Errorf("GET %s = %d; want 200", p, resp.StatusCode)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "default-src 'none'") {
			t.Errorf("GET %s: Content-Security-Policy %q; want scripts from this server only", p, csp)
		}
	}
}

func TestPagesAnswerOnlyVerifiedUsers(t *testing.T) {
	h := newHarness(t, 0)
	resp, body := h.get("", "/")
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "no test user") {
		t.Errorf("GET / without a user = %d %q; want 401 with the controller's reason", resp.StatusCode, body)
	}
	// A stated X-Gefion-User is a claim; the web view never takes it.
	req, _ := http.NewRequest("GET", h.srv.URL+"/", nil)
	req.Header.Set(api.HeaderUser, "alice")
	if resp, _ := h.do("", req); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET / with only %s = %d; want 401", api.HeaderUser, resp.StatusCode)
	}
}

func TestReboundHostRefused(t *testing.T) {
	h := newHarness(t, 0)
	req, _ := http.NewRequest("GET", h.srv.URL+"/", nil)
	req.Host = "evil.example:8420"
	if resp, _ := h.do("alice", req); resp.StatusCode != http.StatusMisdirectedRequest {
		t.Errorf("GET / with Host evil.example = %d; want 421", resp.StatusCode)
	}
}

func TestSecondUserCannotSeeScript(t *testing.T) {
	h := newHarness(t, 1)
	id := submit(t, h, "alice", secretScript)
	path := "/jobs/" + ids(id)
	if resp, body := h.get("alice", path); resp.StatusCode != 200 || !strings.Contains(body, "the-secret-of-alice") {
		t.Fatalf("alice GET %s = %d; want her script shown:\n%s", path, resp.StatusCode, body)
	}
	resp, body := h.get("bob", path)
	if resp.StatusCode != http.StatusForbidden || strings.Contains(body, "the-secret-of-alice") {
		t.Errorf("bob GET %s = %d; want 403 without the script:\n%s", path, resp.StatusCode, body)
	}
	if _, body := h.get("bob", "/"); strings.Contains(body, "job-"+ids(id)) {
		t.Errorf("bob's My jobs lists alice's job %d", id)
	}
	// The cluster map names alice's job to her and to operators only.
	want := "job " + ids(id) + " of alice"
	for user, see := range map[string]bool{"alice": true, "admin": true, "bob": false} {
		h.waitFor("job running", func() bool {
			j, err := h.ctl.Job(context.Background(), "alice", job.Ref{ID: id})
			return err == nil && j.State == job.Running
		})
		if _, body := h.get(user, "/cluster"); strings.Contains(body, want) != see {
			t.Errorf("%s's cluster map names alice's job: %v; want %v", user, !see, see)
		}
	}
}

func TestFormsNeedTokenAndSameOrigin(t *testing.T) {
	h := newHarness(t, 1)
	id := submit(t, h, "alice", secretScript)
	_, page := h.get("alice", "/jobs/"+ids(id)+"/cancel")
	tok := csrfOf(t, page)
	path := "/jobs/" + ids(id) + "/cancel"
	cases := []struct {
		name   string
		form   url.Values
		header map[string]string
	}{
		{"no token", url.Values{}, nil},
		{"another user's token", url.Values{"csrf": {h.newServerToken("bob")}}, nil},
		{"cross-site", url.Values{"csrf": {tok}}, map[string]string{"Sec-Fetch-Site": "cross-site"}},
		{"foreign origin", url.Values{"csrf": {tok}}, map[string]string{"Origin": "https://evil.example"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if resp, _ := h.post("alice", path, c.form, c.header); resp.StatusCode != http.StatusForbidden {
				t.Errorf("POST %s = %d; want 403", path, resp.StatusCode)
			}
			j, err := h.ctl.Job(context.Background(), "alice", job.Ref{ID: id})
			if err != nil || j.State.Final() {
				t.Fatalf("job after a refused cancel: %v %v; want it still active", j, err)
			}
		})
	}
	resp, _ := h.post("alice", path, url.Values{"csrf": {tok}}, map[string]string{"Sec-Fetch-Site": "same-origin"})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("POST %s with the token = %d; want 303", path, resp.StatusCode)
	}
	h.waitFor("job cancelled", func() bool {
		j, err := h.ctl.Job(context.Background(), "alice", job.Ref{ID: id})
		return err == nil && j.State == job.Cancelled
	})
}

// newServerToken is the token the server gives user's pages.
func (h *harness) newServerToken(user string) string {
	_, page := h.get(user, "/submit")
	return csrfOf(h.t.(*testing.T), page)
}

func TestOtherUserCannotCancel(t *testing.T) {
	h := newHarness(t, 1)
	id := submit(t, h, "alice", secretScript)
	tok := h.newServerToken("bob")
	resp, body := h.post("bob", "/jobs/"+ids(id)+"/cancel", url.Values{"csrf": {tok}}, nil)
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "is not yours") || strings.Contains(body, "alice") {
		t.Errorf("bob cancelling alice's job = %d; want 403 with the controller's reason:\n%s", resp.StatusCode, body)
	}
	// The refusal is in the audit trail, as the API's are.
	recs, err := h.ctl.Audit(context.Background(), "admin", store.AuditQuery{User: "bob"})
	if err != nil || len(recs) == 0 || recs[len(recs)-1].Action != "POST /jobs/{id}/cancel" || recs[len(recs)-1].Outcome == "ok" || !strings.HasPrefix(recs[len(recs)-1].Via, "web, ") {
		t.Errorf("audit of bob's cancel from the web = %+v, %v; want a refusal recorded", recs, err)
	}
}

func TestPreviewShowsLinesAndSubmitsNothing(t *testing.T) {
	h := newHarness(t, 1)
	tok := h.newServerToken("alice")
	cases := []struct {
		name, script string
		status       int
		want         []string
	}{
		{"bad option", "#!/bin/sh\n#SBATCH --gpus-per-node=1\n#SBATCH --time=abc\necho\n", 422, []string{"line 3: --time=abc"}},
		{"ignored option", "#!/bin/sh\n#SBATCH --gpus-per-node=1\n\n#SBATCH --mail-type=END\necho\n", 200, []string{"line 4: --mail-type", "Estimated start", "gpus per node</dt><dd>1"}},
		{"too big for the machine", "#!/bin/sh\n#SBATCH --gpus-per-node=9\necho\n", 400, []string{"Rejected", "gpus"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, body := h.post("alice", "/submit", url.Values{"csrf": {tok}, "action": {"preview"}, "script": {c.script}}, nil)
			if resp.StatusCode != c.status {
				t.Errorf("preview = %d; want %d:\n%s", resp.StatusCode, c.status, body)
			}
			for _, w := range c.want {
				if !strings.Contains(body, w) {
					t.Errorf("preview lacks %q:\n%s", w, body)
				}
			}
		})
	}
	if jobs, _ := h.ctl.ListJobs(context.Background(), "alice", false, false); len(jobs) != 0 {
		t.Errorf("after previews alice has %d jobs; want none", len(jobs))
	}
}

func TestSubmitFormIsIdempotent(t *testing.T) {
	h := newHarness(t, 1)
	tok := h.newServerToken("alice")
	form := url.Values{"csrf": {tok}, "action": {"submit"}, "key": {"k1"}, "script": {"#!/bin/sh\r\n#SBATCH --job-name=twice\r\necho\r\n"}}
	for range 2 {
		if resp, body := h.post("alice", "/submit", form, nil); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("submit = %d; want 303:\n%s", resp.StatusCode, body)
		}
	}
	jobs, _ := h.ctl.ListJobs(context.Background(), "alice", false, false)
	if len(jobs) != 1 || jobs[0].Name != "twice" {
		t.Errorf("jobs after sending the form twice = %+v; want one named twice", jobs)
	}
}

func TestMyJobsFilterSortAndPage(t *testing.T) {
	h := newHarness(t, 1)
	for i := range 3 {
		name := []string{"bravo", "alpha", "charlie"}[i]
		submit(t, h, "alice", "#!/bin/sh\n#SBATCH --hold\n#SBATCH --job-name="+name+"\necho\n")
	}
	_, body := h.get("alice", "/?sort=name&order=asc")
	a, b, c := strings.Index(body, ">alpha<"), strings.Index(body, ">bravo<"), strings.Index(body, ">charlie<")
	if a < 0 || !(a < b && b < c) {
		t.Errorf("sorted by name: alpha at %d, bravo at %d, charlie at %d; want that order", a, b, c)
	}
	_, body = h.get("alice", "/?name=RAV")
	if !strings.Contains(body, ">bravo<") || strings.Contains(body, ">alpha<") {
		t.Errorf("name filter RAV: want bravo only")
	}
	if !strings.Contains(body, "Held") && !strings.Contains(body, "(held)") {
		t.Errorf("held jobs not shown as held")
	}
	if resp, body := h.get("alice", "/?sort=colour"); resp.StatusCode != 400 || !strings.Contains(body, "sort by one of") {
		t.Errorf("sort=colour = %d; want 400 saying what to sort by", resp.StatusCode)
	}
}

func ids(id job.ID) string { return strconv.FormatInt(int64(id), 10) }

func TestProjectsUsagePerDay(t *testing.T) {
	h := newHarness(t, 1)
	id := submit(t, h, "alice", "#!/bin/sh\n#SBATCH --gpus-per-node=8\n#SBATCH --comment=duration=1\necho\n")
	h.waitFor("job completed", func() bool {
		j, err := h.ctl.Job(context.Background(), "alice", job.Ref{ID: id})
		return err == nil && j.State == job.Completed
	})
	today := time.Now().Format("2006-01-02")
	row := regexp.MustCompile(`<tr><td>` + today + `</td><td class="num">(\d+)</td>`)
	for _, c := range []struct {
		user, whose string
		jobs        string
	}{{"alice", "your jobs", "1"}, {"bob", "your jobs", "0"}, {"admin", "every user's jobs", "1"}} {
		_, body := h.get(c.user, "/projects")
		m := row.FindStringSubmatch(body)
		if m == nil || m[1] != c.jobs || !strings.Contains(body, "("+strings.ReplaceAll(c.whose, "'", "&#39;")+")") {
			t.Errorf("%s's usage today = %v; want %s jobs counted as %s", c.user, m, c.jobs, c.whose)
		}
		// The one day with energy is the chart's full-height bar.
		if full := strings.Contains(body, `height="100" class="bar"><title>`+today); full != (c.jobs == "1") {
			t.Errorf("%s's chart: today's bar at full height %v; want %v\n%s", c.user, full, c.jobs == "1", body[strings.Index(body, "<svg"):])
		}
	}
}

// idleReporter is a virtual executor whose jobs' GPU 0 is reported idle
// at once, as the process executor does after its idle time.
type idleReporter struct{ agent.Virtual }

func (e *idleReporter) Start(a api.Assignment, report func(api.Report)) {
	e.Virtual.Start(a, report)
	report(api.Report{Kind: api.ReportIdle, JobID: a.JobID, Node: a.Node, GPU: a.GPUs[0], Message: "0% utilisation for 30m0s"})
}

func TestOperatorsPage(t *testing.T) {
	h := newHarnessWith(t, 2, &idleReporter{agent.Virtual{GPU: cluster.H100SXM}})
	id := submit(t, h, "alice", secretScript)
	h.waitFor("the idle warning", func() bool {
		w, err := h.ctl.Why(context.Background(), "alice", job.Ref{ID: id})
		return err == nil && len(w.Warnings) > 0
	})
	for user, see := range map[string]bool{"admin": true, "alice": true, "bob": false} {
		if _, body := h.get(user, "/operators"); strings.Contains(body, "0% utilisation") != see {
			t.Errorf("%s sees the idle warning of alice's job: %v; want %v", user, !see, see)
		}
	}
	form := url.Values{"nodes": {"dgx002"}, "reason": {"ECC errors"}, "action": {"drain"}}
	form.Set("csrf", h.newServerToken("bob"))
	if resp, body := h.post("bob", "/operators/nodes", form, nil); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "only operators") {
		t.Errorf("bob drains a node: %d; want 403 from the controller:\n%s", resp.StatusCode, body)
	}
	form.Set("csrf", h.newServerToken("admin"))
	if resp, body := h.post("admin", "/operators/nodes", form, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("admin drains a node: %d; want 303:\n%s", resp.StatusCode, body)
	}
	if _, body := h.get("admin", "/operators"); !strings.Contains(body, "<td>dgx002</td><td>drained</td><td>ECC errors (admin)</td>") {
		t.Errorf("operators page after the drain lacks dgx002 drained with its reason:\n%s", body)
	} else if !strings.Contains(body, "Audit trail") || !strings.Contains(body, "<td>admin</td>") {
		t.Errorf("operators page lacks the audit trail with the admin's drain:\n%s", body)
	}
	if _, body := h.get("bob", "/operators"); strings.Contains(body, "Audit trail") {
		t.Errorf("bob, no operator, sees the audit trail:\n%s", body)
	}
	form.Set("reason", "")
	if resp, body := h.post("admin", "/operators/nodes", form, nil); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "reason") {
		t.Errorf("drain without a reason: %d; want 400 asking for one:\n%s", resp.StatusCode, body)
	}
}

func TestHoldAndRelease(t *testing.T) {
	h := newHarness(t, 1)
	id := submit(t, h, "alice", "#!/bin/sh\n#SBATCH --begin=now+1hour\necho\n")
	path := "/jobs/" + ids(id)
	tok := h.newServerToken("alice")
	held := func() bool {
		j, err := h.ctl.Job(context.Background(), "alice", job.Ref{ID: id})
		if err != nil {
			t.Fatal(err)
		}
		return j.Held
	}
	for _, step := range []struct {
		action, button string
		held           bool
	}{{"hold", "release job", true}, {"release", "hold job", false}} {
		if _, body := h.get("alice", path+"/"+step.action); !strings.Contains(body, `action="`+path+"/"+step.action+`"`) {
			t.Fatalf("GET %s/%s: want a confirmation form:\n%s", path, step.action, body)
		}
		if resp, _ := h.post("alice", path+"/"+step.action, url.Values{"csrf": {tok}}, nil); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("POST %s/%s = %d; want 303", path, step.action, resp.StatusCode)
		}
		if held() != step.held {
			t.Errorf("after %s the job is held: %v; want %v", step.action, !step.held, step.held)
		}
		if _, body := h.get("alice", path); !strings.Contains(body, ">"+step.button+"<") {
			t.Errorf("after %s the job's page lacks the %q button", step.action, step.button)
		}
	}
	if resp, _ := h.get("alice", path+"/explode"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET %s/explode = %d; want 404", path, resp.StatusCode)
	}
}

func TestWhatIf(t *testing.T) {
	h := newHarness(t, 1)
	// One long job holds the node; two wait behind it in the order the
	// policies decide.
	submit(t, h, "alice", "#!/bin/sh\n#SBATCH --gpus-per-node=8\n#SBATCH --time=2:00:00\n#SBATCH --comment=duration=600\necho\n")
	for _, tl := range []string{"10:00:00", "0:10:00"} {
		submit(t, h, "alice", "#!/bin/sh\n#SBATCH --gpus-per-node=8\n#SBATCH --time="+tl+"\necho\n")
	}
	if resp, body := h.get("alice", "/whatif?policy=fifo"); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "only operators") {
		t.Errorf("alice's what-if = %d; want 403 (it names every user's jobs)", resp.StatusCode)
	}
	if resp, body := h.get("admin", "/whatif?policy=lottery"); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "choose one of") {
		t.Errorf("what-if under an unknown policy = %d; want 400 naming the policies:\n%s", resp.StatusCode, body)
	}
	resp, body := h.get("admin", "/whatif?policy=fifo")
	if resp.StatusCode != 200 || !strings.Contains(body, "gefion (running) against fifo") {
		t.Fatalf("what-if = %d:\n%s", resp.StatusCode, body)
	}
	// Under fifo the 10-hour job goes first, so the short one starts
	// later than under gefion's shortest-first order.
	if !strings.Contains(body, "later</td>") || !strings.Contains(body, "sooner</td>") {
		t.Errorf("what-if shows no job moving between the policies:\n%s", body[strings.Index(body, "<table"):])
	}
}

// TestStreamOutlivesReadTimeout: the controller's server bounds how long
// reading a request may take (HTTPConfig.ReadTimeout); an event stream,
// whose request was read long ago, must not end when that time passes
// (net/http lifts the read deadline once a request is read).
func TestStreamOutlivesReadTimeout(t *testing.T) {
	h := newHarness(t, 1)
	srv := httptest.NewUnstartedServer(h.srv.Config.Handler)
	srv.Config.ReadTimeout = 200 * time.Millisecond
	srv.Start()
	defer func() { srv.CloseClientConnections(); srv.Close() }()
	req, _ := http.NewRequest("GET", srv.URL+"/events/cluster", nil)
	req.Header.Set(testUserHeader, "alice")
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	ended := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, resp.Body)
		ended <- err
	}()
	select {
	case err := <-ended:
		t.Fatalf("the stream ended after the read timeout (%v); want it open", err)
	case <-time.After(time.Second):
	}
}

// TestClusterByUtilisationAndPower: the map colours GPUs by their
// measured utilisation or power on request (without JavaScript), each
// cell's label gives the figures, and an unknown mode is refused.
func TestClusterByUtilisationAndPower(t *testing.T) {
	h := newHarness(t, 1)
	submit(t, h, "alice", "#!/bin/sh\n#SBATCH --gpus-per-node=2\n#SBATCH --comment=duration=600\ntrue\n")
	h.waitFor("the job's GPUs measured busy", func() bool {
		_, body := h.get("alice", "/cluster?by=util")
		return strings.Count(body, `class="g l4" role="img"`) == 2 && strings.Count(body, `class="g l0" role="img"`) == 6
	})
	_, body := h.get("alice", "/cluster?by=util")
	if !strings.Contains(body, "100% busy, 700 W") || !strings.Contains(body, "0% busy, ") || !strings.Contains(body, "<strong>utilisation</strong>") {
		t.Errorf("the utilisation map lacks the figures or the mode:\n%s", body)
	}
	if _, body := h.get("alice", "/cluster?by=power"); strings.Count(body, `class="g l4" role="img"`) != 2 || !strings.Contains(body, "600 W or more") {
		t.Errorf("the power map: want the 2 busy GPUs at 600 W or more:\n%s", body)
	}
	if _, body := h.get("alice", "/cluster"); strings.Count(body, `class="g alloc" role="img"`) != 2 {
		t.Errorf("the state map: want 2 allocated GPUs:\n%s", body)
	}
	if resp, body := h.get("alice", "/cluster?by=colour"); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "state, util or power") {
		t.Errorf("an unknown mode: %d; want 400 naming the modes:\n%s", resp.StatusCode, body)
	}
}

// TestJobPageShowsItsGPUs: a running job's page gives each of its GPUs'
// utilisation and power as the node measured them.
func TestJobPageShowsItsGPUs(t *testing.T) {
	h := newHarness(t, 1)
	id := submit(t, h, "alice", "#!/bin/sh\n#SBATCH --gpus-per-node=2\n#SBATCH --comment=duration=600\ntrue\n")
	h.waitFor("the job's GPUs on its page", func() bool {
		_, body := h.get("alice", "/jobs/"+ids(id))
		return strings.Count(body, "<td>100%</td><td>700 W</td>") == 2
	})
}

// TestWhatIfReport: an operator's one click gets the twin's report of the
// live queue (a running job and two pending) under both policies, inline,
// with a Content Security Policy that allows its one style element by hash
// and no script; others get 403 and no report; an unknown policy 400.
func TestWhatIfReport(t *testing.T) {
	h := newHarness(t, 1)
	first := submit(t, h, "alice", "#!/bin/sh\n#SBATCH --gpus-per-node=8\n#SBATCH --time=2:00:00\n#SBATCH --comment=duration=600\necho\n")
	h.waitFor("job running", func() bool {
		j, err := h.ctl.Job(context.Background(), "alice", job.Ref{ID: first})
		return err == nil && j.State == job.Running
	})
	for _, tl := range []string{"10:00:00", "0:10:00"} {
		submit(t, h, "alice", "#!/bin/sh\n#SBATCH --gpus-per-node=8\n#SBATCH --time="+tl+"\necho\n")
	}
	if resp, body := h.get("alice", "/whatif/report?policy=fifo"); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "only operators") || strings.Contains(body, "<svg") {
		t.Errorf("alice's what-if report = %d; want 403 and no report:\n%s", resp.StatusCode, body)
	}
	if resp, body := h.get("admin", "/whatif/report?policy=lottery"); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "choose one of") || !strings.Contains(body, "fifo") {
		t.Errorf("what-if report under an unknown policy = %d; want 400 naming the policies:\n%s", resp.StatusCode, body)
	}
	if _, body := h.get("admin", "/whatif"); !strings.Contains(body, `formaction="/whatif/report"`) {
		t.Error("the What if page has no button for the report")
	}
	resp, body := h.get("admin", "/whatif/report?policy=fifo")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("what-if report = %d %s:\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	for _, want := range []string{"<td>gefion</td>", "<td>fifo</td>", "<svg", "2 pending jobs replayed", "behind the 1 running"} {
		if !strings.Contains(body, want) {
			t.Errorf("the report lacks %q:\n%s", want, body)
		}
	}
	csp := resp.Header.Get("Content-Security-Policy")
	_, rest, _ := strings.Cut(body, "<style>")
	css, _, _ := strings.Cut(rest, "</style>")
	sum := sha256.Sum256([]byte(css))
	if !strings.Contains(csp, "style-src 'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'") ||
		!strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "unsafe") || strings.Contains(csp, "script-src") {
		t.Errorf("the report's CSP %q must allow its style element by hash and nothing inline else", csp)
	}
	if strings.Contains(body, "<script") || strings.Contains(body, " style=") {
		t.Error("the report holds script or style attributes its CSP would block")
	}
}
