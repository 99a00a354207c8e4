//go:build !client

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

// benchAuthCompare runs the same submission load, in rotating rounds,
// against three controllers in this process: one as gefion server was
// before authentication (plain HTTP, the stated user), one verifying a node
// credential from an agent's socket for every request (its seal checked,
// its nonce recorded; plain HTTP, as gefion server serves loopback with
// plaintext = true) and one doing so over TLS with its own CA. It prints
// the median rate of each and the median ratio to the first. The credentials of a round are fetched from the
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
	var benches []*authBench
	for _, m := range []struct {
		name      string
		auth, tls bool
	}{{"off", false, false}, {"on", true, false}, {"tls", true, true}} {
		b, err := startAuthBench(ctx, filepath.Join(dir, m.name), m.auth, m.tls)
		if err != nil {
			return err
		}
		defer b.stop()
		benches = append(benches, b)
	}
	spec := benchSpec("duration=0")
	spec.Hold = true
	rates := make([][]float64, len(benches))
	var credRates []float64
	var failed int
	for r := 0; r < rounds; r++ {
		for i, b := range benches {
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
			rates[i] = append(rates[i], res.PerSecond)
			if !asJSON {
				fmt.Fprintf(e.Stdout, "round %d, %-16s %.0f submissions/s, p50 %.2f ms, p99 %.2f ms, %d errors\n", r+1, b.name+":", res.PerSecond, res.P50MS, res.P99MS, errs)
			}
		}
	}
	// The machine's load drifts between rounds; the ratio within each
	// round, whose runs follow each other, drifts less.
	ratios := func(k int) []float64 {
		out := make([]float64, rounds)
		for r := range out {
			out[r] = rates[k][r] / rates[0][r]
		}
		return out
	}
	out := map[string]any{"jobs_per_round": n, "concurrency": conc, "rounds": rounds, "errors": failed,
		"agent_credentials_per_second": median(credRates)}
	for i, key := range []string{"off", "on", "on_tls"} {
		out[key+"_per_second"] = rates[i]
		out[key+"_median_per_second"] = median(rates[i])
		if i > 0 {
			out[key+"_over_off_median_ratio"] = median(ratios(i))
		}
	}
	if asJSON {
		return writeJSON(e.Stdout, out)
	}
	fmt.Fprintf(e.Stdout, "median of %d rounds of %d: credentials off %.0f/s; on %.0f/s (median ratio %.1f%%); on with TLS %.0f/s (%.1f%%); the agent served %.0f credentials/s\n",
		rounds, n, median(rates[0]), median(rates[1]), 100*median(ratios(1)), median(rates[2]), 100*median(ratios(2)), median(credRates))
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

func startAuthBench(ctx context.Context, dir string, auth, useTLS bool) (*authBench, error) {
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
	if useTLS {
		b.name = "credentials+TLS"
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
	} else {
		go func() { _ = srv.Serve(ln) }()
		b.c = client.NewPooled("http://"+ln.Addr().String(), "")
	}
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
