package cli

import (
	"strings"
	"testing"
)

// TestSprioAgainstALiveController runs sprio against a controller whose
// nodes are full: the waiting jobs are listed with Slurm's columns, the
// filters select, -w prints the weights and bad input is refused.
func TestSprioAgainstALiveController(t *testing.T) {
	lc := newLiveCluster(t)
	for _, args := range [][]string{
		{"sbatch", "--gpus-per-node=8", "-N2", "-t", "60", "--comment=duration=1000", "--wrap", "true"},
		{"sbatch", "--gpus-per-node=1", "-t", "10", "--wrap", "true"},
		{"sbatch", "--gpus-per-node=4", "-t", "600", "--nice=100", "--wrap", "true"},
	} {
		if _, errs, code := lc.cli("alice", args...); code != 0 {
			t.Fatalf("%v: %s", args, errs)
		}
		if args[1] == "--gpus-per-node=8" {
			lc.waitFor(func() bool { out, _, _ := lc.cli("alice", "squeue", "-h", "-o", "%i %t"); return out == "1 R\n" })
		}
	}
	lc.waitFor(func() bool {
		out, _, _ := lc.cli("alice", "squeue", "-h", "-t", "PD", "-o", "%i")
		return out == "2\n3\n"
	})
	out, errs, code := lc.cli("alice", "sprio")
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if code != 0 || len(lines) != 3 || lines[0] != "          JOBID PARTITION   PRIORITY       SITE        AGE  FAIRSHARE        QOS" ||
		!strings.HasPrefix(lines[1], "              2 ") || !strings.HasPrefix(lines[2], "              3 ") {
		t.Errorf("sprio: exit %d, %q\n%s", code, errs, out)
	}
	out, _, _ = lc.cli("alice", "sprio", "-h", "-j", "3", "-o", "%i %N %u")
	if out != "3 100 alice\n" {
		t.Errorf("sprio -h -j 3 -o '%%i %%N %%u' = %q; want \"3 100 alice\\n\"", out)
	}
	out, _, _ = lc.cli("alice", "sprio", "-w", "-h")
	if !strings.HasPrefix(out, "        Weights                               1       5000") {
		t.Errorf("sprio -w -h = %q; want the weights line of the default policy", out)
	}
	out, _, _ = lc.cli("alice", "sprio", "-u", "nobody")
	if out != "Unable to find jobs matching user/id(s) specified\n" {
		t.Errorf("sprio -u nobody = %q", out)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"sprio", "-j", "abc"}, `invalid job id "abc"`},
		{[]string{"sprio", "-o", "%z"}, "%z is not an sprio format code"},
		{[]string{"sprio", "--federation"}, "unrecognized option '--federation'"},
	} {
		if _, errs, code := lc.cli("alice", tc.args...); code != 2 || !strings.Contains(errs, tc.want) {
			t.Errorf("%v: exit %d, %q; want 2 and %q", tc.args, code, errs, tc.want)
		}
	}
}
