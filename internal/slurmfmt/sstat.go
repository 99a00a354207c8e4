package slurmfmt

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/gefion-hpc/gefion/internal/api"
)

// sstat prints what the agents measured of running steps (api.StepUsage)
// as Slurm 22.05's sstat: the same fields, headers, widths, and memory in
// Slurm's units (K, or M, G... when the value divides exactly, bytes with
// --noconvert). Gefion's agents measure memory, CPU time and page faults
// of each task from /proc, and GPU utilisation and memory where NVML
// reads them (as TRES gres/gpuutil and gres/gpumem); the fields of what
// they do not measure (disk I/O, CPU frequency, energy of a running step)
// are printed empty, never as a made-up 0.

// sstatFields is sstat's table of fields with Slurm 22.05's widths
// (negative: left-aligned), in sstat's default order.
var sstatFields = []mgrField{
	{"JobID", "JobID", -12}, {"MaxVMSize", "MaxVMSize", 10}, {"MaxVMSizeNode", "MaxVMSizeNode", 14},
	{"MaxVMSizeTask", "MaxVMSizeTask", 14}, {"AveVMSize", "AveVMSize", 10}, {"MaxRSS", "MaxRSS", 10},
	{"MaxRSSNode", "MaxRSSNode", 10}, {"MaxRSSTask", "MaxRSSTask", 10}, {"AveRSS", "AveRSS", 10},
	{"MaxPages", "MaxPages", 8}, {"MaxPagesNode", "MaxPagesNode", 12}, {"MaxPagesTask", "MaxPagesTask", 14},
	{"AvePages", "AvePages", 10}, {"MinCPU", "MinCPU", 10}, {"MinCPUNode", "MinCPUNode", 10},
	{"MinCPUTask", "MinCPUTask", 10}, {"AveCPU", "AveCPU", 10}, {"NTasks", "NTasks", 8},
	{"AveCPUFreq", "AveCPUFreq", 10}, {"ReqCPUFreqMin", "ReqCPUFreqMin", 13}, {"ReqCPUFreqMax", "ReqCPUFreqMax", 13},
	{"ReqCPUFreqGov", "ReqCPUFreqGov", 13}, {"ConsumedEnergy", "ConsumedEnergy", 14}, {"MaxDiskRead", "MaxDiskRead", 12},
	{"MaxDiskReadNode", "MaxDiskReadNode", 15}, {"MaxDiskReadTask", "MaxDiskReadTask", 15}, {"AveDiskRead", "AveDiskRead", 12},
	{"MaxDiskWrite", "MaxDiskWrite", 12}, {"MaxDiskWriteNode", "MaxDiskWriteNode", 16}, {"MaxDiskWriteTask", "MaxDiskWriteTask", 16},
	{"AveDiskWrite", "AveDiskWrite", 12}, {"TRESUsageInAve", "TRESUsageInAve", 14}, {"TRESUsageInMax", "TRESUsageInMax", 14},
	{"TRESUsageInMaxNode", "TRESUsageInMaxNode", 18}, {"TRESUsageInMaxTask", "TRESUsageInMaxTask", 18},
	{"TRESUsageInMin", "TRESUsageInMin", 14}, {"TRESUsageInMinNode", "TRESUsageInMinNode", 18},
	{"TRESUsageInMinTask", "TRESUsageInMinTask", 18}, {"TRESUsageInTot", "TRESUsageInTot", 14},
	{"TRESUsageOutAve", "TRESUsageOutAve", 15}, {"TRESUsageOutMax", "TRESUsageOutMax", 15},
	{"TRESUsageOutMaxNode", "TRESUsageOutMaxNode", 19}, {"TRESUsageOutMaxTask", "TRESUsageOutMaxTask", 19},
	{"TRESUsageOutMin", "TRESUsageOutMin", 15}, {"TRESUsageOutMinNode", "TRESUsageOutMinNode", 19},
	{"TRESUsageOutMinTask", "TRESUsageOutMinTask", 19}, {"TRESUsageOutTot", "TRESUsageOutTot", 15},
	// After the default ones: fields sstat knows but does not print by
	// default.
	{"ConsumedEnergyRaw", "ConsumedEnergyRaw", 17}, {"Nodelist", "Nodelist", 20}, {"ReqCPUFreq", "ReqCPUFreq", 13},
}

// sstatDefaultN is how many of sstatFields sstat prints by default.
const sstatDefaultN = 47

// ParseStatFormat parses sstat's --format list (NAME[%WIDTH],...); empty
// is sstat's default. A positive width right-aligns, a negative one
// left-aligns, as sacct's.
func ParseStatFormat(list string) (*MgrFormat, error) {
	f := &MgrFormat{}
	if list == "" {
		for i := range sstatFields[:sstatDefaultN] {
			f.cols = append(f.cols, acctColumnMgr{f: &sstatFields[i], width: sstatFields[i].width})
		}
		return f, nil
	}
	for _, item := range strings.Split(list, ",") {
		name, width, hasWidth := strings.Cut(strings.TrimSpace(item), "%")
		var c acctColumnMgr
		for k := range sstatFields {
			if strings.EqualFold(sstatFields[k].name, name) {
				c.f = &sstatFields[k]
			}
		}
		if c.f == nil {
			return nil, fmt.Errorf("%w: sstat field %q is not one Gefion knows; sstat -e lists them", ErrFormat, name)
		}
		c.width = c.f.width
		if hasWidth {
			w, err := strconv.Atoi(width)
			if err != nil || w == 0 {
				return nil, fmt.Errorf("%w: %s: the width after %% must be a whole number other than 0", ErrFormat, item)
			}
			c.width = w
		}
		f.cols = append(f.cols, c)
	}
	return f, nil
}

// sstatHelpOrder is the order sstat -e lists its fields in (Slurm's
// own, less Pids, which Gefion's agents do not send).
var sstatHelpOrder = []string{
	"AveCPU", "AveCPUFreq", "AveDiskRead", "AveDiskWrite", "AvePages", "AveRSS", "AveVMSize", "ConsumedEnergy",
	"ConsumedEnergyRaw", "JobID", "MaxDiskRead", "MaxDiskReadNode", "MaxDiskReadTask", "MaxDiskWrite", "MaxDiskWriteNode",
	"MaxDiskWriteTask", "MaxPages", "MaxPagesNode", "MaxPagesTask", "MaxRSS", "MaxRSSNode", "MaxRSSTask", "MaxVMSize",
	"MaxVMSizeNode", "MaxVMSizeTask", "MinCPU", "MinCPUNode", "MinCPUTask", "Nodelist", "NTasks", "ReqCPUFreq",
	"ReqCPUFreqMin", "ReqCPUFreqMax", "ReqCPUFreqGov", "TRESUsageInAve", "TRESUsageInMax", "TRESUsageInMaxNode",
	"TRESUsageInMaxTask", "TRESUsageInMin", "TRESUsageInMinNode", "TRESUsageInMinTask", "TRESUsageInTot",
	"TRESUsageOutAve", "TRESUsageOutMax", "TRESUsageOutMaxNode", "TRESUsageOutMaxTask", "TRESUsageOutMin",
	"TRESUsageOutMinNode", "TRESUsageOutMinTask", "TRESUsageOutTot",
}

// StatFieldList is sstat -e's list of field names, four to a line in
// columns of 20.
func StatFieldList() string {
	var b strings.Builder
	for i, n := range sstatHelpOrder {
		if i%4 == 3 || i == len(sstatHelpOrder)-1 {
			fmt.Fprintf(&b, "%-19s\n", n)
		} else {
			fmt.Fprintf(&b, "%-20s", n)
		}
	}
	return b.String()
}

// statTask is one task's sample with its node.
type statTask struct {
	node string
	t    *api.TaskUsage
}

// extreme is a largest or smallest value over tasks and where it is.
type extreme struct {
	v    float64
	node string
	task int
	ok   bool
}

func (x *extreme) see(v float64, node string, task int, larger bool) {
	if !x.ok || (larger && v > x.v) || (!larger && v < x.v) {
		*x = extreme{v: v, node: node, task: task, ok: true}
	}
}

// StatRows are sstat's rows of the running steps: one per step that has
// samples, its values over every task of every node. convert false is
// --noconvert (memory in bytes).
func StatRows(steps []api.Step, convert bool) []MgrRow {
	var rows []MgrRow
	for i := range steps {
		s := &steps[i]
		if s.State.Final() || len(s.Usage) == 0 {
			continue
		}
		var tasks []statTask
		for k := range s.Usage {
			u := &s.Usage[k]
			for t := range u.Tasks {
				tasks = append(tasks, statTask{u.Node, &u.Tasks[t]})
			}
		}
		if len(tasks) == 0 {
			continue
		}
		rows = append(rows, statRow(s, tasks, convert))
	}
	return rows
}

func statRow(s *api.Step, tasks []statTask, convert bool) MgrRow {
	var maxVM, maxRSS, maxPages, minCPU, maxCPU, minVM, minRSS, minPages extreme
	var sumVM, sumRSS, sumPages, sumCPU float64
	for _, x := range tasks {
		t := x.t
		maxVM.see(float64(t.MaxVMSizeKB), x.node, t.Rank, true)
		minVM.see(float64(t.MaxVMSizeKB), x.node, t.Rank, false)
		maxRSS.see(float64(t.MaxRSSKB), x.node, t.Rank, true)
		minRSS.see(float64(t.MaxRSSKB), x.node, t.Rank, false)
		maxPages.see(float64(t.Pages), x.node, t.Rank, true)
		minPages.see(float64(t.Pages), x.node, t.Rank, false)
		maxCPU.see(t.CPUS, x.node, t.Rank, true)
		minCPU.see(t.CPUS, x.node, t.Rank, false)
		sumVM += float64(t.MaxVMSizeKB)
		sumRSS += float64(t.MaxRSSKB)
		sumPages += float64(t.Pages)
		sumCPU += t.CPUS
	}
	// Averages are whole numbers cut down, as Slurm divides its totals.
	n := float64(len(tasks))
	ave := func(sum float64) float64 { return math.Trunc(sum / n) }
	mem := func(kb float64) string { return memKB(kb, convert) }
	task := func(x extreme) string { return strconv.Itoa(x.task) }
	cpu := func(sec float64) string { return clockLong(int64(math.Round(sec))) }
	pages := func(v float64) string { return strconv.FormatInt(int64(math.Round(v)), 10) }

	// The TRES usage strings: cpu, GPU (where measured), mem, pages,
	// vmem, in Slurm's alphabetical order.
	gpu := gpuTRES(s.Usage)
	tres := func(cpuV, gpuParts, memV, pagesV, vmemV string) string {
		parts := []string{"cpu=" + cpuV}
		if gpuParts != "" {
			parts = append(parts, gpuParts)
		}
		return strings.Join(append(parts, "mem="+memV, "pages="+pagesV, "vmem="+vmemV), ",")
	}
	r := MgrRow{
		"JobID":     strconv.FormatInt(int64(s.JobID), 10) + "." + strconv.Itoa(s.StepID),
		"MaxVMSize": mem(maxVM.v), "MaxVMSizeNode": maxVM.node, "MaxVMSizeTask": task(maxVM), "AveVMSize": mem(ave(sumVM)),
		"MaxRSS": mem(maxRSS.v), "MaxRSSNode": maxRSS.node, "MaxRSSTask": task(maxRSS), "AveRSS": mem(ave(sumRSS)),
		"MaxPages": pages(maxPages.v), "MaxPagesNode": maxPages.node, "MaxPagesTask": task(maxPages), "AvePages": pages(ave(sumPages)),
		"MinCPU": cpu(minCPU.v), "MinCPUNode": minCPU.node, "MinCPUTask": task(minCPU), "AveCPU": cpu(ave(sumCPU)),
		"NTasks":     strconv.Itoa(len(tasks)),
		"ReqCPUFreq": "Unknown", "ReqCPUFreqMin": "Unknown", "ReqCPUFreqMax": "Unknown", "ReqCPUFreqGov": "Unknown",
		"Nodelist":           safe(s.NodeList),
		"TRESUsageInAve":     tres(cpu(ave(sumCPU)), gpu.ave, mem(ave(sumRSS)), pages(ave(sumPages)), mem(ave(sumVM))),
		"TRESUsageInMax":     tres(cpu(maxCPU.v), gpu.max, mem(maxRSS.v), pages(maxPages.v), mem(maxVM.v)),
		"TRESUsageInMaxNode": tres(maxCPU.node, gpu.maxNode, maxRSS.node, maxPages.node, maxVM.node),
		"TRESUsageInMaxTask": tres(task(maxCPU), "", task(maxRSS), task(maxPages), task(maxVM)),
		"TRESUsageInMin":     tres(cpu(minCPU.v), gpu.min, mem(minRSS.v), pages(minPages.v), mem(minVM.v)),
		"TRESUsageInMinNode": tres(minCPU.node, gpu.minNode, minRSS.node, minPages.node, minVM.node),
		"TRESUsageInMinTask": tres(task(minCPU), "", task(minRSS), task(minPages), task(minVM)),
		"TRESUsageInTot":     tres(cpu(sumCPU), gpu.tot, mem(sumRSS), pages(sumPages), mem(sumVM)),
	}
	return r
}

// stepGPU is the gres/gpumem and gres/gpuutil parts of the TRES usage
// strings: per node (the agents measure a node's share of a step's GPUs,
// not each task's), empty where no node measured them.
type stepGPU struct{ ave, max, maxNode, min, minNode, tot string }

func gpuTRES(us []api.StepUsage) stepGPU {
	var g stepGPU
	var maxU, minU, maxM, minM extreme
	var sumU float64
	var sumM int64
	n := 0
	for i := range us {
		u := &us[i]
		if u.GPUUtil == nil {
			continue
		}
		n++
		maxU.see(*u.GPUUtil, u.Node, 0, true)
		minU.see(*u.GPUUtil, u.Node, 0, false)
		maxM.see(float64(u.GPUMemMB), u.Node, 0, true)
		minM.see(float64(u.GPUMemMB), u.Node, 0, false)
		sumU += *u.GPUUtil
		sumM += u.GPUMemMB
	}
	if n == 0 {
		return g
	}
	pair := func(memMB float64, util float64) string {
		return "gres/gpumem=" + memText(int64(math.Round(memMB))) + ",gres/gpuutil=" + strconv.FormatInt(int64(math.Round(util)), 10)
	}
	g.ave = pair(float64(sumM)/float64(n), sumU/float64(n))
	g.max, g.min = pair(maxM.v, maxU.v), pair(minM.v, minU.v)
	g.tot = pair(float64(sumM), sumU)
	g.maxNode = "gres/gpumem=" + maxM.node + ",gres/gpuutil=" + maxU.node
	g.minNode = "gres/gpumem=" + minM.node + ",gres/gpuutil=" + minU.node
	return g
}

// memKB prints KiB as sstat does: with convert, in K, or in M, G, T, P
// where the value divides exactly by 1024 (Slurm's exact conversion);
// without (--noconvert), in bytes. Zero is 0.
func memKB(kb float64, convert bool) string {
	v := int64(math.Round(kb))
	if !convert {
		return strconv.FormatInt(v*1024, 10)
	}
	if v == 0 {
		return "0"
	}
	units := "KMGTP"
	u := 0
	for v%1024 == 0 && u < len(units)-1 {
		v /= 1024
		u++
	}
	return strconv.FormatInt(v, 10) + units[u:u+1]
}
