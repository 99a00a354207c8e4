//go:build !client

package cli

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/gefion-hpc/gefion/internal/client"
	"github.com/gefion-hpc/gefion/internal/cluster"
	"github.com/gefion-hpc/gefion/internal/controller"
	"github.com/gefion-hpc/gefion/internal/ident"
	"github.com/gefion-hpc/gefion/internal/oidcauth"
	"github.com/gefion-hpc/gefion/internal/store/postgres"
	"github.com/gefion-hpc/gefion/internal/store/sqlite"
	"github.com/gefion-hpc/gefion/internal/web"
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
	// WebHosts are the host names the web view answers to besides
	// loopback and Advertise's (a name users type that maps to this host).
	WebHosts []string `toml:"web_hosts"`
	LeaseTTL string   `toml:"lease_ttl"`
	// Cluster is a cluster description file; Preset a built-in machine.
	// Neither: nodes join as agents register.
	Cluster string `toml:"cluster"`
	Preset  string `toml:"preset"`
	Policy  string `toml:"policy"`
	// JoinTokenFile holds the agents' join token. Unset: the token in
	// DataDir/join-token, drawn on first start.
	JoinTokenFile string `toml:"join_token_file"`
	// Operators and Admins (see controller.Config); without admins,
	// operators are admins.
	Operators []string `toml:"operators"`
	Admins    []string `toml:"admins"`
	// Per-user abuse limits (0: none): submissions a second and their
	// burst, jobs pending or running, jobs running.
	SubmitRate    float64 `toml:"submit_rate"`
	SubmitBurst   int     `toml:"submit_burst"`
	MaxSubmitJobs int     `toml:"max_submit_jobs"`
	MaxJobs       int     `toml:"max_jobs"`
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
	// Auth is how users are identified: "credentials" (the default, and
	// the only choice: node agents' credentials and bearer tokens).
	Auth string `toml:"auth"`
	// TLSCert and TLSKey are the API's certificate and key (PEM), TLSCA
	// the CA that signed it (agents pin it). Unset: the controller makes
	// a CA and a certificate in DataDir/tls on first start, for the
	// listen address, this host's name, loopback and TLSNames.
	TLSCert  string   `toml:"tls_cert"`
	TLSKey   string   `toml:"tls_key"`
	TLSCA    string   `toml:"tls_ca"`
	TLSNames []string `toml:"tls_names"`
	// Plaintext serves plain HTTP: on loopback only, unless the server
	// is started with --insecure-plaintext-i-know.
	Plaintext bool `toml:"plaintext"`
	// TokenKeyFile holds the key that signs bearer tokens (default
	// DataDir/token.key, drawn on first start).
	TokenKeyFile string `toml:"token_key_file"`
	// CredentialSkew is the clock difference tolerated between nodes and
	// controller (a Go duration, default "30s").
	CredentialSkew string `toml:"credential_skew"`
	// OIDCIssuer, OIDCClientID and OIDCUserClaim admit ID tokens of a
	// centre's single sign-on as bearer tokens: the issuer's URL, the
	// audience its tokens carry for Gefion, and the claim that names the
	// Unix user (default "preferred_username").
	OIDCIssuer    string `toml:"oidc_issuer"`
	OIDCClientID  string `toml:"oidc_client_id"`
	OIDCUserClaim string `toml:"oidc_user_claim"`
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
		Policy: sc.Policy, Operators: sc.Operators, Admins: sc.Admins, DefaultProject: sc.DefaultProject,
		SubmitRate: sc.SubmitRate, SubmitBurst: sc.SubmitBurst, MaxSubmitJobs: sc.MaxSubmitJobs, MaxJobs: sc.MaxJobs,
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
	switch sc.Auth {
	case "", "credentials":
	default:
		return cfg, fmt.Errorf("%s: auth=%q: gefion server identifies users by node credentials and tokens only (auth = \"credentials\"); a controller that trusts stated names is gefion dev, on loopback, for one user", path, sc.Auth)
	}
	cfg.Auth = &controller.AuthConfig{}
	if sc.CredentialSkew != "" {
		if cfg.Auth.Skew, err = time.ParseDuration(sc.CredentialSkew); err != nil || cfg.Auth.Skew <= 0 || cfg.Auth.Skew > 10*time.Minute {
			return cfg, fmt.Errorf("%s: credential_skew=%q: give a duration up to 10m, e.g. \"30s\"", path, sc.CredentialSkew)
		}
	}
	return cfg, nil
}

func runServer(e *Env, args []string) error {
	fs := newFlags(e, "server")
	config := fs.String("config", "", "controller configuration file (TOML)")
	plainOK := fs.Bool("insecure-plaintext-i-know", false, "with plaintext = true, serve plain HTTP on a non-loopback address: credentials and tokens then cross the network readable")
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
	if sc.Plaintext && !*plainOK && !loopbackHost(sc.Listen) {
		return usagef("listen=%s with plaintext = true: plain HTTP off loopback shows every credential and token to the network; serve TLS (remove plaintext), or pass --insecure-plaintext-i-know", sc.Listen)
	}
	if err := os.MkdirAll(sc.DataDir, 0o700); err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(e.Stderr, nil))
	var tlsSetup *serverTLS
	if !sc.Plaintext {
		if tlsSetup, err = loadServerTLS(sc); err != nil {
			return err
		}
	}
	keyFile := sc.TokenKeyFile
	if keyFile == "" {
		keyFile = filepath.Join(sc.DataDir, "token.key")
	}
	if cfg.Auth.TokenKey, err = ident.LoadOrCreateKey(keyFile); err != nil {
		return fmt.Errorf("token key: %w", err)
	}
	if sc.OIDCIssuer != "" || sc.OIDCClientID != "" {
		v, err := oidcauth.New(context.Background(), oidcauth.Config{Issuer: sc.OIDCIssuer, ClientID: sc.OIDCClientID, UserClaim: sc.OIDCUserClaim})
		if err != nil {
			return fmt.Errorf("%s: %w", *config, err)
		}
		cfg.Auth.OIDC = v.Verify
		log.Info("ID tokens of the OIDC issuer are accepted", "issuer", sc.OIDCIssuer, "user_claim", sc.OIDCUserClaim)
	}
	tokenFile := sc.JoinTokenFile
	if cfg.JoinToken == "" {
		tokenFile = filepath.Join(sc.DataDir, "join-token")
		fp := ""
		if tlsSetup != nil {
			fp = tlsSetup.caFingerprint
		}
		if cfg.JoinToken, err = loadOrCreateToken(tokenFile, fp); err != nil {
			return err
		}
	}
	secret, fp, err := client.ParseJoinToken(cfg.JoinToken)
	if err != nil {
		return fmt.Errorf("%s: %w", tokenFile, err)
	}
	cfg.JoinToken = secret
	switch {
	case tlsSetup == nil:
		log.Info("agents join with the token in "+tokenFile, "file", tokenFile)
	case fp != "" && fp != tlsSetup.caFingerprint:
		return fmt.Errorf("the join token in %s pins another CA than the controller's (%s): remove the file to have a new token drawn, and give agents the new one", tokenFile, tlsSetup.caFile)
	case fp != "":
		log.Info("agents join with the token in "+tokenFile+", which pins the controller's CA", "file", tokenFile, "ca_sha256", fp)
	default:
		log.Info("agents join with the token in "+tokenFile+" and trust the controller's CA with --ca-file", "file", tokenFile, "ca", tlsSetup.caFile)
	}
	if *storeURL != "" {
		sc.Store = *storeURL
	}
	if sc.Store != "" {
		var tlsCfg *tls.Config
		if tlsSetup != nil {
			tlsCfg = tlsSetup.config
		}
		return runServerPostgres(sc, cfg, tlsCfg, log)
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
	var tlsCfg *tls.Config
	scheme := "http"
	if tlsSetup != nil {
		tlsCfg, scheme = tlsSetup.config, "https"
	}
	return serveController(ctl, ln, tlsCfg, nil, web.Options{Hosts: sc.webHosts()}, func(context.Context, chan<- error) error {
		log.Info("controller serving", "listen", ln.Addr().String(), "url", scheme+"://"+ln.Addr().String())
		return nil
	})
}

// runServerPostgres runs a controller on a PostgreSQL store, as the leader
// or a standby (see serveLeader).
// webHosts are the names the web view answers to: the advertised URL's
// host and web_hosts (loopback always).
func (sc *serverConfig) webHosts() []string {
	hosts := slices.Clone(sc.WebHosts)
	if u, err := url.Parse(sc.Advertise); err == nil && u.Hostname() != "" {
		hosts = append(hosts, u.Hostname())
	}
	return hosts
}

func runServerPostgres(sc *serverConfig, cfg controller.Config, tlsCfg *tls.Config, log *slog.Logger) error {
	if !isPostgresURL(sc.Store) {
		return fmt.Errorf("store=%q: give a PostgreSQL URL (postgres://USER@HOST:PORT/DB), or leave it out for SQLite in data_dir", postgres.Describe(sc.Store))
	}
	lc := leaseConfig{name: sc.Name, addr: sc.Advertise, ttl: 3 * time.Second, webHosts: sc.webHosts()}
	if sc.LeaseTTL != "" {
		d, err := time.ParseDuration(sc.LeaseTTL)
		if err != nil || d < 300*time.Millisecond {
			return fmt.Errorf("lease_ttl=%q: give a duration of at least 300ms, such as \"3s\"", sc.LeaseTTL)
		}
		lc.ttl = d
	}
	if lc.addr == "" {
		lc.addr = "http://" + sc.Listen
		if tlsCfg != nil {
			lc.addr = "https://" + sc.Listen
		}
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
	return serveLeader(st, lc, cfg, ln, tlsCfg, log)
}

// serveController runs the controller's loop and its API on ln until
// SIGINT or SIGTERM, or until the loop, the server or something started
// by started (which may send its own failures on errc) fails. connContext,
// when set, annotates each connection (gefion dev records the peer's uid).
func serveController(ctl *controller.Controller, ln net.Listener, tlsCfg *tls.Config, connContext func(context.Context, net.Conn) context.Context, wopts web.Options, started func(ctx context.Context, errc chan<- error) error) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The web view shares the API's address (package web); its live
	// pages end when the server does. Slow or numerous connections from
	// one client must not starve the others: timeouts free a trickling
	// client's connection, and each address may hold only so many at once.
	wopts.Done = ctx.Done()
	srv := controller.NewHTTPServer(web.Handler(ctl, wopts), controller.HTTPConfig{})
	srv.ConnContext = connContext
	ln = controller.LimitListener(ln, controller.DefaultMaxConnsPerIP)
	if tlsCfg != nil {
		// TLS wraps the bounded listener, so that http.Server sees
		// *tls.Conn connections.
		ln = tls.NewListener(ln, tlsCfg)
	}
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
// restarted controller keeps it. A token drawn with the CA's fingerprint
// carries it (client.ParseJoinToken), for agents to pin.
func loadOrCreateToken(file, caFingerprint string) (string, error) {
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
	if caFingerprint != "" {
		tok = client.JoinTokenPrefix + caFingerprint + "." + tok
	}
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

// loopbackHost reports whether a host:port names a loopback address.
func loopbackHost(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
