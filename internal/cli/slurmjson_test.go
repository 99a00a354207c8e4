package cli

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestSlurmJSONAgainstALiveController reads squeue, sacct and sinfo
// --json from a live controller as a tool would: Slurm's document shapes,
// with the cluster named.
func TestSlurmJSONAgainstALiveController(t *testing.T) {
	lc := newLiveCluster(t)
	if _, errs, code := lc.cli("alice", "sbatch", "--wait", "-J", "done", "--comment=duration=0", "--wrap", "true"); code != 0 {
		t.Fatalf("sbatch --wait: %s", errs)
	}
	if _, errs, code := lc.cli("alice", "sbatch", "-J", "runs", "--gpus-per-node=2", "--comment=duration=1000", "--wrap", "true"); code != 0 {
		t.Fatalf("sbatch: %s", errs)
	}
	lc.waitFor(func() bool { out, _, _ := lc.cli("alice", "squeue", "-h", "-o", "%i %t"); return out == "2 R\n" })

	var sq struct {
		Meta struct {
			Plugin struct{ Type string } `json:"plugin"`
		} `json:"meta"`
		Errors []string `json:"errors"`
		Jobs   []struct {
			JobID    int    `json:"job_id"`
			JobState string `json:"job_state"`
			Cluster  string `json:"cluster"`
			UserName string `json:"user_name"`
		} `json:"jobs"`
	}
	decodeCLI(t, lc, &sq, "squeue", "--json")
	if sq.Meta.Plugin.Type != "openapi/v0.0.38" || sq.Errors == nil || len(sq.Jobs) != 1 || sq.Jobs[0].JobID != 2 ||
		sq.Jobs[0].JobState != "RUNNING" || sq.Jobs[0].Cluster == "" || sq.Jobs[0].UserName != "alice" {
		t.Errorf("squeue --json = %+v; want job 2 running, with the cluster's name", sq)
	}

	var sa struct {
		Jobs []struct {
			JobID int `json:"job_id"`
			State struct {
				Current string `json:"current"`
			} `json:"state"`
			ExitCode struct {
				Status     string `json:"status"`
				ReturnCode int    `json:"return_code"`
			} `json:"exit_code"`
			Steps []struct {
				Step struct {
					ID string `json:"id"`
				} `json:"step"`
				State string `json:"state"`
			} `json:"steps"`
		} `json:"jobs"`
	}
	decodeCLI(t, lc, &sa, "sacct", "--json", "-j", "1")
	if len(sa.Jobs) != 1 || sa.Jobs[0].JobID != 1 || sa.Jobs[0].State.Current != "COMPLETED" || sa.Jobs[0].ExitCode.Status != "SUCCESS" ||
		len(sa.Jobs[0].Steps) != 1 || sa.Jobs[0].Steps[0].Step.ID != "batch" || sa.Jobs[0].Steps[0].State != "COMPLETED" {
		t.Errorf("sacct --json -j 1 = %+v; want job 1 COMPLETED with its batch step", sa)
	}

	var si struct {
		Nodes []struct {
			Name     string `json:"name"`
			State    string `json:"state"`
			GresUsed string `json:"gres_used"`
		} `json:"nodes"`
	}
	decodeCLI(t, lc, &si, "sinfo", "--json")
	mixed := 0
	for _, n := range si.Nodes {
		if n.State == "mixed" && strings.HasPrefix(n.GresUsed, "gpu:") && strings.HasSuffix(n.GresUsed, ":2") {
			mixed++
		}
	}
	if len(si.Nodes) != 2 || mixed != 1 {
		t.Errorf("sinfo --json = %+v; want two nodes, one mixed with 2 GPUs in use", si)
	}
}

func decodeCLI(t *testing.T, lc *liveCluster, v any, args ...string) {
	t.Helper()
	out, errs, code := lc.cli("alice", args...)
	if code != 0 {
		t.Fatalf("%v: exit %d: %s", args, code, errs)
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("%v: %v\n%s", args, err, out)
	}
}
