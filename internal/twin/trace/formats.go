package trace

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// phillyParser reads the Philly trace as prepared by the Pollux authors:
// timestamp ("YYYY-MM-DD HH:MM:SS"), duration (s), num_gpus, gpu_time,
// cluster (the virtual cluster, used as the tenant).
type phillyParser struct{ ts, dur, gpus, vc int }

func (p *phillyParser) init(h *header) error {
	idx, err := h.require("timestamp", "duration", "num_gpus", "cluster")
	if err != nil {
		return err
	}
	p.ts, p.dur, p.gpus, p.vc = idx[0], idx[1], idx[2], idx[3]
	return nil
}

func (p *phillyParser) parse(c *rowCtx) (Record, error) {
	var r Record
	var ok bool
	if r.SubmitS, ok = parseTime(c.field(p.ts)); !ok {
		return r, c.errorf(p.ts, "timestamp", "%q is not a date-time: write YYYY-MM-DD HH:MM:SS", c.field(p.ts))
	}
	if r.DurationS, ok = parseSeconds(c.field(p.dur)); !ok {
		return r, c.errorf(p.dur, "duration", "%q is not a non-negative number of seconds", c.field(p.dur))
	}
	if r.GPUs, ok = parseCount(c.field(p.gpus)); !ok {
		return r, c.errorf(p.gpus, "num_gpus", "%q is not a whole number of GPUs", c.field(p.gpus))
	}
	r.Tenant = c.field(p.vc)
	return r, nil
}

// alibabaParser reads the Alibaba cluster-trace-gpu-v2023 pod list. A pod
// runs from scheduled_time to deletion_time and was submitted at
// creation_time; a pod never scheduled holds no run and is passed over. A
// fractional GPU share (gpu_milli < 1000) counts as one GPU. The pod's QoS
// class is its tenant, as the trace has no users.
type alibabaParser struct{ name, cpu, mem, gpus, qos, create, del, sched int }

func (p *alibabaParser) init(h *header) error {
	idx, err := h.require("name", "cpu_milli", "memory_mib", "num_gpu", "qos", "creation_time", "deletion_time", "scheduled_time")
	if err != nil {
		return err
	}
	p.name, p.cpu, p.mem, p.gpus, p.qos, p.create, p.del, p.sched = idx[0], idx[1], idx[2], idx[3], idx[4], idx[5], idx[6], idx[7]
	return nil
}

func (p *alibabaParser) parse(c *rowCtx) (Record, error) {
	r := Record{Name: c.field(p.name), Tenant: c.field(p.qos)}
	var ok bool
	if r.SubmitS, ok = parseSeconds(c.field(p.create)); !ok {
		return r, c.errorf(p.create, "creation_time", "%q is not a non-negative number of seconds", c.field(p.create))
	}
	if c.field(p.sched) == "" {
		return r, errSkipRow
	}
	start, ok := parseSeconds(c.field(p.sched))
	if !ok {
		return r, c.errorf(p.sched, "scheduled_time", "%q is not a non-negative number of seconds", c.field(p.sched))
	}
	end, ok := parseSeconds(c.field(p.del))
	if !ok {
		return r, c.errorf(p.del, "deletion_time", "%q is not a non-negative number of seconds", c.field(p.del))
	}
	if end < start {
		return r, c.errorf(p.del, "deletion_time", "%v is before scheduled_time %v", end, start)
	}
	if start < r.SubmitS {
		return r, c.errorf(p.sched, "scheduled_time", "%v is before creation_time %v", start, r.SubmitS)
	}
	r.DurationS = end - start
	if r.GPUs, ok = parseCount(c.field(p.gpus)); !ok {
		return r, c.errorf(p.gpus, "num_gpu", "%q is not a whole number of GPUs", c.field(p.gpus))
	}
	milli, ok := parseCount(c.field(p.cpu))
	if !ok {
		return r, c.errorf(p.cpu, "cpu_milli", "%q is not a whole number of milli-CPUs", c.field(p.cpu))
	}
	r.CPUs = float64(milli) / 1000
	mem, ok := parseCount(c.field(p.mem))
	if !ok {
		return r, c.errorf(p.mem, "memory_mib", "%q is not a whole number of MiB", c.field(p.mem))
	}
	r.MemMB = int64(mem)
	return r, nil
}

// polluxParser reads the Pollux (OSDI'21) and Sia (SOSP'23) workload files:
// name, time (s from the window's start), application, num_replicas (GPUs).
// The files hold no run time: in those simulators it comes from each
// application's training-to-target model. Here it comes from the GPU-time
// bucket the Pollux authors drew each application from (AppGPUHours),
// divided by the job's GPUs.
type polluxParser struct{ name, time, app, gpus int }

// AppGPUHours is the GPU-time the twin gives a Pollux/Sia workload job of
// each application: the geometric middle of the GPU-time bucket the
// workload generator chose that application for (small 0-1 GPU-hours:
// cifar10 and ncf; medium 1-10: deepspeech2 and yolov3; large 10-100: bert;
// extra large 100-1000: imagenet). It is a model, not a measurement. A
// switch rather than a map, which would be built at package initialisation
// in every gefion command.
func AppGPUHours(app string) (gpuHours float64, ok bool) {
	switch app {
	case "cifar10", "ncf":
		return 0.5, true
	case "deepspeech2", "yolov3":
		return 3.2, true
	case "bert":
		return 32, true
	case "imagenet":
		return 320, true
	}
	return 0, false
}

func (p *polluxParser) init(h *header) error {
	idx, err := h.require("name", "time", "application", "num_replicas")
	if err != nil {
		return err
	}
	p.name, p.time, p.app, p.gpus = idx[0], idx[1], idx[2], idx[3]
	return nil
}

func (p *polluxParser) parse(c *rowCtx) (Record, error) {
	r := Record{Name: c.field(p.name)}
	var ok bool
	if r.SubmitS, ok = parseSeconds(c.field(p.time)); !ok {
		return r, c.errorf(p.time, "time", "%q is not a non-negative number of seconds", c.field(p.time))
	}
	if r.GPUs, ok = parseCount(c.field(p.gpus)); !ok || r.GPUs == 0 {
		return r, c.errorf(p.gpus, "num_replicas", "%q is not a positive whole number of GPUs", c.field(p.gpus))
	}
	app := strings.ToLower(c.field(p.app))
	gh, ok := AppGPUHours(app)
	if !ok {
		return r, c.errorf(p.app, "application", "unknown application %q: the run-time model knows cifar10, ncf, deepspeech2, yolov3, bert, imagenet", app)
	}
	r.DurationS = math.Round(gh * 3600 / float64(r.GPUs))
	return r, nil
}

// genericParser reads any CSV whose columns carry the usual names (see
// aliases), or are named with Options.Columns. It needs a submit time, a
// GPU count, and a duration or an end time (run time is end minus start
// when there is a start column, else end minus submit).
type genericParser struct {
	columns map[string]string
	col     map[string]int
}

func (p *genericParser) init(h *header) error {
	p.col = map[string]int{}
	for field, names := range aliases() {
		if want, ok := p.columns[field]; ok {
			i := h.find(want)
			if i < 0 {
				return fmt.Errorf("--columns maps %s to %q, which the header lacks", field, want)
			}
			p.col[field] = i
			continue
		}
		p.col[field] = h.find(names...)
	}
	for field := range p.columns {
		if _, ok := aliases()[field]; !ok {
			return fmt.Errorf("--columns names unknown field %q: use %s", field, strings.Join(fieldNames, ", "))
		}
	}
	var missing []string
	if p.col["submit"] < 0 {
		missing = append(missing, "a submit time ("+strings.Join(aliases()["submit"], ", ")+")")
	}
	if p.col["gpus"] < 0 {
		missing = append(missing, "a GPU count ("+strings.Join(aliases()["gpus"], ", ")+")")
	}
	if p.col["duration"] < 0 && p.col["end"] < 0 {
		missing = append(missing, "a duration ("+strings.Join(aliases()["duration"], ", ")+") or an end time ("+strings.Join(aliases()["end"], ", ")+")")
	}
	if len(missing) > 0 {
		return fmt.Errorf("no column for %s: name them with --columns field=column", strings.Join(missing, "; "))
	}
	return nil
}

func (p *genericParser) parse(c *rowCtx) (Record, error) {
	var r Record
	var ok bool
	col := p.col
	si := col["submit"]
	if r.SubmitS, ok = parseTime(c.field(si)); !ok {
		return r, c.errorf(si, "submit", "%q is not a time: give seconds or a date-time (YYYY-MM-DD HH:MM:SS)", c.field(si))
	}
	gi := col["gpus"]
	if r.GPUs, ok = parseCount(c.field(gi)); !ok {
		return r, c.errorf(gi, "gpus", "%q is not a whole number of GPUs", c.field(gi))
	}
	if di := col["duration"]; di >= 0 && c.field(di) != "" {
		if r.DurationS, ok = parseSeconds(c.field(di)); !ok {
			return r, c.errorf(di, "duration", "%q is not a non-negative number of seconds", c.field(di))
		}
	} else {
		ei := col["end"]
		if ei < 0 || c.field(ei) == "" {
			// A job that never ran (cancelled while pending) has no
			// run to replay.
			return r, errSkipRow
		}
		end, ok := parseTime(c.field(ei))
		if !ok {
			return r, c.errorf(ei, "end", "%q is not a time", c.field(ei))
		}
		from, fromCol, fromName := r.SubmitS, si, "submit"
		if sti := col["start"]; sti >= 0 && c.field(sti) != "" {
			if from, ok = parseTime(c.field(sti)); !ok {
				return r, c.errorf(sti, "start", "%q is not a time", c.field(sti))
			}
			fromCol, fromName = sti, "start"
		}
		if end < from {
			return r, c.errorf(ei, "end", "%s is before the %s time %s (column %d)", c.field(ei), fromName, c.field(fromCol), fromCol+1)
		}
		r.DurationS = end - from
	}
	r.Name = c.field(col["name"])
	r.User = c.field(col["user"])
	r.Tenant = c.field(col["tenant"])
	if r.Tenant == "" {
		r.Tenant = r.User
	}
	if ci := col["cpus"]; ci >= 0 && c.field(ci) != "" {
		v, err := strconv.ParseFloat(c.field(ci), 64)
		if err != nil || v < 0 || math.IsNaN(v) || v > 1<<24 {
			return r, c.errorf(ci, "cpus", "%q is not a non-negative number of CPUs", c.field(ci))
		}
		r.CPUs = v
	}
	if mi := col["mem_mb"]; mi >= 0 && c.field(mi) != "" {
		n, ok := parseCount(c.field(mi))
		if !ok {
			return r, c.errorf(mi, "mem_mb", "%q is not a whole number of MiB", c.field(mi))
		}
		r.MemMB = int64(n)
	}
	if ti := col["time_limit"]; ti >= 0 && c.field(ti) != "" {
		v, ok := parseSeconds(c.field(ti))
		if !ok {
			return r, c.errorf(ti, "time_limit", "%q is not a non-negative number of seconds", c.field(ti))
		}
		r.TimeLimitS = int64(math.Ceil(v))
	}
	return r, nil
}
