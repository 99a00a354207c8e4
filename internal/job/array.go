package job

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// DefaultMaxArraySize is Slurm's default MaxArraySize: array task indices
// run from 0 to DefaultMaxArraySize-1.
const DefaultMaxArraySize = 1001

// Array is a parsed --array expression: the task indices, ascending and
// without repeats, and the throttle (%N: at most MaxRunning tasks run at
// once; 0 is no limit).
type Array struct {
	Indices    []int `json:"indices"`
	MaxRunning int   `json:"max_running,omitempty"`
}

// ErrBadArray marks an --array expression Slurm would reject.
var ErrBadArray = errors.New("invalid job array specification")

// ParseArray parses an --array expression: a comma-separated list of
// indices ("1,3,5") and ranges with an optional step ("0-15:4"), optionally
// followed by %N to run at most N tasks at once ("0-15:4%2"). Every index
// must be below maxSize (DefaultMaxArraySize when maxSize <= 0), as Slurm's
// MaxArraySize requires. Square brackets around items are accepted, as
// Slurm accepts them.
func ParseArray(s string, maxSize int) (Array, error) {
	if maxSize <= 0 {
		maxSize = DefaultMaxArraySize
	}
	bad := func(format string, a ...any) (Array, error) {
		return Array{}, fmt.Errorf("%w %q: %s", ErrBadArray, s, fmt.Sprintf(format, a...))
	}
	list, throttle, hasThrottle := strings.Cut(s, "%")
	var a Array
	if hasThrottle {
		n, err := strconv.Atoi(throttle)
		if err != nil || n < 0 {
			return bad("the throttle after %% must be a whole number (for example 0-99%%10)")
		}
		a.MaxRunning = n
	}
	if strings.TrimSpace(list) == "" {
		return bad("give task indices, for example 0-15 or 1,3,5")
	}
	seen := make([]bool, maxSize)
	for _, item := range strings.Split(list, ",") {
		item = strings.TrimSuffix(strings.TrimPrefix(item, "["), "]")
		rng, stepS, hasStep := strings.Cut(item, ":")
		firstS, lastS, isRange := strings.Cut(rng, "-")
		first, err := strconv.Atoi(firstS)
		if err != nil || first < 0 {
			return bad("%q is not an index or a range such as 0-15:4", item)
		}
		last, step := first, 1
		if isRange {
			last, err = strconv.Atoi(lastS)
			if err != nil {
				return bad("%q is not a range such as 0-15:4", item)
			}
			if last < first {
				return bad("range %q ends before it starts", item)
			}
		}
		if hasStep {
			if !isRange {
				return bad("a step (:%s) needs a range, for example 0-15:4", stepS)
			}
			step, err = strconv.Atoi(stepS)
			if err != nil || step <= 0 || step >= maxSize {
				return bad("step %q must be a whole number from 1 to %d", stepS, maxSize-1)
			}
		}
		if last >= maxSize {
			return bad("index %d is over the limit: indices must be below MaxArraySize (%d)", last, maxSize)
		}
		for i := first; i <= last; i += step {
			seen[i] = true
		}
	}
	for i, ok := range seen {
		if ok {
			a.Indices = append(a.Indices, i)
		}
	}
	return a, nil
}

// Len returns the number of tasks.
func (a Array) Len() int { return len(a.Indices) }
