package web

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os/user"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/job"
	"github.com/gefion-hpc/gefion/internal/store"
)

// pageRows is how many jobs one page of My jobs shows; the filter and
// the pager reach the rest.
const pageRows = 500

// jobsQuery is My jobs' filter, sort and page, read from the URL.
type jobsQuery struct {
	State  string // "", active, pending, running, finished
	Name   string // a substring of the name
	Sort   string // id, name, state, submit, start, gpus
	Desc   bool
	Offset int
}

var jobSorts = []string{"id", "name", "state", "submit", "start", "gpus"}

func readJobsQuery(q url.Values) (jobsQuery, error) {
	jq := jobsQuery{State: q.Get("state"), Name: q.Get("name"), Sort: q.Get("sort"), Desc: q.Get("order") != "asc"}
	if jq.Sort == "" {
		jq.Sort = "id"
	}
	if !slices.Contains(jobSorts, jq.Sort) {
		return jq, &api.Error{Code: api.CodeInvalid, Message: fmt.Sprintf("sort=%q: sort by one of %s", jq.Sort, strings.Join(jobSorts, ", "))}
	}
	switch jq.State {
	case "", "active", "pending", "running", "finished":
	default:
		return jq, &api.Error{Code: api.CodeInvalid, Message: fmt.Sprintf("state=%q: choose active, pending, running or finished, or leave it empty for all", jq.State)}
	}
	if s := q.Get("offset"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return jq, &api.Error{Code: api.CodeInvalid, Message: fmt.Sprintf("offset=%q: give a number of jobs to skip", s)}
		}
		jq.Offset = n
	}
	return jq, nil
}

func (q jobsQuery) match(j *api.Job) bool {
	switch q.State {
	case "active":
		if j.State.Final() {
			return false
		}
	case "pending":
		if j.State != job.Pending {
			return false
		}
	case "running":
		if j.State != job.Running {
			return false
		}
	case "finished":
		if !j.State.Final() {
			return false
		}
	}
	return q.Name == "" || strings.Contains(strings.ToLower(j.Name), strings.ToLower(q.Name))
}

// sort orders the jobs; it moves pointers, not the large Job values.
func (q jobsQuery) sort(jobs []*api.Job) {
	key := func(a, b *api.Job) int {
		switch q.Sort {
		case "name":
			return cmp.Compare(a.Name, b.Name)
		case "state":
			return cmp.Compare(a.State, b.State)
		case "submit":
			return cmp.Compare(a.SubmitTime, b.SubmitTime)
		case "start":
			return cmp.Compare(startOf(a), startOf(b))
		case "gpus":
			return cmp.Compare(a.GPUs, b.GPUs)
		}
		return 0
	}
	slices.SortFunc(jobs, func(a, b *api.Job) int {
		c := key(a, b)
		if c == 0 {
			c = cmp.Compare(a.ID, b.ID)
		}
		if q.Desc {
			return -c
		}
		return c
	})
}

// startOf is when a job started, or for a pending one when it should.
func startOf(j *api.Job) int64 {
	if j.StartTime != 0 {
		return j.StartTime
	}
	return j.EstimatedStart
}

// link is the URL of My jobs with this query and one change.
func (q jobsQuery) link(change func(*jobsQuery)) string {
	n := q
	change(&n)
	v := url.Values{}
	if n.State != "" {
		v.Set("state", n.State)
	}
	if n.Name != "" {
		v.Set("name", n.Name)
	}
	if n.Sort != "id" {
		v.Set("sort", n.Sort)
	}
	if !n.Desc {
		v.Set("order", "asc")
	}
	if n.Offset > 0 {
		v.Set("offset", strconv.Itoa(n.Offset))
	}
	if len(v) == 0 {
		return "/"
	}
	return "/?" + v.Encode()
}

// jobRow is one line of My jobs.
type jobRow struct {
	ID, Name, State, StateClass string
	// Time is how long it has run, ran, or has waited.
	Time      string
	Submit    string
	GPUs      int
	Nodes     string
	Why       string
	Start     string
	GPUHours  string
	EnergyKWh string
	CO2       string
}

func rowOf(j *api.Job, now time.Time) jobRow {
	r := jobRow{
		ID: jobRef(j), Name: j.Name, State: string(j.State), StateClass: stateClass(j.State),
		GPUs: j.GPUs, Nodes: j.NodeList, GPUHours: fmt.Sprintf("%.2f", j.GPUSeconds/3600),
		EnergyKWh: fmt.Sprintf("%.2f", j.EnergyKWh), CO2: fmt.Sprintf("%.0f g", j.CO2LocationG),
		Submit: when(j.SubmitTime, now),
	}
	if j.Held {
		r.State += " (held)"
	}
	if r.Nodes == "" {
		r.Nodes = fmt.Sprintf("%d", j.Nodes)
	}
	switch {
	case j.State == job.Pending:
		r.Time = "waiting " + duration(now.Unix()-j.SubmitTime)
		r.Why = j.Why
		if r.Why == "" {
			r.Why = j.Reason
		}
		if j.EstimatedStart != 0 {
			r.Start = "expected " + when(j.EstimatedStart, now)
		}
	case j.State.Final():
		if j.StartTime != 0 {
			r.Time = "ran " + duration(j.EndTime-j.StartTime)
			r.Start = when(j.StartTime, now)
		}
	default:
		if j.StartTime != 0 {
			r.Time = "running " + duration(now.Unix()-j.StartTime)
			r.Start = when(j.StartTime, now)
		}
	}
	return r
}

func jobRef(j *api.Job) string {
	if j.ArrayJobID != 0 {
		return fmt.Sprintf("%d_%d", j.ArrayJobID, j.ArrayTaskID)
	}
	return strconv.FormatInt(int64(j.ID), 10)
}

// jobsData is My jobs.
type jobsData struct {
	Q            jobsQuery
	Rows         []jobRow
	Total, Shown int
	Prev, Next   string
	Sorts        []sortLink
	Stream       string // the event stream's URL for this view
	Totals       api.AcctTotal
	// Submitted is the job the Submit form just sent here.
	Submitted string
}

type sortLink struct {
	Label, Href, Arrow, Sort string
}

// myJobsData lists the viewer's jobs: those the controller holds (queued,
// running and recently ended) and those that ended in the last day.
func (s *Server) myJobsData(r *http.Request, v *viewer, q jobsQuery) (*jobsData, error) {
	ctx := r.Context()
	jobs, err := s.ctl.ListJobs(ctx, v.User, false, false)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	acct, err := s.ctl.Acct(ctx, v.User, store.JobQuery{User: v.User, SinceS: now.Add(-24 * time.Hour).Unix(), Limit: pageRows, Skip: store.SkipSpec})
	if err != nil {
		return nil, err
	}
	seen := make(map[job.ID]bool, len(jobs))
	for _, j := range jobs {
		seen[j.ID] = true
	}
	for _, j := range acct.Jobs {
		if !seen[j.ID] && j.State.Final() {
			jobs = append(jobs, j)
		}
	}
	keep := make([]*api.Job, 0, len(jobs))
	d := &jobsData{Q: q}
	for i := range jobs {
		if q.match(&jobs[i]) {
			keep = append(keep, &jobs[i])
			d.Totals.Jobs++
			d.Totals.GPUHours += jobs[i].GPUSeconds / 3600
			d.Totals.EnergyKWh += jobs[i].EnergyKWh
			d.Totals.CO2LocationKg += jobs[i].CO2LocationG / 1000
		}
	}
	q.sort(keep)
	d.Total = len(keep)
	from := min(q.Offset, len(keep))
	to := min(from+pageRows, len(keep))
	for i := from; i < to; i++ {
		d.Rows = append(d.Rows, rowOf(keep[i], now))
	}
	d.Shown = len(d.Rows)
	if from > 0 {
		d.Prev = q.link(func(n *jobsQuery) { n.Offset = max(0, from-pageRows) })
	}
	if to < len(keep) {
		d.Next = q.link(func(n *jobsQuery) { n.Offset = to })
	}
	for _, k := range jobSorts {
		l := sortLink{Label: k, Sort: k}
		if k == q.Sort {
			l.Arrow = "▼"
			if !q.Desc {
				l.Arrow = "▲"
			}
		}
		l.Href = q.link(func(n *jobsQuery) { n.Desc = !(n.Sort == k && n.Desc); n.Sort = k; n.Offset = 0 })
		d.Sorts = append(d.Sorts, l)
	}
	d.Stream = "/events/jobs" + strings.TrimPrefix(q.link(func(*jobsQuery) {}), "/")
	return d, nil
}

func (s *Server) myJobs(w http.ResponseWriter, r *http.Request, v *viewer) error {
	q, err := readJobsQuery(r.URL.Query())
	if err != nil {
		return err
	}
	d, err := s.myJobsData(r, v, q)
	if err != nil {
		return err
	}
	if id, err := strconv.ParseInt(r.URL.Query().Get("submitted"), 10, 64); err == nil {
		d.Submitted = strconv.FormatInt(id, 10)
	}
	s.render(w, http.StatusOK, "jobs", v, "My jobs", d)
	return nil
}

// jobEvents streams My jobs' rows, re-rendered each second and sent when
// they change.
func (s *Server) jobEvents(w http.ResponseWriter, r *http.Request, v *viewer) error {
	q, err := readJobsQuery(r.URL.Query())
	if err != nil {
		return err
	}
	var last string
	return s.stream(w, r, time.Second, func() (string, string, error) {
		d, err := s.myJobsData(r, v, q)
		if err != nil {
			return "", "", err
		}
		rows, err := fragment("jobs", "rows", d)
		if err != nil {
			return "", "", err
		}
		totals, err := fragment("jobs", "totals", d)
		if err != nil {
			return "", "", err
		}
		b, err := json.Marshal(map[string]string{"rows": rows, "totals": totals})
		if err != nil || string(b) == last {
			return "", "", err
		}
		last = string(b)
		return "rows", last, nil
	})
}

// stream runs an event stream: every period, next gives an event (none
// when its name is empty) until the client goes.
func (s *Server) stream(w http.ResponseWriter, r *http.Request, period time.Duration, next func() (event, data string, err error)) error {
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	// Tell the browser to come back soon after a lost connection.
	if _, err := fmt.Fprint(w, "retry: 1000\n\n"); err != nil {
		return nil
	}
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		ev, data, err := next()
		if err != nil {
			// The status is sent; say it in the stream.
			_, _ = fmt.Fprintf(w, "event: failure\ndata: %s\n\n", strings.ReplaceAll(err.Error(), "\n", " "))
			_ = rc.Flush()
			return nil
		}
		if ev != "" {
			var b strings.Builder
			b.WriteString("event: " + ev + "\n")
			for line := range strings.SplitSeq(data, "\n") {
				b.WriteString("data: " + line + "\n")
			}
			b.WriteString("\n")
			if _, err := fmt.Fprint(w, b.String()); err != nil {
				return nil
			}
		}
		if err := rc.Flush(); err != nil {
			return nil
		}
		select {
		case <-r.Context().Done():
			return nil
		case <-s.opts.Done:
			return nil
		case <-t.C:
		}
	}
}

// jobData is a job's page.
type jobData struct {
	J      *api.Job
	Row    jobRow
	Why    *api.Why
	Steps  []api.Step
	Script string
	// Actions are the buttons the job's state allows.
	Actions []string
	Fields  [][2]string
	// Tail is the end of the output file, where the controller may read
	// it; TailNote says why there is none.
	Tail     string
	TailNote string
	Stream   string
	// GPUs are the running job's GPUs as their nodes last measured them.
	GPUs []jobGPU
}

type jobGPU struct {
	Node         string
	Index        int
	Util, PowerW string // "" where not measured
	MemUsedMB    int64
}

// tailBytes is how much of the output file a job's page shows.
const tailBytes = 16 << 10

// tail reads the end of a job's output: the node that runs (or ran) its
// batch script reads it for the controller (Controller.Output), unless the
// web view is given its own way (Options.Output).
func (s *Server) tail(ctx context.Context, v *viewer, j *api.Job) (text, note string) {
	switch {
	case j.Spec == nil:
		return "", "The output is for the job's owner, its project's managers and admins."
	case j.StartTime == 0 || len(j.Allocs) == 0:
		return "", "The job has not started."
	case s.opts.Output != nil:
		t, err := s.opts.Output(j, tailBytes)
		if err != nil {
			return "", err.Error()
		}
		return t, ""
	}
	out, err := s.ctl.Output(ctx, v.User, job.Ref{ID: j.ID}, tailBytes)
	if err != nil {
		var ae *api.Error
		if errors.As(err, &ae) {
			return "", ae.Message
		}
		return "", "The output cannot be read now."
	}
	return out.Text, ""
}

// jobGPUs gives a running job's GPUs with what their nodes last measured.
func (s *Server) jobGPUs(ctx context.Context, j *api.Job) ([]jobGPU, error) {
	nodes, err := s.ctl.Nodes(ctx)
	if err != nil {
		return nil, err
	}
	stats := map[string]map[int]api.GPUStat{}
	for _, n := range nodes {
		for _, g := range n.GPUStats {
			if stats[n.Name] == nil {
				stats[n.Name] = map[int]api.GPUStat{}
			}
			stats[n.Name][g.Index] = g
		}
	}
	var out []jobGPU
	for _, a := range j.Allocs {
		for _, g := range a.GPUs {
			jg := jobGPU{Node: a.Node, Index: g}
			if st, ok := stats[a.Node][g]; ok {
				if st.UtilPct != nil {
					jg.Util = fmt.Sprintf("%.0f%%", *st.UtilPct)
				}
				if st.PowerW != nil {
					jg.PowerW = fmt.Sprintf("%.0f W", *st.PowerW)
				}
				jg.MemUsedMB = st.MemUsedMB
			}
			out = append(out, jg)
		}
	}
	return out, nil
}

// jobPageEvents streams a job's state and output tail to its page.
func (s *Server) jobPageEvents(w http.ResponseWriter, r *http.Request, v *viewer) error {
	ref, err := parseRef(r.PathValue("id"))
	if err != nil {
		return err
	}
	var last string
	return s.stream(w, r, time.Second, func() (string, string, error) {
		j, err := s.ctl.Job(r.Context(), v.User, ref)
		if err != nil {
			return "", "", err
		}
		row := rowOf(j, time.Now())
		tail, note := s.tail(r.Context(), v, j)
		// An ended job's page has nothing more to wait for: "final" tells
		// the script to close the stream once the output is read.
		b, err := json.Marshal(map[string]any{"state": row.State, "class": row.StateClass, "time": row.Time, "tail": tail, "note": note, "final": j.State.Final()})
		if err != nil || string(b) == last {
			return "", "", err
		}
		last = string(b)
		return "job", last, nil
	})
}

func parseRef(s string) (job.Ref, error) {
	ref, err := job.ParseRef(s)
	if err != nil {
		return ref, &api.Error{Code: api.CodeInvalid, Message: err.Error()}
	}
	return ref, nil
}

func (s *Server) jobPage(w http.ResponseWriter, r *http.Request, v *viewer) error {
	ref, err := parseRef(r.PathValue("id"))
	if err != nil {
		return err
	}
	ctx := r.Context()
	j, err := s.ctl.Job(ctx, v.User, ref)
	if err != nil {
		return err
	}
	d := &jobData{J: j, Row: rowOf(j, time.Now()), Stream: "/events/job/" + r.PathValue("id")}
	d.Tail, d.TailNote = s.tail(ctx, v, j)
	if j.State == job.Running && len(j.Allocs) > 0 {
		if d.GPUs, err = s.jobGPUs(ctx, j); err != nil {
			return err
		}
	}
	if !j.State.Final() {
		// The controller explains the jobs it holds; an ended one has its
		// state to say why.
		if d.Why, err = s.ctl.Why(ctx, v.User, ref); err != nil {
			return err
		}
	}
	if d.Steps, err = s.ctl.Steps(ctx, v.User, j.ID); err != nil {
		return err
	}
	if j.Spec != nil {
		d.Script = j.Spec.Script
	}
	switch {
	case j.State == job.Pending && j.Held:
		d.Actions = []string{"release", "cancel"}
	case j.State == job.Pending:
		d.Actions = []string{"hold", "cancel"}
	case !j.State.Final():
		d.Actions = []string{"cancel"}
	}
	add := func(k, val string) {
		if val != "" && val != "0" {
			d.Fields = append(d.Fields, [2]string{k, val})
		}
	}
	add("User", j.User)
	add("Project", j.Project)
	add("Partition", j.Partition)
	add("QOS", j.QOS)
	add("Submitted", fmtUnix(j.SubmitTime))
	add("Started", fmtUnix(j.StartTime))
	add("Ended", fmtUnix(j.EndTime))
	add("Time limit", duration(j.TimeLimitS))
	add("Nodes", fmt.Sprintf("%d", j.Nodes))
	add("Node list", j.NodeList)
	add("GPUs", fmt.Sprintf("%d", j.GPUs))
	add("CPUs", fmt.Sprintf("%d", j.CPUs))
	if j.State.Final() {
		d.Fields = append(d.Fields, [2]string{"Exit code", strconv.Itoa(j.ExitCode)})
	}
	add("Signal", j.Signal)
	add("GPU-hours", fmt.Sprintf("%.3f", j.GPUSeconds/3600))
	add("Energy", fmt.Sprintf("%.3f kWh", j.EnergyKWh))
	add("CO2 (location-based)", fmt.Sprintf("%.1f g", j.CO2LocationG))
	add("CO2 (market-based)", fmt.Sprintf("%.1f g", j.CO2MarketG))
	if j.Spec != nil {
		add("Output", j.Spec.Output)
		add("Working directory", j.Spec.SubmitDir)
	}
	s.render(w, http.StatusOK, "job", v, "Job "+jobRef(j), d)
	return nil
}

// actions are the job actions a page may ask for, with their wording.
var actionVerbs = map[string]string{"cancel": "Cancel", "hold": "Hold", "release": "Release"}

type confirmData struct {
	ID, Action, Verb, Name string
}

// confirmAction asks before acting: the page works without script, and a
// click on the job's page never cancels at once.
func (s *Server) confirmAction(w http.ResponseWriter, r *http.Request, v *viewer) error {
	verb, ok := actionVerbs[r.PathValue("action")]
	if !ok {
		return &api.Error{Code: api.CodeNotFound, Message: fmt.Sprintf("no job action %q; a job can be cancelled, held or released", r.PathValue("action"))}
	}
	ref, err := parseRef(r.PathValue("id"))
	if err != nil {
		return err
	}
	j, err := s.ctl.Job(r.Context(), v.User, ref)
	if err != nil {
		return err
	}
	s.render(w, http.StatusOK, "confirm", v, verb+" job "+jobRef(j), confirmData{ID: jobRef(j), Action: r.PathValue("action"), Verb: verb, Name: j.Name})
	return nil
}

func (s *Server) doAction(w http.ResponseWriter, r *http.Request, v *viewer) error {
	ref, err := parseRef(r.PathValue("id"))
	if err != nil {
		return err
	}
	refs := []job.Ref{ref}
	action := r.PathValue("action")
	switch action {
	case "cancel", "hold", "release":
	default:
		return &api.Error{Code: api.CodeNotFound, Message: fmt.Sprintf("no job action %q; a job can be cancelled, held or released", action)}
	}
	err = s.audited(r, v, "POST /jobs/{id}/"+action, ref.String(), func(ctx context.Context) error {
		switch action {
		case "cancel":
			_, err := s.ctl.Cancel(ctx, v.User, refs, "")
			return err
		case "hold":
			return s.ctl.Hold(ctx, v.User, refs, true)
		default:
			return s.ctl.Hold(ctx, v.User, refs, false)
		}
	})
	if err != nil {
		return err
	}
	http.Redirect(w, r, "/jobs/"+r.PathValue("id"), http.StatusSeeOther)
	return nil
}

// homeOf is the viewer's home directory, the default working directory
// of a job submitted here ("" where the account is unknown here).
func homeOf(name string) string {
	u, err := user.Lookup(name)
	if err != nil {
		return ""
	}
	return u.HomeDir
}
