package slurmfmt

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/job"
	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// golden compares got with testdata/NAME.golden, or writes it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if d := cmp.Diff(string(want), string(got)); d != "" {
		t.Errorf("%s (-want +got):\n%s", path, d)
	}
}

// gefionJobs are the reference jobs plus what only Gefion has: a job name
// with a newline and a tab (which must not break a row), a GPU type and a
// job that ran out of memory.
func gefionJobs() []api.Job {
	jobs := referenceJobs()
	j := jobs[1]
	j.ID, j.Name, j.State, j.ExitCode = 30, "evil\nname\twith\x1b[31mcontrol", job.OutOfMem, 137
	j.Request.GPUType, j.Request.GPUsPerNode, j.GPUs = "h100", 8, 8
	jobs = append(jobs, j)
	return jobs
}

func TestGolden(t *testing.T) {
	jobs := gefionJobs()
	e := refEnv("10:19:38")
	e.Group = func(string) (string, int, bool) { return "root", 0, true }
	var active []api.Job
	for _, j := range jobs {
		if !j.State.Final() {
			active = append(active, j)
		}
	}
	active = append(active, jobs[len(jobs)-1])
	parts := []api.PartitionInfo{{Name: "gpu", Default: true, Nodes: "dgx[001-004]", MaxTimeS: 7 * 86400, DefaultTimeS: 3600,
		TotalNodes: 4, TotalCPUs: 448, TotalGPUs: 32, TotalMemMB: 4 * 2048 * 1024}}
	nodes := []api.Node{
		{Name: "dgx001", State: "mixed", CPUs: 112, CPUsUsed: 8, GPUs: 8, GPUsUsed: 4, GPUType: "H100", MemoryMB: 2048 * 1024, Partitions: []string{"gpu"}},
		{Name: "dgx002", State: "idle", CPUs: 112, GPUs: 8, GPUType: "H100", MemoryMB: 2048 * 1024, Partitions: []string{"gpu"}},
		{Name: "dgx003", State: "drained", Reason: "xid 79\nfallen off the bus", CPUs: 112, GPUs: 8, GPUType: "H100", MemoryMB: 2048 * 1024, Partitions: []string{"gpu"}},
		{Name: "dgx004", State: "allocated", CPUs: 112, CPUsUsed: 112, GPUs: 8, GPUsUsed: 8, GPUType: "H100", MemoryMB: 2048 * 1024, Partitions: []string{"gpu"}},
	}
	cfg := &api.Config{ClusterName: "gefion", Partitions: parts, DefaultQOS: "normal", Policy: "gefion", KillWaitS: 30,
		MinJobAgeS: 600, SchedIntervalMS: 10, FullPassS: 5, HeartbeatS: 5, LostAfterS: 30, UsageHalfLifeS: 7 * 86400,
		MaxArraySize: 1001, QOS: []api.QOSInfo{{Name: "normal", Priority: 10}, {Name: "high", Priority: 100, Preempt: []string{"scavenger"}},
			{Name: "scavenger", GraceS: 120, Requeue: true, MaxGPUsPerUser: 64}}}
	mgr := &MgrData{Cluster: "gefion", Config: cfg, Admins: []string{"root"}, Me: "alice", Projects: []api.Project{
		{Name: "medicine", Users: []string{"alice", "bob"}, GrantGPUHours: 10000, MaxGPUs: 256},
		{Name: "open", Users: []string{"*"}},
		{Name: "quantum", Parent: "medicine", Users: []string{"carol"}},
	}}

	var b bytes.Buffer
	run := func(name string, f func() error) {
		t.Run(name, func(t *testing.T) {
			b.Reset()
			if err := f(); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(b.String(), "\x1b") || strings.Contains(b.String(), "\t") {
				t.Errorf("control characters reached the output:\n%q", b.String())
			}
			golden(t, name, b.Bytes())
		})
	}
	squeue := func(format string, perTask, fields bool) func() error {
		return func() error {
			var f *JobFormat
			var err error
			if fields {
				f, err = ParseJobFields(format)
			} else {
				f, err = ParseJobFormat(format)
			}
			if err != nil {
				return err
			}
			return f.WriteJobs(&b, SqueueRows(active, perTask), e, false)
		}
	}
	run("squeue_default", squeue(SqueueDefault, false, false))
	run("squeue_r_all_codes", squeue("%i|%j|%t|%T|%M|%l|%L|%D|%C|%b|%R|%r|%u|%U|%a|%P|%q|%Q|%S|%V|%e|%N|%A|%F|%K", true, false))
	run("squeue_start", squeue(SqueueStart, false, false))
	run("squeue_O", squeue("JobArrayID:.12,Name:10,StateCompact,ReasonList:30", false, true))
	run("squeue_json", func() error {
		enc := json.NewEncoder(&b)
		enc.SetIndent("", "  ")
		return enc.Encode(SqueueJSON(active, e))
	})
	sacct := func(format string, st AcctStyle, jobsOnly bool) func() error {
		return func() error {
			f, err := ParseAcctFormat(format)
			if err != nil {
				return err
			}
			return f.WriteAcct(&b, AcctRows(jobs, jobsOnly, nil), e, st, false)
		}
	}
	run("sacct_default", sacct(SacctDefault, Columns, false))
	run("sacct_P_all_fields", sacct(acctNames(), Parsable2, false))
	run("sacct_X_widths", sacct("JobID%-14,JobName%30,State%20,ExitCode,AllocTRES%-40,ReqTRES%40", Columns, true))
	run("scontrol_show_job", func() error {
		for i := range jobs {
			if err := ShowJob(&b, &jobs[i], e, false, false); err != nil {
				return err
			}
		}
		return nil
	})
	run("scontrol_show_job_dd_o", func() error {
		for i := range jobs {
			if err := ShowJob(&b, &jobs[i], e, true, true); err != nil {
				return err
			}
		}
		return nil
	})
	run("scontrol_show_node", func() error {
		for i := range nodes {
			if err := ShowNode(&b, &nodes[i], false); err != nil {
				return err
			}
		}
		return nil
	})
	run("scontrol_show_partition", func() error { return ShowPartition(&b, &parts[0], false) })
	run("scontrol_show_config", func() error { return ShowConfig(&b, cfg, e, "head01") })
	sinfo := func(format string, groups []NodeGroup) func() error {
		return func() error {
			f, err := ParseNodeFormat(format)
			if err != nil {
				return err
			}
			return f.WriteNodes(&b, groups, false)
		}
	}
	run("sinfo_default", sinfo(SinfoDefault, SinfoGroups(parts, nodes, false, nil)))
	run("sinfo_N", sinfo(SinfoNodes, SinfoGroups(parts, nodes, true, nil)))
	run("sinfo_s", sinfo(SinfoSummary, SummaryGroups(parts, nodes)))
	run("sinfo_R", sinfo(SinfoReasons, SinfoGroups(parts, nodes, false, func(n *api.Node) bool { return n.State == "drained" })))
	run("sinfo_o_all_codes", sinfo("%P|%R|%a|%l|%L|%D|%t|%T|%N|%n|%c|%C|%G|%m|%F|%A|%E|%H|%u", SinfoGroups(parts, nodes, false, nil)))
	mgrOut := func(entity, format string, withAssoc bool, rows []MgrRow) func() error {
		return func() error {
			f, err := ParseMgrFormat(entity, format, withAssoc)
			if err != nil {
				return err
			}
			return f.WriteMgr(&b, rows, Columns, false)
		}
	}
	run("sacctmgr_user", mgrOut("user", "", false, mgr.UserRows(nil, false)))
	run("sacctmgr_user_s", mgrOut("user", "", true, mgr.UserRows(nil, true)))
	run("sacctmgr_account_s", mgrOut("account", "", true, mgr.AccountRows(nil, true)))
	run("sacctmgr_assoc", mgrOut("assoc", "", false, mgr.AssocRows(nil, nil)))
	run("sacctmgr_qos", mgrOut("qos", "", false, mgr.QOSRows(nil)))
	mgr.Projects[0].FairShareUsage, mgr.Projects[2].FairShareUsage = 30, 10
	run("sshare_a", func() error {
		f, err := ParseShareFormat("")
		if err != nil {
			return err
		}
		return f.WriteMgr(&b, mgr.ShareRows(nil, false), Columns, false)
	})
}

// TestFormatErrors checks that a code, field or width Gefion does not
// know is refused with a message naming it, not printed as nothing.
func TestFormatErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"squeue %@", errOf(ParseJobFormat("%i %@")), "%@ is not a squeue format code"},
		{"squeue %-10j", errOf(ParseJobFormat("%-10j")), "%- is not a squeue format code"},
		{"squeue trailing %", errOf(ParseJobFormat("%i %.5")), "ends inside a field"},
		{"squeue -O bad", errOf(ParseJobFields("JobID,Bogus")), "-O Bogus is not a squeue field"},
		{"sacct Frob", errOf(ParseAcctFormat("JobID,Frob")), `sacct field "Frob" is not one`},
		{"sacct width", errOf(ParseAcctFormat("JobName%x")), "the width after % must be"},
		{"sinfo %Q", errOf(ParseNodeFormat("%P %Q")), "%Q is not a sinfo format code"},
		{"sacctmgr field", errOf(ParseMgrFormat("user", "user,bogus", false)), `sacctmgr field "bogus"`},
		{"state", CheckStates("PD,RUNNIN"), `"RUNNIN" is not a job state`},
	} {
		if tc.err == nil || !strings.Contains(tc.err.Error(), tc.want) {
			t.Errorf("%s: error %v; want one containing %q", tc.name, tc.err, tc.want)
		}
	}
}

func errOf[T any](_ T, err error) error { return err }
