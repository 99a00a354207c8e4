package web

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/gefion-hpc/gefion/internal/api"
)

type projectsData struct {
	Projects []projectRow
}

type projectRow struct {
	api.Project
	// Used is the share of the grant used, 0..1 for the meter; Over says
	// the grant is spent.
	Used float64
	Over bool
}

func (s *Server) projectsPage(w http.ResponseWriter, r *http.Request, v *viewer) error {
	ps, err := s.ctl.Projects(r.Context())
	if err != nil {
		return err
	}
	d := &projectsData{}
	for _, p := range ps {
		d.Projects = append(d.Projects, projectRow{Project: p, Used: min(p.UsedOfGrant, 1), Over: p.GrantGPUHours > 0 && p.UsedOfGrant >= 1})
	}
	s.render(w, http.StatusOK, "projects", v, "Projects", d)
	return nil
}

type operatorsData struct {
	// Unavailable are the nodes that are not in service, with reasons.
	Unavailable []api.Node
	Nodes       int
	Done        string
}

func (s *Server) operatorsPage(w http.ResponseWriter, r *http.Request, v *viewer) error {
	nodes, err := s.ctl.Nodes(r.Context())
	if err != nil {
		return err
	}
	d := &operatorsData{Nodes: len(nodes), Done: r.URL.Query().Get("done")}
	for _, n := range nodes {
		switch n.State {
		case "down", "drained", "draining":
			d.Unavailable = append(d.Unavailable, n)
		}
	}
	s.render(w, http.StatusOK, "operators", v, "Operators", d)
	return nil
}

// nodesPost drains or resumes nodes; the controller lets only operators.
func (s *Server) nodesPost(w http.ResponseWriter, r *http.Request, v *viewer) error {
	act := api.NodeAction{Nodes: strings.TrimSpace(r.PostFormValue("nodes")), Reason: r.PostFormValue("reason")}
	var drain bool
	switch r.PostFormValue("action") {
	case "drain":
		drain = true
	case "resume":
	default:
		return &api.Error{Code: api.CodeInvalid, Message: "choose drain or resume"}
	}
	names, err := s.ctl.SetNodes(r.Context(), v.User, act, drain)
	if err != nil {
		return err
	}
	verb := "resumed"
	if drain {
		verb = "drained"
	}
	http.Redirect(w, r, "/operators?done="+url.QueryEscape(verb+" "+strings.Join(names, ", ")), http.StatusSeeOther)
	return nil
}
