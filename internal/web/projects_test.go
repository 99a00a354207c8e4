package web

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/job"
)

// projectFixture makes project med (alice and amy, managed by mia, 100
// GPU-hours granted to 30 days from now) and runs a job of alice's and
// one of amy's in it to the end.
func projectFixture(t *testing.T, h *harness) {
	t.Helper()
	grant, end := 100.0, time.Now().Unix()+30*86400
	if err := h.ctl.ChangeProject(context.Background(), "admin", api.ProjectChange{Name: "med", AddUsers: []string{"alice", "amy"},
		AddManagers: []string{"mia"}, GrantGPUHours: &grant, GrantEnd: &end}, true); err != nil {
		t.Fatal(err)
	}
	var ids []job.ID
	for _, u := range []string{"alice", "amy"} {
		ids = append(ids, submit(t, h, u, "#!/bin/sh\n#SBATCH --account=med\n#SBATCH --gpus-per-node=8\n#SBATCH --comment=duration=2\necho\n"))
	}
	h.waitFor("both jobs completed", func() bool {
		for _, id := range ids {
			j, err := h.ctl.Job(context.Background(), "admin", job.Ref{ID: id})
			if err != nil || j.State != job.Completed {
				return false
			}
		}
		return true
	})
}

// userRow finds a user's row in the per-user table.
func userRow(body, user string) bool {
	return regexp.MustCompile(`<tr><td>` + user + `</td><td class="num">1</td>`).MatchString(body)
}

func TestProjectsReportPage(t *testing.T) {
	h := newHarness(t, 2)
	projectFixture(t, h)

	_, body := h.get("alice", "/projects") // her project is chosen for her
	for _, want := range []string{
		`<h2 id="report-h">Project med</h2>`,
		`role="img" aria-label="Burn-down of project med&#39;s grant`,
		`even use to the grant&#39;s end (` + time.Unix(time.Now().Unix()+30*86400, 0).UTC().Format(time.DateOnly) + `)`,
		`role="img" aria-label="CO2 of project med&#39;s jobs per day, location- and market-based`,
		`role="img" aria-label="Energy of project med&#39;s jobs per day`,
		`Why: project med used`,
		`<th scope="row">all users</th><td class="num">2</td>`,
		`You see your own row and the project`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("alice's Projects page lacks %q", want)
		}
	}
	if !userRow(body, "alice") || userRow(body, "amy") {
		t.Errorf("alice's per-user rows: alice %v, amy %v; want only her own", userRow(body, "alice"), userRow(body, "amy"))
	}
	if !strings.Contains(body, `id="runs-out"`) {
		t.Errorf("alice's page gives no date the grant runs out at the current rate")
	}

	// The manager sees every member's row.
	_, body = h.get("mia", "/projects?p=med")
	if !userRow(body, "alice") || !userRow(body, "amy") || strings.Contains(body, "You see your own row") {
		t.Errorf("mia's per-user rows: alice %v, amy %v; want both", userRow(body, "alice"), userRow(body, "amy"))
	}

	// bob is no member: the controller refuses, and nothing of med's use
	// is on the page.
	resp, body := h.get("bob", "/projects?p=med")
	if resp.StatusCode != 200 || !strings.Contains(body, "not a member of project med") || userRow(body, "alice") || strings.Contains(body, "Burn-down of project med") {
		t.Errorf("bob's report of med = %d; want the refusal and no rows or chart:\n%s", resp.StatusCode, body)
	}
	// Nor does he see med's members in the list of projects.
	if strings.Contains(body, "alice, amy") {
		t.Errorf("bob's list of projects names med's members")
	}
}
