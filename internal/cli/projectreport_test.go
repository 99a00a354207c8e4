package cli

import (
	"strings"
	"testing"
	"time"
)

// TestProjectGrantEndAndReport: an admin gives a grant with an end, a bad
// end is refused with the reason, and a member reads the report.
func TestProjectGrantEndAndReport(t *testing.T) {
	lc := newLiveCluster(t)
	end := time.Now().AddDate(0, 0, 60).UTC().Format(time.DateOnly)
	if _, errs, code := lc.cli("ops", "project", "create", "med", "--grant", "100", "--grant-end", end, "--users", "alice"); code != 0 {
		t.Fatalf("project create --grant-end: %s", errs)
	}
	if _, errs, code := lc.cli("ops", "project", "grant", "med", "--end", "2001-01-01"); code == 0 || !strings.Contains(errs, "give an end after that") {
		t.Errorf("grant --end in the past: exit %d, %q; want refused, saying the end must follow the start", code, errs)
	}
	if _, errs, code := lc.cli("ops", "project", "grant", "med", "--end", "soon"); code != 2 || !strings.Contains(errs, `--end "soon"`) {
		t.Errorf("grant --end soon: exit %d, %q; want a usage error naming the flag", code, errs)
	}
	if _, errs, code := lc.cli("ops", "project", "grant", "med"); code != 2 {
		t.Errorf("grant without hours or end: exit %d, %q; want a usage error", code, errs)
	}
	out, errs, code := lc.cli("alice", "project", "report", "med")
	if code != 0 || !strings.Contains(out, "0.0 of 100.0 GPU-hours used") || !strings.Contains(out, "ends "+end) ||
		!strings.Contains(out, "Fair share: factor") || !strings.Contains(out, "alice") || !strings.Contains(out, "(all users)") {
		t.Errorf("project report as alice: exit %d, %s\n%s", code, errs, out)
	}
	out, _, code = lc.cli("alice", "project", "report", "med", "--json")
	if code != 0 || !strings.Contains(out, `"grant_end": `) || !strings.Contains(out, `"fair_share": {`) {
		t.Errorf("project report --json: exit %d\n%s", code, out)
	}
	if _, errs, code := lc.cli("bob", "project", "report", "med"); code == 0 || !strings.Contains(errs, "not a member of project med") {
		t.Errorf("project report as bob: exit %d, %q; want refused", code, errs)
	}
}
