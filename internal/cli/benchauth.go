package cli

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"time"

	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/client"
	"github.com/gefion-hpc/gefion/internal/cluster"
	"github.com/gefion-hpc/gefion/internal/controller"
	"github.com/gefion-hpc/gefion/internal/ident"
	"github.com/gefion-hpc/gefion/internal/nodeauth"
	"github.com/gefion-hpc/gefion/internal/store/sqlite"
)

// authBench is one controller of the authentication comparison: in this
// process, on SQLite in its own directory, with a client that loads it.
type authBench struct {
	name string
	c    *client.Client
	stop func()
	// sock is the agent's credential socket ("" with credentials off);
	// creds holds the credentials fetched from it for the next round.
	sock  string
	creds chan string
}

// prefetch fetches n credentials from the agent's socket, as n commands on
// login nodes would, and returns how long that took. The controller's
// cost is measured apart from the agents': on a real machine they run on
// other nodes' CPUs.
func (b *authBench) prefetch(ctx context.Context, n, conc int) (time.Duration, error) {
	if b.sock == "" {
		return 0, nil
	}
	b.creds = make(chan string, n)
	start := time.Now()
	errc := make(chan error, conc)
	var next atomic.Int64
	for w := 0; w < conc; w++ {
		go func() {
			for next.Add(1) <= int64(n) {
				r, err := nodeauth.Fetch(ctx, b.sock)
				if err != nil {
					errc <- err
					return
				}
				b.creds <- r.Credential
			}
			errc <- nil
		}()
	}
	var first error
	for w := 0; w < conc; w++ {
		if err := <-errc; err != nil && first == nil {
			first = err
		}
	}
	return time.Since(start), first
}

// benchAuthCompare runs the same submission load, in alternating rounds,
// against two controllers in this process: one as gefion server was before
// authentication (plain HTTP, the stated user) and one as it is now (TLS
// with its own CA, a node credential from an agent's socket for every
// request, verified and its nonce recorded). It prints the median rate of
// each and their ratio. The credentials of a round are fetched from the
// agent before the round: the controller's throughput is measured, and an
// agent's signing, which runs on each login node, is timed apart.
func benchAuthCompare(e *Env, n, conc, rounds int, asJSON bool) error {
	dir, err := os.MkdirTemp("", "gefion-bench-auth-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	off, err := startAuthBench(ctx, filepath.Join(dir, "off"), false)
	if err != nil {
		return err
	}
	defer off.stop()
	on, err := startAuthBench(ctx, filepath.Join(dir, "on"), true)
	if err != nil {
		return err
	}
	defer on.stop()
	spec := benchSpec("duration=0")
	spec.Hold = true
	rates := map[string][]float64{}
	var credRates []float64
	var failed int
	for r := 0; r < rounds; r++ {
		for _, b := range []*authBench{off, on} {
			fetch, err := b.prefetch(ctx, n, conc)
			if err != nil {
				return err
			}
			if fetch > 0 {
				credRates = append(credRates, float64(n)/fetch.Seconds())
			}
			lat, errs, wall := submitLoad(ctx, b.c, n, conc, spec)
			res := summarize(lat, wall, errs, conc)
			failed += errs
			rates[b.name] = append(rates[b.name], res.PerSecond)
			if !asJSON {
				fmt.Fprintf(e.Stdout, "round %d, %-15s %.0f submissions/s, p50 %.2f ms, p99 %.2f ms, %d errors\n", r+1, b.name+":", res.PerSecond, res.P50MS, res.P99MS, errs)
			}
		}
	}
	medOff, medOn := median(rates[off.name]), median(rates[on.name])
	if asJSON {
		return writeJSON(e.Stdout, map[string]any{
			"jobs_per_round": n, "concurrency": conc, "rounds": rounds, "errors": failed,
			"off_per_second": rates[off.name], "on_per_second": rates[on.name],
			"off_median_per_second": medOff, "on_median_per_second": medOn, "on_over_off": medOn / medOff,
			"agent_credentials_per_second": median(credRates),
		})
	}
	fmt.Fprintf(e.Stdout, "median of %d rounds of %d: credentials off %.0f/s, on %.0f/s: %.1f%%; the agent served %.0f credentials/s\n", rounds, n, medOff, medOn, 100*medOn/medOff, median(credRates))
	if failed > 0 {
		return errors.New("some submissions failed")
	}
	return nil
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func startAuthBench(ctx context.Context, dir string, auth bool) (*authBench, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	st, err := sqlite.Open(filepath.Join(dir, "gefion.db"))
	if err != nil {
		return nil, err
	}
	cl, err := cluster.Preset("gefion")
	if err != nil {
		st.Close()
		return nil, err
	}
	cfg := controller.Config{Cluster: cl, DefaultProject: "default", Operators: []string{"bench"}}
	if auth {
		cfg.Auth = &controller.AuthConfig{}
	}
	ctl, err := controller.New(cfg, st, nil, nil)
	if err != nil {
		st.Close()
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		st.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	srv := controller.NewHTTPServer(ctl.Handler(), controller.HTTPConfig{})
	b := &authBench{name: "credentials off"}
	var sock net.Listener
	b.stop = func() {
		cancel()
		srv.Close()
		if sock != nil {
			sock.Close()
		}
		st.Close()
	}
	go func() { _ = ctl.Run(ctx) }()
	if !auth {
		go func() { _ = srv.Serve(ln) }()
		b.c = client.NewPooled("http://"+ln.Addr().String(), "bench")
		return b, nil
	}
	b.name = "credentials on"
	certFile, keyFile, caFile, err := ensureCA(filepath.Join(dir, "tls"), "127.0.0.1:0", nil)
	if err != nil {
		b.stop()
		return nil, err
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		b.stop()
		return nil, err
	}
	go func() {
		_ = srv.Serve(tls.NewListener(ln, &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert}}))
	}()
	// A node agent's credential service, enrolled as login node bench1.
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		b.stop()
		return nil, err
	}
	at := time.Now().UnixMilli()
	enrolled, err := ctl.Enroll(api.EnrollRequest{Version: api.Version, Nodes: []string{"bench1"}, Key: ident.EncodePublicKey(key.Public().(ed25519.PublicKey)),
		AtMS: at, Proof: ident.SignEnrolment(key, []string{"bench1"}, at)})
	if err != nil {
		b.stop()
		return nil, err
	}
	mac, err := ident.DecodeMACKey(enrolled.MACKey)
	if err != nil {
		b.stop()
		return nil, err
	}
	sockPath := filepath.Join(dir, "run", "agent.sock")
	if sock, err = nodeauth.Listen(sockPath); err != nil {
		b.stop()
		return nil, err
	}
	ns := &nodeauth.Server{Key: key, Node: "bench1"}
	ns.SetMACKey(mac)
	go func() { _ = ns.Serve(ctx, sock) }()
	ca, err := os.ReadFile(caFile)
	if err != nil {
		b.stop()
		return nil, err
	}
	tcfg, err := client.CATLS(ca)
	if err != nil {
		b.stop()
		return nil, err
	}
	b.c = client.NewPooled("https://"+ln.Addr().String(), "")
	b.c.UseTLS(tcfg)
	if tr, ok := b.c.HTTP.Transport.(*http.Transport); ok {
		tr.MaxIdleConnsPerHost = 1024
	}
	b.sock = sockPath
	b.c.Credential = func(ctx context.Context) (string, error) {
		select {
		case c := <-b.creds:
			return c, nil
		default:
			return "", errors.New("the round used more credentials than were fetched")
		}
	}
	return b, nil
}
