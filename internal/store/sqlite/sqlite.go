package sqlite

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/gefion-hpc/gefion/internal/job"
	"github.com/gefion-hpc/gefion/internal/store"
)

// busyTimeoutMS is how long a connection waits for a lock another process
// holds (a second controller, a backup tool) before it reports busy.
const busyTimeoutMS = 10_000

// readConns is the size of the read pool. Reads in WAL mode never wait for
// the writer, so a few connections are enough to keep API handlers from
// queueing behind one slow query.
const readConns = 4

// cacheKiB is the writer's page cache. A batch of a thousand jobs dirties a
// few MiB; a cache that holds it avoids spilling pages to the WAL mid-batch
// and reading index pages back from disk.
const cacheKiB = 64 << 10

// checkpointEvery is how often the background checkpointer copies committed
// WAL frames into the database file, and journalLimit the size the WAL file
// is truncated to afterwards. optimizeEvery is how often the planner's
// statistics are refreshed while the store is open (SQLite's advice for
// long-lived connections).
const (
	checkpointEvery = 500 * time.Millisecond
	journalLimit    = 64 << 20
	optimizeEvery   = time.Hour
)

// pageSize is the page size of a new database. Larger pages cut the number
// of WAL frames per batch but multiply the bytes written for each randomly
// placed index entry (idempotency keys), which dominate on a long history.
const pageSize = 4096

// walRestartFrames is the WAL length (in pages) past which the checkpointer
// stops being polite. A PASSIVE checkpoint skips frames that a reader still
// needs, and the WAL starts over from its beginning only once all of it is
// checkpointed; readers that never pause could make it grow for ever. A
// RESTART checkpoint waits (up to the busy timeout) for them to move on.
const walRestartFrames = 32 << 10

// ErrClosed is returned by every method of a closed Store.
var ErrClosed = errors.New("store: the SQLite store is closed")

// Store is a store.Store in one SQLite database file.
type Store struct {
	path string
	// w is the single writer connection: SQLite allows one writer at a
	// time anyway, and one connection lets prepared statements be reused
	// by every batch.
	w *sql.DB
	// r is the pool of read-only connections for Load and Jobs.
	r *sql.DB
	// ckpt is the checkpointer's connection (see checkpointer).
	ckpt     *sql.DB
	commits  chan struct{}
	stopCkpt chan struct{}
	ckptDone chan struct{}

	insertJob, updateJob, insertScript, deleteProject, upsertNode *sql.Stmt

	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
}

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed) the store in the SQLite database at path
// and brings its schema up to date. It fails if the file belongs to another
// program or was written by a newer gefion.
func Open(path string) (*Store, error) {
	if path == "" || strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("open SQLite store %q: the path must be non-empty and contain no '?' or '#'", path)
	}
	ctx := context.Background()
	s := &Store{path: path}
	var err error
	// _txlock=immediate makes every write transaction take the write lock
	// at BEGIN, so a batch never fails half-way on a lock upgrade.
	// synchronous=FULL fsyncs the WAL at every commit: a batch that Apply
	// acknowledged survives a crash of the machine, not only of the process.
	// wal_autocheckpoint(0) takes checkpoints off the commit path: the
	// checkpointer goroutine does them on its own connection.
	common := fmt.Sprintf("&_pragma=busy_timeout(%d)&_pragma=synchronous(FULL)&_pragma=journal_size_limit(%d)", busyTimeoutMS, journalLimit)
	s.w, err = sql.Open("sqlite", path+"?_txlock=immediate"+common+
		fmt.Sprintf("&_pragma=foreign_keys(1)&_pragma=cache_size(%d)&_pragma=wal_autocheckpoint(0)", -cacheKiB))
	if err != nil {
		return nil, fmt.Errorf("open SQLite store %s: %w", path, err)
	}
	s.w.SetMaxOpenConns(1)
	s.w.SetMaxIdleConns(1)
	s.w.SetConnMaxLifetime(0)
	s.w.SetConnMaxIdleTime(0)
	if err := s.setUp(ctx); err != nil {
		s.w.Close()
		return nil, err
	}
	s.r, err = sql.Open("sqlite", path+fmt.Sprintf("?_pragma=busy_timeout(%d)", busyTimeoutMS)+"&_pragma=query_only(1)")
	if err != nil {
		s.closeStmts()
		s.w.Close()
		return nil, fmt.Errorf("open SQLite store %s: %w", path, err)
	}
	s.r.SetMaxOpenConns(readConns)
	s.r.SetMaxIdleConns(readConns)
	s.ckpt, err = sql.Open("sqlite", path+"?_txlock=deferred&_pragma=analysis_limit(1000)"+common)
	if err != nil {
		s.closeStmts()
		s.r.Close()
		s.w.Close()
		return nil, fmt.Errorf("open SQLite store %s: %w", path, err)
	}
	s.ckpt.SetMaxOpenConns(1)
	s.ckpt.SetConnMaxIdleTime(0)
	s.commits = make(chan struct{}, 1)
	s.stopCkpt = make(chan struct{})
	s.ckptDone = make(chan struct{})
	go s.checkpointer()
	return s, nil
}

// checkpointer copies committed WAL frames into the database file, at most
// every checkpointEvery and only after commits. It runs PASSIVE
// checkpoints, which never block the writer or readers, so a commit pays
// only for its own WAL write and fsync. A failed checkpoint is harmless (the
// frames stay in the WAL, which readers and recovery use) and is retried.
// Once in a while it also refreshes the planner's statistics.
func (s *Store) checkpointer() {
	defer close(s.ckptDone)
	t := time.NewTicker(checkpointEvery)
	defer t.Stop()
	opt := time.NewTicker(optimizeEvery)
	defer opt.Stop()
	dirty := false
	for {
		select {
		case <-s.stopCkpt:
			return
		case <-s.commits:
			dirty = true
		case <-t.C:
			if dirty {
				dirty = false
				s.checkpoint()
			}
		case <-opt.C:
			s.ckpt.Exec(`PRAGMA optimize`)
		}
	}
}

// setUp checks the writer connection, migrates the schema and prepares the
// statements every batch reuses.
func (s *Store) setUp(ctx context.Context) error {
	// Refuse another program's database before changing anything in it
	// (the switch to WAL below is written to the file).
	if err := checkApplication(ctx, s.w, s.path); err != nil {
		return err
	}
	// The page size applies only to a new database, so it is set before
	// the switch to WAL, which fixes it.
	if _, err := s.w.ExecContext(ctx, fmt.Sprintf(`PRAGMA page_size = %d`, pageSize)); err != nil {
		return fmt.Errorf("open SQLite store %s: %w (is the directory writable and the file a SQLite database?)", s.path, err)
	}
	var mode string
	if err := s.w.QueryRowContext(ctx, `PRAGMA journal_mode = WAL`).Scan(&mode); err != nil {
		return fmt.Errorf("open SQLite store %s: %w (is the directory writable and the file a SQLite database?)", s.path, err)
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("open SQLite store %s: journal mode is %q, not WAL; put the data directory on a local file system", s.path, mode)
	}
	if err := migrate(ctx, s.w, s.path); err != nil {
		return err
	}
	// Statistics let the planner pick the right index for a query (user,
	// state, end time). optimize analyses only tables whose statistics are
	// missing or stale, and analysis_limit bounds the work on a large table.
	if _, err := s.w.ExecContext(ctx, `PRAGMA analysis_limit = 1000; PRAGMA optimize = 0x10002`); err != nil {
		return fmt.Errorf("open SQLite store %s: gather statistics: %w", s.path, err)
	}
	for _, p := range []struct {
		stmt **sql.Stmt
		sql  string
	}{
		{&s.insertJob, `INSERT INTO jobs (` + jobColumns + `) VALUES (` + placeholders(numJobColumns) + `)`},
		{&s.updateJob, `UPDATE jobs SET ` + jobUpdateSet() + ` WHERE id = ?1`},
		{&s.insertScript, `INSERT INTO scripts (hash, body) VALUES (?, ?) ON CONFLICT (hash) DO NOTHING`},
		{&s.deleteProject, `DELETE FROM projects WHERE name = ?`},
		{&s.upsertNode, `INSERT INTO nodes (name, state, reason, since_s) VALUES (?, ?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET state = excluded.state, reason = excluded.reason, since_s = excluded.since_s`},
	} {
		st, err := s.w.PrepareContext(ctx, p.sql)
		if err != nil {
			s.closeStmts()
			return fmt.Errorf("open SQLite store %s: prepare: %w", s.path, err)
		}
		*p.stmt = st
	}
	return nil
}

func (s *Store) closeStmts() {
	for _, st := range []*sql.Stmt{s.insertJob, s.updateJob, s.insertScript, s.deleteProject, s.upsertNode} {
		if st != nil {
			st.Close()
		}
	}
}

// upsertProjectSQL writes a project whole.
const upsertProjectSQL = `INSERT INTO projects (name, parent, users, grant_gpu_hours, period_start_s, used_gpu_seconds, usage_gpus, usage_at_s, max_gpus, managers, grant_end_s)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET parent = excluded.parent, users = excluded.users,
				grant_gpu_hours = excluded.grant_gpu_hours, period_start_s = excluded.period_start_s,
				used_gpu_seconds = excluded.used_gpu_seconds, usage_gpus = excluded.usage_gpus,
				usage_at_s = excluded.usage_at_s, max_gpus = excluded.max_gpus, managers = excluded.managers,
				grant_end_s = excluded.grant_end_s`

// Path returns the database file's path.
func (s *Store) Path() string { return s.path }

// Apply commits the batch in one transaction; when it returns nil the batch
// is on disk. On any error nothing of the batch is kept.
func (s *Store) Apply(ctx context.Context, b *store.Batch) (err error) {
	if s.closed.Load() {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if b.Empty() {
		return nil
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store %s: begin: %w", s.path, err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	args := make([]any, numJobColumns)
	enc, _ := b.Encoded.(*encoded)
	if enc != nil && (len(enc.newJobs) != len(b.NewJobs) || len(enc.jobs) != len(b.Jobs)) {
		enc = nil
	}
	var sh scriptHasher
	if enc != nil {
		sh = enc.scripts
	}
	// Scripts go first, each once per batch; the job rows name them.
	var insScript *sql.Stmt
	putScripts := func() error {
		for _, sc := range sh.pending {
			if insScript == nil {
				insScript = tx.StmtContext(ctx, s.insertScript)
			}
			if _, err := insScript.ExecContext(ctx, sc.hash, sc.body); err != nil {
				return fmt.Errorf("store script %s: %w", sc.hash[:12], err)
			}
		}
		sh.pending = sh.pending[:0]
		return nil
	}
	if len(b.NewJobs) > 0 {
		ins := tx.StmtContext(ctx, s.insertJob)
		for i := range b.NewJobs {
			r := &b.NewJobs[i]
			a := args
			if enc != nil {
				a = enc.newJobs[i]
			} else if err := jobArgs(r, args, &sh); err != nil {
				return err
			}
			if err := putScripts(); err != nil {
				return err
			}
			if _, err := ins.ExecContext(ctx, a...); err != nil {
				return jobError("new job", r, err)
			}
		}
	}
	if len(b.Jobs) > 0 {
		upd := tx.StmtContext(ctx, s.updateJob)
		for i := range b.Jobs {
			r := &b.Jobs[i]
			a := args
			if enc != nil {
				a = enc.jobs[i]
			} else if err := jobArgs(r, args, &sh); err != nil {
				return err
			}
			if err := putScripts(); err != nil {
				return err
			}
			res, err := upd.ExecContext(ctx, a...)
			if err != nil {
				return jobError("update of job", r, err)
			}
			if n, err := res.RowsAffected(); err != nil {
				return fmt.Errorf("update of job %d: %w", r.ID, err)
			} else if n == 0 {
				return fmt.Errorf("update of job %d: %w", r.ID, store.ErrNotFound)
			}
		}
	}
	if len(b.Projects) > 0 {
		// Prepared here rather than at Open: it names a column of schema
		// version 5, and tests open older databases to upgrade them.
		st, err := tx.PrepareContext(ctx, upsertProjectSQL)
		if err != nil {
			return fmt.Errorf("store %s: prepare project upsert: %w", s.path, err)
		}
		defer st.Close()
		for i := range b.Projects {
			p := &b.Projects[i]
			users, err := json.Marshal(p.Users)
			if err != nil {
				return fmt.Errorf("project %q: %w", p.Name, err)
			}
			managers := []byte("[]")
			if len(p.Managers) > 0 {
				if managers, err = json.Marshal(p.Managers); err != nil {
					return fmt.Errorf("project %q: %w", p.Name, err)
				}
			}
			if _, err := st.ExecContext(ctx, p.Name, p.Parent, string(users), p.GrantGPUHours, p.PeriodStartS,
				p.UsedGPUSeconds, p.UsageGPUS, p.UsageAtS, p.MaxGPUs, string(managers), p.GrantEndS); err != nil {
				return fmt.Errorf("project %q: %w", p.Name, err)
			}
		}
	}
	if len(b.DeleteProjects) > 0 {
		st := tx.StmtContext(ctx, s.deleteProject)
		for _, name := range b.DeleteProjects {
			if _, err := st.ExecContext(ctx, name); err != nil {
				return fmt.Errorf("delete project %q: %w", name, err)
			}
		}
	}
	if len(b.Nodes) > 0 {
		st := tx.StmtContext(ctx, s.upsertNode)
		for i := range b.Nodes {
			n := &b.Nodes[i]
			if _, err := st.ExecContext(ctx, n.Name, n.State, n.Reason, n.SinceS); err != nil {
				return fmt.Errorf("node %q: %w", n.Name, err)
			}
		}
	}
	if err := applySteps(ctx, tx, b.Steps); err != nil {
		return err
	}
	if err := applyAudit(ctx, tx, b.Audit); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store %s: commit: %w", s.path, err)
	}
	select {
	case s.commits <- struct{}{}:
	default:
	}
	return nil
}

// encoded is a batch's job rows as Encode makes them, and the scripts
// they name.
type encoded struct {
	newJobs, jobs [][]any
	scripts       scriptHasher
}

// Encode computes the column values of the batch's job records (their
// JSON parts included) ahead of Apply, which then only binds them.
func (s *Store) Encode(b *store.Batch) error {
	b.Encoded = nil
	e := &encoded{newJobs: make([][]any, len(b.NewJobs)), jobs: make([][]any, len(b.Jobs))}
	for _, part := range []struct {
		recs []store.JobRecord
		rows [][]any
	}{{b.NewJobs, e.newJobs}, {b.Jobs, e.jobs}} {
		for i := range part.recs {
			part.rows[i] = make([]any, numJobColumns)
			if err := jobArgs(&part.recs[i], part.rows[i], &e.scripts); err != nil {
				return err
			}
		}
	}
	b.Encoded = e
	return nil
}

var _ store.Encoder = (*Store)(nil)

// jobError turns a constraint violation into store.ErrConflict, naming the
// job and, for a key, the user and key.
func jobError(what string, r *store.JobRecord, err error) error {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("%s %d: a job with this ID exists: %w", what, r.ID, store.ErrConflict)
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE:
			return fmt.Errorf("%s %d: user %q already submitted a job with idempotency key %q: %w", what, r.ID, r.User, r.IdemKey, store.ErrConflict)
		}
	}
	return fmt.Errorf("%s %d: %w", what, r.ID, err)
}

// checkpoint runs one checkpoint, see checkpointer.
func (s *Store) checkpoint() {
	var busy, log, done int
	if err := s.ckpt.QueryRow(`PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &log, &done); err != nil {
		return
	}
	if log > walRestartFrames {
		s.ckpt.Exec(`PRAGMA wal_checkpoint(RESTART)`)
	}
}

// Close closes the database. It is safe to call more than once.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		close(s.stopCkpt)
		<-s.ckptDone
		s.closeStmts()
		// The writer's is the last connection to close, so it checkpoints
		// the WAL into the database file and removes it.
		s.closeErr = errors.Join(s.ckpt.Close(), s.r.Close(), s.w.Close())
	})
	return s.closeErr
}

// The jobs table's columns in the order jobArgs fills them and jobCols
// lists them (less active, which no reader needs). id must stay first: the UPDATE uses ?1 for it.
const jobColumns = `id, array_job_id, array_task_id, name, user_name, project, partition_name, qos,
	state, active, reason, submit_s, eligible_s, start_s, end_s, exit_code, signal, restarts,
	gpu_seconds, energy_j, energy_measured, idem_key, spec, req, allocs, script_hash`

var numJobColumns = strings.Count(jobColumns, ",") + 1

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// jobUpdateSet is "array_job_id = ?2, ..." for every column but id.
func jobUpdateSet() string {
	cols := strings.Split(jobColumns, ",")
	parts := make([]string, 0, len(cols)-1)
	for i, c := range cols[1:] {
		parts = append(parts, fmt.Sprintf("%s = ?%d", strings.TrimSpace(c), i+2))
	}
	return strings.Join(parts, ", ")
}

// jobArgs fills args (numJobColumns long) with r's column values. The
// script is left out of the spec and named by its hash; sh notes the
// scripts the batch must store.
func jobArgs(r *store.JobRecord, args []any, sh *scriptHasher) error {
	sp := r.Spec
	hash := sh.hash(sp.Script)
	sp.Script = ""
	spec, err := json.Marshal(&sp)
	if err != nil {
		return fmt.Errorf("job %d: encode spec: %w", r.ID, err)
	}
	req, err := json.Marshal(&r.Req)
	if err != nil {
		return fmt.Errorf("job %d: encode request: %w", r.ID, err)
	}
	allocs, err := json.Marshal(r.Allocs)
	if err != nil {
		return fmt.Errorf("job %d: encode allocations: %w", r.ID, err)
	}
	active := 0
	if !r.State.Final() {
		active = 1
	}
	copy(args, []any{
		int64(r.ID), int64(r.ArrayJobID), int64(r.ArrayTaskID), r.Name, r.User, r.Project, r.Partition, r.QOS,
		string(r.State), active, r.Reason, r.SubmitS, r.EligibleS, r.StartS, r.EndS, int64(r.ExitCode), r.Signal, int64(r.Restarts),
		r.GPUSeconds, r.EnergyJ, r.EnergyMeasured, r.IdemKey, string(spec), string(req), string(allocs), hash,
	})
	return nil
}

// scriptHasher names a batch's scripts by their SHA-256 and gathers the
// ones to store, each once. An array's tasks share one string, so a
// script is hashed once per batch however many tasks carry it.
type scriptHasher struct {
	known   map[scriptRef]string
	noted   map[string]bool
	pending []scriptRow
}

// scriptRef identifies a string by its bytes' address and length: strings
// are immutable, so equal refs mean equal text (unequal refs may still
// hold equal text; those are hashed, and stored once all the same).
type scriptRef struct {
	p *byte
	n int
}

type scriptRow struct{ hash, body string }

// hash returns the script's hash ("" for no script), noting it to store
// the first time the batch sees it.
func (h *scriptHasher) hash(script string) string {
	if script == "" {
		return ""
	}
	ref := scriptRef{unsafe.StringData(script), len(script)}
	if v, ok := h.known[ref]; ok {
		return v
	}
	// The hash only reads the bytes: no need to copy up to 4 MiB.
	sum := sha256.Sum256(unsafe.Slice(unsafe.StringData(script), len(script)))
	v := hex.EncodeToString(sum[:])
	if h.known == nil {
		h.known, h.noted = map[scriptRef]string{}, map[string]bool{}
	}
	h.known[ref] = v
	if !h.noted[v] {
		h.noted[v] = true
		h.pending = append(h.pending, scriptRow{v, script})
	}
	return v
}

// jobCol is a column of jobColumns, the part of a record that holds it
// (0 for the columns every query reads) and where a jobScan puts it.
type jobCol struct {
	name string
	part store.Parts
	dest func(js *jobScan) any
}

// jobCols are the columns in jobColumns' order. A query reads only those
// its Skip leaves in: SQLite's cost per row grows with the columns it
// hands out, and so does database/sql's.
var jobCols = []jobCol{
	{"id", 0, func(js *jobScan) any { return &js.id }},
	{"array_job_id", 0, func(js *jobScan) any { return &js.arrayID }},
	{"array_task_id", 0, func(js *jobScan) any { return &js.r.ArrayTaskID }},
	{"name", store.SkipName, func(js *jobScan) any { return &js.r.Name }},
	{"user_name", store.SkipUser, func(js *jobScan) any { return &js.r.User }},
	{"project", store.SkipProject, func(js *jobScan) any { return &js.r.Project }},
	{"partition_name", store.SkipPartition, func(js *jobScan) any { return &js.r.Partition }},
	{"qos", store.SkipQOS, func(js *jobScan) any { return &js.r.QOS }},
	{"state", 0, func(js *jobScan) any { return &js.state }},
	{"reason", store.SkipReason, func(js *jobScan) any { return &js.r.Reason }},
	{"submit_s", 0, func(js *jobScan) any { return &js.r.SubmitS }},
	{"eligible_s", store.SkipEligible, func(js *jobScan) any { return &js.r.EligibleS }},
	{"start_s", store.SkipStart, func(js *jobScan) any { return &js.r.StartS }},
	{"end_s", 0, func(js *jobScan) any { return &js.r.EndS }},
	{"exit_code", store.SkipExit, func(js *jobScan) any { return &js.r.ExitCode }},
	{"signal", store.SkipExit, func(js *jobScan) any { return &js.r.Signal }},
	{"restarts", store.SkipRestarts, func(js *jobScan) any { return &js.r.Restarts }},
	{"gpu_seconds", store.SkipUsage, func(js *jobScan) any { return &js.r.GPUSeconds }},
	{"energy_j", store.SkipUsage, func(js *jobScan) any { return &js.r.EnergyJ }},
	{"energy_measured", store.SkipUsage, func(js *jobScan) any { return &js.r.EnergyMeasured }},
	{"idem_key", store.SkipIdemKey, func(js *jobScan) any { return &js.r.IdemKey }},
	{"spec", store.SkipSpec, func(js *jobScan) any { return &js.spec }},
	{"req", store.SkipRequest, func(js *jobScan) any { return &js.req }},
	{"allocs", store.SkipAllocs, func(js *jobScan) any { return &js.allocs }},
	{"script_hash", store.SkipSpec, func(js *jobScan) any { return &js.scriptHash }},
}

// jobScan reads rows of the columns a Skip leaves in into one record,
// which each row overwrites.
type jobScan struct {
	skip              store.Parts
	cols              string // the SELECT list
	dest              []any
	r                 store.JobRecord
	id, arrayID       int64
	state             string
	spec, req, allocs []byte
	scriptHash        string
}

func newJobScan(skip store.Parts) *jobScan {
	js := &jobScan{skip: skip}
	var names []string
	for _, c := range jobCols {
		if c.part == 0 || skip&c.part == 0 {
			names = append(names, c.name)
			js.dest = append(js.dest, c.dest(js))
		}
	}
	js.cols = strings.Join(names, ", ")
	return js
}

// scan reads one row into js.r, leaving the skipped parts zero, and the
// row's script hash into js.scriptHash ("" where the spec holds the
// script or the spec is skipped).
func (js *jobScan) scan(sc interface{ Scan(...any) error }) error {
	js.r = store.JobRecord{}
	js.scriptHash = ""
	if err := sc.Scan(js.dest...); err != nil {
		return err
	}
	r := &js.r
	r.ID, r.ArrayJobID, r.State = job.ID(js.id), job.ID(js.arrayID), job.State(js.state)
	if js.skip&store.SkipSpec == 0 {
		if err := json.Unmarshal(js.spec, &r.Spec); err != nil {
			return fmt.Errorf("job %d: decode spec: %w", js.id, err)
		}
	}
	if js.skip&store.SkipRequest == 0 {
		if err := json.Unmarshal(js.req, &r.Req); err != nil {
			return fmt.Errorf("job %d: decode request: %w", js.id, err)
		}
	}
	if js.skip&store.SkipAllocs == 0 {
		if err := json.Unmarshal(js.allocs, &r.Allocs); err != nil {
			return fmt.Errorf("job %d: decode allocations: %w", js.id, err)
		}
	}
	return nil
}
