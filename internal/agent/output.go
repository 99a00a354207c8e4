package agent

import (
	"path/filepath"
	"strconv"
	"strings"

	"github.com/gefion-hpc/gefion/internal/api"
)

// PatternVars are the values Slurm's filename patterns stand for.
type PatternVars struct {
	JobID     string // %j, %J
	ArrayJob  string // %A: the array's job ID, else the job ID
	ArrayTask string // %a: the task index, else 4294967294 as in Slurm
	Node      string // %N, the short host name
	User      string // %u
	Name      string // %x
}

// VarsOf returns a job's pattern values on the node it runs on.
func VarsOf(a api.Assignment, user string) PatternVars {
	id := strconv.FormatInt(int64(a.JobID), 10)
	v := PatternVars{JobID: id, ArrayJob: id, ArrayTask: noArrayTask, Node: a.Node, User: user, Name: a.Spec.Name}
	if i := strings.IndexByte(v.Node, '.'); i > 0 {
		v.Node = v.Node[:i]
	}
	if v.Name == "" {
		v.Name = "sbatch"
	}
	if a.ArrayJob != 0 {
		v.ArrayJob = strconv.FormatInt(int64(a.ArrayJob), 10)
		v.ArrayTask = strconv.Itoa(a.ArrayTask)
	}
	return v
}

// ExpandPattern replaces Slurm's filename patterns in p: %j and %J (the job
// ID; the batch step has no step number), %A and %a (array job and task),
// %N (node), %n, %t and %s (node, task and step of the batch step: 0, 0,
// "batch"), %u (user), %x (job name) and %% (a percent sign). A number
// between % and the letter pads with zeros to that width (%4a -> 0007), as
// in Slurm. A backslash anywhere in p turns patterns off and is removed,
// also as in Slurm. An unknown %c is kept as written.
func ExpandPattern(p string, v PatternVars) string {
	if strings.Contains(p, `\`) {
		return strings.ReplaceAll(p, `\`, "")
	}
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c != '%' || i+1 >= len(p) {
			b.WriteByte(c)
			continue
		}
		j := i + 1
		for j < len(p) && p[j] >= '0' && p[j] <= '9' {
			j++
		}
		if j >= len(p) {
			b.WriteString(p[i:])
			break
		}
		width, _ := strconv.Atoi(p[i+1 : j])
		var val string
		numeric := true
		switch p[j] {
		case '%':
			b.WriteByte('%')
			i = j
			continue
		case 'j', 'J':
			val = v.JobID
		case 'A':
			val = v.ArrayJob
		case 'a':
			val = v.ArrayTask
		case 'n', 't':
			val = "0"
		case 's':
			val, numeric = "batch", false
		case 'N':
			val, numeric = v.Node, false
		case 'u':
			val, numeric = v.User, false
		case 'x':
			val, numeric = v.Name, false
		default:
			b.WriteString(p[i : j+1])
			i = j
			continue
		}
		if numeric && len(val) < width {
			val = strings.Repeat("0", width-len(val)) + val
		}
		b.WriteString(val)
		i = j
	}
	return b.String()
}

// OutputPaths returns the absolute paths of a job's standard output and
// error: --output and --error with their patterns expanded, relative to the
// job's working directory; slurm-%j.out (slurm-%A_%a.out for an array
// task) when --output is not given; the output file when --error is not
// given. Same reports whether both streams go to one file.
func OutputPaths(a api.Assignment, workDir, user string) (out, errp string, same bool) {
	v := VarsOf(a, user)
	o := a.Spec.Output
	if o == "" {
		o = "slurm-%j.out"
		if a.ArrayJob != 0 {
			o = "slurm-%A_%a.out"
		}
	}
	out = absIn(workDir, ExpandPattern(o, v))
	if a.Spec.Error == "" {
		return out, out, true
	}
	errp = absIn(workDir, ExpandPattern(a.Spec.Error, v))
	return out, errp, errp == out
}

// InputPath returns the absolute path of a job's standard input: --input
// expanded like the output, or /dev/null.
func InputPath(a api.Assignment, workDir, user string) string {
	if a.Spec.Input == "" || a.Spec.Input == "none" {
		return "/dev/null"
	}
	return absIn(workDir, ExpandPattern(a.Spec.Input, VarsOf(a, user)))
}

func absIn(dir, p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(dir, p)
}
