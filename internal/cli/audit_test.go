package cli

import (
	"strings"
	"testing"
)

// TestProjectManagersAndAudit: an admin makes a manager; the manager adds
// and removes users of their project but changes nothing else; the audit
// trail shows it all to operators only.
func TestProjectManagersAndAudit(t *testing.T) {
	lc := newLiveCluster(t)
	steps := []struct {
		user string
		args []string
		ok   bool
		want string // in stderr when refused
	}{
		{"ops", []string{"project", "create", "med", "--users", "alice"}, true, ""},
		{"ops", []string{"project", "add-manager", "med", "mia"}, true, ""},
		{"mia", []string{"project", "add-user", "med", "amy", "ann"}, true, ""},
		{"mia", []string{"project", "remove-user", "med", "ann"}, true, ""},
		{"mia", []string{"project", "remove-user", "med", "nobody"}, false, "not a member"},
		{"mia", []string{"project", "grant", "med", "100"}, false, "only admins"},
		{"mia", []string{"project", "add-manager", "med", "amy"}, false, "only admins"},
		{"amy", []string{"project", "add-user", "med", "zed"}, false, "do not manage project med"},
		{"mia", []string{"audit"}, false, "only operators"},
	}
	for _, s := range steps {
		_, errs, code := lc.cli(s.user, s.args...)
		if (code == 0) != s.ok || !s.ok && !strings.Contains(errs, s.want) {
			t.Errorf("%s: gefion %s: exit %d, %q; want ok=%v saying %q", s.user, strings.Join(s.args, " "), code, errs, s.ok, s.want)
		}
	}
	out, errs, code := lc.cli("ops", "project", "usage", "--json")
	if code != 0 || !strings.Contains(out, `"managers": [`) || !strings.Contains(out, `"amy"`) || strings.Contains(out, `"ann"`) {
		t.Errorf("project usage: exit %d, %s %s; want med with manager mia and users alice, amy", code, out, errs)
	}
	out, errs, code = lc.cli("ops", "audit", "--user", "mia")
	if code != 0 {
		t.Fatalf("audit: exit %d, %s", code, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	// The header, then mia's six requests above (the refusals too).
	if len(lines) != 7 || !strings.Contains(lines[0], "OUTCOME") || !strings.Contains(lines[1], "PATCH /v1/projects/{name}") ||
		!strings.Contains(lines[1], "med") || !strings.Contains(lines[5], "forbidden (403)") {
		t.Errorf("audit --user mia:\n%s", out)
	}
	out, _, code = lc.cli("ops", "audit", "--json", "--since", "now-1hour")
	if code != 0 || !strings.Contains(out, `"records": [`) || !strings.Contains(out, `"via": "stated"`) {
		t.Errorf("audit --json: exit %d\n%s", code, out)
	}
}
