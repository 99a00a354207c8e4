// Package client is the Go client of Gefion's HTTP API, used by the CLI, the
// agents and the load tools. Errors from the controller come back as
// *api.Error with the controller's code and message.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/job"
)

// DefaultAddr is the controller address when neither --addr nor
// GEFION_ADDR says otherwise.
const DefaultAddr = "http://127.0.0.1:8420"

// Client talks to one controller.
type Client struct {
	// Base is the controller's URL, e.g. http://127.0.0.1:8420.
	Base string
	// User is sent as the caller's identity.
	User string
	// Token is an agent's join token.
	Token string
	// Credential, when set, gives a fresh node credential for each
	// request (a credential is good for one request); Bearer is a bearer
	// token sent with each. Either replaces User as the identity.
	Credential func(ctx context.Context) (string, error)
	Bearer     string
	// HTTP, when set, sends the requests through net/http (NewPooled
	// sets it). When nil, they go over the client's own HTTP/1.1
	// connection (New), which a command that makes one request and
	// exits starts much faster.
	HTTP *http.Client

	light *conn1
	// group, when New was given several controllers, follows the leader.
	group *group
}

// New returns a client for a command: its requests go over one kept
// HTTP/1.1 connection at a time, not through net/http's Transport, whose
// set-up and code a short-lived command would page in for one request.
// An address that is not plain http:// gets net/http, as NewPooled.
//
// addr may name several controllers, separated by commas (a controller and
// its standbys): the client then sends to the one that leads (see group).
func New(addr, user string) *Client {
	if first, g := newGroup(addr); g != nil {
		c := New(first, user)
		c.group = g
		return c
	}
	base := baseURL(addr)
	host, prefix, ok := splitHTTP(base)
	if !ok {
		return NewPooled(addr, user)
	}
	return &Client{Base: base, User: user, light: &conn1{host: host, prefix: prefix}}
}

// NewPooled returns a client over net/http with a connection pool sized
// for many concurrent requests: for agents and load tools, which live
// long and send in parallel.
func NewPooled(addr, user string) *Client {
	if first, g := newGroup(addr); g != nil {
		c := NewPooled(first, user)
		c.group = g
		return c
	}
	tr := &http.Transport{
		Proxy:               nil, // the controller is never behind a proxy
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        1024,
		MaxIdleConnsPerHost: 1024,
		IdleConnTimeout:     90 * time.Second,
	}
	return &Client{Base: baseURL(addr), User: user, HTTP: &http.Client{Transport: tr}}
}

// baseURL completes an address into the controller's URL.
func baseURL(addr string) string {
	if addr == "" {
		addr = DefaultAddr
	}
	if !strings.Contains(addr, "://") {
		addr = "http://" + addr
	}
	return strings.TrimRight(addr, "/")
}

// splitHTTP splits an http:// URL into host:port and path; ok is false
// for any other scheme, or a URL with a query, fragment or user.
func splitHTTP(base string) (host, prefix string, ok bool) {
	rest, ok := strings.CutPrefix(base, "http://")
	if !ok || strings.ContainsAny(rest, "?#@") {
		return "", "", false
	}
	host, prefix, _ = strings.Cut(rest, "/")
	if prefix != "" {
		prefix = "/" + prefix
	}
	if host == "" {
		return "", "", false
	}
	if _, _, err := net.SplitHostPort(host); err != nil {
		host = net.JoinHostPort(strings.Trim(host, "[]"), "80")
	}
	return host, prefix, true
}

// NewAgent returns a client for a node agent, which identifies itself with
// the controller's join token.
func NewAgent(addr, token string) *Client {
	c := NewPooled(addr, "")
	c.Token = token
	return c
}

// ErrUnreachable wraps connection failures, so the CLI can say how to start
// a controller.
var ErrUnreachable = errors.New("cannot reach the controller")

func (c *Client) do(ctx context.Context, method, path string, hdr map[string]string, in, out any) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return err
		}
	}
	h := make([]string, 0, 8+2*len(hdr))
	if in != nil {
		h = append(h, "Content-Type", "application/json")
	}
	h = append(h, api.HeaderUser, c.User, api.HeaderToken, c.Token)
	for k, v := range hdr {
		h = append(h, k, v)
	}
	data, err := c.send(ctx, method, path, h, body)
	if err != nil {
		return err
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("decoding the controller's answer: %w", err)
		}
	}
	return nil
}

// send sends a request and returns the answer's body, or the controller's
// error. hdr holds header names and values in turn; empty values are not
// sent. With several controllers it follows the leader (see group).
func (c *Client) send(ctx context.Context, method, path string, hdr []string, body []byte) ([]byte, error) {
	if c.group == nil {
		return c.send1(ctx, c.light, c.Base, method, path, hdr, body)
	}
	return c.group.send(ctx, c, method, path, hdr, body)
}

// send1 sends a request to one controller.
func (c *Client) send1(ctx context.Context, light *conn1, base, method, path string, hdr []string, body []byte) ([]byte, error) {
	var (
		status int
		data   []byte
		err    error
	)
	if hdr, err = c.authenticate(ctx, hdr); err != nil {
		return nil, err
	}
	if c.HTTP == nil && light != nil {
		var resp Response
		resp, err = light.roundTrip(ctx, method, path, hdr, body)
		if err != nil && ctx.Err() == nil {
			err = fmt.Errorf("%w at %s: %v", ErrUnreachable, base, err)
		}
		status, data = resp.Status, resp.Body
	} else {
		status, data, err = c.sendHTTP(ctx, base, method, path, hdr, body)
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	if status >= 300 {
		var eb api.ErrorBody
		if json.Unmarshal(data, &eb) == nil && eb.Error.Message != "" {
			return nil, &eb.Error
		}
		return nil, &api.Error{Code: api.CodeInternal, Message: fmt.Sprintf("controller answered HTTP status %d", status)}
	}
	return data, nil
}

// sendHTTP is send through c.HTTP.
func (c *Client) sendHTTP(ctx context.Context, base, method, path string, hdr []string, body []byte) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, rd)
	if err != nil {
		return 0, nil, err
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] != "" {
			req.Header.Set(hdr[i], hdr[i+1])
		}
	}
	hc := c.HTTP
	if hc == nil { // a Client made without New or NewPooled
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("%w at %s: %w", ErrUnreachable, base, err)
	}
	defer resp.Body.Close()
	var data []byte
	if n := resp.ContentLength; n > 0 && n < 1<<30 {
		data = make([]byte, 0, n+1)
	}
	buf := bytes.NewBuffer(data)
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		return 0, nil, fmt.Errorf("reading the controller's answer: %w", err)
	}
	return resp.StatusCode, buf.Bytes(), nil
}

// ListQuery selects the jobs of JobTable and AcctTable and names the
// fields to read (api.TableFieldNames; empty lists select everything).
// The controller filters, so only the jobs wanted cross the network.
type ListQuery struct {
	Fields []string
	// All asks for every user's jobs (operators); ActiveOnly leaves out
	// finished ones (job lists only).
	All, ActiveOnly bool
	States          []job.State
	Users           []string
	Accounts        []string
	Partitions      []string
	Names           []string
	QOS             []string
	// IDs selects jobs by ID; an array's ID selects all its tasks.
	IDs []job.ID
	// SinceS and UntilS bound finished jobs' ends and active jobs'
	// submissions: [SinceS, UntilS); 0 is no bound.
	SinceS, UntilS int64
	// Totals asks accounting for its totals too (AcctTable).
	Totals bool
}

func (q *ListQuery) values() url.Values {
	v := url.Values{}
	v.Set("fields", strings.Join(q.Fields, ","))
	if q.All {
		v.Set("all", "1")
	}
	if q.ActiveOnly {
		v.Set("active", "1")
	}
	if q.Totals {
		v.Set("totals", "1")
	}
	set := func(k string, list []string) {
		if len(list) > 0 {
			v.Set(k, strings.Join(list, ","))
		}
	}
	states := make([]string, len(q.States))
	for i, s := range q.States {
		states[i] = string(s)
	}
	ids := make([]string, len(q.IDs))
	for i, id := range q.IDs {
		ids[i] = itoa(id)
	}
	set("state", states)
	set("user", q.Users)
	set("account", q.Accounts)
	set("partition", q.Partitions)
	set("name", q.Names)
	set("qos", q.QOS)
	set("ids", ids)
	if q.SinceS != 0 {
		v.Set("since", strconv.FormatInt(q.SinceS, 10))
	}
	if q.UntilS != 0 {
		v.Set("until", strconv.FormatInt(q.UntilS, 10))
	}
	return v
}

// JobTable lists the jobs q selects (active and recently finished), each
// with only q.Fields set, read from the controller's compact table.
func (c *Client) JobTable(ctx context.Context, q ListQuery) ([]api.Job, error) {
	jobs, _, err := c.table(ctx, "/v1/jobs?", q)
	return jobs, err
}

// AcctTable reads accounting as JobTable reads jobs, and the totals when
// q.Totals (nil otherwise).
func (c *Client) AcctTable(ctx context.Context, q ListQuery) ([]api.Job, *api.AcctTotal, error) {
	return c.table(ctx, "/v1/acct?", q)
}

func (c *Client) table(ctx context.Context, path string, q ListQuery) ([]api.Job, *api.AcctTotal, error) {
	if len(q.Fields) == 0 {
		return nil, nil, errors.New("a job table needs at least one field")
	}
	data, err := c.send(ctx, "GET", path+q.values().Encode(), []string{api.HeaderUser, c.User}, nil)
	if err != nil {
		return nil, nil, err
	}
	jobs, _, totals, err := api.DecodeTable(data)
	if err != nil {
		return nil, nil, fmt.Errorf("decoding the controller's answer: %w", err)
	}
	return jobs, totals, nil
}

// Submit submits a job; a non-empty key makes retries return the same job.
func (c *Client) Submit(ctx context.Context, req api.SubmitRequest, key string) (*api.SubmitResponse, error) {
	var out api.SubmitResponse
	var hdr map[string]string
	if key != "" {
		hdr = map[string]string{api.HeaderIdemKey: key}
	}
	return &out, c.do(ctx, "POST", "/v1/jobs", hdr, req, &out)
}

// Jobs lists jobs (all=true: everyone's, for operators).
func (c *Client) Jobs(ctx context.Context, all bool) ([]api.Job, error) {
	var out []api.Job
	p := "/v1/jobs"
	if all {
		p += "?all=1"
	}
	return out, c.do(ctx, "GET", p, nil, nil, &out)
}

// ActiveJobs lists pending and running jobs only.
func (c *Client) ActiveJobs(ctx context.Context, all bool) ([]api.Job, error) {
	var out []api.Job
	p := "/v1/jobs?active=1"
	if all {
		p += "&all=1"
	}
	return out, c.do(ctx, "GET", p, nil, nil, &out)
}

// Job returns one job.
func (c *Client) Job(ctx context.Context, id job.ID) (*api.Job, error) {
	return c.JobRef(ctx, job.Ref{ID: id})
}

// JobRef returns one job or array task (ID or ID_TASK).
func (c *Client) JobRef(ctx context.Context, ref job.Ref) (*api.Job, error) {
	var out api.Job
	return &out, c.do(ctx, "GET", refPath(ref), nil, nil, &out)
}

// Cancel cancels a job (or every task of an array).
func (c *Client) Cancel(ctx context.Context, id job.ID, signal string) error {
	return c.CancelRef(ctx, job.Ref{ID: id}, signal)
}

// CancelRef cancels a job (every task of an array), one array task
// (ID_TASK) or a set of tasks (ID_[LIST]).
func (c *Client) CancelRef(ctx context.Context, ref job.Ref, signal string) error {
	p := refPath(ref)
	if signal != "" {
		p += "?signal=" + url.QueryEscape(signal)
	}
	return c.do(ctx, "DELETE", p, nil, nil, nil)
}

// Hold holds (true) or releases (false) a pending job.
func (c *Client) Hold(ctx context.Context, id job.ID, hold bool) error {
	return c.HoldRef(ctx, job.Ref{ID: id}, hold)
}

// HoldRef holds or releases jobs named as CancelRef names them.
func (c *Client) HoldRef(ctx context.Context, ref job.Ref, hold bool) error {
	verb := "release"
	if hold {
		verb = "hold"
	}
	return c.do(ctx, "POST", refPath(ref)+"/"+verb, nil, nil, nil)
}

// Why explains why a job waits.
func (c *Client) Why(ctx context.Context, id job.ID) (*api.Why, error) {
	return c.WhyRef(ctx, job.Ref{ID: id})
}

// WhyRef explains why a job or one array task (ID_TASK) waits.
func (c *Client) WhyRef(ctx context.Context, ref job.Ref) (*api.Why, error) {
	var out api.Why
	return &out, c.do(ctx, "GET", refPath(ref)+"/why", nil, nil, &out)
}

// refPath is the API path of a job reference; brackets and commas are
// escaped.
func refPath(ref job.Ref) string { return "/v1/jobs/" + url.PathEscape(ref.String()) }

// Nodes lists nodes.
func (c *Client) Nodes(ctx context.Context) ([]api.Node, error) {
	var out []api.Node
	return out, c.do(ctx, "GET", "/v1/nodes", nil, nil, &out)
}

// SetNodes drains (drain=true) or resumes nodes.
func (c *Client) SetNodes(ctx context.Context, act api.NodeAction, drain bool) error {
	verb := "resume"
	if drain {
		verb = "drain"
	}
	return c.do(ctx, "POST", "/v1/nodes/"+verb, nil, act, nil)
}

// AcctQuery selects accounting records.
type AcctQuery struct {
	User, Project string
	SinceS        int64
	UntilS        int64
	IDs           []job.ID
	Limit         int
}

// Acct returns accounting.
func (c *Client) Acct(ctx context.Context, q AcctQuery) (*api.Acct, error) {
	var out api.Acct
	return &out, c.do(ctx, "GET", "/v1/acct?"+acctQuery(q), nil, nil, &out)
}

// AcctForList returns the jobs of Acct, decoding only what a job list
// prints (jobView) and each job's node shares; the totals are left
// out.
func (c *Client) AcctForList(ctx context.Context, q AcctQuery) ([]api.Job, error) {
	var out struct {
		Jobs []struct {
			jobView
			Allocs []api.Alloc `json:"allocs"`
		} `json:"jobs"`
	}
	if err := c.do(ctx, "GET", "/v1/acct?"+acctQuery(q), nil, nil, &out); err != nil {
		return nil, err
	}
	jobs := make([]api.Job, len(out.Jobs))
	for i := range out.Jobs {
		jobs[i] = out.Jobs[i].job()
		jobs[i].Allocs = out.Jobs[i].Allocs
	}
	return jobs, nil
}

func acctQuery(q AcctQuery) string {
	v := url.Values{}
	if q.User != "" {
		v.Set("user", q.User)
	}
	if q.Project != "" {
		v.Set("project", q.Project)
	}
	if q.SinceS != 0 {
		v.Set("since", strconv.FormatInt(q.SinceS, 10))
	}
	if q.UntilS != 0 {
		v.Set("until", strconv.FormatInt(q.UntilS, 10))
	}
	if len(q.IDs) > 0 {
		s := make([]string, len(q.IDs))
		for i, id := range q.IDs {
			s[i] = itoa(id)
		}
		v.Set("ids", strings.Join(s, ","))
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	return v.Encode()
}

// Config returns the controller's configuration as Slurm's commands show it.
func (c *Client) Config(ctx context.Context) (*api.Config, error) {
	var out api.Config
	return &out, c.do(ctx, "GET", "/v1/config", nil, nil, &out)
}

// Priority returns the pending jobs' priority factors (sprio).
func (c *Client) Priority(ctx context.Context) (*api.PriorityList, error) {
	var out api.PriorityList
	return &out, c.do(ctx, "GET", "/v1/priority", nil, nil, &out)
}

// Projects lists projects.
func (c *Client) Projects(ctx context.Context) ([]api.Project, error) {
	var out []api.Project
	return out, c.do(ctx, "GET", "/v1/projects", nil, nil, &out)
}

// ProjectReport reads a project's report over its grant's period and the
// last days days (0: the controller's default).
func (c *Client) ProjectReport(ctx context.Context, name string, days int) (*api.ProjectReport, error) {
	path := "/v1/projects/" + url.PathEscape(name) + "/report"
	if days > 0 {
		path += "?days=" + strconv.Itoa(days)
	}
	var out api.ProjectReport
	return &out, c.do(ctx, "GET", path, nil, nil, &out)
}

// Output reads the end of a job's output file, at most max bytes (0: the
// controller's bound), as the job's node read it.
func (c *Client) Output(ctx context.Context, ref string, max int) (*api.Output, error) {
	path := "/v1/jobs/" + url.PathEscape(ref) + "/output"
	if max > 0 {
		path += "?max=" + strconv.Itoa(max)
	}
	var out api.Output
	return &out, c.do(ctx, "GET", path, nil, nil, &out)
}

// Audit reads the audit trail (operators): records at or after sinceS,
// of user when not empty, oldest first.
func (c *Client) Audit(ctx context.Context, sinceS int64, user string) ([]api.AuditRecord, error) {
	v := url.Values{}
	v.Set("since", strconv.FormatInt(sinceS, 10))
	if user != "" {
		v.Set("user", user)
	}
	var out struct {
		Records []api.AuditRecord `json:"records"`
	}
	return out.Records, c.do(ctx, "GET", "/v1/audit?"+v.Encode(), nil, nil, &out)
}

// CreateProject creates a project.
func (c *Client) CreateProject(ctx context.Context, ch api.ProjectChange) error {
	return c.do(ctx, "POST", "/v1/projects", nil, ch, nil)
}

// ChangeProject changes a project.
func (c *Client) ChangeProject(ctx context.Context, ch api.ProjectChange) error {
	return c.do(ctx, "PATCH", "/v1/projects/"+url.PathEscape(ch.Name), nil, ch, nil)
}

// Register opens an agent session.
func (c *Client) Register(ctx context.Context, req api.RegisterRequest) (*api.RegisterResponse, error) {
	var out api.RegisterResponse
	return &out, c.do(ctx, "POST", "/v1/agent/register", nil, req, &out)
}

// Sync sends an agent's reports and waits for commands.
func (c *Client) Sync(ctx context.Context, req api.SyncRequest) (*api.SyncResponse, error) {
	var out api.SyncResponse
	return &out, c.do(ctx, "POST", "/v1/agent/sync", nil, req, &out)
}

// Health checks that the controller answers.
func (c *Client) Health(ctx context.Context) error {
	return c.do(ctx, "GET", "/v1/health", nil, nil, nil)
}

func itoa(id job.ID) string { return strconv.FormatInt(int64(id), 10) }

// jobView is the part of api.Job that AcctForList decodes.
type jobView struct {
	ID              job.ID    `json:"id"`
	ArrayJobID      job.ID    `json:"array_job_id"`
	ArrayTaskID     int       `json:"array_task_id"`
	ArrayMaxRunning int       `json:"array_max_running"`
	Name            string    `json:"name"`
	User            string    `json:"user"`
	Project         string    `json:"project"`
	Partition       string    `json:"partition"`
	QOS             string    `json:"qos"`
	State           job.State `json:"state"`
	Reason          string    `json:"reason"`
	SubmitTime      int64     `json:"submit_time"`
	StartTime       int64     `json:"start_time"`
	EndTime         int64     `json:"end_time"`
	EligibleTime    int64     `json:"eligible_time"`
	EstimatedStart  int64     `json:"estimated_start"`
	TimeLimitS      int64     `json:"time_limit_s"`
	Nodes           int       `json:"nodes"`
	GPUs            int       `json:"gpus"`
	CPUs            int       `json:"cpus"`
	NodeList        string    `json:"node_list"`
	ExitCode        int       `json:"exit_code"`
	Signal          string    `json:"signal"`
	Priority        float64   `json:"priority"`
	Request         struct {
		GPUsPerNode  int    `json:"gpus_per_node"`
		GPUType      string `json:"gpu_type"`
		MemPerNodeMB int64  `json:"mem_per_node_mb"`
		CPUsPerNode  int    `json:"cpus_per_node"`
		Nodes        int    `json:"nodes"`
		TimeLimitS   int64  `json:"time_limit_s"`
	} `json:"request"`
}

func (v *jobView) job() api.Job {
	return api.Job{
		ID: v.ID, ArrayJobID: v.ArrayJobID, ArrayTaskID: v.ArrayTaskID, ArrayMaxRunning: v.ArrayMaxRunning, Name: v.Name,
		User: v.User, Project: v.Project, Partition: v.Partition, QOS: v.QOS, State: v.State, Reason: v.Reason,
		SubmitTime: v.SubmitTime, StartTime: v.StartTime, EndTime: v.EndTime, EligibleTime: v.EligibleTime,
		EstimatedStart: v.EstimatedStart, TimeLimitS: v.TimeLimitS, Nodes: v.Nodes, GPUs: v.GPUs, CPUs: v.CPUs,
		NodeList: v.NodeList, ExitCode: v.ExitCode, Signal: v.Signal, Priority: v.Priority,
		Request: job.Request{GPUsPerNode: v.Request.GPUsPerNode, GPUType: v.Request.GPUType, MemPerNodeMB: v.Request.MemPerNodeMB,
			CPUsPerNode: v.Request.CPUsPerNode, Nodes: v.Request.Nodes, TimeLimitS: v.Request.TimeLimitS},
	}
}
