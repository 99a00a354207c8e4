package controller

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/store"
)

// Authorization.
//
// A request's user is verified first (Config.Identify); what the user may
// then see and do follows from four roles:
//
//   - user: submits jobs to the projects that name them; sees their own
//     jobs and the jobs of the projects that name them as members (by
//     name: the "*" that opens a project to everyone makes no one a
//     member of it for reading); holds, releases and cancels their own
//     jobs; runs steps in them.
//   - project manager (Slurm's coordinator; ProjectRecord.Managers, set
//     by admins): adds and removes the project's users, sees, holds,
//     releases and cancels its jobs, reads its scripts and usage.
//   - operator (Config.Operators and root): sees every job, holds,
//     releases and cancels every job, drains and resumes nodes, reads the
//     audit trail.
//   - admin (Config.Admins and root; every operator when Admins is nil):
//     all of the above, and creates and changes projects, grants, limits
//     and managers, and reads every job's script.
//
// Visibility follows Slurm's PrivateData=jobs,usage,accounts: a job the
// caller may not see is left out of every list (queue, accounting, steps,
// node job lists) and refused by every route that names it (403); other
// projects' jobs appear only as counts (a pending job's queue position and
// the queue's length in why, each project's pending jobs and running GPUs
// in the project list, the nodes' states). A job's script, environment and
// output paths (its spec) and its steps' command lines are given only to
// its owner, its project's managers and admins.

// access is what one user may see and do, worked out from the
// configuration and the projects at the time of a request.
type access struct {
	user            string
	admin, operator bool
	// member and manages hold the projects that name the user as a
	// member and as a manager.
	member, manages map[string]bool
}

// isAdmin reports whether user is an admin.
func (c *Controller) isAdmin(user string) bool {
	if user == "root" {
		return true
	}
	if c.cfg.Admins == nil {
		return slices.Contains(c.cfg.Operators, user)
	}
	return slices.Contains(c.cfg.Admins, user)
}

// isOperator reports whether user may see and act on every job and on
// nodes: operators and admins.
func (c *Controller) isOperator(user string) bool {
	return user == "root" || slices.Contains(c.cfg.Operators, user) || slices.Contains(c.cfg.Admins, user)
}

// accessOf works out user's access from the projects as they stand.
func (c *Controller) accessOf(projects map[string]*store.ProjectRecord, user string) *access {
	a := &access{user: user, admin: c.isAdmin(user), operator: c.isOperator(user)}
	for name, p := range projects {
		if slices.Contains(p.Users, user) {
			if a.member == nil {
				a.member = map[string]bool{}
			}
			a.member[name] = true
		}
		if slices.Contains(p.Managers, user) {
			if a.manages == nil {
				a.manages = map[string]bool{}
			}
			a.manages[name] = true
		}
	}
	return a
}

// access reads user's access on the loop, without a transaction.
func (c *Controller) access(ctx context.Context, user string) (*access, error) {
	v, err := c.doNow(ctx, func(cr *core) (any, error) { return c.accessOf(cr.projects, user), nil })
	if err != nil {
		return nil, err
	}
	return v.(*access), nil
}

// seeJob reports whether the caller may see a job of owner in project.
func (a *access) seeJob(owner, project string) bool {
	return a.operator || owner == a.user || a.member[project] || a.manages[project]
}

// seeSpec reports whether the caller may read a job's script,
// environment and paths.
func (a *access) seeSpec(owner, project string) bool {
	return a.admin || owner == a.user || a.manages[project]
}

// actOn reports whether the caller may hold, release or cancel a job.
func (a *access) actOn(owner, project string) bool {
	return a.operator || owner == a.user || a.manages[project]
}

// seesOnly reports whether every job the caller may see is their own, so
// that a list can select by user alone.
func (a *access) seesOnly() bool {
	return !a.operator && len(a.member) == 0 && len(a.manages) == 0
}

// notYours refuses an action on a job the caller may not see or act on.
// It names neither the job's owner nor its project.
func notYours(id any, what string) error {
	return forbidden("job %v is not yours or your projects'; you may %s only your own jobs, your projects' jobs if you manage them, or any job as an operator", id, what)
}

// Audit.
//
// Every request that changes, or tries to change, the state (every method
// but GET), and every request refused for who sent it (401, 403), leaves
// an audit record: who, what vouched for them, the route, its target and
// the outcome. A request's record commits in the same store transaction as
// the change it made, when it made one (do stages it), so it costs no
// commit of its own and is as durable as the change; otherwise it is
// committed on its own before the answer is sent.

// auditNote is a request's audit record while the request is served.
type auditNote struct {
	rec store.AuditRecord
	// claimed: an operation has taken the record to stage it; staged: it
	// did stage it (on the loop) in the transaction of its change.
	claimed, staged atomic.Bool
	mu              sync.Mutex // guards rec.Target
}

type auditKey struct{}

// setAuditTarget names what a request acts on, for its audit record.
func setAuditTarget(ctx context.Context, target string) {
	if n, _ := ctx.Value(auditKey{}).(*auditNote); n != nil {
		n.mu.Lock()
		n.rec.Target = target
		n.mu.Unlock()
	}
}

// outcome fills a record's outcome from an error (nil: ok).
func outcome(rec *store.AuditRecord, ae *api.Error) {
	if ae == nil {
		rec.Outcome, rec.Status, rec.Detail = "ok", http.StatusOK, ""
		return
	}
	rec.Outcome, rec.Status, rec.Detail = ae.Code, api.HTTPStatus(ae.Code), ae.Message
	if len(rec.Detail) > 512 {
		rec.Detail = rec.Detail[:512] + "..."
	}
}

// auditWrap returns fn staging the request's audit record, with fn's
// outcome, in fn's transaction; or fn itself when ctx carries no record or
// another operation took it.
func (c *Controller) auditWrap(ctx context.Context, fn func(tx *txn) (any, error)) (func(tx *txn) (any, error), *auditNote) {
	n, _ := ctx.Value(auditKey{}).(*auditNote)
	if n == nil || !n.claimed.CompareAndSwap(false, true) {
		return fn, nil
	}
	return func(tx *txn) (any, error) {
		v, err := fn(tx)
		n.mu.Lock()
		rec := n.rec
		n.mu.Unlock()
		rec.TimeS = tx.nowS
		outcome(&rec, c.apiErr(err, false))
		tx.audit = append(tx.audit, rec)
		n.staged.Store(true)
		return v, err
	}, n
}

// Audited prepares the audit record of a state-changing request that
// reaches the controller through another front end (the web view) rather
// than the API: ctx carries the identity and the record, so that the
// change's transaction stages it, and finish, called with the request's
// outcome, commits it on its own when nothing staged it (a refusal).
// action names the request as the API's routes do ("POST /web/jobs/{id}/cancel").
func (c *Controller) Audited(ctx context.Context, id Identity, action, target string) (context.Context, func(error)) {
	note := &auditNote{rec: store.AuditRecord{User: id.User, Via: id.Via, Action: action, Target: target}}
	ctx = context.WithValue(context.WithValue(ctx, identityKey{}, id), auditKey{}, note)
	return ctx, func(err error) {
		if note.staged.Load() {
			return
		}
		note.mu.Lock()
		rec := note.rec
		note.mu.Unlock()
		outcome(&rec, c.apiErr(err, false))
		c.auditNow(ctx, rec)
	}
}

// auditNow commits one audit record on its own and waits until it is
// durable. A client that went away does not cancel it.
func (c *Controller) auditNow(ctx context.Context, rec store.AuditRecord) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	ctx = context.WithValue(ctx, auditKey{}, (*auditNote)(nil))
	_, err := c.do(ctx, func(tx *txn) (any, error) {
		rec.TimeS = tx.nowS
		tx.audit = append(tx.audit, rec)
		return nil, nil
	})
	if err != nil {
		c.log.Error("audit record not stored", "err", err, "user", rec.User, "action", rec.Action, "outcome", rec.Outcome)
	}
}

// auditTarget is what a route names in its path.
func auditTarget(r *http.Request) string {
	var parts []string
	for _, k := range []string{"id", "step", "name"} {
		if v := r.PathValue(k); v != "" {
			parts = append(parts, v)
		}
	}
	return strings.Join(parts, ".")
}

// Audit returns the audit trail (operators only).
func (c *Controller) Audit(ctx context.Context, user string, q store.AuditQuery) ([]store.AuditRecord, error) {
	if !c.isOperator(user) {
		return nil, forbidden("only operators read the audit trail (you are %s)", user)
	}
	return c.st.Audit(ctx, q)
}

// Abuse limits.

// Bounds on a request's head, checked before anything of it is parsed;
// the body's bound is maxBody (the server's MaxHeaderBytes bounds the head
// again on a real connection).
const (
	maxURL    = 8 << 10
	maxHeader = 32 << 10
)

// checkHead refuses a request whose URL, headers or declared body are
// over their bounds.
func checkHead(r *http.Request, maxBodyBytes int64) error {
	if n := len(r.URL.RawPath) + len(r.URL.Path) + len(r.URL.RawQuery); n > maxURL {
		return &api.Error{Code: api.CodeHeadTooLarge, Message: fmt.Sprintf("the request's URL is %d bytes; the limit is %d (ask for fewer job IDs at once)", n, maxURL)}
	}
	n := 0
	for k, vs := range r.Header {
		for _, v := range vs {
			n += len(k) + len(v) + 4
		}
	}
	if n > maxHeader {
		return &api.Error{Code: api.CodeHeadTooLarge, Message: fmt.Sprintf("the request's headers are %d bytes; the limit is %d", n, maxHeader)}
	}
	if r.ContentLength > maxBodyBytes {
		return &api.Error{Code: api.CodeTooLarge, Message: fmt.Sprintf("request body of %d bytes is over the limit of %d; batch scripts may be at most %d bytes", r.ContentLength, maxBodyBytes, maxScriptHint)}
	}
	return nil
}

// limiter is a token bucket per user: SubmitRate submissions a second on
// average, SubmitBurst at once.
type limiter struct {
	mu      sync.Mutex
	rate    float64
	burst   float64
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

// allow takes a token from user's bucket at now, or says how long until
// one is there.
func (l *limiter) allow(user string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.buckets == nil {
		l.buckets = map[string]*bucket{}
	}
	b := l.buckets[user]
	if b == nil {
		b = &bucket{tokens: l.burst, at: now}
		l.buckets[user] = b
	}
	if dt := now.Sub(b.at).Seconds(); dt > 0 {
		b.tokens = min(l.burst, b.tokens+dt*l.rate)
	}
	b.at = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
}

// checkRate refuses a submission over the user's rate.
func (c *Controller) checkRate(user string) error {
	if c.cfg.SubmitRate <= 0 {
		return nil
	}
	ok, wait := c.limits.allow(user, c.clk.Now())
	if ok {
		return nil
	}
	return &api.Error{Code: api.CodeRateLimited, Message: fmt.Sprintf("you (%s) submit faster than the limit of %g jobs a second (bursts of %d); retry in %s, or submit a job array (--array) instead of many jobs",
		user, c.cfg.SubmitRate, c.cfg.SubmitBurst, wait.Round(time.Millisecond))}
}

// checkMaxSubmit refuses n more jobs for user past MaxSubmitJobs; on the
// loop.
func (c *Controller) checkMaxSubmit(tx *txn, user string, n int) error {
	if c.cfg.MaxSubmitJobs <= 0 || tx.c.userActive == nil {
		return nil
	}
	have := tx.c.userActive[user] + tx.submitted[user]
	if have+n > c.cfg.MaxSubmitJobs {
		return &api.Error{Code: api.CodeConflict, Message: fmt.Sprintf("you (%s) have %d jobs pending or running and may have at most %d (MaxSubmitJobs); this submission adds %d: wait for some to end or cancel some",
			user, have, c.cfg.MaxSubmitJobs, n)}
	}
	if tx.submitted == nil {
		tx.submitted = map[string]int{}
	}
	tx.submitted[user] += n
	return nil
}
