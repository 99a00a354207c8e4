//go:build linux

package cli

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"os/user"
	"strings"
	"testing"

	"github.com/gefion-hpc/gefion/internal/agent"
	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/client"
	"github.com/gefion-hpc/gefion/internal/cluster"
	"github.com/gefion-hpc/gefion/internal/controller"
	"github.com/gefion-hpc/gefion/internal/store"
)

// TestLaunchFailureReasonIsShown submits, through the CLI, a job whose
// --chdir does not exist to a controller with a real node agent, and
// checks that why, acct (table and JSON) and scontrol show job say why it
// failed.
func TestLaunchFailureReasonIsShown(t *testing.T) {
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	ctl, err := controller.New(controller.Config{DefaultProject: "default", Operators: []string{"ops"}}, store.NewMemory(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = ctl.Run(ctx); close(done) }()
	srv := httptest.NewServer(ctl.Handler())
	t.Cleanup(func() { srv.Close(); cancel(); <-done })
	p, err := agent.NewProcess(agent.ProcessConfig{Node: "cpu01", StateDir: t.TempDir(), AllowSystemUsers: true}, agent.DeclaredGPUs(0, cluster.H100SXM))
	if err != nil {
		t.Fatal(err)
	}
	ag := &agent.Agent{Client: client.NewAgent(srv.URL, ctl.JoinToken()), ID: "node-cpu01", Exec: p,
		Nodes: []api.NodeInventory{{Name: "cpu01", CPUs: 4, MemoryMB: 4096}}}
	go func() { _ = ag.Run(ctx) }()
	lc := &liveCluster{t: t, addr: srv.URL}
	lc.waitFor(func() bool {
		out, _, _ := lc.cli("ops", "nodes", "--json")
		return strings.Contains(out, `"state": "idle"`)
	})

	const reason = "chdir /nonexistent: no such file or directory"
	if out, errs, code := lc.cli(me.Username, "sbatch", "--chdir=/nonexistent", "--time=1", "--wrap", "true"); code != 0 || !strings.HasPrefix(out, "Submitted batch job 1") {
		t.Fatalf("sbatch: exit %d, %q, %q", code, out, errs)
	}
	var acct struct {
		Jobs []struct {
			State  string `json:"state"`
			Reason string `json:"reason"`
		} `json:"jobs"`
	}
	lc.waitFor(func() bool {
		out, _, _ := lc.cli(me.Username, "acct", "--json", "-j", "1")
		return json.Unmarshal([]byte(out), &acct) == nil && len(acct.Jobs) == 1 && acct.Jobs[0].State == "FAILED"
	})
	if acct.Jobs[0].Reason != reason {
		t.Errorf("acct --json: reason %q; want %q", acct.Jobs[0].Reason, reason)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"why", "1"}, "  reason          " + reason + "\n"},
		{[]string{"acct", "-j", "1"}, reason + "\n"},
		{[]string{"scontrol", "show", "job", "1"}, "JobState=FAILED Reason=chdir_/nonexistent:_no_such_file_or_directory "},
	} {
		out, errs, code := lc.cli(me.Username, tc.args...)
		if code != 0 || !strings.Contains(out, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want %q in:\n%s", tc.args, code, errs, tc.want, out)
		}
	}
}
