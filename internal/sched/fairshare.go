package sched

import (
	"math"
	"slices"
	"strings"
)

// assocKey names a user under a project: a leaf of the fair-share tree.
type assocKey struct{ project, user string }

// fsNode is an association in the Fair Tree: the root, a project or a user.
type fsNode struct {
	name     string
	shares   float64
	usage    float64 // including children
	children []*fsNode
	leaf     *assocKey
	// explicit projects carry their own total usage (users included);
	// projects known only from jobs sum their users'.
	explicit bool
}

// fairTree computes Slurm's Fair Tree fair-share factor for every user
// association: siblings are ranked by their level fair share, shares over
// usage (each normalised among siblings), and the tree is walked depth first
// in that order; users are ranked in the order visited, so the first gets
// 1 and the last 1/n. A project that used less than its share ranks all its
// users above every user of a project that used more, whatever the users'
// own usage. Users seen only in jobs have one share and no usage. When no
// user carries usage of its own (Snapshot.Users is empty), the projects
// listed in Snapshot.Projects are the leaves, keyed with an empty user;
// jobs of unlisted projects then get no fair-share priority.
func fairTree(s *Snapshot) map[assocKey]float64 {
	if flat := flatProjects(s); flat != nil {
		out := make(map[assocKey]float64, len(flat))
		for name, f := range flat {
			out[assocKey{project: name}] = f
		}
		return out
	}
	return fairTreeFull(s)
}

// flatProjects is Fair Tree for the common case of one level of projects
// and no per-user usage, without building a tree: projects ranked by level
// fair share, ties sharing a rank. It returns nil when the case does not
// apply.
func flatProjects(s *Snapshot) map[string]float64 {
	if len(s.Users) > 0 {
		return nil
	}
	var shares, usage float64
	for i := range s.Projects {
		if s.Projects[i].Parent != "" {
			return nil
		}
		shares += s.Projects[i].Shares
		usage += s.Projects[i].UsageGPUS
	}
	type pl struct {
		name string
		lf   float64
	}
	ps := make([]pl, len(s.Projects))
	for i := range s.Projects {
		p := &s.Projects[i]
		sh := 0.0
		if shares > 0 {
			sh = p.Shares / shares
		}
		lf := math.Inf(1)
		switch {
		case sh == 0:
			lf = 0
		case usage > 0 && p.UsageGPUS > 0:
			lf = sh / (p.UsageGPUS / usage)
		}
		ps[i] = pl{p.Name, lf}
	}
	slices.SortFunc(ps, func(a, b pl) int {
		switch {
		case a.lf > b.lf:
			return -1
		case a.lf < b.lf:
			return 1
		}
		return strings.Compare(a.name, b.name)
	})
	out := make(map[string]float64, len(ps))
	n := float64(len(ps))
	rank := 0
	for i := range ps {
		if i > 0 && ps[i].lf != ps[i-1].lf {
			rank = i
		}
		out[ps[i].name] = (n - float64(rank)) / n
	}
	return out
}

// fairTreeFull walks the whole association tree.
func fairTreeFull(s *Snapshot) map[assocKey]float64 {
	projects := map[string]*fsNode{}
	root := &fsNode{name: ""}
	getProject := func(name string) *fsNode {
		if p, ok := projects[name]; ok {
			return p
		}
		p := &fsNode{name: name, shares: 1}
		projects[name] = p
		return p
	}
	parents := map[string]string{}
	for _, p := range s.Projects {
		n := getProject(p.Name)
		n.shares = p.Shares
		n.usage = p.UsageGPUS
		n.explicit = true
		parents[p.Name] = p.Parent
	}
	users := map[assocKey]*fsNode{}
	addUser := func(project, user string, shares, usage float64) {
		k := assocKey{project, user}
		if u, ok := users[k]; ok {
			u.shares, u.usage = shares, usage
			return
		}
		key := k
		users[k] = &fsNode{name: user, shares: shares, usage: usage, leaf: &key}
		getProject(project)
	}
	for _, u := range s.Users {
		addUser(u.Project, u.User, u.Shares, u.UsageGPUS)
	}
	perUser := len(s.Users) > 0
	if perUser {
		for i := range s.Pending {
			k := assocKey{s.Pending[i].Project, s.Pending[i].User}
			if _, ok := users[k]; !ok {
				addUser(k.project, k.user, 1, 0)
			}
		}
	}
	for k, u := range users {
		p := projects[k.project]
		p.children = append(p.children, u)
	}
	// Link projects to parents; a parent that is unknown or would make a
	// cycle puts the project under the root.
	names := make([]string, 0, len(projects))
	for name := range projects {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		parent := parents[name]
		if parent == "" || parent == name || projects[parent] == nil || cyclic(parents, name) {
			root.children = append(root.children, projects[name])
			continue
		}
		projects[parent].children = append(projects[parent].children, projects[name])
	}
	if !perUser {
		// No user has usage of its own: users of a project would all tie,
		// so the projects are the leaves (keyed with an empty user).
		for name, p := range projects {
			if len(p.children) == 0 {
				p.leaf = &assocKey{project: name}
			}
		}
	}
	sumUsage(root)
	var order []*fsNode
	var tied []bool
	walk(root, &order, &tied)
	out := make(map[assocKey]float64, len(order))
	n := float64(len(order))
	rank := 0
	for i, u := range order {
		if i == 0 || !tied[i] {
			rank = i
		}
		out[*u.leaf] = (n - float64(rank)) / n
	}
	return out
}

func cyclic(parents map[string]string, name string) bool {
	seen := map[string]bool{name: true}
	for p := parents[name]; p != ""; p = parents[p] {
		if seen[p] {
			return true
		}
		seen[p] = true
	}
	return false
}

func sumUsage(n *fsNode) float64 {
	for _, c := range n.children {
		u := sumUsage(c)
		if c.leaf == nil || !n.explicit {
			n.usage += u
		}
	}
	return n.usage
}

// walk appends the leaves under n in Fair Tree order; tied[i] says that
// leaf i is a sibling of leaf i-1 with the same level fair share, so they
// share a rank (Slurm ties such associations).
func walk(n *fsNode, out *[]*fsNode, tied *[]bool) {
	if n.leaf != nil {
		*out = append(*out, n)
		*tied = append(*tied, false)
		return
	}
	var shares, usage float64
	for _, c := range n.children {
		shares += c.shares
		usage += c.usage
	}
	lf := func(c *fsNode) float64 {
		s := 0.0
		if shares > 0 {
			s = c.shares / shares
		}
		if usage <= 0 || c.usage <= 0 {
			if s == 0 {
				return 0
			}
			return math.Inf(1)
		}
		return s / (c.usage / usage)
	}
	kids := slices.Clone(n.children)
	slices.SortStableFunc(kids, func(a, b *fsNode) int {
		la, lb := lf(a), lf(b)
		switch {
		case la > lb:
			return -1
		case la < lb:
			return 1
		}
		return strings.Compare(a.name, b.name)
	})
	for k, c := range kids {
		start := len(*out)
		walk(c, out, tied)
		if k > 0 && c.leaf != nil && kids[k-1].leaf != nil && lf(c) == lf(kids[k-1]) && len(*out) > start {
			(*tied)[start] = true
		}
	}
}
