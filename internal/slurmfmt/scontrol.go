package slurmfmt

import (
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/job"
)

// record is one scontrol record: lines of key=value pairs, printed one
// line each (the first unindented, the others after three spaces) or, with
// -o, all on one line.
type record [][]string

// write prints r as scontrol does: a multi-line record ends with a line of
// three spaces and an empty line; a one-line record ends with a space.
func (r record) write(w io.Writer, oneLine bool) error {
	var b strings.Builder
	for i, l := range r {
		if len(l) == 0 {
			continue
		}
		if oneLine {
			b.WriteString(strings.Join(l, " "))
			b.WriteByte(' ')
			continue
		}
		if i > 0 {
			b.WriteString("   ") // the detail lines of -d carry two more
		}
		b.WriteString(strings.Join(l, " "))
		b.WriteByte('\n')
	}
	if oneLine {
		b.WriteByte('\n')
	} else {
		b.WriteString("   \n\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// ShowJob writes a job as `scontrol show job` does, key for key in Slurm
// 22.05's order; detail (-d) adds the exit code of the job's steps and
// each node's share. Keys that stand for things Gefion does not have
// print Slurm's own placeholder for "not set" ((null), N/A, Unknown).
func ShowJob(w io.Writer, j *api.Job, e *Env, detail, oneLine bool) error {
	s := j.Spec
	if s == nil {
		s = &job.Spec{}
	}
	id := "JobId=" + strconv.FormatInt(int64(j.ID), 10)
	first := []string{id}
	if j.ArrayJobID != 0 {
		first = append(first, "ArrayJobId="+strconv.FormatInt(int64(j.ArrayJobID), 10), "ArrayTaskId="+strconv.Itoa(j.ArrayTaskID))
	}
	first = append(first, "JobName="+safe(j.Name))
	nice := strconv.Itoa(s.Nice)
	requeue := "1"
	if !s.RequeueOrDefault() {
		requeue = "0"
	}
	timeMin := "N/A"
	if s.TimeMinS > 0 {
		timeMin = limitLong(s.TimeMinS)
	}
	// A held job is not eligible: Slurm shows no eligible or accrue time.
	elig := e.stamp(eligible(j), "Unknown")
	if j.State == job.Pending && j.Reason == "JobHeldUser" {
		elig = "Unknown"
	}
	// A waiting job shows the node count it asked for as min-max when it
	// gave a maximum (-N8 is 8-8).
	numNodes := strconv.Itoa(j.Nodes)
	if j.State == job.Pending && s.NodesMax > 0 {
		numNodes = strconv.Itoa(max(s.NodesMin, 1)) + "-" + strconv.Itoa(s.NodesMax)
	}
	nodeList := j.NodeList
	if j.State == job.Pending || nodeList == "" {
		nodeList = ""
	}
	ntasks := s.NTasks
	if ntasks == 0 {
		ntasks = max(j.Nodes, 1) * max(s.NTasksPerNode, 1)
	}
	cpt := max(s.CPUsPerTask, 1)
	over := "OK"
	if s.Exclusive {
		over = "NO"
	}
	workDir := firstNonEmpty(s.Chdir, s.SubmitDir)
	stdout := outPath(firstNonEmpty(s.Output, defaultOut(j)), workDir, j)
	stderr := outPath(firstNonEmpty(s.Error, firstNonEmpty(s.Output, defaultOut(j))), workDir, j)
	stdin := firstNonEmpty(s.Input, "/dev/null")
	r := record{
		first,
		{"UserId=" + safe(j.User) + "(" + e.uid(j.User) + ")", "GroupId=" + e.group(j.User), "MCS_label=N/A"},
		{"Priority=" + priorityText(j.Priority), "Nice=" + nice, "Account=" + safe(j.Project), "QOS=" + safe(j.QOS)},
		{"JobState=" + string(j.State), "Reason=" + safe(reasonOf(j)), "Dependency=" + safe(orNull(s.Dependency))},
		{"Requeue=" + requeue, "Restarts=" + strconv.Itoa(j.Restarts), "BatchFlag=1", "Reboot=0", "ExitCode=" + exitCode(&AcctRow{J: j, Batch: true})},
	}
	if detail {
		r = append(r, []string{"DerivedExitCode=0:0"})
	}
	r = append(r,
		[]string{"RunTime=" + clockLong(runTime(j, e)), "TimeLimit=" + limitLong(j.TimeLimitS), "TimeMin=" + timeMin},
		[]string{"SubmitTime=" + e.stamp(j.SubmitTime, "Unknown"), "EligibleTime=" + elig},
		[]string{"AccrueTime=" + elig},
		[]string{"StartTime=" + e.stamp(startTime(j), "Unknown"), "EndTime=" + e.stamp(endTime(j), "Unknown"), "Deadline=N/A"},
		[]string{"SuspendTime=None", "SecsPreSuspend=0", "LastSchedEval=Unknown"},
		[]string{"Partition=" + safe(j.Partition), "AllocNode:Sid=" + safe(orNull(s.SubmitHost)) + ":0"},
		[]string{"ReqNodeList=(null)", "ExcNodeList=(null)"},
		[]string{"NodeList=" + nodeList},
	)
	if len(j.Allocs) > 0 {
		r = append(r, []string{"BatchHost=" + j.Allocs[0].Node})
	}
	r = append(r,
		[]string{"NumNodes=" + numNodes, "NumCPUs=" + strconv.Itoa(j.CPUs), "NumTasks=" + strconv.Itoa(ntasks),
			"CPUs/Task=" + strconv.Itoa(cpt), "ReqB:S:C:T=0:0:*:*"},
		[]string{"TRES=" + scontrolTRES(j)},
		[]string{"Socks/Node=*", "NtasksPerN:B:S:C=" + strconv.Itoa(s.NTasksPerNode) + ":0:*:*", "CoreSpec=*"},
	)
	if detail {
		gres := "(null)"
		if j.GPUs > 0 {
			gres = "gpu:" + strconv.Itoa(j.GPUs)
		}
		r = append(r, []string{"JOB_GRES=" + gres})
		for _, a := range j.Allocs {
			g := ""
			if len(a.GPUs) > 0 {
				g = "gpu:" + strconv.Itoa(len(a.GPUs)) + "(IDX:" + taskRanges(append([]int(nil), a.GPUs...)) + ")"
			}
			// Slurm also prints CPU_IDs; Gefion counts CPUs, it does not
			// pin them, so there are no IDs to print.
			r = append(r, []string{"  Nodes=" + a.Node, "Mem=" + strconv.FormatInt(a.MemMB, 10), "GRES=" + g})
		}
	}
	mem := "MinMemoryNode=" + memText(j.Request.MemPerNodeMB)
	if j.Request.MemPerNodeMB <= 0 {
		mem = "MinMemoryNode=0"
	}
	r = append(r,
		[]string{"MinCPUsNode=" + strconv.Itoa(max(j.Request.CPUsPerNode, 1)), mem, "MinTmpDiskNode=0"},
		[]string{"Features=" + safe(orNull(s.Constraint)), "DelayBoot=00:00:00"},
		[]string{"OverSubscribe=" + over, "Contiguous=0", "Licenses=(null)", "Network=(null)"},
		[]string{"Command=(null)"},
		[]string{"WorkDir=" + safe(orNull(workDir))},
		[]string{"StdErr=" + safe(stderr)},
		[]string{"StdIn=" + safe(stdin)},
		[]string{"StdOut=" + safe(stdout)},
		[]string{"Power="},
	)
	if t := tresPerNode(j); t != "N/A" {
		r = append(r, []string{"TresPerNode=" + t})
	}
	return r.write(w, oneLine)
}

// group prints a user's primary group as name(gid), or (null).
func (e *Env) group(user string) string {
	if e.Group != nil {
		if name, gid, ok := e.Group(user); ok {
			return safe(name) + "(" + strconv.Itoa(gid) + ")"
		}
	}
	return "(null)"
}

func defaultOut(j *api.Job) string {
	if j.ArrayJobID != 0 {
		return "slurm-%A_%a.out"
	}
	return "slurm-%j.out"
}

// outPath expands the patterns of an output file name as Slurm shows them
// (%j, %A, %a, %x, %u, %%), under the work directory when relative.
func outPath(p, dir string, j *api.Job) string {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if p[i] != '%' || i+1 == len(p) {
			b.WriteByte(p[i])
			continue
		}
		i++
		switch p[i] {
		case 'j':
			b.WriteString(strconv.FormatInt(int64(j.ID), 10))
		case 'A':
			b.WriteString(strconv.FormatInt(int64(arrayJobID(j)), 10))
		case 'a':
			b.WriteString(strconv.Itoa(j.ArrayTaskID))
		case 'x':
			b.WriteString(j.Name)
		case 'u':
			b.WriteString(j.User)
		case '%':
			b.WriteByte('%')
		default:
			b.WriteByte('%')
			b.WriteByte(p[i])
		}
	}
	s := b.String()
	if dir != "" && !strings.HasPrefix(s, "/") {
		s = strings.TrimRight(dir, "/") + "/" + s
	}
	return s
}

// scontrolTRES lists a job's TRES in scontrol's order: cpu, mem, node,
// gres/gpu (Gefion has no billing TRES).
func scontrolTRES(j *api.Job) string {
	b := "cpu=" + strconv.Itoa(j.CPUs)
	if m := j.Request.MemPerNodeMB * int64(max(j.Nodes, 1)); m > 0 {
		b += ",mem=" + memText(m)
	}
	b += ",node=" + strconv.Itoa(j.Nodes)
	if j.GPUs > 0 {
		b += ",gres/gpu=" + strconv.Itoa(j.GPUs)
	}
	return b
}

// ShowNode writes a node as `scontrol show node` does, with the keys
// Gefion has data for.
func ShowNode(w io.Writer, n *api.Node, oneLine bool) error {
	gres := "(null)"
	if n.GPUs > 0 {
		gres = "gpu:" + strconv.Itoa(n.GPUs)
		if n.GPUType != "" {
			gres = "gpu:" + strings.ToLower(n.GPUType) + ":" + strconv.Itoa(n.GPUs)
		}
	}
	cfg := "cpu=" + strconv.Itoa(n.CPUs) + ",mem=" + memText(n.MemoryMB)
	if n.GPUs > 0 {
		cfg += ",gres/gpu=" + strconv.Itoa(n.GPUs)
	}
	alloc := ""
	if n.CPUsUsed > 0 || n.GPUsUsed > 0 {
		alloc = "cpu=" + strconv.Itoa(n.CPUsUsed)
		if n.GPUsUsed > 0 {
			alloc += ",gres/gpu=" + strconv.Itoa(n.GPUsUsed)
		}
	}
	r := record{
		{"NodeName=" + safe(n.Name)},
		{"CPUAlloc=" + strconv.Itoa(n.CPUsUsed), "CPUEfctv=" + strconv.Itoa(n.CPUs), "CPUTot=" + strconv.Itoa(n.CPUs)},
		{"AvailableFeatures=(null)"},
		{"ActiveFeatures=(null)"},
		{"Gres=" + gres},
		{"RealMemory=" + strconv.FormatInt(n.MemoryMB, 10)},
		{"State=" + nodeStateLong(n.State), "Owner=N/A", "MCS_label=N/A"},
		{"Partitions=" + strings.Join(n.Partitions, ",")},
		{"CfgTRES=" + cfg},
		{"AllocTRES=" + alloc},
	}
	if n.Reason != "" {
		r = append(r, []string{"Reason=" + safe(n.Reason)})
	}
	return r.write(w, oneLine)
}

// ShowPartition writes a partition as `scontrol show partition` does.
func ShowPartition(w io.Writer, p *api.PartitionInfo, oneLine bool) error {
	def := "NO"
	if p.Default {
		def = "YES"
	}
	maxTime, defTime := "UNLIMITED", "NONE"
	if p.MaxTimeS > 0 {
		maxTime = limitLong(p.MaxTimeS)
	}
	if p.DefaultTimeS > 0 {
		defTime = limitLong(p.DefaultTimeS)
	}
	tres := "cpu=" + strconv.Itoa(p.TotalCPUs) + ",mem=" + memText(p.TotalMemMB) + ",node=" + strconv.Itoa(p.TotalNodes)
	if p.TotalGPUs > 0 {
		tres += ",gres/gpu=" + strconv.Itoa(p.TotalGPUs)
	}
	r := record{
		{"PartitionName=" + safe(p.Name)},
		{"AllowGroups=ALL", "AllowAccounts=ALL", "AllowQos=ALL"},
		{"AllocNodes=ALL", "Default=" + def, "QoS=N/A"},
		{"DefaultTime=" + defTime, "DisableRootJobs=NO", "ExclusiveUser=NO", "GraceTime=0", "Hidden=NO"},
		{"MaxNodes=UNLIMITED", "MaxTime=" + maxTime, "MinNodes=0", "LLN=NO", "MaxCPUsPerNode=UNLIMITED"},
		{"Nodes=" + p.Nodes},
		{"PriorityJobFactor=1", "PriorityTier=1", "RootOnly=NO", "ReqResv=NO", "OverSubscribe=NO"},
		{"OverTimeLimit=NONE", "PreemptMode=OFF"},
		{"State=UP", "TotalCPUs=" + strconv.Itoa(p.TotalCPUs), "TotalNodes=" + strconv.Itoa(p.TotalNodes), "SelectTypeParameters=NONE"},
		{"JobDefaults=(null)"},
		{"DefMemPerNode=UNLIMITED", "MaxMemPerNode=UNLIMITED"},
		{"TRES=" + tres},
	}
	return r.write(w, oneLine)
}

// ConfigVersion is the Slurm release whose formats these are; tools that
// read SLURM_VERSION to pick a parser get the one that fits.
const ConfigVersion = "22.05.0"

// ShowConfig writes `scontrol show config`: the settings tools read, with
// Gefion's values where it has the setting and Slurm's default where the
// setting means nothing here (Gefion does no gang time slicing, so
// SchedulerTimeSlice is the default 30 sec).
func ShowConfig(w io.Writer, c *api.Config, e *Env, host string) error {
	sec := func(s int64) string { return strconv.FormatInt(s, 10) + " sec" }
	policy := "sched/backfill"
	if c.Policy == "fifo" {
		policy = "sched/builtin"
	}
	kv := map[string]string{
		"AccountingStorageType":  "accounting_storage/gefion",
		"AcctGatherEnergyType":   "acct_gather_energy/gefion",
		"AcctGatherNodeFreq":     "0 sec",
		"ClusterName":            orNull(c.ClusterName),
		"DefMemPerNode":          "UNLIMITED",
		"GresTypes":              "gpu",
		"JobAcctGatherFrequency": "30",
		"KillWait":               sec(c.KillWaitS),
		"MaxArraySize":           strconv.Itoa(c.MaxArraySize),
		"MessageTimeout":         "10 sec",
		"MinJobAge":              sec(c.MinJobAgeS),
		"MpiDefault":             orNone(c.MpiDefault),
		"OverTimeLimit":          "0 min",
		"PriorityDecayHalfLife":  clockDays(c.UsageHalfLifeS),
		"PriorityType":           "priority/multifactor",
		"SchedulerTimeSlice":     "30 sec",
		"SchedulerType":          policy,
		"SelectType":             "select/cons_tres",
		"SlurmdTimeout":          sec(c.LostAfterS),
		"SLURM_VERSION":          ConfigVersion,
	}
	keys := make([]string, 0, len(kv))
	for k := range kv {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return strings.ToLower(keys[i]) < strings.ToLower(keys[j]) })
	var b strings.Builder
	b.WriteString("Configuration data as of " + e.stamp(e.Now, "Unknown") + "\n")
	for _, k := range keys {
		b.WriteString(k)
		for n := len(k); n < 23; n++ {
			b.WriteByte(' ')
		}
		b.WriteString(" = " + kv[k] + "\n")
	}
	b.WriteString("\nSlurmctld(primary) at " + safe(host) + " is UP\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// clockDays prints a duration as Slurm prints PriorityDecayHalfLife:
// D-HH:MM:SS.
func clockDays(s int64) string {
	d := s / 86400
	return strconv.FormatInt(d, 10) + "-" + clockLong(s%86400)
}

// orNone is Slurm's "none" for an unset setting.
func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
