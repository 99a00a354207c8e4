package slurmfmt

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/gefion-hpc/gefion/internal/api"
)

// sprio prints the priority factors of pending jobs as Slurm 22.05's sprio
// does. Gefion's factors map onto Slurm's columns one for one (AGE,
// FAIRSHARE, JOBSIZE, PARTITION, QOS, NICE); Gefion's own terms (short
// job and slowdown, see sched.Weights) are summed into SITE, Slurm's
// column for a site's own factor, so that the columns still add up to
// PRIORITY. Gefion has no association or TRES factor: ASSOC prints 0 and
// TRES nothing, as Slurm does with those weights unset.

// PrioRow is one line of sprio: a job's factors, or, with J nil, the
// weights line of sprio -w.
type PrioRow struct {
	J *api.JobPriority
}

// prioField is one sprio % code: its header, whether it is a factor
// whose column sprio drops when the factor's weight is 0, and how to print
// a job's value and the weight.
type prioField struct {
	code   byte
	header string
	// weight returns the factor's weight; nil for a column that is no
	// factor (JOBID, USER), which sprio always keeps.
	weight func(w *api.PriorityWeights) float64
	get    func(j *api.JobPriority) string
	// wtext prints the column on the weights line.
	wtext func(w *api.PriorityWeights) string
}

func weighted(v float64) string { return strconv.FormatFloat(math.Round(v), 'f', 0, 64) }
func norm7(v float64) string    { return strconv.FormatFloat(v, 'f', 7, 64) }

// normOf returns a job's normalized factors (zero when it has none).
func normOf(j *api.JobPriority) *api.PriorityFactors {
	if j.Factors.Norm == nil {
		return &api.PriorityFactors{}
	}
	return j.Factors.Norm
}

func siteOf(f *api.PriorityFactors) float64 { return f.ShortJob + f.Slowdown }

func blank(*api.PriorityWeights) string { return "" }

func wInt(get func(w *api.PriorityWeights) float64) func(w *api.PriorityWeights) string {
	return func(w *api.PriorityWeights) string { return weighted(get(w)) }
}

var (
	wAge       = func(w *api.PriorityWeights) float64 { return w.Age }
	wFairShare = func(w *api.PriorityWeights) float64 { return w.FairShare }
	wJobSize   = func(w *api.PriorityWeights) float64 { return w.JobSize }
	wPartition = func(w *api.PriorityWeights) float64 { return w.Partition }
	wQOS       = func(w *api.PriorityWeights) float64 { return w.QOS }
	wNone      = func(*api.PriorityWeights) float64 { return 0 }
	// The site column is always shown: it is weighted 1, as in Slurm.
	wSite = func(*api.PriorityWeights) float64 { return 1 }
)

// sprioFields is sprio's table of % codes with Slurm 22.05's headers.
var sprioFields = []prioField{
	{'a', "AGE", wAge, func(j *api.JobPriority) string { return norm7(normOf(j).Age) }, wInt(wAge)},
	{'A', "AGE", wAge, func(j *api.JobPriority) string { return weighted(j.Factors.Age) }, wInt(wAge)},
	{'b', "ASSOC", wNone, func(*api.JobPriority) string { return norm7(0) }, wInt(wNone)},
	{'B', "ASSOC", wNone, func(*api.JobPriority) string { return "0" }, wInt(wNone)},
	{'c', "CLUSTER", nil, func(*api.JobPriority) string { return "(null)" }, blank},
	{'f', "FAIRSHARE", wFairShare, func(j *api.JobPriority) string { return norm7(normOf(j).FairShare) }, wInt(wFairShare)},
	{'F', "FAIRSHARE", wFairShare, func(j *api.JobPriority) string { return weighted(j.Factors.FairShare) }, wInt(wFairShare)},
	{'i', "JOBID", nil, func(j *api.JobPriority) string { return strconv.FormatInt(int64(j.JobID), 10) },
		func(*api.PriorityWeights) string { return "Weights" }},
	{'j', "JOBSIZE", wJobSize, func(j *api.JobPriority) string { return norm7(normOf(j).JobSize) }, wInt(wJobSize)},
	{'J', "JOBSIZE", wJobSize, func(j *api.JobPriority) string { return weighted(j.Factors.JobSize) }, wInt(wJobSize)},
	{'N', "NICE", nil, func(j *api.JobPriority) string { return strconv.Itoa(j.Factors.Nice) }, blank},
	{'p', "PARTITION", wPartition, func(j *api.JobPriority) string { return norm7(normOf(j).Partition) }, wInt(wPartition)},
	{'P', "PARTITION", wPartition, func(j *api.JobPriority) string { return weighted(j.Factors.Partition) }, wInt(wPartition)},
	{'q', "QOS", wQOS, func(j *api.JobPriority) string { return norm7(normOf(j).QOS) }, wInt(wQOS)},
	{'Q', "QOS", wQOS, func(j *api.JobPriority) string { return weighted(j.Factors.QOS) }, wInt(wQOS)},
	{'r', "PARTITION", nil, func(j *api.JobPriority) string { return safe(j.Partition) }, blank},
	{'S', "SITE", wSite, func(j *api.JobPriority) string { return weighted(siteOf(&j.Factors)) }, wInt(wSite)},
	{'t', "TRES", wNone, func(*api.JobPriority) string { return "" }, blank},
	{'T', "TRES", wNone, func(*api.JobPriority) string { return "" }, func(*api.PriorityWeights) string { return "(null)" }},
	{'u', "USER", nil, func(j *api.JobPriority) string { return safe(j.User) }, blank},
	// Slurm prints the normalized priority (priority / 2^32-1) with 14
	// decimals and lets the column's width cut it.
	{'y', "PRIORITY", nil, func(j *api.JobPriority) string {
		return strconv.FormatFloat(max(j.Priority, 0)/math.MaxUint32, 'f', 14, 64)
	}, blank},
	{'Y', "PRIORITY", nil, func(j *api.JobPriority) string { return priorityText(j.Priority) }, blank},
}

// sprio's default formats (Slurm 22.05's): weighted or normalized (-n),
// short or long (-l). The short ones drop the factors whose weight is 0.
const (
	SprioDefault      = "%.15i %9r %.10Y %.10S %.10A %.10F %.10J %.10P %.10Q %.20T"
	SprioLong         = "%.15i %9r %.8u %.10Y %.10S %.10A %.10B %.10F %.10J %.10P %.10Q %.11N %.20T"
	SprioNorm         = "%.15i %9r %10y %10a %10f %10j %10p %10q %20t"
	SprioNormLong     = "%.15i %9r %.8u %10y %10a %10b %10f %10j %10p %10q %20t"
	sprioKnownCodeSet = "aAbBcfFijJNpPqQrStTuyY"
)

type prioColumn struct {
	lit   string
	f     *prioField
	width int
	right bool
}

// PrioFormat is a parsed sprio format (-o, or one of the defaults).
type PrioFormat struct {
	cols []prioColumn
	tail string
}

// ParsePrioFormat parses sprio's -o format: literal text and fields
// %[.][width]code, as squeue's.
func ParsePrioFormat(s string) (*PrioFormat, error) {
	if s == "" {
		return nil, fmt.Errorf("%w: the format is empty; give %%CODEs such as %%.15i %%.10Y, or leave -o out", ErrFormat)
	}
	f := &PrioFormat{}
	var lit strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			lit.WriteByte(s[i])
			continue
		}
		j := i + 1
		if j < len(s) && s[j] == '%' {
			lit.WriteByte('%')
			i = j
			continue
		}
		c := prioColumn{lit: lit.String()}
		if j < len(s) && s[j] == '.' {
			c.right = true
			j++
		}
		start := j
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		if j > start {
			c.width, _ = strconv.Atoi(s[start:j])
		}
		if j >= len(s) {
			return nil, fmt.Errorf("%w: %q ends inside a field; write %%[.][width]CODE, for example %%.15i", ErrFormat, s[i:])
		}
		for k := range sprioFields {
			if sprioFields[k].code == s[j] {
				c.f = &sprioFields[k]
			}
		}
		if c.f == nil {
			return nil, fmt.Errorf("%w: %%%c is not an sprio format code; known codes: %%%s", ErrFormat, s[j],
				strings.Join(strings.Split(sprioKnownCodeSet, ""), " %"))
		}
		lit.Reset()
		f.cols = append(f.cols, c)
		i = j
	}
	f.tail = lit.String()
	return f, nil
}

// DropUnweighted removes the factor columns whose weight is 0 (with the
// separator before each), as sprio's short default formats do.
func (f *PrioFormat) DropUnweighted(w *api.PriorityWeights) {
	keep := f.cols[:0]
	for _, c := range f.cols {
		if c.f.weight == nil || c.f.weight(w) != 0 {
			keep = append(keep, c)
		}
	}
	f.cols = keep
}

// WritePrio writes the header (unless noHeader) and a line per job; with
// weightsOnly, the weights line instead of the jobs (sprio -w).
func (f *PrioFormat) WritePrio(out io.Writer, jobs []api.JobPriority, w *api.PriorityWeights, noHeader, weightsOnly bool) error {
	var b []byte
	line := func(text func(c *prioColumn) string) {
		for i := range f.cols {
			c := &f.cols[i]
			b = append(b, c.lit...)
			b = appendPadded(b, text(c), c.width, c.right)
		}
		b = append(b, f.tail...)
		b = append(b, '\n')
	}
	if !noHeader {
		line(func(c *prioColumn) string { return c.f.header })
	}
	if weightsOnly {
		line(func(c *prioColumn) string { return c.f.wtext(w) })
	} else {
		for i := range jobs {
			j := &jobs[i]
			line(func(c *prioColumn) string { return c.f.get(j) })
		}
	}
	_, err := out.Write(b)
	return err
}

// SprioFormat returns the format sprio prints with: the -o format when
// one is given, else Slurm's default for -l and -n, whose short forms
// drop the factors weighted 0 and, when users were asked for (-u), show
// the user as the long ones do.
func SprioFormat(format string, long, normalized, users bool, w *api.PriorityWeights) (*PrioFormat, error) {
	if format != "" {
		return ParsePrioFormat(format)
	}
	def := SprioDefault
	switch {
	case long && normalized:
		def = SprioNormLong
	case long:
		def = SprioLong
	case normalized:
		def = SprioNorm
	}
	if users && !long {
		def = strings.Replace(def, "%9r ", "%9r %.8u ", 1)
	}
	f, err := ParsePrioFormat(def)
	if err != nil {
		return nil, err
	}
	if !long {
		f.DropUnweighted(w)
	}
	return f, nil
}
