package controller

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/job"
	"github.com/gefion-hpc/gefion/internal/store"
)

// maxBody bounds request bodies: a batch script at the limit plus its JSON
// escaping and the rest of the spec.
const maxBody = 2*job.MaxScriptSize + 1<<20

// maxScriptHint is the script bound that a refusal of a large body names.
const maxScriptHint = job.MaxScriptSize

// streamer is an answer that writes itself (a large list as it is
// encoded), instead of being encoded whole first.
type streamer interface {
	stream(w http.ResponseWriter) error
}

// handlerFunc is an API handler: it returns a value to encode or an error.
type handlerFunc func(r *http.Request, user string) (any, error)

// Handler returns the HTTP API.
func (c *Controller) Handler() http.Handler {
	mux := http.NewServeMux()
	for _, rt := range c.apiRoutes() {
		mux.Handle(rt.pattern, c.adapt(rt.pattern, rt.h))
	}
	mux.Handle("POST /v1/agent/register", c.adaptAgent("register", func(r *http.Request) (any, error) {
		var req api.RegisterRequest
		if err := decode(r, &req); err != nil {
			return nil, err
		}
		return c.Register(r.Context(), req)
	}))
	mux.Handle("POST /v1/agent/enroll", c.adaptAgent("enroll", func(r *http.Request) (any, error) {
		var req api.EnrollRequest
		if err := decode(r, &req); err != nil {
			return nil, err
		}
		return c.Enroll(req)
	}))
	mux.Handle("POST /v1/agent/sync", c.adaptAgent("sync", func(r *http.Request) (any, error) {
		var req api.SyncRequest
		if err := decode(r, &req); err != nil {
			return nil, err
		}
		return c.Sync(r.Context(), req)
	}))
	mux.Handle("GET /metrics", c.m.reg.Handler())
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, &api.Error{Code: api.CodeNotFound, Message: fmt.Sprintf("no API route %s %s; see the API reference in package controller", r.Method, r.URL.Path)})
	})
	return mux
}

// apiRoute is one route of the user API.
type apiRoute struct {
	pattern string
	h       handlerFunc
}

// apiRoutes lists the user API (the isolation test covers each route).
func (c *Controller) apiRoutes() []apiRoute {
	return []apiRoute{
		{"POST /v1/jobs", c.hSubmit},
		{"GET /v1/jobs", c.hJobs},
		{"GET /v1/jobs/{id}", c.hJob},
		{"DELETE /v1/jobs/{id}", c.hCancel},
		{"POST /v1/jobs/{id}/cancel", c.hCancel},
		{"POST /v1/jobs/{id}/hold", c.hHold(true)},
		{"POST /v1/jobs/{id}/release", c.hHold(false)},
		{"GET /v1/jobs/{id}/why", c.hWhy},
		{"GET /v1/jobs/{id}/output", c.hOutput},
		{"POST /v1/jobs/{id}/steps", c.hCreateStep},
		{"GET /v1/jobs/{id}/steps", c.hSteps},
		{"POST /v1/jobs/{id}/steps/{step}/cancel", c.hCancelStep},
		{"GET /v1/steps", c.hStepsOf},
		{"GET /v1/priority", c.hPriority},
		{"GET /v1/nodes", func(r *http.Request, user string) (any, error) { return c.NodesFor(r.Context(), user) }},
		{"POST /v1/nodes/drain", c.hNodes(true)},
		{"POST /v1/nodes/resume", c.hNodes(false)},
		{"GET /v1/acct", c.hAcct},
		{"GET /v1/config", func(r *http.Request, _ string) (any, error) { return c.Config(r.Context()) }},
		{"GET /v1/projects", func(r *http.Request, user string) (any, error) { return c.ProjectsFor(r.Context(), user) }},
		{"POST /v1/projects", c.hProject(true)},
		{"PATCH /v1/projects/{name}", c.hProject(false)},
		{"GET /v1/projects/{name}/report", c.hProjectReport},
		{"GET /v1/audit", c.hAudit},
		{"DELETE /v1/nodes/{name}/key", func(r *http.Request, user string) (any, error) {
			return nil, c.ForgetNodeKey(user, r.PathValue("name"))
		}},
		{"POST /v1/tokens", c.hIssueToken},
		{"GET /v1/tokens", func(r *http.Request, user string) (any, error) { return c.Tokens(r.Context(), user) }},
		{"DELETE /v1/tokens/{id}", func(r *http.Request, user string) (any, error) {
			return nil, c.RevokeToken(r.Context(), user, r.PathValue("id"))
		}},
		{"GET /v1/health", func(r *http.Request, _ string) (any, error) {
			return map[string]any{"ok": true, "version": api.Version}, nil
		}},
	}
}

// adapt turns a handlerFunc into an http.Handler: size bounds, identity,
// body limit, JSON encoding, error mapping, the audit record and latency
// metrics.
func (c *Controller) adapt(route string, h handlerFunc) http.Handler {
	mutating := !strings.HasPrefix(route, "GET ")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		var v any
		var note *auditNote
		// The bounds come first; who sent an oversized request is still
		// worth the audit record.
		herr := checkHead(r, maxBody)
		id, err := c.identify(r)
		if err != nil {
			id.Via = "unauthenticated from " + r.RemoteAddr
		}
		if herr != nil {
			err = herr
		}
		if err == nil {
			r.Body = http.MaxBytesReader(w, r.Body, maxBody)
			ctx := context.WithValue(r.Context(), identityKey{}, id)
			if mutating {
				note = &auditNote{rec: store.AuditRecord{User: id.User, Via: id.Via, Action: route, Target: auditTarget(r)}}
				ctx = context.WithValue(ctx, auditKey{}, note)
			}
			r = r.WithContext(ctx)
			v, err = h(r, id.User)
		}
		ae := c.apiErr(err, true)
		if ae != nil {
			err = ae
		}
		if (mutating || ae != nil && (ae.Code == api.CodeUnauthorized || ae.Code == api.CodeForbidden)) && (note == nil || !note.staged.Load()) {
			rec := store.AuditRecord{User: id.User, Via: id.Via, Action: route, Target: auditTarget(r)}
			if note != nil {
				note.mu.Lock()
				rec.Target = note.rec.Target
				note.mu.Unlock()
			}
			outcome(&rec, ae)
			c.auditNow(r.Context(), rec)
		}
		code := c.respond(w, v, err)
		c.m.apiSeconds.WithLabelValues(route, strconv.Itoa(code)).Observe(time.Since(start).Seconds())
	})
}

// Identity is who sent a request and how that was established.
type Identity struct {
	// User is the verified account name.
	User string
	// Via says what vouched for User, for the audit trail: "peer uid
	// 1000" (the kernel, in gefion dev), "stated" (the X-Gefion-User
	// header, trusted only where no authentication is configured).
	Via string
}

type identityKey struct{}

// IdentityOf returns the identity a handler's request was admitted with.
func IdentityOf(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(identityKey{}).(Identity)
	return id, ok
}

// TokenCookie is the cookie in which the web view keeps a signed-in
// user's bearer token.
const TokenCookie = "gefion_token"

// Authenticates reports whether the controller verifies credentials and
// tokens (gefion server), so that the web view offers a sign-in.
func (c *Controller) Authenticates() bool { return c.auth != nil }

// identify returns the verified user of a request (Config.Identify), or the
// stated one where the controller is configured to trust it.
func (c *Controller) identify(r *http.Request) (Identity, error) {
	if c.auth != nil {
		id, err := c.auth.identify(r, c.clk.Now())
		if err == nil && !validName(id.User) {
			err = &api.Error{Code: api.CodeUnauthorized, Message: fmt.Sprintf("the caller's user name %q is not a valid account name", id.User)}
		}
		if err != nil {
			c.log.Info("request refused", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr, "err", err)
		}
		return id, err
	}
	if c.cfg.Identify != nil {
		id, err := c.cfg.Identify(r)
		if err == nil && !validName(id.User) {
			err = &api.Error{Code: api.CodeUnauthorized, Message: fmt.Sprintf("the caller's user name %q is not a valid account name", id.User)}
		}
		return id, err
	}
	user := r.Header.Get(api.HeaderUser)
	if user == "" || !validName(user) {
		return Identity{}, &api.Error{Code: api.CodeUnauthorized, Message: "no valid user: send the " + api.HeaderUser + " header (the gefion CLI does)"}
	}
	return Identity{User: user, Via: "stated"}, nil
}

// Verify returns the verified identity of a request by Config.Identify,
// for the web view. Unlike the API it never takes a stated name: any site a
// user visits can make the browser send requests, and a browser cannot be
// made to prove a header, so without Config.Identify it admits no one.
//
// With authentication configured (gefion server), the web takes what the
// API takes but stated names: a bearer token or an OIDC ID token in the
// Authorization header (which a browser never adds on its own, so another
// site cannot borrow it), as a single-sign-on proxy in front of the
// controller sends it.
//
// The web view's sign-in keeps such a token in the TokenCookie cookie
// (HttpOnly, SameSite=Strict), which Verify takes as it takes the header;
// the web's forms carry their own CSRF tokens beside it.
func (c *Controller) Verify(r *http.Request) (Identity, error) {
	if c.auth != nil {
		if r.Header.Get("Authorization") == "" {
			if ck, err := r.Cookie(TokenCookie); err == nil && ck.Value != "" {
				r = r.Clone(r.Context())
				r.Header.Set("Authorization", "Bearer "+ck.Value)
			}
		}
		return c.identify(r)
	}
	if c.cfg.Identify == nil {
		return Identity{}, &api.Error{Code: api.CodeUnauthorized, Message: "this controller has no user authentication configured, so its web view serves no one; use gefion dev, or the API through the gefion commands"}
	}
	return c.identify(r)
}

func (c *Controller) adaptAgent(route string, h func(r *http.Request) (any, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		r.Body = http.MaxBytesReader(w, r.Body, 64<<20)
		var v any
		var err error
		if subtle.ConstantTimeCompare([]byte(r.Header.Get(api.HeaderToken)), []byte(c.cfg.JoinToken)) != 1 {
			err = &api.Error{Code: api.CodeUnauthorized, Message: "wrong or missing join token: give the agent the controller's token (--token)"}
		} else {
			v, err = h(r)
		}
		code := c.respond(w, v, err)
		c.m.apiSeconds.WithLabelValues("agent/"+route, strconv.Itoa(code)).Observe(time.Since(start).Seconds())
	})
}

// apiErr is the API error that answers err (nil for nil); log says to log
// an internal one.
func (c *Controller) apiErr(err error, log bool) *api.Error {
	if err == nil {
		return nil
	}
	var ae *api.Error
	if errors.As(err, &ae) {
		return ae
	}
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return &api.Error{Code: api.CodeUnavailable, Message: "the request was cancelled or timed out"}
	case errors.Is(err, store.ErrConflict):
		return &api.Error{Code: api.CodeConflict, Message: err.Error()}
	}
	if log {
		c.log.Error("internal error", "err", err)
	}
	return &api.Error{Code: api.CodeInternal, Message: "internal error; see the controller's log"}
}

func (c *Controller) respond(w http.ResponseWriter, v any, err error) int {
	if err != nil {
		return writeError(w, c.apiErr(err, true))
	}
	if s, ok := v.(streamer); ok {
		// The status is sent with the first bytes; a failed write means
		// the client went away, and there is no one left to tell.
		_ = s.stream(w)
		return http.StatusOK
	}
	w.Header().Set("Content-Type", "application/json")
	if v == nil {
		v = struct{}{}
	}
	buf, err := json.Marshal(v)
	if err != nil {
		return writeError(w, &api.Error{Code: api.CodeInternal, Message: "could not encode the response"})
	}
	_, _ = w.Write(buf)
	return http.StatusOK
}

func writeError(w http.ResponseWriter, e *api.Error) int {
	code := api.HTTPStatus(e.Code)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(api.ErrorBody{Error: *e})
	return code
}

// decode reads a JSON body strictly.
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return &api.Error{Code: api.CodeTooLarge, Message: fmt.Sprintf("request body over %d bytes; batch scripts may be at most %d bytes", mbe.Limit, job.MaxScriptSize)}
		}
		return &api.Error{Code: api.CodeInvalid, Message: "malformed JSON body: " + err.Error()}
	}
	if _, err := dec.Token(); err != io.EOF {
		return &api.Error{Code: api.CodeInvalid, Message: "malformed JSON body: more than one JSON value"}
	}
	return nil
}

// pathRef reads the job named in the path: ID, ID_TASK or ID_[LIST], as
// Slurm's commands take them. Anything else is refused, not truncated:
// "12_garbage" is not job 12.
func pathRef(r *http.Request) (job.Ref, error) {
	ref, err := job.ParseRef(r.PathValue("id"))
	if err != nil {
		return job.Ref{}, &api.Error{Code: api.CodeInvalid, Message: err.Error()}
	}
	return ref, nil
}

func (c *Controller) hIssueToken(r *http.Request, user string) (any, error) {
	var req api.TokenRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	return c.IssueToken(r.Context(), user, req)
}

func (c *Controller) hSubmit(r *http.Request, user string) (any, error) {
	if err := c.checkRate(user); err != nil {
		return nil, err
	}
	var req api.SubmitRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	return c.Submit(r.Context(), user, r.Header.Get(api.HeaderIdemKey), req)
}

// hJobs lists jobs: whole Job objects, or with fields= a compact table of
// those fields (see list.go), filtered as the query asks.
func (c *Controller) hJobs(r *http.Request, user string) (any, error) {
	q, t, err := parseList(r.URL.Query())
	if err != nil {
		return nil, err
	}
	if t == nil {
		jobs, err := c.ListJobs(r.Context(), user, q.All, q.ActiveOnly)
		if err != nil {
			return nil, err
		}
		// The filters apply to the old answer too.
		keep := jobs[:0]
		for i := range jobs {
			if q.matchJob(&jobs[i]) {
				keep = append(keep, jobs[i])
			}
		}
		return keep, nil
	}
	return c.JobTable(r.Context(), user, q, t)
}

func (c *Controller) hJob(r *http.Request, user string) (any, error) {
	ref, err := pathRef(r)
	if err != nil {
		return nil, err
	}
	return c.Job(r.Context(), user, ref)
}

func (c *Controller) hWhy(r *http.Request, user string) (any, error) {
	ref, err := pathRef(r)
	if err != nil {
		return nil, err
	}
	return c.Why(r.Context(), user, ref)
}

func (c *Controller) hCancel(r *http.Request, user string) (any, error) {
	ref, err := pathRef(r)
	if err != nil {
		return nil, err
	}
	ids, err := c.Cancel(r.Context(), user, []job.Ref{ref}, r.URL.Query().Get("signal"))
	if err != nil {
		return nil, err
	}
	return map[string]any{"cancelled": ids}, nil
}

func (c *Controller) hHold(hold bool) handlerFunc {
	return func(r *http.Request, user string) (any, error) {
		ref, err := pathRef(r)
		if err != nil {
			return nil, err
		}
		return nil, c.Hold(r.Context(), user, []job.Ref{ref}, hold)
	}
}

func (c *Controller) hNodes(drain bool) handlerFunc {
	return func(r *http.Request, user string) (any, error) {
		var act api.NodeAction
		if err := decode(r, &act); err != nil {
			return nil, err
		}
		setAuditTarget(r.Context(), act.Nodes)
		names, err := c.SetNodes(r.Context(), user, act, drain)
		if err != nil {
			return nil, err
		}
		return map[string]any{"nodes": names}, nil
	}
}

func (c *Controller) hProject(create bool) handlerFunc {
	return func(r *http.Request, user string) (any, error) {
		var ch api.ProjectChange
		if err := decode(r, &ch); err != nil {
			return nil, err
		}
		if !create {
			ch.Name = r.PathValue("name")
		}
		setAuditTarget(r.Context(), ch.Name)
		return nil, c.ChangeProject(r.Context(), user, ch, create)
	}
}

func (c *Controller) hAcct(r *http.Request, user string) (any, error) {
	q := r.URL.Query()
	if q.Get("fields") != "" {
		lq, t, err := parseList(q)
		if err != nil {
			return nil, err
		}
		if s := q.Get("totals"); s != "" && s != "0" && s != "1" {
			return nil, invalid("totals=%q: give 1 for the totals or 0", s)
		}
		return c.AcctTable(r.Context(), user, lq, t, q.Get("totals") == "1")
	}
	jq := store.JobQuery{User: q.Get("user"), Project: q.Get("project")}
	var err error
	if s := q.Get("since"); s != "" {
		if jq.SinceS, err = strconv.ParseInt(s, 10, 64); err != nil {
			return nil, invalid("since=%q: give Unix seconds", s)
		}
	}
	if s := q.Get("until"); s != "" {
		if jq.UntilS, err = strconv.ParseInt(s, 10, 64); err != nil {
			return nil, invalid("until=%q: give Unix seconds", s)
		}
	}
	if s := q.Get("ids"); s != "" {
		for _, f := range strings.Split(s, ",") {
			id, err := strconv.ParseInt(f, 10, 64)
			if err != nil {
				return nil, invalid("ids: %q is not a job ID", f)
			}
			jq.IDs = append(jq.IDs, job.ID(id))
		}
	}
	if s := q.Get("limit"); s != "" {
		if jq.Limit, err = strconv.Atoi(s); err != nil || jq.Limit < 0 {
			return nil, invalid("limit=%q: give a number", s)
		}
	}
	return c.Acct(r.Context(), user, jq)
}

func jsonDecode(r io.Reader, v any) error { return json.NewDecoder(r).Decode(v) }

// hAudit reads the audit trail: since= (Unix seconds), user=, limit=.
func (c *Controller) hAudit(r *http.Request, user string) (any, error) {
	v := r.URL.Query()
	var q store.AuditQuery
	var err error
	if s := v.Get("since"); s != "" {
		if q.SinceS, err = strconv.ParseInt(s, 10, 64); err != nil {
			return nil, invalid("since=%q: give Unix seconds", s)
		}
	}
	if s := v.Get("limit"); s != "" {
		if q.Limit, err = strconv.Atoi(s); err != nil || q.Limit < 0 {
			return nil, invalid("limit=%q: give a number", s)
		}
	}
	q.User = v.Get("user")
	recs, err := c.Audit(r.Context(), user, q)
	if err != nil {
		return nil, err
	}
	return map[string]any{"records": recs}, nil
}
