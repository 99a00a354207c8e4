package slurmfmt

import (
	"bytes"
	"strings"
	"testing"

	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/job"
	"github.com/google/go-cmp/cmp"
)

// keyValues splits scontrol output into its keys, in order, and a map of
// their values.
func keyValues(lines []string) ([]string, map[string]string) {
	var keys []string
	vals := map[string]string{}
	for _, l := range lines {
		for _, f := range strings.Fields(l) {
			k, v, ok := strings.Cut(f, "=")
			if !ok {
				continue
			}
			keys = append(keys, k)
			vals[k] = v
		}
	}
	return keys, vals
}

// TestShowJobMatchesSlurm checks scontrol show job against Slurm 22.05's
// record of the same job: every key Gefion prints is one Slurm prints, in
// Slurm's order, and the values Gefion has data for are Slurm's. (A job
// name with spaces is left out of the value check: keyValues splits on
// spaces.)
func TestShowJobMatchesSlurm(t *testing.T) {
	byID := map[job.ID]*api.Job{}
	jobs := referenceJobs()
	for i := range jobs {
		jobs[i].Spec = &job.Spec{SubmitDir: "/tmp/formats-ref", SubmitHost: "localhost"}
		if jobs[i].ID == 10 { // sbatch -N8 --exclusive
			jobs[i].Spec.NodesMin, jobs[i].Spec.NodesMax, jobs[i].Spec.Exclusive = 8, 8, true
		}
		byID[jobs[i].ID] = &jobs[i]
	}
	for _, tc := range []struct {
		rec             string
		id              job.ID
		detail, oneLine bool
	}{
		{rec: "scontrol_show_job6", id: 6},
		{rec: "scontrol_show_job_dd", id: 6, detail: true},
		{rec: "scontrol_show_job_o", id: 6, oneLine: true},
		{rec: "scontrol_show_job10", id: 10},
		{rec: "scontrol_show_job9", id: 9},
		{rec: "scontrol_show_job_cancel", id: 4},
		{rec: "scontrol_show_job_fail", id: 3},
		{rec: "scontrol_show_job_done", id: 2},
	} {
		t.Run(tc.rec, func(t *testing.T) {
			var b bytes.Buffer
			if err := ShowJob(&b, byID[tc.id], refEnv("10:19:39"), tc.detail, tc.oneLine); err != nil {
				t.Fatal(err)
			}
			want := recording(t, tc.rec)
			got := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
			wantKeys, wantVals := keyValues(want)
			gotKeys, gotVals := keyValues(got)
			// Slurm prints MinMemoryCPU for a job that asked memory per
			// CPU (the recorded one), MinMemoryNode for one that asked per
			// node; Gefion's requests are per node.
			for i, k := range gotKeys {
				if k == "MinMemoryNode" {
					gotKeys[i] = "MinMemoryCPU"
				}
			}
			k := 0
			for _, g := range gotKeys {
				for k < len(wantKeys) && wantKeys[k] != g {
					k++
				}
				if k == len(wantKeys) {
					t.Errorf("key %s is not in Slurm's record, or out of Slurm's order (Slurm: %v)", g, wantKeys)
					break
				}
			}
			// Priority is left out: Gefion keeps a priority only while a
			// job waits.
			for _, key := range []string{"JobId", "Nice", "Account", "QOS", "JobState", "Reason", "Dependency", "Requeue",
				"Restarts", "BatchFlag", "Reboot", "ExitCode", "DerivedExitCode", "RunTime", "TimeLimit", "TimeMin", "SubmitTime",
				"EligibleTime", "AccrueTime", "StartTime", "EndTime", "Deadline", "Partition", "NodeList", "BatchHost", "NumNodes",
				"NumCPUs", "NumTasks", "CPUs/Task", "JOB_GRES", "MinCPUsNode", "OverSubscribe", "WorkDir", "StdErr", "StdIn", "StdOut",
				"TresPerNode", "MCS_label", "ReqNodeList", "Features", "Command", "Power", "UserId"} {
				if _, ok := gotVals[key]; !ok && wantVals[key] != "" {
					t.Errorf("key %s missing", key)
				}
				if g, ok := gotVals[key]; ok && g != wantVals[key] {
					t.Errorf("%s=%s; Slurm prints %s=%s", key, g, key, wantVals[key])
				}
			}
			if tc.oneLine != (len(got) == 1) {
				t.Errorf("got %d lines; -o prints one", len(got))
			}
			if !tc.oneLine && (got[len(got)-1] != "" || got[len(got)-2] != "   ") {
				t.Errorf("a record ends with a line of three spaces and an empty line, as Slurm's; got %q", got[len(got)-2:])
			}
		})
	}
}

// TestSacctmgrMatchesSlurm prints the reference accounts (default and
// root, both with user root) as the recorded sacctmgr calls did.
func TestSacctmgrMatchesSlurm(t *testing.T) {
	d := &MgrData{Cluster: "reference", Admins: []string{"root"}, Me: "root",
		Projects: []api.Project{{Name: "default", Users: []string{"root"}}, {Name: "root", Users: []string{"root"}}},
		Config:   &api.Config{QOS: []api.QOSInfo{{Name: "normal"}}}}
	for _, tc := range []struct {
		rec, entity, format string
		withAssoc, noHeader bool
		st                  AcctStyle
		names               []string
	}{
		{rec: "sacctmgr_snakemake", entity: "user", format: "account%256", withAssoc: true, noHeader: true, names: []string{"root"}},
		{rec: "sacctmgr_show_user", entity: "user"},
		{rec: "sacctmgr_show_user_P", entity: "user", st: Parsable2},
		{rec: "sacctmgr_list_user_fmt", entity: "user", format: "user,defaultaccount,admin"},
		{rec: "sacctmgr_show_qos_fmt", entity: "qos", format: "name,priority,maxwall,maxtresperuser"},
	} {
		t.Run(tc.rec, func(t *testing.T) {
			f, err := ParseMgrFormat(tc.entity, tc.format, tc.withAssoc)
			if err != nil {
				t.Fatal(err)
			}
			var rows []MgrRow
			if tc.entity == "user" {
				rows = d.UserRows(tc.names, tc.withAssoc)
			} else {
				rows = d.QOSRows(nil)
				rows[0]["Priority"] = "0"
			}
			var b bytes.Buffer
			if err := f.WriteMgr(&b, rows, tc.st, tc.noHeader); err != nil {
				t.Fatal(err)
			}
			got := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
			if d := cmp.Diff(recording(t, tc.rec), got); d != "" {
				t.Errorf("differs from Slurm 22.05's recording (-slurm +gefion):\n%s", d)
			}
		})
	}
}

// TestSinfoMatchesSlurm prints the reference cluster (gpu01 and gpu02 in
// use, six nodes free) as the recorded sinfo calls did; Slurm showed the
// free nodes as planned for the waiting 8-node job, a state Gefion does
// not report, so only the calls without them are compared.
func TestSinfoMatchesSlurm(t *testing.T) {
	parts := []api.PartitionInfo{{Name: "gpu", Default: true, Nodes: "gpu[01-08]", TotalNodes: 8}}
	var nodes []api.Node
	for i, name := range []string{"gpu01", "gpu02", "gpu03", "gpu04", "gpu05", "gpu06", "gpu07", "gpu08"} {
		st := "idle"
		if i < 2 {
			st = "mixed"
		}
		nodes = append(nodes, api.Node{Name: name, State: st, CPUs: 112, GPUs: 8, MemoryMB: 2000000, Partitions: []string{"gpu"}})
	}
	for _, tc := range []struct {
		rec, format string
		groups      []NodeGroup
	}{
		{rec: "sinfo_s", format: SinfoSummary, groups: SummaryGroups(parts, nodes)},
		{rec: "sinfo_t_mix", format: SinfoNodes, groups: SinfoGroups(parts, nodes, true, func(n *api.Node) bool {
			return NodeStateMatches(n.State, "mix,alloc")
		})},
		{rec: "sinfo_R", format: SinfoReasons, groups: SinfoGroups(parts, nodes, false, func(n *api.Node) bool { return n.State == "down" })},
	} {
		t.Run(tc.rec, func(t *testing.T) {
			f, err := ParseNodeFormat(tc.format)
			if err != nil {
				t.Fatal(err)
			}
			var b bytes.Buffer
			if err := f.WriteNodes(&b, tc.groups, false); err != nil {
				t.Fatal(err)
			}
			got := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
			if d := cmp.Diff(recording(t, tc.rec), got); d != "" {
				t.Errorf("differs from Slurm 22.05's recording (-slurm +gefion):\n%s", d)
			}
		})
	}
}

// TestSshareMatchesSlurm prints Snakemake's fallback account check (sshare
// -U --format Account%256 --noheader) for user root of accounts default
// and root, as recorded.
func TestSshareMatchesSlurm(t *testing.T) {
	d := &MgrData{Me: "root", Projects: []api.Project{{Name: "default", Users: []string{"root"}}, {Name: "root", Users: []string{"root"}}}}
	f, err := ParseShareFormat("Account%256")
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := f.WriteMgr(&b, d.ShareRows([]string{"root"}, true), Columns, true); err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	sameRows(t, "sshare_U_snakemake", 0, recording(t, "sshare_U_snakemake"), got)
}

// TestSacctFieldsMatchSlurm prints every field Gefion has data for, for
// the two-node GPU job and its batch step, and compares each value with
// Slurm 22.05's (-P). AllocTRES and ReqTRES are compared without Slurm's
// billing TRES, which Gefion does not have; Priority, Group and MaxRSS are
// left out (no data).
func TestSacctFieldsMatchSlurm(t *testing.T) {
	rec := recording(t, "sacct_all_fields")
	names := strings.Split(rec[0], "|")
	want := map[string]map[string]string{}
	for _, l := range rec[1:] {
		vals := strings.Split(l, "|")
		if vals[0] == "6" || vals[0] == "6.batch" {
			m := map[string]string{}
			for i, n := range names {
				m[n] = vals[i]
			}
			want[vals[0]] = m
		}
	}
	var j6 api.Job
	for _, j := range referenceJobs() {
		if j.ID == 6 {
			j6 = j
		}
	}
	fields := []string{"JobID", "JobIDRaw", "JobName", "State", "ExitCode", "DerivedExitCode", "Elapsed", "ElapsedRaw",
		"Start", "End", "Submit", "Eligible", "NodeList", "NNodes", "NCPUS", "AllocCPUS", "AllocTRES", "ReqTRES", "Timelimit",
		"TimelimitRaw", "Account", "Partition", "User", "UID", "ReqMem", "QOS", "Reason", "Cluster", "CPUTime", "CPUTimeRAW",
		"AllocNodes", "ReqCPUS", "ReqNodes"}
	f, err := ParseAcctFormat(strings.Join(fields, ","))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := f.WriteAcct(&b, AcctRows([]api.Job{j6}, false, nil), refEnv("10:20:09"), Parsable2, true); err != nil {
		t.Fatal(err)
	}
	noBilling := func(s string) string {
		var keep []string
		for _, kv := range strings.Split(s, ",") {
			if !strings.HasPrefix(kv, "billing=") {
				keep = append(keep, kv)
			}
		}
		return strings.Join(keep, ",")
	}
	for _, l := range strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n") {
		vals := strings.Split(l, "|")
		w := want[vals[0]]
		if w == nil {
			t.Fatalf("row %s is not in the recording", vals[0])
		}
		for i, name := range fields {
			wv := w[name]
			if name == "AllocTRES" || name == "ReqTRES" {
				wv = noBilling(wv)
			}
			if vals[i] != wv {
				t.Errorf("%s %s = %q; Slurm prints %q", vals[0], name, vals[i], wv)
			}
		}
	}
}
