package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/gefion-hpc/gefion/internal/cluster"
	"github.com/gefion-hpc/gefion/internal/controller"
	"github.com/gefion-hpc/gefion/internal/store/postgres"
	"github.com/gefion-hpc/gefion/internal/store/sqlite"
)

func init() {
	register(&command{path: "server", summary: "run the controller (production: one per cluster)", run: runServer})
}

// serverConfig is the controller's configuration file. Zero values are
// valid defaults; see the field comments.
type serverConfig struct {
	// Listen is the API address (default 127.0.0.1:8420).
	Listen string `toml:"listen"`
	// DataDir holds the SQLite database (default /var/lib/gefion).
	DataDir string `toml:"data_dir"`
	// Store is where the state lives: empty for SQLite in DataDir, or a
	// PostgreSQL URL (postgres://USER@HOST:PORT/DB), which several
	// controllers may share, one leading at a time.
	Store string `toml:"store"`
	// Name names this controller in the leader lease (default: host name
	// and listen port); Advertise is the URL clients reach it at (default
	// http://LISTEN). LeaseTTL is the lease's length (default 3s): a
	// standby takes over this long after the leader stops renewing it.
	Name      string `toml:"name"`
	Advertise string `toml:"advertise"`
	LeaseTTL  string `toml:"lease_ttl"`
	// Cluster is a cluster description file; Preset a built-in machine.
	// Neither: nodes join as agents register.
	Cluster string `toml:"cluster"`
	Preset  string `toml:"preset"`
	Policy  string `toml:"policy"`
	// JoinTokenFile holds the agents' join token. Unset: the token in
	// DataDir/join-token, drawn on first start.
	JoinTokenFile string   `toml:"join_token_file"`
	Operators     []string `toml:"operators"`
	// DefaultProject takes jobs of users in no project; empty refuses them.
	DefaultProject string `toml:"default_project"`
	// OverGrantQOS runs projects past their grant in this QOS.
	OverGrantQOS string `toml:"over_grant_qos"`
	// CancelIdleGPUJobs cancels jobs whose GPUs the agent reports idle.
	CancelIdleGPUJobs bool    `toml:"cancel_idle_gpu_jobs"`
	CarbonGPerKWh     float64 `toml:"carbon_g_per_kwh"`
	MarketGPerKWh     float64 `toml:"market_g_per_kwh"`
	// MpiDefault is the MPI wire-up of steps whose srun names none:
	// "none" (the default) or "pmi2" (Slurm's MpiDefault).
	MpiDefault string `toml:"mpi_default"`
	// UsageHalfLife and LostAfter are Go durations ("168h", "30s").
	UsageHalfLife string `toml:"usage_half_life"`
	LostAfter     string `toml:"lost_after"`
}

func loadServerConfig(path string) (*serverConfig, error) {
	var sc serverConfig
	md, err := toml.DecodeFile(path, &sc)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if un := md.Undecoded(); len(un) > 0 {
		return nil, fmt.Errorf("%s: unknown key %q", path, un[0].String())
	}
	if sc.Listen == "" {
		sc.Listen = "127.0.0.1:8420"
	}
	if sc.DataDir == "" {
		sc.DataDir = "/var/lib/gefion"
	}
	return &sc, nil
}

func (sc *serverConfig) controllerConfig(path string) (controller.Config, error) {
	cfg := controller.Config{
		Policy: sc.Policy, Operators: sc.Operators, DefaultProject: sc.DefaultProject,
		OverGrantQOS: sc.OverGrantQOS, CarbonGPerKWh: sc.CarbonGPerKWh, MarketGPerKWh: sc.MarketGPerKWh,
		CancelIdleGPUJobs: sc.CancelIdleGPUJobs, MpiDefault: sc.MpiDefault,
	}
	var err error
	switch {
	case sc.Cluster != "" && sc.Preset != "":
		return cfg, fmt.Errorf("%s: give cluster or preset, not both", path)
	case sc.Cluster != "":
		f := sc.Cluster
		if !filepath.IsAbs(f) {
			f = filepath.Join(filepath.Dir(path), f)
		}
		cfg.Cluster, err = cluster.Load(f)
	case sc.Preset != "":
		cfg.Cluster, err = cluster.Preset(sc.Preset)
	}
	if err != nil {
		return cfg, err
	}
	if sc.JoinTokenFile != "" {
		tok, err := os.ReadFile(sc.JoinTokenFile)
		if err != nil {
			return cfg, fmt.Errorf("join token: %w", err)
		}
		cfg.JoinToken = strings.TrimSpace(string(tok))
	}
	for _, d := range []struct {
		s   string
		dst *time.Duration
		key string
	}{{sc.UsageHalfLife, &cfg.UsageHalfLife, "usage_half_life"}, {sc.LostAfter, &cfg.LostAfter, "lost_after"}} {
		if d.s == "" {
			continue
		}
		if *d.dst, err = time.ParseDuration(d.s); err != nil {
			return cfg, fmt.Errorf("%s: %s: %w", path, d.key, err)
		}
	}
	if _, _, err := net.SplitHostPort(sc.Listen); err != nil {
		return cfg, fmt.Errorf("%s: listen=%q: give host:port", path, sc.Listen)
	}
	return cfg, nil
}

func runServer(e *Env, args []string) error {
	fs := newFlags(e, "server")
	config := fs.String("config", "", "controller configuration file (TOML)")
	storeURL := fs.String("store", "", "the store: a PostgreSQL URL (postgres://USER@HOST:PORT/DB), overriding the configuration's store; default SQLite in data_dir")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if *config == "" {
		return usagef("give --config FILE (see deploy/ for an example)")
	}
	sc, err := loadServerConfig(*config)
	if err != nil {
		return err
	}
	cfg, err := sc.controllerConfig(*config)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(sc.DataDir, 0o700); err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(e.Stderr, nil))
	if cfg.JoinToken == "" {
		tokenFile := filepath.Join(sc.DataDir, "join-token")
		if cfg.JoinToken, err = loadOrCreateToken(tokenFile); err != nil {
			return err
		}
		log.Info("agents join with the token in "+tokenFile+" (set join_token_file to choose another)", "file", tokenFile)
	}
	if *storeURL != "" {
		sc.Store = *storeURL
	}
	if sc.Store != "" {
		return runServerPostgres(sc, cfg, log)
	}
	st, err := sqlite.Open(filepath.Join(sc.DataDir, "gefion.db"))
	if err != nil {
		return err
	}
	defer st.Close()
	ctl, err := controller.New(cfg, st, nil, log)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", sc.Listen)
	if err != nil {
		return fmt.Errorf("cannot listen on %s: %w", sc.Listen, err)
	}
	return serveController(ctl, ln, nil, func(context.Context, chan<- error) error {
		log.Info("controller serving", "listen", ln.Addr().String())
		return nil
	})
}

// runServerPostgres runs a controller on a PostgreSQL store, as the leader
// or a standby (see serveLeader).
func runServerPostgres(sc *serverConfig, cfg controller.Config, log *slog.Logger) error {
	if !isPostgresURL(sc.Store) {
		return fmt.Errorf("store=%q: give a PostgreSQL URL (postgres://USER@HOST:PORT/DB), or leave it out for SQLite in data_dir", postgres.Describe(sc.Store))
	}
	lc := leaseConfig{name: sc.Name, addr: sc.Advertise, ttl: 3 * time.Second}
	if sc.LeaseTTL != "" {
		d, err := time.ParseDuration(sc.LeaseTTL)
		if err != nil || d < 300*time.Millisecond {
			return fmt.Errorf("lease_ttl=%q: give a duration of at least 300ms, such as \"3s\"", sc.LeaseTTL)
		}
		lc.ttl = d
	}
	if lc.addr == "" {
		lc.addr = "http://" + sc.Listen
	}
	if lc.name == "" {
		host, _ := os.Hostname()
		_, port, _ := net.SplitHostPort(sc.Listen)
		lc.name = host + ":" + port
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	st, err := openPostgres(ctx, sc.Store, log)
	stop()
	if err != nil {
		return err
	}
	defer st.Close()
	ln, err := net.Listen("tcp", sc.Listen)
	if err != nil {
		return fmt.Errorf("cannot listen on %s: %w", sc.Listen, err)
	}
	return serveLeader(st, lc, cfg, ln, log)
}

// serveController runs the controller's loop and its API on ln until
// SIGINT or SIGTERM, or until the loop, the server or something started
// by started (which may send its own failures on errc) fails. connContext,
// when set, annotates each connection (gefion dev records the peer's uid).
func serveController(ctl *controller.Controller, ln net.Listener, connContext func(context.Context, net.Conn) context.Context, started func(ctx context.Context, errc chan<- error) error) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// Slow or numerous connections from one client must not starve the
	// others: timeouts free a trickling client's connection, and each
	// address may hold only so many at once.
	srv := controller.NewHTTPServer(ctl.Handler(), controller.HTTPConfig{})
	srv.ConnContext = connContext
	ln = controller.LimitListener(ln, controller.DefaultMaxConnsPerIP)
	errc := make(chan error, 4)
	go func() { errc <- ctl.Run(ctx) }()
	go func() {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			errc <- err
		}
	}()
	var failed error
	if err := started(ctx, errc); err != nil {
		failed = err
	} else {
		select {
		case <-ctx.Done():
		case err := <-errc:
			if err != nil && ctx.Err() == nil {
				failed = err
			}
		}
	}
	shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(shut)
	return failed
}

// loadOrCreateToken reads the join token in file, or draws one and writes it
// there, readable by its owner only, so that agents can be given it and a
// restarted controller keeps it.
func loadOrCreateToken(file string) (string, error) {
	if b, err := os.ReadFile(file); err == nil {
		if tok := strings.TrimSpace(string(b)); tok != "" {
			return tok, nil
		}
		return "", fmt.Errorf("join token file %s is empty: delete it to have a new token drawn", file)
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("join token: %w", err)
	}
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("drawing a join token: %w", err)
	}
	tok := hex.EncodeToString(b[:])
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("writing the join token: %w", err)
	}
	if _, err := f.WriteString(tok + "\n"); err != nil {
		f.Close()
		return "", fmt.Errorf("writing the join token: %w", err)
	}
	return tok, f.Close()
}
