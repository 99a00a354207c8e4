package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"

	"github.com/gefion-hpc/gefion/internal/job"
)

// errClosed is returned by every method of a closed Memory.
var errClosed = errors.New("store: the store is closed")

// Memory is a Store kept in memory: not durable, but otherwise the same
// contract as the SQLite store (it passes the same conformance suite). Tests
// and benchmarks use it for real, the way raft's MemoryStorage is used.
//
// Records are deep-copied on the way in and on the way out, so a caller may
// keep and change what it passed or got back. Memory is safe for one writer
// and any number of concurrent readers.
type Memory struct {
	mu     sync.RWMutex
	closed bool
	jobs   map[job.ID]*JobRecord
	// ids holds every job ID in ascending order; active holds the IDs of
	// jobs not in a final state. Both serve Jobs without a full sort.
	ids    []job.ID
	active map[job.ID]struct{}
	// keys maps user + "\x00" + idempotency key to its job, for every job
	// ever stored: keys stay unique forever, as in the SQL stores.
	keys      map[string]job.ID
	maxID     job.ID
	maxSubmit int64
	projects  map[string]*ProjectRecord
	nodes     map[string]*NodeRecord
	// scripts holds one copy of each batch script, keyed by its text: the
	// tasks of an array share it, as they share one row in SQL stores.
	// Scripts are never dropped, as job records never are.
	scripts map[string]string
	// steps holds each job's steps in step order.
	steps map[job.ID][]*StepRecord
	// audit is the audit trail, in Seq order.
	audit []AuditRecord
	// tokens holds bearer tokens by ID.
	tokens map[string]TokenRecord
	// nodeKeys holds node key pins by node.
	nodeKeys map[string]NodeKeyRecord
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory {
	return &Memory{
		jobs:     make(map[job.ID]*JobRecord),
		active:   make(map[job.ID]struct{}),
		keys:     make(map[string]job.ID),
		projects: make(map[string]*ProjectRecord),
		nodes:    make(map[string]*NodeRecord),
		scripts:  make(map[string]string),
		steps:    make(map[job.ID][]*StepRecord),
	}
}

// IdemKeyOf returns the key under which a job's idempotency key is unique
// (and under which Snapshot.RecentKeys holds it), or "" if it has none.
func IdemKeyOf(user, key string) string {
	if key == "" {
		return ""
	}
	return user + "\x00" + key
}

// stage is a batch being applied: changes to jobs and keys sit in overlays
// over the committed maps, so that a batch that fails leaves nothing behind
// and one that succeeds sees its own earlier parts (an update may follow an
// insert of the same job), exactly as statements in one SQL transaction do.
type stage struct {
	m        *Memory
	jobs     map[job.ID]*JobRecord
	inserted []job.ID
	keys     map[string]job.ID
	dropped  map[string]bool
	scripts  map[string]string
	// last is the script interned last: the tasks of an array come in a
	// row with one string, which compares equal at once.
	last string
}

// script returns the store's copy of a script, adding it to the stage
// when it is new.
func (s *stage) script(v string) string {
	if v == "" {
		return ""
	}
	if v == s.last {
		return s.last
	}
	c, ok := s.m.scripts[v]
	if !ok {
		if c, ok = s.scripts[v]; !ok {
			c = v
			s.scripts[v] = v
		}
	}
	s.last = c
	return c
}

func (s *stage) job(id job.ID) (*JobRecord, bool) {
	if r, ok := s.jobs[id]; ok {
		return r, true
	}
	r, ok := s.m.jobs[id]
	return r, ok
}

func (s *stage) keyOwner(k string) (job.ID, bool) {
	if id, ok := s.keys[k]; ok {
		return id, true
	}
	if s.dropped[k] {
		return 0, false
	}
	id, ok := s.m.keys[k]
	return id, ok
}

func (s *stage) setKey(k string, id job.ID) {
	s.keys[k] = id
	delete(s.dropped, k)
}

func (s *stage) dropKey(k string) {
	delete(s.keys, k)
	s.dropped[k] = true
}

// Apply commits the batch atomically: on any error nothing changes.
func (m *Memory) Apply(ctx context.Context, b *Batch) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return errClosed
	}
	s := &stage{m: m, jobs: make(map[job.ID]*JobRecord), keys: make(map[string]job.ID), dropped: make(map[string]bool), scripts: make(map[string]string)}
	for i := range b.NewJobs {
		r := &b.NewJobs[i]
		if _, ok := s.job(r.ID); ok {
			return fmt.Errorf("new job %d: a job with this ID exists: %w", r.ID, ErrConflict)
		}
		if k := IdemKeyOf(r.User, r.IdemKey); k != "" {
			if other, ok := s.keyOwner(k); ok {
				return fmt.Errorf("new job %d: user %q already submitted job %d with idempotency key %q: %w", r.ID, r.User, other, r.IdemKey, ErrConflict)
			}
			s.setKey(k, r.ID)
		}
		c := cloneJob(r)
		c.Spec.Script = s.script(c.Spec.Script)
		s.jobs[r.ID] = c
		s.inserted = append(s.inserted, r.ID)
	}
	for i := range b.Jobs {
		r := &b.Jobs[i]
		old, ok := s.job(r.ID)
		if !ok {
			return fmt.Errorf("update of job %d: %w", r.ID, ErrNotFound)
		}
		oldKey, newKey := IdemKeyOf(old.User, old.IdemKey), IdemKeyOf(r.User, r.IdemKey)
		if oldKey != newKey {
			if oldKey != "" {
				s.dropKey(oldKey)
			}
			if newKey != "" {
				if other, ok := s.keyOwner(newKey); ok {
					return fmt.Errorf("update of job %d: user %q already submitted job %d with idempotency key %q: %w", r.ID, r.User, other, r.IdemKey, ErrConflict)
				}
				s.setKey(newKey, r.ID)
			}
		}
		c := cloneJob(r)
		c.Spec.Script = s.script(c.Spec.Script)
		s.jobs[r.ID] = c
	}
	for i := range b.Steps {
		if _, ok := s.job(b.Steps[i].JobID); !ok {
			return fmt.Errorf("step %d.%d: its job: %w", b.Steps[i].JobID, b.Steps[i].StepID, ErrNotFound)
		}
	}

	// Nothing below can fail: commit the stage.
	for id, r := range s.jobs {
		m.jobs[id] = r
		if r.State.Final() {
			delete(m.active, id)
		} else {
			m.active[id] = struct{}{}
		}
		m.maxSubmit = max(m.maxSubmit, r.SubmitS)
	}
	for k, v := range s.scripts {
		m.scripts[k] = v
	}
	for k := range s.dropped {
		delete(m.keys, k)
	}
	for k, id := range s.keys {
		m.keys[k] = id
	}
	if len(s.inserted) > 0 {
		slices.Sort(s.inserted)
		if len(m.ids) == 0 || s.inserted[0] > m.ids[len(m.ids)-1] {
			// The usual case: new IDs are above every stored one.
			m.ids = append(m.ids, s.inserted...)
		} else {
			m.ids = append(m.ids, s.inserted...)
			slices.Sort(m.ids)
		}
		m.maxID = max(m.maxID, s.inserted[len(s.inserted)-1])
	}
	for i := range b.Projects {
		p := cloneProject(&b.Projects[i])
		m.projects[p.Name] = p
	}
	for _, name := range b.DeleteProjects {
		delete(m.projects, name)
	}
	for i := range b.Nodes {
		n := b.Nodes[i]
		m.nodes[n.Name] = &n
	}
	for i := range b.Steps {
		m.putStep(CloneStep(&b.Steps[i]))
	}
	for _, a := range b.Audit {
		a.Seq = int64(len(m.audit)) + 1
		m.audit = append(m.audit, a)
	}
	return nil
}

// Audit returns the audit records q selects, oldest first.
func (m *Memory) Audit(ctx context.Context, q AuditQuery) ([]AuditRecord, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return nil, errClosed
	}
	out := []AuditRecord{}
	for _, a := range m.audit {
		if a.TimeS >= q.SinceS && (q.User == "" || a.User == q.User) {
			out = append(out, a)
		}
	}
	if q.Limit > 0 && len(out) > q.Limit {
		out = out[len(out)-q.Limit:]
	}
	return out, nil
}

// putStep inserts or replaces a step, keeping its job's steps in order.
func (m *Memory) putStep(r *StepRecord) {
	l := m.steps[r.JobID]
	i, found := slices.BinarySearchFunc(l, r.StepID, func(x *StepRecord, id int) int { return x.StepID - id })
	if found {
		l[i] = r
		return
	}
	m.steps[r.JobID] = slices.Insert(l, i, r)
}

// Steps returns the steps of the given jobs, ordered by job and step.
func (m *Memory) Steps(ctx context.Context, ids []job.ID) ([]StepRecord, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return nil, errClosed
	}
	ids = slices.Clone(ids)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	var out []StepRecord
	for _, id := range ids {
		for _, r := range m.steps[id] {
			out = append(out, *CloneStep(r))
		}
	}
	return out, nil
}

// Load returns the state to recover from.
func (m *Memory) Load(ctx context.Context) (*Snapshot, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return nil, errClosed
	}
	snap := &Snapshot{MaxJobID: m.maxID, RecentKeys: make(map[string]job.ID)}
	activeIDs := make([]job.ID, 0, len(m.active))
	for id := range m.active {
		activeIDs = append(activeIDs, id)
	}
	slices.Sort(activeIDs)
	snap.ActiveJobs = make([]JobRecord, 0, len(activeIDs))
	for _, id := range activeIDs {
		snap.ActiveJobs = append(snap.ActiveJobs, *cloneJob(m.jobs[id]))
	}
	from := m.maxSubmit - KeyWindowS
	for k, id := range m.keys {
		if m.jobs[id].SubmitS >= from {
			snap.RecentKeys[k] = id
		}
	}
	snap.Projects = make([]ProjectRecord, 0, len(m.projects))
	for _, p := range m.projects {
		snap.Projects = append(snap.Projects, *cloneProject(p))
	}
	sort.Slice(snap.Projects, func(i, j int) bool { return snap.Projects[i].Name < snap.Projects[j].Name })
	snap.Nodes = make([]NodeRecord, 0, len(m.nodes))
	for _, n := range m.nodes {
		snap.Nodes = append(snap.Nodes, *n)
	}
	sort.Slice(snap.Nodes, func(i, j int) bool { return snap.Nodes[i].Name < snap.Nodes[j].Name })
	for _, id := range activeIDs {
		for _, r := range m.steps[id] {
			snap.Steps = append(snap.Steps, *CloneStep(r))
		}
	}
	return snap, nil
}

// Jobs returns the records the query selects, ordered by ID, or newest
// (highest ID) first when q.Limit is set.
func (m *Memory) Jobs(ctx context.Context, q JobQuery) ([]JobRecord, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return nil, errClosed
	}
	// Choose the smallest candidate set, in ascending ID order.
	var cand []job.ID
	switch {
	case len(q.IDs) > 0:
		cand = slices.Clone(q.IDs)
		slices.Sort(cand)
		cand = slices.Compact(cand)
	case q.Active:
		cand = make([]job.ID, 0, len(m.active))
		for id := range m.active {
			cand = append(cand, id)
		}
		slices.Sort(cand)
	default:
		cand = m.ids
	}
	match := func(r *JobRecord) bool {
		if q.Active && r.State.Final() {
			return false
		}
		if q.User != "" && r.User != q.User {
			return false
		}
		if q.Project != "" && r.Project != q.Project {
			return false
		}
		if len(q.States) > 0 && !slices.Contains(q.States, r.State) {
			return false
		}
		t := queryTime(r)
		if q.SinceS != 0 && t < q.SinceS {
			return false
		}
		if q.UntilS != 0 && t >= q.UntilS {
			return false
		}
		return true
	}
	var out []JobRecord
	add := func(id job.ID) bool {
		r, ok := m.jobs[id]
		if ok && match(r) {
			out = append(out, *cloneJob(r))
			q.Skip.Strip(&out[len(out)-1])
		}
		return q.Limit <= 0 || len(out) < q.Limit
	}
	if q.Limit > 0 {
		for i := len(cand) - 1; i >= 0 && add(cand[i]); i-- {
		}
	} else {
		for _, id := range cand {
			add(id)
		}
	}
	return out, nil
}

// queryTime is the time JobQuery.SinceS and UntilS compare with: when the
// job ended if it is in a final state, else when it was submitted.
func queryTime(r *JobRecord) int64 {
	if r.State.Final() {
		return r.EndS
	}
	return r.SubmitS
}

// Close releases the store; every later call fails.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	m.jobs, m.active, m.keys, m.ids = nil, nil, nil, nil
	m.projects, m.nodes, m.steps = nil, nil, nil
	return nil
}

// cloneJob deep-copies a record: every slice and pointer reachable from it
// is fresh, so neither the caller nor the store can change the other's copy.
// A test fills every field by reflection and checks that nothing is shared,
// so a reference-typed field added to JobRecord or job.Spec without a line
// here fails that test.
func cloneJob(r *JobRecord) *JobRecord {
	c := *r
	c.Spec.Partitions = slices.Clone(r.Spec.Partitions)
	c.Spec.Env = slices.Clone(r.Spec.Env)
	c.Spec.Argv = slices.Clone(r.Spec.Argv)
	if r.Spec.Requeue != nil {
		v := *r.Spec.Requeue
		c.Spec.Requeue = &v
	}
	c.Spec.Container = r.Spec.Container.Clone()
	if r.Allocs != nil {
		c.Allocs = make([]Alloc, len(r.Allocs))
		for i, a := range r.Allocs {
			a.GPUs = slices.Clone(a.GPUs)
			c.Allocs[i] = a
		}
	}
	return &c
}

func cloneProject(p *ProjectRecord) *ProjectRecord {
	c := *p
	c.Users = slices.Clone(p.Users)
	c.Managers = slices.Clone(p.Managers)
	return &c
}

var _ Scanner = (*Memory)(nil)

// ScanJobs hands out the records of Jobs one at a time.
func (m *Memory) ScanJobs(ctx context.Context, q JobQuery, fn func(r *JobRecord) error) error {
	recs, err := m.Jobs(ctx, q)
	if err != nil {
		return err
	}
	for i := range recs {
		if err := fn(&recs[i]); err != nil {
			return err
		}
	}
	return nil
}

var _ TokenStore = (*Memory)(nil)

// PutToken implements TokenStore.
func (m *Memory) PutToken(ctx context.Context, t *TokenRecord) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return errClosed
	}
	if m.tokens == nil {
		m.tokens = make(map[string]TokenRecord)
	}
	if _, ok := m.tokens[t.ID]; ok {
		return ErrConflict
	}
	m.tokens[t.ID] = *t
	return nil
}

// Tokens implements TokenStore.
func (m *Memory) Tokens(ctx context.Context) ([]TokenRecord, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return nil, errClosed
	}
	out := make([]TokenRecord, 0, len(m.tokens))
	for _, t := range m.tokens {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// RevokeToken implements TokenStore.
func (m *Memory) RevokeToken(ctx context.Context, id string, atS int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return errClosed
	}
	t, ok := m.tokens[id]
	if !ok {
		return ErrNotFound
	}
	if t.RevokedS == 0 {
		t.RevokedS = atS
		m.tokens[id] = t
	}
	return nil
}

var _ NodeKeyStore = (*Memory)(nil)

// PutNodeKeys implements NodeKeyStore.
func (m *Memory) PutNodeKeys(ctx context.Context, recs []NodeKeyRecord) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return errClosed
	}
	if m.nodeKeys == nil {
		m.nodeKeys = make(map[string]NodeKeyRecord)
	}
	for _, r := range recs {
		m.nodeKeys[r.Node] = r
	}
	return nil
}

// NodeKeys implements NodeKeyStore.
func (m *Memory) NodeKeys(ctx context.Context) ([]NodeKeyRecord, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return nil, errClosed
	}
	out := make([]NodeKeyRecord, 0, len(m.nodeKeys))
	for _, r := range m.nodeKeys {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Node < out[j].Node })
	return out, nil
}

// DeleteNodeKey implements NodeKeyStore.
func (m *Memory) DeleteNodeKey(ctx context.Context, node string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return errClosed
	}
	if _, ok := m.nodeKeys[node]; !ok {
		return ErrNotFound
	}
	delete(m.nodeKeys, node)
	return nil
}
