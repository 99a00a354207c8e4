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
	// By is what the GPU cells are coloured by: "" (state), "util" or
	// "power".
	By string
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

// cellClasses are the GPU cell classes and what they mean, by what the
// cells are coloured by.
var cellClasses = map[string][][2]string{
	"": {{"idle", "idle"}, {"alloc", "allocated"}, {"draining", "draining"}, {"drained", "drained"}, {"down", "down"}},
	"util": {{"l0", "under 20% busy"}, {"l1", "20-40%"}, {"l2", "40-60%"}, {"l3", "60-80%"}, {"l4", "80-100%"},
		{"nodata", "not measured"}, {"down", "down or drained"}},
	"power": {{"l0", "under 150 W"}, {"l1", "150-300 W"}, {"l2", "300-450 W"}, {"l3", "450-600 W"}, {"l4", "600 W or more"},
		{"nodata", "not measured"}, {"down", "down or drained"}},
}

// level buckets a measure into l0..l4 over steps of step.
func level(x, step float64) string {
	return fmt.Sprintf("l%d", min(max(int(x/step), 0), 4))
}

// clusterView builds the map as v may see it: every node and GPU state
// (the API shows them to all), and the job and user of a GPU only where
// the controller lists that job to v.
func (s *Server) clusterView(r *http.Request, v *viewer) (*clusterData, error) {
	ctx := r.Context()
	by := r.URL.Query().Get("by")
	if by == "state" {
		by = ""
	}
	if _, ok := cellClasses[by]; !ok {
		return nil, &api.Error{Code: api.CodeInvalid, Message: fmt.Sprintf("by=%q: colour the map by state, util or power", by)}
	}
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
	d := &clusterData{Count: map[string]int{}, By: by}
	for _, k := range order {
		d.Queue = append(d.Queue, *depth[k])
	}
	suAt := map[string]int{}
	for i := range nodes {
		n := &nodes[i]
		nv := nodeCells(n, on[n.Name], by)
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
	for _, c := range cellClasses[by] {
		d.Legend = append(d.Legend, legendItem{Class: c[0], Label: c[1], Count: d.Count[c[0]]})
	}
	return d, nil
}

// nodeCells colours a node's GPUs. The API gives a node's state and how
// many GPUs are in use; where the viewer's own (or, for operators, any)
// job holds a GPU the cell names it, and the other used GPUs are shown as
// another user's, placed on the lowest indices the visible jobs leave.
//
// Where the node's agent measures its GPUs, each cell's label gives the
// utilisation and power, and with by "util" or "power" the cell is
// coloured by that measure instead of its state.
func nodeCells(n *api.Node, known map[int]owner, by string) nodeView {
	stats := map[int]api.GPUStat{}
	for _, g := range n.GPUStats {
		stats[g.Index] = g
	}
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
		st, measured := stats[g]
		if measured && st.UtilPct != nil {
			c.Label += fmt.Sprintf(", %.0f%% busy", *st.UtilPct)
		}
		if measured && st.PowerW != nil {
			c.Label += fmt.Sprintf(", %.0f W", *st.PowerW)
		}
		if by != "" {
			switch {
			case n.State == "down" || n.State == "drained":
				c.Class = "down"
			case by == "util" && st.UtilPct != nil:
				c.Class = level(*st.UtilPct, 20)
			case by == "power" && st.PowerW != nil:
				c.Class = level(*st.PowerW, 150)
			default:
				c.Class = "nodata"
			}
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
