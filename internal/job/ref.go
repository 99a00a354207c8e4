package job

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Ref names jobs as Slurm's commands (scancel, scontrol, squeue -j) do: a
// job ID ("1048", every task when it is an array), one array task
// ("1048_2") or a set of tasks ("1048_[1,3,5-7]"). Unlike JobRef, which a
// dependency names, a Ref may name several tasks at once.
type Ref struct {
	ID ID
	// Tasks lists the array task indices named, ascending; nil names the
	// job itself (and, for an array, all of its tasks).
	Tasks []int
}

// ErrBadRef marks a job reference that is none of the accepted forms.
var ErrBadRef = errors.New("invalid job ID")

// RefForms describes the accepted forms, for error messages.
const RefForms = "give a job ID (1048), an array task (1048_2) or a set of tasks (1048_[1,3,5-7])"

// ParseRef parses a job reference exactly: nothing may follow the ID but
// "_TASK" or "_[LIST]", where LIST is an --array list without a throttle.
func ParseRef(s string) (Ref, error) {
	bad := func(why string) (Ref, error) {
		return Ref{}, fmt.Errorf("%w %q: %s; %s", ErrBadRef, s, why, RefForms)
	}
	head, task, isTask := strings.Cut(s, "_")
	id, err := strconv.ParseInt(head, 10, 64)
	if err != nil || id <= 0 || !allDigits(head) {
		return bad("the job ID must be a whole number above 0")
	}
	r := Ref{ID: ID(id)}
	if !isTask {
		return r, nil
	}
	if strings.HasPrefix(task, "[") && strings.HasSuffix(task, "]") {
		list := task[1 : len(task)-1]
		if list == "" || strings.ContainsAny(list, "%[]") {
			return bad("the task list must be indices and ranges, such as [1,3,5-7]")
		}
		a, err := ParseArray(list, 0)
		if err != nil {
			return bad(err.Error())
		}
		r.Tasks = a.Indices
		return r, nil
	}
	n, err := strconv.Atoi(task)
	if err != nil || n < 0 || !allDigits(task) {
		return bad("the array task must be a whole number from 0")
	}
	r.Tasks = []int{n}
	return r, nil
}

// allDigits reports whether s is a non-empty run of ASCII digits: no sign,
// no spaces (strconv accepts "+5").
func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// String formats the reference as ParseRef reads it.
func (r Ref) String() string {
	id := strconv.FormatInt(int64(r.ID), 10)
	switch len(r.Tasks) {
	case 0:
		if r.Tasks == nil {
			return id
		}
		return id + "_[]"
	case 1:
		return id + "_" + strconv.Itoa(r.Tasks[0])
	}
	return id + "_[" + FormatIndices(r.Tasks) + "]"
}

// FormatIndices writes ascending indices as Slurm prints an array's task
// list: runs of consecutive indices become ranges ("0-3,7,9-10").
func FormatIndices(ix []int) string {
	var b strings.Builder
	for i := 0; i < len(ix); {
		j := i
		for j+1 < len(ix) && ix[j+1] == ix[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(ix[i]))
		if j > i {
			b.WriteByte('-')
			b.WriteString(strconv.Itoa(ix[j]))
		}
		i = j + 1
	}
	return b.String()
}

// SplitRefs splits a comma-separated list of references ("12,13_2,14_[1,3]"),
// leaving commas inside brackets alone.
func SplitRefs(s string) []string {
	var out []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '[':
			depth++
		case ']':
			depth--
		case ',':
			if depth == 0 {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}
