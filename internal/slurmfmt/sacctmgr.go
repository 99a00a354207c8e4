package slurmfmt

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/gefion-hpc/gefion/internal/api"
)

// mgrField is one sacctmgr field: the name a format= gives, Slurm's
// header and default width (negative: left-aligned).
type mgrField struct {
	name   string
	header string
	width  int
}

// sacctmgrFields is sacctmgr's table of fields that Gefion's projects,
// users and QOS fill; a row leaves empty what it does not set, as Slurm
// leaves unset limits empty.
var sacctmgrFields = []mgrField{
	{"Account", "Account", 10}, {"Admin", "Admin", 9}, {"Cluster", "Cluster", 10},
	{"DefaultAccount", "Def Acct", 10}, {"DefaultQOS", "Def QOS", 9}, {"Description", "Descr", 20},
	{"Flags", "Flags", 40}, {"GraceTime", "GraceTime", 10}, {"GrpJobs", "GrpJobs", 7},
	{"GrpTRES", "GrpTRES", 13}, {"GrpTRESMins", "GrpTRESMins", 13}, {"GrpTRESRunMins", "GrpTRESRunMin", 13},
	{"GrpSubmit", "GrpSubmit", 9}, {"GrpWall", "GrpWall", 11}, {"MaxJobs", "MaxJobs", 7},
	{"MaxJobsPerUser", "MaxJobsPU", 9}, {"MaxSubmit", "MaxSubmit", 9}, {"MaxTRES", "MaxTRES", 13},
	{"MaxTRESMins", "MaxTRESMins", 13}, {"MaxTRESPerAccount", "MaxTRESPA", 13}, {"MaxTRESPerNode", "MaxTRESPerNode", 14},
	{"MaxTRESPerUser", "MaxTRESPU", 13}, {"MaxWall", "MaxWall", 11}, {"Name", "Name", 10},
	{"Organization", "Org", 20}, {"ParentName", "ParentName", 10}, {"Partition", "Partition", 10},
	{"Preempt", "Preempt", 10}, {"PreemptMode", "PreemptMode", 11}, {"Priority", "Priority", 10},
	{"QOS", "QOS", 20}, {"Share", "Share", 9}, {"UsageFactor", "UsageFactor", 11},
	{"User", "User", 10},
}

// Default field lists of sacctmgr show, as Slurm 22.05 prints them
// (trimmed of the CPU and node limits Gefion has no counterpart for).
func mgrDefaults(key string) string {
	return map[string]string{
		"user":    "User,DefaultAccount,Admin",
		"user-s":  "User,DefaultAccount,Admin,Cluster,Account,Partition,Share,Priority,MaxJobs,MaxSubmit,MaxWall,QOS,DefaultQOS",
		"account": "Account,Description,Organization",
		"account-s": "Account,Description,Organization,Cluster,ParentName,User,Share,Priority,GrpJobs,GrpTRES,GrpSubmit,GrpWall," +
			"GrpTRESMins,MaxJobs,MaxSubmit,MaxWall,QOS,DefaultQOS",
		"assoc": "Cluster,Account,User,Partition,Share,Priority,GrpJobs,GrpTRES,GrpSubmit,GrpWall,GrpTRESMins,MaxJobs,MaxTRES," +
			"MaxTRESPerNode,MaxSubmit,MaxWall,MaxTRESMins,QOS,DefaultQOS,GrpTRESRunMins",
		"qos": "Name,Priority,GraceTime,Preempt,PreemptMode,Flags,UsageFactor,GrpTRES,GrpTRESMins,GrpJobs,GrpSubmit,GrpWall," +
			"MaxTRES,MaxTRESPerNode,MaxTRESMins,MaxWall,MaxTRESPerUser,MaxJobsPerUser,MaxTRESPerAccount",
	}[key]
}

// MgrFormat is a parsed sacctmgr field list.
type MgrFormat struct{ cols []acctColumnMgr }

type acctColumnMgr struct {
	f     *mgrField
	width int
}

// ParseMgrFormat parses a format= list for entity (user, account, assoc,
// qos); empty is the entity's default (withAssoc: -s's).
func ParseMgrFormat(entity, list string, withAssoc bool) (*MgrFormat, error) {
	if list == "" {
		key := entity
		if withAssoc && (entity == "user" || entity == "account") {
			key += "-s"
		}
		list = mgrDefaults(key)
	}
	f := &MgrFormat{}
	for _, item := range strings.Split(list, ",") {
		name, width, hasWidth := strings.Cut(strings.TrimSpace(item), "%")
		var c acctColumnMgr
		for k := range sacctmgrFields {
			mf := &sacctmgrFields[k]
			if strings.EqualFold(mf.name, name) || strings.EqualFold(mf.header, name) ||
				(len(name) >= 3 && strings.HasPrefix(strings.ToLower(mf.name), strings.ToLower(name)) && c.f == nil) {
				c.f = mf
				if strings.EqualFold(mf.name, name) {
					break
				}
			}
		}
		if c.f == nil {
			names := make([]string, len(sacctmgrFields))
			for i, mf := range sacctmgrFields {
				names[i] = mf.name
			}
			return nil, fmt.Errorf("%w: sacctmgr field %q is not one Gefion knows; known fields: %s", ErrFormat, name, strings.Join(names, ","))
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

// MgrRow is one row of sacctmgr: values by field name.
type MgrRow map[string]string

// WriteMgr writes rows as sacctmgr does: right-aligned columns each
// followed by a space under a dashed rule, or with parsable (-p, -P) the
// fields joined by |.
func (f *MgrFormat) WriteMgr(w io.Writer, rows []MgrRow, st AcctStyle, noHeader bool) error {
	af := &AcctFormat{}
	for _, c := range f.cols {
		name, header := c.f.name, c.f.header
		af.cols = append(af.cols, acctColumn{f: &acctField{name: header, get: func(r *AcctRow, _ *Env) string {
			return safe(r.mgr[name])
		}}, width: c.width})
	}
	acct := make([]AcctRow, len(rows))
	for i := range rows {
		acct[i] = AcctRow{mgr: rows[i]}
	}
	return af.WriteAcct(w, acct, &Env{}, st, noHeader)
}

// MgrData is what sacctmgr's rows are built from.
type MgrData struct {
	Cluster  string
	Projects []api.Project
	Config   *api.Config
	// Admins are the users shown as Administrator.
	Admins []string
	// Me is the calling user, a member of every project open to all.
	Me string
}

// users lists the users of the projects with their projects: the
// members each project names and, for the projects open to everyone
// ("*"), the users in extra (the caller and those asked for), since
// everyone is a member of those. A user's own projects come first, in
// name order, then the open ones: the first is the default account, as
// the controller picks it for a job that names none.
func (d *MgrData) users(extra []string) ([]string, map[string][]string) {
	of := map[string][]string{}
	var open []string
	for _, p := range d.Projects {
		for _, u := range p.Users {
			if u == "*" {
				open = append(open, p.Name)
			} else if !slices.Contains(of[u], p.Name) {
				of[u] = append(of[u], p.Name)
			}
		}
	}
	slices.Sort(open)
	for _, u := range extra {
		if _, ok := of[u]; !ok && len(open) > 0 {
			of[u] = nil
		}
	}
	names := make([]string, 0, len(of))
	for u, ps := range of {
		slices.Sort(ps)
		for _, o := range open {
			if !slices.Contains(ps, o) {
				ps = append(ps, o)
			}
		}
		of[u] = ps
		names = append(names, u)
	}
	slices.Sort(names)
	return names, of
}

func (d *MgrData) qosList() string {
	var names []string
	if d.Config != nil {
		for _, q := range d.Config.QOS {
			names = append(names, q.Name)
		}
	}
	slices.Sort(names)
	return strings.Join(names, ",")
}

func (d *MgrData) project(name string) *api.Project {
	for i := range d.Projects {
		if d.Projects[i].Name == name {
			return &d.Projects[i]
		}
	}
	return nil
}

// projectLimits fills a row with a project's limits: the GPU cap as
// GrpTRES and the grant as GrpTRESMins (GPU-minutes).
func projectLimits(r MgrRow, p *api.Project) {
	if p == nil {
		return
	}
	if p.MaxGPUs > 0 {
		r["GrpTRES"] = "gres/gpu=" + strconv.Itoa(p.MaxGPUs)
	}
	if p.GrantGPUHours > 0 {
		r["GrpTRESMins"] = "gres/gpu=" + strconv.FormatInt(int64(p.GrantGPUHours*60), 10)
	}
}

// UserRows are the rows of sacctmgr show user: one per user, or with
// withAssoc one per user and project. names selects users (empty: all).
func (d *MgrData) UserRows(names []string, withAssoc bool) []MgrRow {
	users, of := d.users(append([]string{d.Me}, names...))
	var out []MgrRow
	for _, u := range users {
		if len(names) > 0 && !slices.Contains(names, u) {
			continue
		}
		admin := "None"
		if slices.Contains(d.Admins, u) {
			admin = "Administrator"
		}
		base := MgrRow{"User": u, "DefaultAccount": of[u][0], "Admin": admin}
		if !withAssoc {
			out = append(out, base)
			continue
		}
		for _, p := range of[u] {
			r := MgrRow{"Cluster": d.Cluster, "Account": p, "Share": "1", "QOS": d.qosList()}
			for k, v := range base {
				r[k] = v
			}
			out = append(out, r)
		}
	}
	return out
}

// AccountRows are the rows of sacctmgr show account: one per project, or
// with withAssoc its association and one per member.
func (d *MgrData) AccountRows(names []string, withAssoc bool) []MgrRow {
	var out []MgrRow
	for i := range d.Projects {
		p := &d.Projects[i]
		if len(names) > 0 && !slices.Contains(names, p.Name) {
			continue
		}
		base := MgrRow{"Account": p.Name, "Description": p.Name, "Organization": p.Name}
		if !withAssoc {
			out = append(out, base)
			continue
		}
		members := p.Users
		if slices.Contains(members, "*") {
			members = append(slices.Clone(members), d.Me)
		}
		for _, u := range append([]string{""}, members...) {
			if u == "*" {
				continue
			}
			r := MgrRow{"Cluster": d.Cluster, "ParentName": p.Parent, "User": u, "Share": "1", "QOS": d.qosList()}
			if u != "" {
				r["ParentName"] = ""
			}
			for k, v := range base {
				r[k] = v
			}
			if u == "" {
				projectLimits(r, p)
			}
			out = append(out, r)
		}
	}
	return out
}

// AssocRows are sacctmgr show assoc's rows: each project, then each of its
// members. users and accounts select (empty: all).
func (d *MgrData) AssocRows(users, accounts []string) []MgrRow {
	var out []MgrRow
	for i := range d.Projects {
		p := &d.Projects[i]
		if len(accounts) > 0 && !slices.Contains(accounts, p.Name) {
			continue
		}
		if len(users) == 0 {
			r := MgrRow{"Cluster": d.Cluster, "Account": p.Name, "Share": "1", "QOS": d.qosList(), "ParentName": p.Parent}
			projectLimits(r, p)
			out = append(out, r)
		}
		members := slices.Clone(p.Users)
		if slices.Contains(members, "*") {
			members = append(members, d.Me)
			members = append(members, users...)
		}
		slices.Sort(members)
		members = slices.Compact(members)
		for _, u := range members {
			if u == "*" || (len(users) > 0 && !slices.Contains(users, u)) {
				continue
			}
			out = append(out, MgrRow{"Cluster": d.Cluster, "Account": p.Name, "User": u, "Share": "1", "QOS": d.qosList()})
		}
	}
	return out
}

// QOSRows are sacctmgr show qos's rows.
func (d *MgrData) QOSRows(names []string) []MgrRow {
	var out []MgrRow
	if d.Config == nil {
		return nil
	}
	for _, q := range d.Config.QOS {
		if len(names) > 0 && !slices.Contains(names, q.Name) {
			continue
		}
		r := MgrRow{"Name": q.Name, "Priority": strconv.Itoa(q.Priority), "GraceTime": clockLong(q.GraceS),
			"Preempt": strings.Join(q.Preempt, ","), "PreemptMode": "cluster", "UsageFactor": "1.000000"}
		if q.Requeue {
			r["PreemptMode"] = "REQUEUE"
		}
		if q.MaxGPUsPerUser > 0 {
			r["MaxTRESPerUser"] = "gres/gpu=" + strconv.Itoa(q.MaxGPUsPerUser)
		}
		if q.MaxGPUsPerProject > 0 {
			r["MaxTRESPerAccount"] = "gres/gpu=" + strconv.Itoa(q.MaxGPUsPerProject)
		}
		out = append(out, r)
	}
	return out
}
