package slurmfmt

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/gefion-hpc/gefion/internal/api"
)

// sshareFields is sshare's table of fields, with Slurm 22.05's headers and
// widths (Account is left-aligned and indented by its depth in the tree).
var sshareFields = []mgrField{
	{"Account", "Account", -20}, {"User", "User", 10}, {"RawShares", "RawShares", 10},
	{"NormShares", "NormShares", 11}, {"RawUsage", "RawUsage", 11}, {"EffectvUsage", "EffectvUsage", 13},
	{"FairShare", "FairShare", 10},
}

// SshareDefault is sshare's default field list.
const SshareDefault = "Account,User,RawShares,NormShares,RawUsage,EffectvUsage,FairShare"

// ParseShareFormat parses sshare's --format list (NAME[%WIDTH],...).
func ParseShareFormat(list string) (*MgrFormat, error) {
	if list == "" {
		list = SshareDefault
	}
	f := &MgrFormat{}
	for _, item := range strings.Split(list, ",") {
		name, width, hasWidth := strings.Cut(strings.TrimSpace(item), "%")
		var c acctColumnMgr
		for k := range sshareFields {
			if strings.EqualFold(sshareFields[k].name, name) {
				c.f = &sshareFields[k]
			}
		}
		if c.f == nil {
			return nil, fmt.Errorf("%w: sshare field %q is not one Gefion knows; known fields: %s", ErrFormat, name, SshareDefault)
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

// ShareRows are sshare's rows: the root, each project (indented by its
// depth under its parent) and its members. Shares are equal among
// siblings (Gefion grants GPU-hours, not shares); RawUsage is the
// project's decayed fair-share usage in GPU-seconds; EffectvUsage its
// part of all usage; FairShare, on member rows, Slurm's classic
// 2^(-usage/shares) of the project. users selects members (empty: all); onlyUsers (-U) drops the
// project rows and prints the account of each member row unindented, as
// sshare -U does.
func (d *MgrData) ShareRows(users []string, onlyUsers bool) []MgrRow {
	var total float64
	children := map[string][]*api.Project{}
	for i := range d.Projects {
		p := &d.Projects[i]
		total += p.FairShareUsage
		children[p.Parent] = append(children[p.Parent], p)
	}
	_, of := d.users(append([]string{d.Me}, users...))
	var out []MgrRow
	if !onlyUsers {
		out = append(out, MgrRow{"Account": "root", "NormShares": "0.000000", "RawUsage": usageText(total), "EffectvUsage": "1.000000"})
	}
	var walk func(parent string, depth int, parentNorm float64)
	walk = func(parent string, depth int, parentNorm float64) {
		kids := children[parent]
		slices.SortFunc(kids, func(a, b *api.Project) int { return strings.Compare(a.Name, b.Name) })
		for _, p := range kids {
			norm := parentNorm / float64(len(kids))
			eff := 0.0
			if total > 0 {
				eff = p.FairShareUsage / total
			}
			indent := strings.Repeat(" ", depth)
			if !onlyUsers {
				out = append(out, MgrRow{"Account": indent + p.Name, "RawShares": "1", "NormShares": share6(norm),
					"RawUsage": usageText(p.FairShareUsage), "EffectvUsage": share6(eff)})
			}
			var members []string
			for u, ps := range of {
				if slices.Contains(ps, p.Name) && (len(users) == 0 || slices.Contains(users, u)) {
					members = append(members, u)
				}
			}
			slices.Sort(members)
			for _, u := range members {
				acct := indent + " " + p.Name
				if onlyUsers {
					acct = p.Name
				}
				// Gefion keeps usage per project, not per member: a
				// member's usage columns stay empty and its FairShare is
				// its project's.
				out = append(out, MgrRow{"Account": acct, "User": u, "RawShares": "1", "NormShares": share6(1 / float64(len(members))),
					"FairShare": share6(math.Exp2(-eff / norm))})
			}
			walk(p.Name, depth+1, norm)
		}
	}
	walk("", 1, 1)
	return out
}

func share6(v float64) string { return strconv.FormatFloat(v, 'f', 6, 64) }

// usageText prints GPU-hours of usage as whole GPU-seconds.
func usageText(gpuHours float64) string {
	return strconv.FormatInt(int64(math.Round(gpuHours*3600)), 10)
}
