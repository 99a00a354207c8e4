//go:build !client

package cli

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/controller"
	"github.com/gefion-hpc/gefion/internal/store/postgres"
	"github.com/gefion-hpc/gefion/internal/web"
)

// HeaderLeader carries the leader's address on a standby's answers.
const HeaderLeader = "X-Gefion-Leader"

// isPostgresURL reports whether a store setting names PostgreSQL.
func isPostgresURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// openPostgres opens the store, retrying with backoff (1 s doubling to
// 30 s) while PostgreSQL is unreachable, so that a controller started
// before its database waits for it instead of failing in a loop. Any
// other error (a refusal, a newer schema) ends it at once.
func openPostgres(ctx context.Context, url string, log *slog.Logger) (*postgres.Store, error) {
	wait := time.Second
	for {
		st, err := postgres.OpenStandby(ctx, url)
		if err == nil {
			return st, nil
		}
		if !errors.Is(err, postgres.ErrUnreachable) || ctx.Err() != nil {
			return nil, err
		}
		log.Warn("PostgreSQL is unreachable; retrying", "store", postgres.Describe(url), "in", wait.String(), "err", err.Error())
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("gave up waiting for PostgreSQL at %s: %w", postgres.Describe(url), ctx.Err())
		case <-time.After(wait):
		}
		wait = min(2*wait, 30*time.Second)
	}
}

// leaseConfig is how a controller on PostgreSQL leads: its name, the
// address it is reached at and the lease's length.
type leaseConfig struct {
	name, addr string
	ttl        time.Duration
	// webHosts are the names the web view answers to (serverConfig.webHosts).
	webHosts []string
}

// serveLeader runs a controller on a shared PostgreSQL store: it answers
// as a standby (503, with the leader's address) until it takes the leader
// lease, then loads the state, serves as the controller and renews the
// lease every third of its length. It returns when the lease is lost (a
// renewal refused, or none succeeded for a whole lease): the process then
// exits and its supervisor starts it again, as a standby.
func serveLeader(st *postgres.Store, lc leaseConfig, cfg controller.Config, ln net.Listener, tlsCfg *tls.Config, log *slog.Logger) error {
	sig, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithCancel(sig)
	defer cancel()
	var leader atomic.Pointer[postgres.Leader]
	// One server for both roles: its handler switches from the standby's
	// to the controller's at takeover.
	var h atomic.Pointer[http.Handler]
	sb := standbyHandler(lc, &leader)
	h.Store(&sb)
	srv := controller.NewHTTPServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		(*h.Load()).ServeHTTP(w, r)
	}), controller.HTTPConfig{})
	ln = controller.LimitListener(ln, controller.DefaultMaxConnsPerIP)
	if tlsCfg != nil {
		ln = tls.NewListener(ln, tlsCfg)
	}
	errc := make(chan error, 4)
	go func() {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			errc <- err
		}
	}()
	graceful := true
	defer func() {
		if !graceful {
			// A controller that lost the lease holds stale state: it
			// drops its connections rather than finish answering them.
			srv.Close()
			return
		}
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shut)
	}()
	log.Info("standing by for the leader lease", "name", lc.name, "listen", ln.Addr().String())
	poll := time.NewTicker(max(lc.ttl/8, 50*time.Millisecond))
	defer poll.Stop()
	var warned time.Time
	for {
		actx, acancel := context.WithTimeout(ctx, lc.ttl)
		l, ok, err := st.Acquire(actx, lc.name, lc.addr, lc.ttl)
		acancel()
		if err != nil && ctx.Err() == nil && time.Since(warned) > 30*time.Second {
			// Polled several times a second: say it twice a minute.
			log.Warn("could not read the leader lease; still trying", "err", err.Error())
			warned = time.Now()
		}
		if ok {
			break
		}
		if err == nil {
			leader.Store(&l)
		}
		select {
		case <-ctx.Done():
			return nil
		case err := <-errc:
			return err
		case <-poll.C:
		}
	}
	acquired := time.Now()
	// Renew from now on: migrating and loading a large state may take
	// longer than the lease.
	go func() { errc <- renewLease(ctx, st, lc, log) }()
	// Upgrades run here, by the leader, once: a standby never changes the
	// schema under a leader of another version.
	if err := st.Migrate(ctx); err != nil {
		st.Release(context.Background())
		return err
	}
	log.Info("took the leader lease; loading the state", "name", lc.name, "epoch", st.Epoch())
	ctl, err := controller.New(cfg, st, nil, log)
	if err != nil {
		st.Release(context.Background())
		return err
	}
	leader.Store(&postgres.Leader{Epoch: st.Epoch(), Holder: lc.name, Addr: lc.addr, Live: true})
	lh := leaderHandler(web.Handler(ctl, web.Options{Done: ctx.Done(), Hosts: lc.webHosts}), lc, &leader, true)
	h.Store(&lh)
	runDone := make(chan error, 1)
	go func() { runDone <- ctl.Run(ctx) }()
	log.Info("leading", "name", lc.name, "epoch", st.Epoch(), "listen", ln.Addr().String(), "took", time.Since(acquired).String())
	var failed error
	select {
	case <-ctx.Done():
	case failed = <-runDone:
		runDone <- failed
	case failed = <-errc:
	}
	// Stop answering before anything else: a deposed leader's memory is
	// stale. Then let the loop finish its commit in flight (the fence
	// refuses it if the lease is gone).
	sb = standbyHandler(lc, &leader)
	h.Store(&sb)
	cancel()
	if err := <-runDone; failed == nil && err != nil && sig.Err() == nil {
		failed = err
	}
	if failed != nil {
		graceful = false
		// Say so when the failure is a takeover: the new leader ended
		// this one's connection, or its fence refused a commit.
		lctx, lcancel := context.WithTimeout(context.Background(), lc.ttl)
		if l, err := st.Leader(lctx); err == nil && l.Epoch != st.Epoch() {
			failed = fmt.Errorf("lost the leader lease to %s (epoch %d); stepping down: %w", l.Holder, l.Epoch, failed)
		} else if errors.Is(failed, postgres.ErrFenced) {
			failed = fmt.Errorf("lost the leader lease; stepping down: %w", failed)
		}
		lcancel()
	}
	if failed == nil {
		// A clean stop hands the lease over at once.
		st.Release(context.Background())
	}
	return failed
}

// renewLease renews the lease until ctx ends; it returns an error once the
// lease is lost or could not be renewed for a whole lease.
func renewLease(ctx context.Context, st *postgres.Store, lc leaseConfig, log *slog.Logger) error {
	t := time.NewTicker(lc.ttl / 3)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		start := time.Now()
		rctx, cancel := context.WithTimeout(ctx, lc.ttl/3)
		err := st.Renew(rctx, lc.ttl)
		cancel()
		switch {
		case err == nil:
			last = start
		case errors.Is(err, postgres.ErrFenced):
			return fmt.Errorf("lost the leader lease to another controller; stepping down: %w", err)
		case time.Since(last) >= lc.ttl:
			return fmt.Errorf("could not renew the leader lease for %s; stepping down: %w", lc.ttl, err)
		default:
			log.Warn("could not renew the leader lease; retrying", "err", err.Error())
		}
	}
}

// standbyHandler answers every request of a standby: 503 with where the
// leader is, and the lease on /metrics. It never answers with state of its
// own, which could be stale.
func standbyHandler(lc leaseConfig, leader *atomic.Pointer[postgres.Leader]) http.Handler {
	return leaderHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l := leader.Load()
		e := api.Error{Code: api.CodeUnavailable, Message: "this controller (" + lc.name + ") is a standby and no controller leads yet; retry shortly"}
		if l != nil && l.Addr != "" && l.Live {
			e.Message = "this controller (" + lc.name + ") is a standby; the leader is " + l.Holder + " at " + l.Addr
			e.Leader = l.Addr
			w.Header().Set(HeaderLeader, l.Addr)
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusServiceUnavailable)
		_ = json.NewEncoder(w).Encode(api.ErrorBody{Error: e})
	}), lc, leader, false)
}

// leaderHandler adds the lease to h's /metrics (gefion_leader: 1 on the
// leader, 0 on a standby, labelled with the leader's name, address and
// epoch) and serves GET /v1/leader.
func leaderHandler(h http.Handler, lc leaseConfig, leader *atomic.Pointer[postgres.Leader], leading bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l := leader.Load()
		if l == nil {
			l = &postgres.Leader{}
		}
		if r.Method == http.MethodGet && r.URL.Path == "/v1/leader" {
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(api.Leader{Self: lc.name, Leading: leading, Leader: l.Holder, LeaderAddr: l.Addr, Epoch: l.Epoch})
			return
		}
		if r.Method == http.MethodGet && r.URL.Path == "/metrics" {
			if leading {
				h.ServeHTTP(w, r)
			} else {
				w.Header().Set("Content-Type", "text/plain; version=0.0.4")
			}
			v := "0"
			if leading {
				v = "1"
			}
			fmt.Fprintf(w, "# HELP gefion_leader 1 if this controller leads, 0 if it stands by; labels name the leader.\n# TYPE gefion_leader gauge\n")
			fmt.Fprintf(w, "gefion_leader{self=%s,leader=%s,leader_addr=%s,epoch=\"%d\"} %s\n",
				strconv.Quote(lc.name), strconv.Quote(l.Holder), strconv.Quote(l.Addr), l.Epoch, v)
			return
		}
		h.ServeHTTP(w, r)
	})
}
