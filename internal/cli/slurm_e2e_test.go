package cli

import (
	"strings"
	"testing"
	"time"
)

// TestSlurmCommandsAgainstALiveController runs the calls workflow tools
// make (Snakemake's among them) against a controller with virtual nodes.
func TestSlurmCommandsAgainstALiveController(t *testing.T) {
	waitPoll, waitPollMax = 10*time.Millisecond, 50*time.Millisecond
	lc := newLiveCluster(t)
	// sbatch --parsable prints the ID alone; --wait returns when the job
	// ends, with its exit status.
	out, errs, code := lc.cli("alice", "sbatch", "--parsable", "--wait", "-J", "quick", "--comment=duration=0", "--wrap", "true")
	if code != 0 || out != "1\n" {
		t.Fatalf("sbatch --parsable --wait: exit %d, %q, %q", code, out, errs)
	}
	type result struct {
		code      int
		out, errs string
	}
	done := make(chan result)
	go func() {
		out, errs, code := lc.cli("alice", "sbatch", "--wait", "-J", "long job", "--gpus-per-node=8", "--comment=duration=1000", "--wrap", "sleep 1000")
		done <- result{code, out, errs}
	}()
	lc.waitFor(func() bool {
		out, _, _ := lc.cli("alice", "squeue", "-h", "--format", "%i %t")
		return out == "2 R\n"
	})
	select {
	case r := <-done:
		t.Fatalf("sbatch --wait returned while its job runs: exit %d, %q %q", r.code, r.out, r.errs)
	default:
	}
	out, _, code = lc.cli("alice", "squeue", "-o", "%.18i %.9P %.8j %.8u %.2t %.10M %.6D %R")
	if code != 0 || !strings.HasPrefix(out, "             JOBID PARTITION     NAME     USER ST       TIME  NODES NODELIST(REASON)\n") ||
		!strings.Contains(out, "long job    alice  R") {
		t.Errorf("squeue -o:\n%s", out)
	}
	// Snakemake cancels with --clusters=all; another cluster's name is
	// refused.
	if _, errs, code := lc.cli("alice", "cancel", "2", "--clusters=elsewhere"); code != 1 || !strings.Contains(errs, `cluster "elsewhere" is not served here`) {
		t.Errorf("cancel --clusters=elsewhere: exit %d, %q", code, errs)
	}
	if _, errs, code := lc.cli("alice", "cancel", "2", "--clusters=all"); code != 0 {
		t.Fatalf("scancel: %s", errs)
	}
	select {
	case r := <-done:
		if r.code != 1 || !strings.Contains(r.errs, "job 2 ended CANCELLED") {
			t.Errorf("sbatch --wait of a cancelled job: exit %d, %q; want 1", r.code, r.errs)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("sbatch --wait did not return after its job was cancelled")
	}
	// Snakemake's status poll and account check.
	out, errs, code = lc.cli("alice", "sacct", "-X", "--parsable2", "--clusters", "all", "--noheader", "--format=JobIdRaw,State",
		"--starttime", "now-2days", "--endtime", "now", "--name", "quick,long job")
	if code != 0 || out != "1|COMPLETED\n2|CANCELLED by alice\n" {
		t.Errorf("sacct -X -P -n: exit %d, %q, %q", code, out, errs)
	}
	out, _, code = lc.cli("alice", "sacct", "-P", "-n", "-o", "JobID,State,ExitCode", "-j", "2")
	if code != 0 || out != "2|CANCELLED by alice|0:0\n2.batch|CANCELLED|0:15\n" {
		t.Errorf("sacct -j 2 with its batch step: exit %d, %q", code, out)
	}
	out, _, code = lc.cli("alice", "sacctmgr", "-n", "-s", "list", "user", "alice", "format=account%256")
	if code != 0 || strings.TrimSpace(out) != "default" || len(out) != 258 {
		t.Errorf("sacctmgr -n -s list user alice format=account%%256: exit %d, %q", code, out)
	}
	out, _, code = lc.cli("alice", "scontrol", "show", "job", "2")
	if code != 0 || !strings.HasPrefix(out, "JobId=2 JobName=long job\n") || !strings.Contains(out, "   JobState=CANCELLED Reason=None") {
		t.Errorf("scontrol show job 2:\n%s", out)
	}
	out, _, code = lc.cli("alice", "scontrol", "show", "config")
	if code != 0 || !strings.Contains(out, "MinJobAge               = 600 sec\n") || !strings.Contains(out, "SchedulerTimeSlice      = 30 sec\n") {
		t.Errorf("scontrol show config:\n%s", out)
	}
	out, _, code = lc.cli("alice", "sinfo", "-N", "-h")
	if code != 0 || strings.Count(out, "\n") != 2 || !strings.Contains(out, "dgx001") {
		t.Errorf("sinfo -N -h:\n%s", out)
	}
	if _, errs, code := lc.cli("alice", "scontrol", "update", "job", "2", "TimeLimit=10"); code != 1 || !strings.Contains(errs, "no route that changes a submitted job") {
		t.Errorf("scontrol update: exit %d, %q", code, errs)
	}
}
