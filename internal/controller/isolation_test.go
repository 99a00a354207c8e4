package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/job"
	"github.com/gefion-hpc/gefion/internal/store"
)

// The isolation test: every API route, as every role, on a job of the
// caller's own project and of another project.
//
// Project med has users alice (who owns the jobs tried) and amy, and
// manager mia; project quant has user bob and manager quinn; eve belongs
// to no project (only to the open default one); op is an operator and adm
// an admin. So, for alice's jobs in med:
//
//	owner            alice
//	user, own        amy      user, other project     bob
//	manager, own     mia      manager, other project  quinn
//	no project       eve
//	operator         op       admin                   adm
//
// Secrets mark what must not leak: alice's job's name, script, output
// path and step command line. A caller who may not see the job finds
// none of them in any answer; one who may see it but not its spec finds
// the name but not the rest.

const (
	secretName   = "med-secret-name"
	secretScript = "SCRIPT-SECRET"
	secretPath   = "/secret/out-%j"
	secretArgv   = "ARGV-SECRET"
)

var isoUsers = []string{"alice", "amy", "mia", "bob", "quinn", "eve", "op", "adm"}

// Who may what, for alice's jobs in med.
var (
	maySee      = []string{"alice", "amy", "mia", "op", "adm"}
	maySpec     = []string{"alice", "mia", "adm"}
	mayAct      = []string{"alice", "mia", "op", "adm"}
	mayStep     = []string{"alice", "adm"}
	mayOperate  = []string{"op", "adm"}
	mayAdmin    = []string{"adm"}
	mayMembers  = []string{"mia", "adm"}
	maySubmit   = []string{"alice", "amy", "op", "adm"}
	everyone    = isoUsers
	mayProjects = maySee // the members and managers of med, operators, admins
)

type isoFixture struct {
	h       *harness
	run     job.ID // alice's running job in med, with step 0 running
	pending job.ID // alice's pending job in med, once pendingJob made it
}

func newIsoFixture(t *testing.T) *isoFixture {
	st := store.NewMemory()
	err := st.Apply(context.Background(), &store.Batch{Projects: []store.ProjectRecord{
		{Name: "med", Users: []string{"alice", "amy"}, Managers: []string{"mia"}},
		{Name: "quant", Users: []string{"bob"}, Managers: []string{"quinn"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Operators: []string{"op"}, Admins: []string{"adm"}}
	h, rec, id := newStepHarnessWith(t, cfg, st, job.Spec{Name: secretName, Account: "med",
		Script: "#!/bin/sh\necho " + secretScript + "\n", Output: secretPath})
	if _, err := h.client("alice").CreateStep(context.Background(), id, api.StepRequest{Argv: []string{"echo", secretArgv}, IOAddr: "127.0.0.1:4000"}); err != nil {
		t.Fatal(err)
	}
	rec.next(t)
	go func() {
		// The agent's step commands are not what this test reads.
		for range rec.cmds {
		}
	}()
	return &isoFixture{h: h, run: id}
}

// held submits a held job of alice's in med, for an action to act on.
func (f *isoFixture) held(t *testing.T) job.ID {
	t.Helper()
	spec := gpuSpec(1, "")
	spec.Name, spec.Account, spec.Hold, spec.Script, spec.Output = secretName, "med", true, "#!/bin/sh\necho "+secretScript+"\n", secretPath
	resp, err := f.h.client("alice").Submit(context.Background(), api.SubmitRequest{Spec: spec}, "")
	if err != nil {
		t.Fatal(err)
	}
	return resp.ID
}

// pendingJob submits, once, a job of alice's in med that waits behind the
// running one (which holds every GPU), for the priority list.
func (f *isoFixture) pendingJob(t *testing.T) job.ID {
	t.Helper()
	if f.pending != 0 {
		return f.pending
	}
	spec := gpuSpec(8, "")
	spec.Name, spec.Account = secretName, "med"
	resp, err := f.h.client("alice").Submit(context.Background(), api.SubmitRequest{Spec: spec}, "")
	if err != nil {
		t.Fatal(err)
	}
	f.pending = resp.ID
	f.h.waitFor("the pending job in the priority list", func() bool {
		pl, err := f.h.client("op").Priority(context.Background())
		return err == nil && slices.ContainsFunc(pl.Jobs, func(j api.JobPriority) bool { return j.JobID == resp.ID })
	})
	return f.pending
}

// state is a job's state and hold as the store has them.
func (f *isoFixture) state(t *testing.T, id job.ID) string {
	t.Helper()
	recs, err := f.h.st.Jobs(context.Background(), store.JobQuery{IDs: []job.ID{id}})
	if err != nil || len(recs) != 1 {
		t.Fatalf("job %d in the store: %v, %v", id, recs, err)
	}
	return fmt.Sprintf("%s held=%v", recs[0].State, recs[0].Spec.Hold)
}

// isoCase is one route: try calls it as user and says whether the call
// was allowed (for a list: whether it showed the job); body is the
// answer's body, checked for leaks.
type isoCase struct {
	route string
	may   []string
	// spec: the answer carries the job's spec exactly for maySpec.
	spec bool
	try  func(t *testing.T, f *isoFixture, user string) (allowed bool, code int, body string)
	// job, for routes that act on a job: the job to act on, and its
	// state must not change when the call is refused.
	job func(t *testing.T, f *isoFixture) job.ID
	// also lists refusal codes this route may give besides 403 (a route
	// that needs authentication this test controller does not have).
	also []int
}

func status(code int) bool { return code == http.StatusOK }

func TestIsolation(t *testing.T) {
	f := newIsoFixture(t)
	run := func(id job.ID) string { return fmt.Sprint(id) }
	get := func(path string) func(t *testing.T, f *isoFixture, user string) (bool, int, string) {
		return func(t *testing.T, f *isoFixture, user string) (bool, int, string) {
			code, body := f.h.raw("GET", strings.ReplaceAll(path, "RUN", run(f.run)), user, "")
			return status(code), code, string(body)
		}
	}
	// shows: a list answer that is 200 whether or not the job is in it.
	shows := func(path string) func(t *testing.T, f *isoFixture, user string) (bool, int, string) {
		return func(t *testing.T, f *isoFixture, user string) (bool, int, string) {
			code, body := f.h.raw("GET", strings.ReplaceAll(path, "RUN", run(f.run)), user, "")
			if code != http.StatusOK {
				t.Fatalf("GET %s as %s = %d %s; want 200", path, user, code, body)
			}
			return strings.Contains(string(body), secretName), code, string(body)
		}
	}
	onJob := func(method, suffix, body string) func(id job.ID) func(t *testing.T, f *isoFixture, user string) (bool, int, string) {
		return func(id job.ID) func(t *testing.T, f *isoFixture, user string) (bool, int, string) {
			return func(t *testing.T, f *isoFixture, user string) (bool, int, string) {
				code, b := f.h.raw(method, "/v1/jobs/"+run(id)+suffix, user, body)
				return status(code), code, string(b)
			}
		}
	}
	send := func(method, path, body string) func(t *testing.T, f *isoFixture, user string) (bool, int, string) {
		return func(t *testing.T, f *isoFixture, user string) (bool, int, string) {
			code, b := f.h.raw(method, path, user, strings.ReplaceAll(body, "USER", user))
			return status(code), code, string(b)
		}
	}
	heldJob := func(t *testing.T, f *isoFixture) job.ID { return f.held(t) }
	runningJob := func(t *testing.T, f *isoFixture) job.ID { return f.run }

	cases := []isoCase{
		{route: "GET /v1/jobs", may: maySee, try: shows("/v1/jobs?all=1")},
		{route: "GET /v1/jobs", may: maySee, try: shows("/v1/jobs?all=1&fields=id,name,node_list,user")},
		{route: "GET /v1/jobs/{id}", may: maySee, spec: true, try: get("/v1/jobs/RUN")},
		{route: "GET /v1/jobs/{id}/why", may: maySee, try: get("/v1/jobs/RUN/why")},
		// The output is read by the job's node: this test's virtual node
		// keeps no files and says so (503); everyone else is refused
		// before the node is asked.
		{route: "GET /v1/jobs/{id}/output", may: maySpec, try: func(t *testing.T, f *isoFixture, user string) (bool, int, string) {
			code, body := f.h.raw("GET", "/v1/jobs/"+run(f.run)+"/output", user, "")
			if code == http.StatusServiceUnavailable && !strings.Contains(string(body), "keeps no output files") {
				t.Errorf("GET output as %s = 503 %s; want the node's word that it keeps no files", user, body)
			}
			return code == http.StatusOK || code == http.StatusServiceUnavailable, code, string(body)
		}},
		{route: "GET /v1/jobs/{id}/steps", may: maySee, spec: true, try: get("/v1/jobs/RUN/steps")},
		{route: "GET /v1/steps", may: maySee, spec: true, try: func(t *testing.T, f *isoFixture, user string) (bool, int, string) {
			code, body := f.h.raw("GET", "/v1/steps?ids="+run(f.run), user, "")
			var steps []api.Step
			if code != http.StatusOK || json.Unmarshal(body, &steps) != nil {
				t.Fatalf("GET /v1/steps as %s = %d %s", user, code, body)
			}
			return len(steps) > 0, code, string(body)
		}},
		{route: "GET /v1/priority", may: maySee, try: func(t *testing.T, f *isoFixture, user string) (bool, int, string) {
			id := f.pendingJob(t)
			code, body := f.h.raw("GET", "/v1/priority", user, "")
			var pl api.PriorityList
			if code != http.StatusOK || json.Unmarshal(body, &pl) != nil {
				t.Fatalf("GET /v1/priority as %s = %d %s", user, code, body)
			}
			return slices.ContainsFunc(pl.Jobs, func(j api.JobPriority) bool { return j.JobID == id }), code, string(body)
		}},
		{route: "GET /v1/acct", may: maySee, try: shows("/v1/acct?user=alice")},
		{route: "GET /v1/acct", may: maySee, try: shows("/v1/acct?fields=id,name,user,node_list&user=alice")},
		{route: "GET /v1/acct", may: maySee, try: shows("/v1/acct?fields=id,name&account=med")},
		{route: "GET /v1/nodes", may: maySee, try: func(t *testing.T, f *isoFixture, user string) (bool, int, string) {
			code, body := f.h.raw("GET", "/v1/nodes", user, "")
			var ns []api.Node
			if code != http.StatusOK || json.Unmarshal(body, &ns) != nil {
				t.Fatalf("GET /v1/nodes as %s = %d %s", user, code, body)
			}
			return len(ns) > 0 && slices.Contains(ns[0].Jobs, f.run), code, string(body)
		}},
		{route: "GET /v1/projects", may: mayProjects, try: func(t *testing.T, f *isoFixture, user string) (bool, int, string) {
			code, body := f.h.raw("GET", "/v1/projects", user, "")
			var ps []api.Project
			if code != http.StatusOK || json.Unmarshal(body, &ps) != nil {
				t.Fatalf("GET /v1/projects as %s = %d %s", user, code, body)
			}
			for _, p := range ps {
				if p.Name == "med" {
					if p.RunningGPUs != 16 {
						t.Errorf("GET /v1/projects as %s: med runs %d GPUs; want 16 for everyone (counts stay truthful)", user, p.RunningGPUs)
					}
					return slices.Contains(p.Users, "alice"), code, string(body)
				}
			}
			t.Fatalf("GET /v1/projects as %s: no med in %s", user, body)
			return false, code, ""
		}},
		// A project's report: its members, managers and operators read it;
		// alice's own row only she, med's manager and operators see.
		{route: "GET /v1/projects/{name}/report", may: mayProjects, try: get("/v1/projects/med/report")},
		{route: "GET /v1/projects/{name}/report", may: mayAct, try: func(t *testing.T, f *isoFixture, user string) (bool, int, string) {
			code, body := f.h.raw("GET", "/v1/projects/med/report?days=3", user, "")
			if code != http.StatusOK {
				return false, code, string(body)
			}
			var rep api.ProjectReport
			if err := json.Unmarshal(body, &rep); err != nil {
				t.Fatalf("GET /v1/projects/med/report as %s: %v in %s", user, err, body)
			}
			if rep.Total.Jobs == 0 {
				t.Errorf("GET /v1/projects/med/report as %s: total %+v; want alice's running job counted for everyone who reads it", user, rep.Total)
			}
			return slices.ContainsFunc(rep.Users, func(u api.ProjectUse) bool { return u.User == "alice" }), code, string(body)
		}},
		{route: "GET /v1/config", may: everyone, try: get("/v1/config")},
		{route: "GET /v1/health", may: everyone, try: get("/v1/health")},
		{route: "GET /v1/audit", may: mayOperate, try: get("/v1/audit?limit=5")},
		// Tokens and node keys belong to verified identities, which this
		// controller (stated names) has none of: a token list is empty for
		// everyone, and issuing, revoking and forgetting are refused
		// (ident's own tests cover them with authentication on).
		{route: "GET /v1/tokens", may: everyone, try: get("/v1/tokens")},
		{route: "POST /v1/tokens", may: nil, also: []int{http.StatusBadRequest}, try: send("POST", "/v1/tokens", `{}`)},
		{route: "DELETE /v1/tokens/{id}", may: nil, also: []int{http.StatusNotFound}, try: send("DELETE", "/v1/tokens/abc", "")},
		{route: "DELETE /v1/nodes/{name}/key", may: nil, also: []int{http.StatusNotFound}, try: send("DELETE", "/v1/nodes/dgx001/key", "")},

		{route: "POST /v1/jobs", may: maySubmit, try: send("POST", "/v1/jobs", `{"spec":{"name":"x","account":"med","hold":true,"gpus_per_node":1,"time_limit_s":60,"script":"#!/bin/sh\n"}}`)},
		{route: "DELETE /v1/jobs/{id}", may: mayAct, job: heldJob},
		{route: "POST /v1/jobs/{id}/cancel", may: mayAct, job: heldJob},
		{route: "POST /v1/jobs/{id}/hold", may: mayAct, job: heldJob},
		{route: "POST /v1/jobs/{id}/release", may: mayAct, job: heldJob},
		{route: "POST /v1/jobs/{id}/steps", may: mayStep, job: runningJob},
		{route: "POST /v1/jobs/{id}/steps/{step}/cancel", may: mayAct, job: runningJob},
		{route: "POST /v1/nodes/drain", may: mayOperate, try: send("POST", "/v1/nodes/drain", `{"nodes":"dgx002","reason":"test by USER"}`)},
		{route: "POST /v1/nodes/resume", may: mayOperate, try: send("POST", "/v1/nodes/resume", `{"nodes":"dgx002"}`)},
		{route: "POST /v1/projects", may: mayAdmin, try: send("POST", "/v1/projects", `{"name":"new-USER"}`)},
		{route: "PATCH /v1/projects/{name}", may: mayMembers, try: send("PATCH", "/v1/projects/med", `{"add_users":["zed"]}`)},
		{route: "PATCH /v1/projects/{name}", may: mayAdmin, try: send("PATCH", "/v1/projects/med", `{"grant_gpu_hours":100}`)},
		{route: "PATCH /v1/projects/{name}", may: mayAdmin, try: send("PATCH", "/v1/projects/quant", `{"add_managers":["USER"]}`)},
	}
	jobActions := map[string]func(id job.ID) func(t *testing.T, f *isoFixture, user string) (bool, int, string){
		"DELETE /v1/jobs/{id}":                   onJob("DELETE", "", ""),
		"POST /v1/jobs/{id}/cancel":              onJob("POST", "/cancel", ""),
		"POST /v1/jobs/{id}/hold":                onJob("POST", "/hold", ""),
		"POST /v1/jobs/{id}/release":             onJob("POST", "/release", ""),
		"POST /v1/jobs/{id}/steps":               onJob("POST", "/steps", `{"argv":["true"],"io_addr":"127.0.0.1:4000"}`),
		"POST /v1/jobs/{id}/steps/{step}/cancel": onJob("POST", "/steps/0/cancel?signal=USR1", ""),
	}

	// Every route of the API is covered.
	covered := map[string]bool{}
	for _, c := range cases {
		covered[c.route] = true
	}
	for _, rt := range f.h.ctl.apiRoutes() {
		if !covered[rt.pattern] {
			t.Errorf("route %s has no isolation case", rt.pattern)
		}
	}

	ctx := context.Background()
	for _, c := range cases {
		for _, user := range isoUsers {
			t.Run(c.route+"/"+user, func(t *testing.T) {
				try := c.try
				var id job.ID
				var before string
				if c.job != nil {
					id = c.job(t, f)
					before = f.state(t, id)
					try = jobActions[c.route](id)
				}
				mutating := !strings.HasPrefix(c.route, "GET ")
				audit, err := f.h.st.Audit(ctx, store.AuditQuery{User: user})
				if err != nil {
					t.Fatal(err)
				}
				want := slices.Contains(c.may, user)
				got, code, body := try(t, f, user)
				if got != want {
					t.Fatalf("%s as %s: allowed/shown = %v (%d %s); want %v", c.route, user, got, code, body, want)
				}
				if !got && code != http.StatusOK && code != http.StatusForbidden && !(c.route == "POST /v1/jobs" && code == http.StatusBadRequest) && !slices.Contains(c.also, code) {
					t.Errorf("%s as %s refused with %d; want 403", c.route, user, code)
				}
				// Nothing of a job the caller may not see leaks; its spec
				// only to those who may read it.
				leaks := []string{secretScript, secretPath, secretArgv}
				if !slices.Contains(maySee, user) {
					leaks = append(leaks, secretName)
				}
				if c.spec && slices.Contains(maySpec, user) {
					if !strings.Contains(body, secretScript) && !strings.Contains(body, secretArgv) {
						t.Errorf("%s as %s: the answer lacks the spec, which %s may read: %s", c.route, user, user, body)
					}
				} else {
					for _, s := range leaks {
						if strings.Contains(body, s) {
							t.Errorf("%s as %s: the answer leaks %q: %s", c.route, user, s, body)
						}
					}
				}
				if c.job != nil && !want {
					if after := f.state(t, id); after != before {
						t.Errorf("%s as %s was refused but changed job %d: %s -> %s", c.route, user, id, before, after)
					}
				}
				// Every change, and every refusal, leaves an audit record.
				if mutating || code == http.StatusForbidden {
					after, err := f.h.st.Audit(ctx, store.AuditQuery{User: user})
					if err != nil {
						t.Fatal(err)
					}
					found := false
					for _, a := range after[len(audit):] {
						if a.Action == c.route && a.Status == code && a.Via == "stated" {
							found = true
						}
					}
					if !found {
						t.Errorf("%s as %s (%d): no audit record; new records: %+v", c.route, user, code, after[len(audit):])
					}
				}
			})
		}
	}
}

// TestAuditRecordsWhatAndWho: the trail names the target, and a refused
// drain names its refusal.
func TestAuditRecordsWhatAndWho(t *testing.T) {
	h := newHarness(t, Config{Operators: []string{"op"}}, nil, 1)
	if code, body := h.raw("POST", "/v1/nodes/drain", "mallory", `{"nodes":"dgx001","reason":"x"}`); code != http.StatusForbidden {
		t.Fatalf("drain as mallory = %d %s; want 403", code, body)
	}
	code, resp, body := h.submitJSON("alice", gpuSpec(1, ""))
	if code != http.StatusOK {
		t.Fatalf("submit = %d %s", code, body)
	}
	recs, err := h.ctl.Audit(context.Background(), "op", store.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 {
		t.Fatalf("audit = %+v; want 2 records", recs)
	}
	d, s := recs[0], recs[1]
	if d.User != "mallory" || d.Action != "POST /v1/nodes/drain" || d.Target != "dgx001" || d.Outcome != api.CodeForbidden || !strings.Contains(d.Detail, "only operators") {
		t.Errorf("drain record = %+v", d)
	}
	if s.User != "alice" || s.Action != "POST /v1/jobs" || s.Target != fmt.Sprint(resp.ID) || s.Outcome != "ok" || s.Status != 200 {
		t.Errorf("submit record = %+v; want alice's job %d, ok", s, resp.ID)
	}
	if _, err := h.ctl.Audit(context.Background(), "alice", store.AuditQuery{}); err == nil {
		t.Error("Audit as alice succeeded; want only operators")
	}
}

// TestUnidentifiedIsAudited: a request that names no valid user is
// refused with 401 and leaves a record of where it came from.
func TestUnidentifiedIsAudited(t *testing.T) {
	h := newHarness(t, Config{}, nil, 0)
	for _, r := range []struct{ method, path, user string }{
		{"GET", "/v1/jobs", ""},
		{"POST", "/v1/jobs/1/cancel", "bad name"},
	} {
		if code, body := h.raw(r.method, r.path, r.user, ""); code != http.StatusUnauthorized {
			t.Errorf("%s %s as %q = %d %s; want 401", r.method, r.path, r.user, code, body)
		}
	}
	recs, err := h.st.Audit(context.Background(), store.AuditQuery{})
	if err != nil || len(recs) != 2 {
		t.Fatalf("audit = %+v, %v; want 2 records", recs, err)
	}
	for _, a := range recs {
		if a.User != "" || !strings.HasPrefix(a.Via, "unauthenticated from 127.0.0.1:") || a.Outcome != api.CodeUnauthorized || a.Status != 401 {
			t.Errorf("record %+v; want an unauthenticated refusal from loopback", a)
		}
	}
	if recs[1].Action != "POST /v1/jobs/{id}/cancel" || recs[1].Target != "1" {
		t.Errorf("record %+v; want the cancel of job 1", recs[1])
	}
}
