package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/gefion-hpc/gefion/internal/api"
)

// clusterData is the machine as built: scalable units of nodes of GPUs.
type clusterData struct {
	SUs   []suView
	Nodes int
	GPUs  int
	// Count is the number of GPUs in each cell class.
	Count map[string]int
	// Legend lists the cell classes in the order they are explained.
	Legend []legendItem
	// Queue is the depth of the queue the viewer may see, by partition
	// and QOS.
	Queue []queueDepth
}

type suView struct {
	Name  string
	Nodes []nodeView
}

// nodeView is a node and its GPUs; its JSON form is the live update.
type nodeView struct {
	Name   string    `json:"n"`
	State  string    `json:"s"`
	Label  string    `json:"l"`
	Cells  []gpuCell `json:"g"`
	CPUs   int       `json:"-"`
	Reason string    `json:"-"`
}

type gpuCell struct {
	Class string `json:"c"`
	Label string `json:"l"`
}

type legendItem struct {
	Class, Label string
	Count        int
}

type queueDepth struct {
	Partition, QOS string
	Pending        int
	Running        int
}

// cellClasses are the GPU cell classes and what they mean.
var cellClasses = [][2]string{
	{"idle", "idle"}, {"alloc", "allocated"}, {"draining", "draining"}, {"drained", "drained"}, {"down", "down"},
}

// clusterView builds the map as v may see it: every node and GPU state
// (the API shows them to all), and the job and user of a GPU only where
// the controller lists that job to v.
func (s *Server) clusterView(r *http.Request, v *viewer) (*clusterData, error) {
	ctx := r.Context()
	nodes, err := s.ctl.Nodes(ctx)
	if err != nil {
		return nil, err
	}
	// Operators are listed every job, others only their own.
	jobs, err := s.ctl.ListJobs(ctx, v.User, true, true)
	if err != nil {
		return nil, err
	}
	on := map[string]map[int]owner{} // node -> GPU index -> job
	depth := map[[2]string]*queueDepth{}
	var order [][2]string
	for i := range jobs {
		j := &jobs[i]
		k := [2]string{j.Partition, j.QOS}
		qd := depth[k]
		if qd == nil {
			qd = &queueDepth{Partition: j.Partition, QOS: j.QOS}
			depth[k] = qd
			order = append(order, k)
		}
		switch {
		case j.State == "PENDING":
			qd.Pending++
		case j.State == "RUNNING":
			qd.Running++
		}
		if j.State != "RUNNING" {
			continue
		}
		for _, a := range j.Allocs {
			m := on[a.Node]
			if m == nil {
				m = map[int]owner{}
				on[a.Node] = m
			}
			for _, g := range a.GPUs {
				m[g] = owner{jobRef(j), j.User}
			}
		}
	}
	d := &clusterData{Count: map[string]int{}}
	for _, k := range order {
		d.Queue = append(d.Queue, *depth[k])
	}
	suAt := map[string]int{}
	for i := range nodes {
		n := &nodes[i]
		nv := nodeCells(n, on[n.Name])
		for _, c := range nv.Cells {
			d.Count[c.Class]++
		}
		k, ok := suAt[n.SU]
		if !ok {
			k = len(d.SUs)
			suAt[n.SU] = k
			d.SUs = append(d.SUs, suView{Name: n.SU})
		}
		d.SUs[k].Nodes = append(d.SUs[k].Nodes, nv)
		d.Nodes++
		d.GPUs += n.GPUs
	}
	for _, c := range cellClasses {
		d.Legend = append(d.Legend, legendItem{Class: c[0], Label: c[1], Count: d.Count[c[0]]})
	}
	return d, nil
}

// nodeCells colours a node's GPUs. The API gives a node's state and how
// many GPUs are in use; where the viewer's own (or, for operators, any)
// job holds a GPU the cell names it, and the other used GPUs are shown as
// another user's, placed on the lowest indices the visible jobs leave.
func nodeCells(n *api.Node, known map[int]owner) nodeView {
	nv := nodeView{Name: n.Name, State: n.State, CPUs: n.CPUs, Reason: n.Reason}
	nv.Label = fmt.Sprintf("%s: %s", n.Name, n.State)
	if n.Reason != "" {
		nv.Label += " (" + n.Reason + ")"
	}
	others := n.GPUsUsed - len(known)
	for g := 0; g < n.GPUs; g++ {
		var c gpuCell
		o, mine := known[g]
		busy := mine
		if !mine && others > 0 {
			busy = true
			others--
		}
		switch n.State {
		case "down", "drained":
			c.Class = n.State
		case "draining":
			c.Class = "draining"
		default:
			c.Class = "idle"
			if busy {
				c.Class = "alloc"
			}
		}
		c.Label = fmt.Sprintf("%s GPU %d: %s", n.Name, g, c.Class)
		if c.Class == "alloc" {
			c.Label = fmt.Sprintf("%s GPU %d: allocated", n.Name, g)
		}
		switch {
		case mine:
			c.Label += fmt.Sprintf(", job %s of %s", o.ref, o.user)
		case busy:
			c.Label += ", another user's job"
		}
		if n.Reason != "" && (n.State == "down" || n.State == "drained" || n.State == "draining") {
			c.Label += " (" + n.Reason + ")"
		}
		nv.Cells = append(nv.Cells, c)
	}
	return nv
}

// clusterPeriod is how often the cluster stream looks for changes.
const clusterPeriod = 500 * time.Millisecond

// owner is the job on a GPU, as far as the viewer may see it.
type owner struct {
	ref, user string
}

func (s *Server) clusterPage(w http.ResponseWriter, r *http.Request, v *viewer) error {
	d, err := s.clusterView(r, v)
	if err != nil {
		return err
	}
	s.render(w, http.StatusOK, "cluster", v, "Cluster", d)
	return nil
}

// clusterEvents streams the nodes that changed: the first event has them
// all, later ones only those whose state or cells changed. It looks twice
// a second, so that a change shows within about half a second; a look
// costs about 3 ms on a 191-node machine (BenchmarkClusterLook).
func (s *Server) clusterEvents(w http.ResponseWriter, r *http.Request, v *viewer) error {
	last := map[string]string{}
	return s.stream(w, r, clusterPeriod, func() (string, string, error) {
		d, err := s.clusterView(r, v)
		if err != nil {
			return "", "", err
		}
		var changed []nodeView
		for _, su := range d.SUs {
			for _, n := range su.Nodes {
				b, _ := json.Marshal(n) // plain strings: cannot fail
				if last[n.Name] != string(b) {
					last[n.Name] = string(b)
					changed = append(changed, n)
				}
			}
		}
		if len(changed) == 0 {
			return "", "", nil
		}
		b, err := json.Marshal(map[string]any{"nodes": changed, "count": d.Count})
		return "nodes", string(b), err
	})
}
