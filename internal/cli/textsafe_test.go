package cli

import (
	"strings"
	"testing"
)

// TestHumanOutputEscapesUserText names jobs and a drained node's reason with
// text that holds a screen-clearing escape sequence, a right-to-left
// override and a newline, and checks that no table or message prints them
// raw: the escapes are visible and every table keeps one row per job or
// node. (The controller refuses such project and user names.)
func TestHumanOutputEscapesUserText(t *testing.T) {
	const evil = "x\x1b[2J\u202ey\nz"
	lc := newLiveCluster(t)
	if _, errs, code := lc.cli("alice", "sbatch", "-J", evil, "--comment=duration=0", "--wrap", "true"); code != 0 {
		t.Fatalf("sbatch -J %q: exit %d: %s", evil, code, errs)
	}
	if _, errs, code := lc.cli("alice", "sbatch", "-J", evil, "--hold", "--wrap", "true"); code != 0 {
		t.Fatalf("sbatch -J %q --hold: exit %d: %s", evil, code, errs)
	}
	if _, errs, code := lc.cli("ops", "drain", "dgx002", "--reason", evil); code != 0 {
		t.Fatalf("drain --reason %q: exit %d: %s", evil, code, errs)
	}
	lc.waitFor(func() bool {
		out, _, _ := lc.cli("alice", "acct", "--json", "-j", "1")
		return strings.Contains(out, `"state": "COMPLETED"`)
	})
	for _, tc := range []struct {
		args  []string
		lines int // the table's rows, header included; 0: not a table
		want  string
	}{
		{[]string{"queue"}, 2, `x\e[2J\u{202`}, // the name is cut at 12 bytes
		{[]string{"queue", "--start"}, 2, `x\e[2J\u{202`},
		{[]string{"acct", "-X", "-j", "1,2"}, 4, `x\e[2J\u{2`},
		{[]string{"why", "2"}, 0, ""},
		{[]string{"scontrol", "show", "job", "2"}, 0, `JobName=x\e[2J\u{202e}y\nz`},
		{[]string{"sbatch", "--test-only", "-J", evil, "--wrap", "true"}, 0, `Job x\e[2J\u{202e}y\nz checked`},
		{[]string{"nodes"}, 3, `x\e[2J\u{202e}y\nz`},
		{[]string{"nodes", "-N"}, 3, `x\e[2J\u{202e}y\nz`},
	} {
		user := "alice"
		if tc.args[0] == "nodes" {
			user = "ops"
		}
		out, errs, code := lc.cli(user, tc.args...)
		if code != 0 {
			t.Errorf("%v: exit %d: %s", tc.args, code, errs)
			continue
		}
		if strings.ContainsAny(out, "\x1b\u202e") {
			t.Errorf("%v prints control or bidi characters raw:\n%q", tc.args, out)
		}
		if !strings.Contains(out, tc.want) {
			t.Errorf("%v does not show %q:\n%s", tc.args, tc.want, out)
		}
		if n := strings.Count(out, "\n"); tc.lines > 0 && n != tc.lines {
			t.Errorf("%v prints %d lines; want %d (a newline in user text broke a row):\n%s", tc.args, n, tc.lines, out)
		}
	}
	// An error message that quotes user text escapes it too.
	_, errs, code := lc.cli("ops", "project", "usage", evil)
	if code == 0 || strings.ContainsAny(errs, "\x1b\u202e") || strings.Count(errs, "\n") != 1 || !strings.Contains(errs, `x\e[2J`) {
		t.Errorf("project usage %q: exit %d, stderr %q; want one escaped line", evil, code, errs)
	}
}

func TestTruncKeepsWholeCharacters(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"short", 12, "short"},
		{"abcdef", 3, "abc"},
		{"ab\u00e9cd", 3, "ab"}, // é is two bytes: cutting inside it would print half a character
		{"\u202e\u202e", 4, "\u202e"},
	} {
		if got := trunc(tc.in, tc.n); got != tc.want {
			t.Errorf("trunc(%q, %d) = %q; want %q", tc.in, tc.n, got, tc.want)
		}
	}
}
