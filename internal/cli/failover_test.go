package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/client"
	"github.com/gefion-hpc/gefion/internal/ident"
	"github.com/gefion-hpc/gefion/internal/job"
	"github.com/gefion-hpc/gefion/internal/store"
	"github.com/gefion-hpc/gefion/internal/store/postgres"
	"github.com/gefion-hpc/gefion/internal/store/postgres/pgtest"
)

// failoverRoundsEnv sets how many times TestFailover/KillLeader kills the
// leader (default 3, to keep CI short; the issue's figure is 20).
const failoverRoundsEnv = "GEFION_FAILOVER_ROUNDS"

// failoverLeaseEnv sets the controllers' lease in TestFailover/KillLeader
// (default 1s, to keep CI short; the server's default is 3s).
const failoverLeaseEnv = "GEFION_FAILOVER_LEASE"

// haCluster is two or more gefion server processes sharing one
// PostgreSQL schema.
type haCluster struct {
	t     *testing.T
	bin   string
	dir   string
	url   string
	addrs []string
	procs []*exec.Cmd
	exits []chan error
	// token is alice's bearer token, good on every controller: they
	// share the token key and the store that lists tokens.
	token string
}

// client is a client of every controller, as alice.
func (h *haCluster) client(addrs ...string) *client.Client {
	if len(addrs) == 0 {
		addrs = h.addrs
	}
	c := client.NewPooled(strings.Join(addrs, ","), "alice")
	c.Bearer = h.token
	return c
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// buildGefion builds the gefion binary for the fail-over tests.
func buildGefion(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds gefion and runs controllers against PostgreSQL; skipped in -short")
	}
	pgtest.ServerURL(t)
	bin := filepath.Join(t.TempDir(), "gefion")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/gefion").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestFailover runs the fail-over tests on one build of gefion.
func TestFailover(t *testing.T) {
	bin := buildGefion(t)
	t.Run("KillLeader", func(t *testing.T) { testFailoverKillLeader(t, bin) })
	t.Run("PausedLeader", func(t *testing.T) { testFailoverPausedLeader(t, bin) })
	t.Run("AgentsFollow", func(t *testing.T) { testFailoverAgents(t, bin) })
}

func newHACluster(t *testing.T, bin string, n int, ttl string) *haCluster {
	t.Helper()
	url := pgtest.Schema(t)
	dir := t.TempDir()
	h := &haCluster{t: t, bin: bin, dir: dir, url: url}
	for i := range n {
		listen := freePort(t)
		h.addrs = append(h.addrs, "http://"+listen)
		// Plain HTTP on loopback, and users proven by a bearer token
		// (gefion server always authenticates).
		cfg := fmt.Sprintf("listen = %q\ndata_dir = %q\nstore = %q\npreset = \"gefion:4\"\ndefault_project = \"p\"\nname = \"c%d\"\nlease_ttl = %q\njoin_token_file = %q\nplaintext = true\ntoken_key_file = %q\n",
			listen, filepath.Join(dir, fmt.Sprintf("data%d", i)), url, i, ttl, filepath.Join(dir, "token"), filepath.Join(dir, "token.key"))
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("c%d.toml", i)), []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "token"), []byte("test-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h.token = issueTestToken(t, url, filepath.Join(dir, "token.key"), "alice")
	h.procs = make([]*exec.Cmd, n)
	h.exits = make([]chan error, n)
	for i := range n {
		h.start(i)
	}
	t.Cleanup(func() {
		for i, p := range h.procs {
			if p != nil {
				p.Process.Kill()
				<-h.exits[i]
			}
		}
	})
	return h
}

// issueTestToken makes the controllers' token key and a bearer token of
// user's, recorded in the store as gefion token would record it.
func issueTestToken(t *testing.T, url, keyFile, user string) string {
	t.Helper()
	key, err := ident.LoadOrCreateKey(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().Unix()
	tok := &ident.Token{ID: "failover-" + user, User: user, IssuedS: now, ExpiresS: now + 3600}
	text, err := ident.SignToken(key, tok)
	if err != nil {
		t.Fatal(err)
	}
	st, err := postgres.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.PutToken(context.Background(), &store.TokenRecord{ID: tok.ID, User: user, Hash: ident.HashToken(text), CreatedS: now, ExpiresS: tok.ExpiresS}); err != nil {
		t.Fatal(err)
	}
	return text
}

// start starts controller i.
func (h *haCluster) start(i int) {
	h.t.Helper()
	cmd := exec.Command(h.bin, "server", "--config", filepath.Join(h.dir, fmt.Sprintf("c%d.toml", i)))
	logf, err := os.OpenFile(filepath.Join(h.dir, fmt.Sprintf("c%d.log", i)), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		h.t.Fatal(err)
	}
	cmd.Stderr, cmd.Stdout = logf, logf
	if err := cmd.Start(); err != nil {
		h.t.Fatal(err)
	}
	logf.Close()
	exit := make(chan error, 1)
	go func() { exit <- cmd.Wait() }()
	h.procs[i], h.exits[i] = cmd, exit
}

// leader asks each controller who leads and returns the index of the one
// that answers that it does.
func (h *haCluster) leader(wait time.Duration) int {
	h.t.Helper()
	for deadline := time.Now().Add(wait); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		for i, a := range h.addrs {
			resp, err := http.Get(a + "/v1/leader")
			if err != nil {
				continue
			}
			var l struct{ Leading bool }
			err = json.NewDecoder(resp.Body).Decode(&l)
			resp.Body.Close()
			if err == nil && l.Leading {
				return i
			}
		}
	}
	h.t.Fatalf("no controller leads after %s; logs in %s", wait, h.dir)
	return -1
}

func (h *haCluster) logs() string {
	var b strings.Builder
	for i := range h.procs {
		data, _ := os.ReadFile(filepath.Join(h.dir, fmt.Sprintf("c%d.log", i)))
		fmt.Fprintf(&b, "--- c%d:\n%s", i, data)
	}
	return b.String()
}

// submitter submits held jobs with distinct idempotency keys through a
// client that knows every controller, and records what was acknowledged.
type submitter struct {
	mu     sync.Mutex
	acked  map[string]job.ID // key -> ID
	acks   []ack
	errors []error
}

func (s *submitter) run(ctx context.Context, c *client.Client, prefix string, workers int) {
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ctx.Err() == nil; n++ {
				key := fmt.Sprintf("%s-w%d-%d", prefix, w, n)
				spec := job.Spec{Name: key, NTasks: 1, TimeLimitS: 60, Hold: true, Script: "#!/bin/sh\ntrue\n"}
				sent := time.Now()
				resp, err := c.Submit(ctx, api.SubmitRequest{Spec: spec}, key)
				s.mu.Lock()
				if err == nil {
					s.acked[key] = resp.ID
					s.acks = append(s.acks, ack{sent, time.Now()})
				} else if ctx.Err() == nil {
					s.errors = append(s.errors, err)
				}
				s.mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

// ack is when an acknowledged submission was sent and answered.
type ack struct{ sent, at time.Time }

// firstAckAfter returns the first acknowledgement of a submission sent
// after t (one sent before may have been answered by the old leader).
func (s *submitter) firstAckAfter(t time.Time) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range s.acks {
		if a.sent.After(t) {
			return a.at, true
		}
	}
	return time.Time{}, false
}

// checkStore reads every job from the store and checks that each
// acknowledged submission is there exactly once, under the ID it was
// acknowledged with, and that no ID or key was given twice.
func checkStore(t *testing.T, url string, acked map[string]job.ID) {
	t.Helper()
	ctx := context.Background()
	st, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	all, err := st.Jobs(ctx, store.JobQuery{})
	if err != nil {
		t.Fatal(err)
	}
	byKey := map[string][]job.ID{}
	seen := map[job.ID]bool{}
	for _, r := range all {
		if seen[r.ID] {
			t.Errorf("job ID %d stored twice", r.ID)
		}
		seen[r.ID] = true
		byKey[r.IdemKey] = append(byKey[r.IdemKey], r.ID)
	}
	for key, id := range acked {
		got := byKey[key]
		if len(got) != 1 || got[0] != id {
			t.Errorf("submission %s acknowledged as job %d; the store holds %v under its key", key, id, got)
		}
	}
	for key, ids := range byKey {
		if len(ids) > 1 {
			t.Errorf("key %s stored as %d jobs %v", key, len(ids), ids)
		}
	}
	t.Logf("%d jobs stored, %d acknowledged", len(all), len(acked))
}

func percentile(d []time.Duration, p float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, int(p*float64(len(s))))]
}

// testFailoverKillLeader runs two controllers on one PostgreSQL, submits
// jobs through a client that knows both, and kills the leader with
// SIGKILL at a random moment of each burst, restarting it as a standby.
// Every acknowledged submission must be stored exactly once under the ID
// it was acknowledged with; the time from the kill to the next
// acknowledgement of a submission sent after it (the standby's takeover)
// is reported.
func testFailoverKillLeader(t *testing.T, bin string) {
	rounds := 3
	if v := os.Getenv(failoverRoundsEnv); v != "" {
		var err error
		if rounds, err = strconv.Atoi(v); err != nil || rounds < 1 {
			t.Fatalf("%s=%q: give a positive number", failoverRoundsEnv, v)
		}
	}
	ttl := time.Second
	if v := os.Getenv(failoverLeaseEnv); v != "" {
		var err error
		if ttl, err = time.ParseDuration(v); err != nil {
			t.Fatalf("%s=%q: %v", failoverLeaseEnv, v, err)
		}
	}
	h := newHACluster(t, bin, 2, ttl.String())
	h.leader(20 * time.Second)
	c := h.client()
	sub := &submitter{acked: map[string]job.ID{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		sub.run(ctx, c, "s", 8)
		close(done)
	}()
	var takeovers []time.Duration
	for round := range rounds {
		time.Sleep(time.Duration(100+rand.IntN(400)) * time.Millisecond)
		l := h.leader(10 * time.Second)
		killed := time.Now()
		h.procs[l].Process.Kill()
		<-h.exits[l]
		h.procs[l] = nil
		var took time.Duration
		for {
			if at, ok := sub.firstAckAfter(killed); ok {
				took = at.Sub(killed)
				break
			}
			if time.Since(killed) > 30*time.Second {
				cancel()
				t.Fatalf("round %d: no submission acknowledged for 30 s after the leader was killed\n%s", round, h.logs())
			}
			time.Sleep(5 * time.Millisecond)
		}
		takeovers = append(takeovers, took)
		h.start(l)
	}
	time.Sleep(200 * time.Millisecond)
	cancel()
	<-done
	sub.mu.Lock()
	defer sub.mu.Unlock()
	for _, err := range sub.errors {
		// A submission may fail only while no controller leads for longer
		// than the client waits; none should here.
		t.Errorf("submission failed: %v", err)
	}
	if len(sub.errors) > 0 {
		t.Logf("logs:\n%s", h.logs())
	}
	checkStore(t, h.url, sub.acked)
	t.Logf("%d kills, lease %s: takeover (kill to next acknowledged submission) p50 %s, p99 %s, max %s",
		rounds, ttl, percentile(takeovers, 0.5).Round(time.Millisecond), percentile(takeovers, 0.99).Round(time.Millisecond),
		slices.Max(takeovers).Round(time.Millisecond))
}

// testFailoverPausedLeader pauses the leader (SIGSTOP) past its lease, so
// that the standby takes over, then resumes it (SIGCONT) and at once sends
// it submissions directly. Its commits must be refused by the fence: what
// it acknowledges (nothing, if the fence works) must be in the store, no
// ID may be given twice, and it must step down and exit.
func testFailoverPausedLeader(t *testing.T, bin string) {
	const ttl = time.Second
	h := newHACluster(t, bin, 2, ttl.String())
	old := h.leader(20 * time.Second)
	// A request to the paused leader goes unanswered; the client moves on
	// after this long.
	saved := client.AttemptTimeout
	client.AttemptTimeout = 2 * time.Second
	t.Cleanup(func() { client.AttemptTimeout = saved })
	both := h.client()
	direct := h.client(h.addrs[old])
	ctx := context.Background()
	acked := map[string]job.ID{}
	submit := func(c *client.Client, key string) error {
		spec := job.Spec{Name: key, NTasks: 1, TimeLimitS: 60, Hold: true, Script: "#!/bin/sh\ntrue\n"}
		resp, err := c.Submit(ctx, api.SubmitRequest{Spec: spec}, key)
		if err == nil {
			acked[key] = resp.ID
		}
		return err
	}
	for i := range 5 {
		if err := submit(both, fmt.Sprintf("before-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.procs[old].Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	paused := time.Now()
	// The standby takes over once the lease lapses; it serves the state
	// the old leader committed.
	for i := range 5 {
		if err := submit(both, fmt.Sprintf("during-%d", i)); err != nil {
			h.procs[old].Process.Signal(syscall.SIGCONT)
			t.Fatalf("submission while the leader is paused: %v\n%s", err, h.logs())
		}
	}
	t.Logf("standby acknowledged a submission %s after the leader was paused", time.Since(paused).Round(time.Millisecond))
	if err := h.procs[old].Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	refused := 0
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := fmt.Sprintf("after-%d", i)
			spec := job.Spec{Name: key, NTasks: 1, TimeLimitS: 60, Hold: true, Script: "#!/bin/sh\ntrue\n"}
			resp, err := direct.Submit(ctx, api.SubmitRequest{Spec: spec}, key)
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				acked[key] = resp.ID
			} else {
				refused++
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-h.exits[old]:
		h.procs[old] = nil
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Errorf("the old leader exited with %v; want a failure status (it lost the lease)", err)
		}
	case <-time.After(5 * ttl):
		t.Errorf("the old leader still runs %s after it was resumed; want it to step down\n%s", 5*ttl, h.logs())
	}
	if !strings.Contains(h.logs(), "stepping down") {
		t.Errorf("no controller logged that it stepped down:\n%s", h.logs())
	}
	// The new leader still serves, past every ID the old one handed out.
	for i := range 3 {
		if err := submit(both, fmt.Sprintf("end-%d", i)); err != nil {
			t.Fatalf("submission to the new leader: %v\n%s", err, h.logs())
		}
	}
	checkStore(t, h.url, acked)
	t.Logf("the resumed leader refused %d of 10 direct submissions", refused)
}

// testFailoverAgents runs jobs on virtual nodes whose agent knows both
// controllers, and kills the leader while they run. The agent must
// follow the new leader, which reconciles the running jobs from it: every
// job ends completed, once, never started a second time (Restarts 0).
func testFailoverAgents(t *testing.T, bin string) {
	const ttl = time.Second
	h := newHACluster(t, bin, 2, ttl.String())
	l := h.leader(20 * time.Second)
	agent := exec.Command(bin, "agent", "--controller", strings.Join(h.addrs, ","), "--token-file", filepath.Join(h.dir, "token"), "--virtual", "4",
		"--socket", filepath.Join(h.dir, "agent", "agent.sock"), "--key-file", filepath.Join(h.dir, "agent.key"))
	logf, err := os.Create(filepath.Join(h.dir, "agent.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	agent.Stdout, agent.Stderr = logf, logf
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		agent.Process.Kill()
		agent.Wait()
	})
	c := h.client()
	ctx := context.Background()
	const jobs = 12
	var ids []job.ID
	for i := range jobs {
		key := fmt.Sprintf("run-%d", i)
		// Each job takes one GPU for 2 s: 32 GPUs run them all at once.
		spec := job.Spec{Name: key, NTasks: 1, GPUsPerNode: 1, TimeLimitS: 60, Comment: "duration=2", Script: "#!/bin/sh\ntrue\n"}
		resp, err := c.Submit(ctx, api.SubmitRequest{Spec: spec}, key)
		if err != nil {
			t.Fatalf("submit: %v\n%s", err, h.logs())
		}
		ids = append(ids, resp.ID)
	}
	// Kill the leader once the jobs run.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		all, err := c.Jobs(ctx, true)
		running := 0
		for _, j := range all {
			if j.State == job.Running {
				running++
			}
		}
		if err == nil && running == jobs {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d jobs running after 20 s (%v)\n%s", running, jobs, err, h.logs())
		}
	}
	h.procs[l].Process.Kill()
	<-h.exits[l]
	h.procs[l] = nil
	// The new leader sees every job end, once.
	var last []api.Job
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		all, err := c.Jobs(ctx, true)
		done := 0
		for _, j := range all {
			if j.State.Final() {
				done++
			}
		}
		last = all
		if err == nil && done == jobs {
			break
		}
		if time.Now().After(deadline) {
			agentLog, _ := os.ReadFile(filepath.Join(h.dir, "agent.log"))
			t.Fatalf("%d of %d jobs ended 30 s after the leader was killed (%v)\n%s--- agent:\n%s", done, jobs, err, h.logs(), agentLog)
		}
	}
	for _, j := range last {
		if j.State != job.Completed {
			t.Errorf("job %d ended %s; want COMPLETED", j.ID, j.State)
		}
	}
	st, err := postgres.Open(ctx, h.url)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	recs, err := st.Jobs(ctx, store.JobQuery{IDs: ids})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if r.Restarts != 0 || r.State != job.Completed {
			t.Errorf("job %d: %s after %d restarts; want completed, never restarted", r.ID, r.State, r.Restarts)
		}
	}
	if len(recs) != jobs {
		t.Errorf("%d jobs stored; want %d", len(recs), jobs)
	}
}
