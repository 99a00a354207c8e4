package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/user"
	"runtime/pprof"
	"time"

	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/client"
	"github.com/gefion-hpc/gefion/internal/job"
)

// remote holds the flags every command that talks to a controller has.
type remote struct {
	addr   string
	asJSON bool
}

func (r *remote) register(fs *flag.FlagSet, json bool) {
	fs.StringVar(&r.addr, "addr", "", "controller URL (default $GEFION_ADDR or "+client.DefaultAddr+")")
	if json {
		fs.BoolVar(&r.asJSON, "json", false, "print one JSON document")
	}
}

// resolveAddr applies --addr, then GEFION_ADDR, then the default.
func resolveAddr(e *Env, flagAddr string) string {
	if flagAddr != "" {
		return flagAddr
	}
	if a := e.getenv("GEFION_ADDR"); a != "" {
		return a
	}
	if a := e.agentAddr(); a != "" {
		return a
	}
	return client.DefaultAddr
}

// currentUser is the Unix user the CLI acts as; a loopback controller trusts
// it (DESIGN: gefion dev trusts the local Unix user).
func currentUser(e *Env) string {
	if u := e.getenv("GEFION_USER"); u != "" {
		return u
	}
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	if u := e.getenv("USER"); u != "" {
		return u
	}
	return "unknown"
}

func (r *remote) client(e *Env) *client.Client {
	return newClient(e, resolveAddr(e, r.addr))
}

// explain turns client errors into messages that say what to do.
func explain(err error, addr string) error {
	if errors.Is(err, client.ErrUnreachable) {
		return fmt.Errorf("%w at %s (set with --addr or GEFION_ADDR): start one with 'gefion dev'", ErrNoController, addr)
	}
	var ae *api.Error
	if errors.As(err, &ae) {
		return errors.New(ae.Message)
	}
	return err
}

func ctxTimeout() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 60*time.Second)
}

// parseJobRefs reads jobs as Slurm's commands name them: 12 (a job, or
// every task of array 12), 12_3 (task 3 of array 12) or 12_[1,3,5-7];
// several may be given, or joined by commas.
func parseJobRefs(args []string) ([]job.Ref, error) {
	if len(args) == 0 {
		return nil, usagef("give at least one job ID")
	}
	var refs []job.Ref
	for _, a := range args {
		for _, f := range job.SplitRefs(a) {
			r, err := job.ParseRef(f)
			if err != nil {
				return nil, usagef("%v", err)
			}
			refs = append(refs, r)
		}
	}
	return refs, nil
}

// parseJobIDs reads plain job IDs (accounting lists jobs by ID; an
// array's tasks are listed under the array's ID).
func parseJobIDs(args []string) ([]job.ID, error) {
	refs, err := parseJobRefs(args)
	if err != nil {
		return nil, err
	}
	ids := make([]job.ID, len(refs))
	for i, r := range refs {
		if r.Tasks != nil {
			return nil, usagef("%s: give job IDs here; an array's tasks are listed under its ID (%d)", r, r.ID)
		}
		ids[i] = r.ID
	}
	return ids, nil
}

// newKey returns a fresh idempotency key.
func newKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// submitRemote submits with an idempotency key and retries while the
// controller is unreachable or restarting, so a submission is never lost
// and never doubled.
func submitRemote(e *Env, addr string, spec *job.Spec) (*api.SubmitResponse, error) {
	c := newClient(e, addr)
	key := newKey()
	var err error
	for attempt, wait := 0, 200*time.Millisecond; attempt < 6; attempt, wait = attempt+1, wait*2 {
		ctx, cancel := ctxTimeout()
		var resp *api.SubmitResponse
		resp, err = c.Submit(ctx, api.SubmitRequest{Spec: *spec}, key)
		cancel()
		if err == nil {
			return resp, nil
		}
		var ae *api.Error
		retry := errors.As(err, &ae) && ae.Code == api.CodeUnavailable
		if !retry && !(attempt > 0 && errors.Is(err, client.ErrUnreachable)) {
			break
		}
		time.Sleep(wait)
	}
	return nil, explain(err, addr)
}

// environ returns the process environment for --export.
func (e *Env) environ() []string {
	if e.Environ != nil {
		return e.Environ()
	}
	return os.Environ()
}

// startCPUProfile writes a CPU profile to path until the returned function
// is called; an empty path profiles nothing.
func startCPUProfile(path string) (func(), error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}
