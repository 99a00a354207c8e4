// Package hostlist expands and compresses Slurm-style host lists such as
// "dgx[001-004,010],login1". It has no dependencies and may be imported by
// any package.
package hostlist

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// MaxHosts bounds how many names one expression may expand to, so a typo
// such as "n[0-99999999]" fails instead of exhausting memory.
const MaxHosts = 1 << 20

// Expand returns the host names an expression denotes, in the order written.
// Commas outside brackets separate expressions; inside brackets they separate
// ranges; leading zeros set the width ("n[08-10]" is n08 n09 n10). More than
// one bracket in a name expands as a cross product.
func Expand(expr string) ([]string, error) {
	out, _, err := expand(expr, true)
	return out, err
}

// Count returns how many names Expand(expr) gives, counting duplicates,
// without building them, and fails where Expand fails. It is for checking
// an expression whose names are not needed: a million-name list costs
// Expand a second and a hundred megabytes.
func Count(expr string) (int, error) {
	_, n, err := expand(expr, false)
	return int(n), err
}

// expand walks expr once: with build, it returns the names; without, only
// their count.
func expand(expr string, build bool) ([]string, int64, error) {
	var out []string
	var total int64
	for _, part := range splitTop(expr) {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		names, n, err := expandOne(part, build)
		if err != nil {
			return nil, 0, fmt.Errorf("host list %q: %w", expr, err)
		}
		out = append(out, names...)
		if total += n; total > MaxHosts {
			return nil, 0, fmt.Errorf("host list %q: more than %d hosts", expr, MaxHosts)
		}
	}
	return out, total, nil
}

// splitTop splits at commas that are not inside brackets.
func splitTop(s string) []string {
	var parts []string
	depth, start := 0, 0
	for i, r := range s {
		switch r {
		case '[':
			depth++
		case ']':
			depth--
		case ',':
			if depth == 0 {
				parts = append(parts, s[start:i])
				start = i + 1
			}
		}
	}
	return append(parts, s[start:])
}

// expandOne expands one expression without top-level commas: the names
// when build is set, and their count.
func expandOne(s string, build bool) ([]string, int64, error) {
	open := strings.IndexByte(s, '[')
	if open < 0 {
		if strings.ContainsAny(s, "]") {
			return nil, 0, fmt.Errorf("unmatched ']' in %q", s)
		}
		if !build {
			return nil, 1, nil
		}
		return []string{s}, 1, nil
	}
	if strings.IndexByte(s[:open], ']') >= 0 {
		return nil, 0, fmt.Errorf("unmatched ']' in %q", s)
	}
	closeIdx := strings.IndexByte(s[open:], ']')
	if closeIdx < 0 {
		return nil, 0, fmt.Errorf("unmatched '[' in %q", s)
	}
	closeIdx += open
	prefix, body, rest := s[:open], s[open+1:closeIdx], s[closeIdx+1:]
	if body == "" {
		return nil, 0, fmt.Errorf("empty brackets in %q", s)
	}
	tails, ntails, err := expandOne(rest, build)
	if err != nil {
		return nil, 0, err
	}
	var out []string
	var total int64
	for _, rg := range strings.Split(body, ",") {
		lo, hi, found := strings.Cut(rg, "-")
		if !found {
			hi = lo
		}
		a, ok1 := parseNum(lo)
		b, ok2 := parseNum(hi)
		if !ok1 || !ok2 {
			return nil, 0, fmt.Errorf("range %q in %q is not numeric (want forms like 001-031)", rg, s)
		}
		if b < a {
			return nil, 0, fmt.Errorf("range %q in %q runs backwards", rg, s)
		}
		// Count before building: b-a cannot overflow (both are >= 0), and
		// a range times the names after it could ask for far more than
		// memory holds before any check inside the loop ran.
		if b-a >= MaxHosts || total+(b-a+1)*ntails > MaxHosts {
			return nil, 0, fmt.Errorf("%q expands to more than %d hosts", s, MaxHosts)
		}
		total += (b - a + 1) * ntails
		if !build {
			continue
		}
		width := 0
		if len(lo) > 1 && lo[0] == '0' {
			width = len(lo)
		}
		// Count up from a by offsets: i <= b with i++ never ends when b
		// is the largest int64.
		for k := int64(0); k <= b-a; k++ {
			n := fmt.Sprintf("%0*d", width, a+k)
			for _, t := range tails {
				out = append(out, prefix+n+t)
			}
		}
	}
	return out, total, nil
}

// parseNum parses a run of decimal digits (no sign, no space) that fits in
// an int64.
func parseNum(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	v, err := strconv.ParseInt(s, 10, 64)
	return v, err == nil
}

// Compress returns the shortest usual expression for names: names sharing a
// prefix and a numeric suffix of one width are merged into bracketed ranges.
// Names are sorted first, as Slurm prints node lists. Expand of the result
// gives back the same set of names.
//
// Compress refuses a name that ValidateName refuses: the host-list syntax
// has no escapes, so a name holding '[', ',' or '-' at its start could not
// be written so that Expand reads it back.
func Compress(names []string) (string, error) {
	type key struct {
		prefix string
		width  int
	}
	groups := map[key][]int64{}
	var plain []string
	var order []key
	for _, n := range names {
		if err := ValidateName(n); err != nil {
			return "", err
		}
		i := len(n)
		for i > 0 && n[i-1] >= '0' && n[i-1] <= '9' {
			i--
		}
		if i == len(n) {
			plain = append(plain, n)
			continue
		}
		digits := n[i:]
		v, err := strconv.ParseInt(digits, 10, 64)
		if err != nil {
			plain = append(plain, n)
			continue
		}
		w := 0
		if len(digits) > 1 && digits[0] == '0' {
			w = len(digits)
		}
		k := key{n[:i], w}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], v)
	}
	sort.Slice(order, func(i, j int) bool {
		if order[i].prefix != order[j].prefix {
			return order[i].prefix < order[j].prefix
		}
		return order[i].width < order[j].width
	})
	var parts []string
	for _, k := range order {
		vs := groups[k]
		slices.Sort(vs)
		vs = slices.Compact(vs)
		if len(vs) == 1 {
			parts = append(parts, fmt.Sprintf("%s%0*d", k.prefix, k.width, vs[0]))
			continue
		}
		var rs []string
		for i := 0; i < len(vs); {
			j := i
			for j+1 < len(vs) && vs[j+1] == vs[j]+1 {
				j++
			}
			if i == j {
				rs = append(rs, fmt.Sprintf("%0*d", k.width, vs[i]))
			} else {
				rs = append(rs, fmt.Sprintf("%0*d-%0*d", k.width, vs[i], k.width, vs[j]))
			}
			i = j + 1
		}
		parts = append(parts, k.prefix+"["+strings.Join(rs, ",")+"]")
	}
	slices.Sort(plain)
	parts = append(parts, slices.Compact(plain)...)
	return strings.Join(parts, ","), nil
}

// CompressOrJoin is Compress for display: names that no host list can carry
// (recorded before node names were checked) are listed joined by commas.
func CompressOrJoin(names []string) string {
	s, err := Compress(names)
	if err != nil {
		return strings.Join(names, ",")
	}
	return s
}
