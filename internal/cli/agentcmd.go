//go:build !client

package cli

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/gefion-hpc/gefion/internal/agent"
	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/client"
	"github.com/gefion-hpc/gefion/internal/cluster"
	"github.com/gefion-hpc/gefion/internal/ident"
	"github.com/gefion-hpc/gefion/internal/nodeauth"
)

func init() {
	register(&command{path: "agent", summary: "run a node agent (or --virtual N nodes in one process, or --login for a login node)", run: runAgent})
}

func runAgent(e *Env, args []string) error {
	fs := newFlags(e, "agent")
	ctl := fs.String("controller", "", "controller URL (default $GEFION_ADDR or "+client.DefaultAddr+")")
	token := fs.String("token", "", "join token (default $GEFION_TOKEN)")
	tokenFile := fs.String("token-file", "", "read the join token from this file (the controller's data_dir/join-token)")
	virtual := fs.Int("virtual", 0, "run N virtual nodes instead of this machine")
	preset := fs.String("node-preset", "dgx-h100", "model of the virtual nodes")
	prefix := fs.String("prefix", "dgx", "name prefix of virtual nodes")
	first := fs.Int("first", 1, "number of the first virtual node (dgx001 is 1)")
	gpus := fs.Int("gpus", -1, "declare this many GPUs on this node (default: discover)")
	name := fs.String("name", "", "this node's name (default: the host name)")
	login := fs.Bool("login", false, "a login node: serve users' credentials, run no jobs")
	socket := fs.String("socket", "", "serve users' credentials on this Unix socket (default "+nodeauth.DefaultSocket+"; none for no socket; virtual agents serve none unless given one)")
	keyFile := fs.String("key-file", "", "this node's Ed25519 key, drawn on first start (default $GEFION_AGENT_STATE_DIR/ID.key, else /var/lib/gefion/agent/node.key as root, else ~/.gefion/agent/ID.key)")
	caFile := fs.String("ca-file", "", "trust the controller's CA certificate in this PEM file (not needed with a join token that pins the CA)")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if *tokenFile != "" {
		if *token != "" {
			return usagef("give --token or --token-file, not both")
		}
		b, err := os.ReadFile(*tokenFile)
		if err != nil {
			return fmt.Errorf("join token: %w", err)
		}
		*token = strings.TrimSpace(string(b))
	}
	if *token == "" {
		*token = e.getenv("GEFION_TOKEN")
	}
	if *token == "" {
		return usagef("agents need the controller's join token: give --token-file (the controller's data_dir/join-token), --token or GEFION_TOKEN")
	}
	secret, fingerprint, err := client.ParseJoinToken(*token)
	if err != nil {
		return usagef("%v", err)
	}
	if *login && *virtual != 0 {
		return usagef("give --login or --virtual, not both: a login node runs no jobs")
	}
	addr := resolveAddr(e, *ctl)
	c := client.New(addr, "")
	c.Token = secret
	caPEM, err := agentTLS(c, fingerprint, *caFile)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(e.Stderr, nil))
	var a *agent.Agent
	switch {
	case *login:
	case *virtual > 0:
		if *preset != "dgx-h100" {
			return usagef("--node-preset=%s: the only node preset is dgx-h100", *preset)
		}
		m := cluster.DGXH100
		a = &agent.Agent{Client: c, ID: fmt.Sprintf("virtual-%s%d-%d", *prefix, *first, *virtual),
			Nodes: agent.VirtualNodes(*prefix, *virtual, &m, *first), Exec: &agent.Virtual{GPU: m.GPU}, Log: log}
	case *virtual < 0:
		return usagef("--virtual must be positive")
	default:
		inv, exec, err := localNode(*name, *gpus, false, "")
		if err != nil {
			return err
		}
		a = &agent.Agent{Client: c, ID: "node-" + inv.Name, Nodes: []api.NodeInventory{inv}, Exec: exec, Log: log}
	}
	var nodes []string
	id := ""
	if a != nil {
		id = a.ID
		for _, n := range a.Nodes {
			nodes = append(nodes, n.Name)
		}
	} else {
		n := *name
		if n == "" {
			if n, err = os.Hostname(); err != nil {
				return fmt.Errorf("naming this login node: %w (give --name)", err)
			}
		}
		nodes, id = []string{n}, "login-"+n
	}
	sock := *socket
	if sock == "" && *virtual == 0 {
		sock = nodeauth.DefaultSocket
	}
	if sock == "none" {
		sock = ""
	}
	if *login && sock == "" {
		return usagef("a login node serves credentials: give --socket PATH, not none")
	}
	kf := *keyFile
	if kf == "" {
		kf = defaultKeyFile(e, id)
	}
	key, err := ident.LoadOrCreateKey(kf)
	if err != nil {
		return err
	}
	var credSrv *nodeauth.Server
	if sock != "" {
		credSrv = &nodeauth.Server{Key: key, Node: nodes[0], Controller: c.Base, CA: caPEM, Log: log}
	}
	enroll := func(ctx context.Context) error {
		at := time.Now().UnixMilli()
		resp, err := c.Enroll(ctx, api.EnrollRequest{Version: api.Version, Nodes: nodes, Key: ident.EncodePublicKey(key.Public().(ed25519.PublicKey)),
			AtMS: at, Proof: ident.SignEnrolment(key, nodes, at)})
		if errors.Is(err, client.ErrPinMismatch) {
			// Not the controller the token names: retrying cannot help.
			return &api.Error{Code: api.CodeUnauthorized, Message: err.Error()}
		}
		if err != nil {
			return err
		}
		if resp.MACKey != "" && credSrv != nil {
			mac, err := ident.DecodeMACKey(resp.MACKey)
			if err != nil {
				return fmt.Errorf("the controller's MAC key: %w", err)
			}
			credSrv.SetMACKey(mac)
		}
		return nil
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 2)
	if sock != "" {
		ln, err := nodeauth.Listen(sock)
		if err != nil {
			return err
		}
		go func() { errc <- credSrv.Serve(ctx, ln) }()
		log.Info("serving credentials", "socket", sock, "node", nodes[0])
	}
	if a == nil {
		log.Info("login agent starting", "controller", addr, "node", nodes[0])
		go func() { errc <- enrollLoop(ctx, enroll, log) }()
	} else {
		a.Enroll = enroll
		names := nodes
		if len(names) > 2 {
			names = append(names[:2:2], "...")
		}
		log.Info("agent starting", "controller", addr, "nodes", len(a.Nodes), "first", strings.Join(names, ","))
		go func() { errc <- a.Run(ctx) }()
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		return nil
	}
}

// agentTLS sets whom the agent trusts as its controller: the CA the join
// token pins, or the one in caFile. It returns the CA to hand to users.
func agentTLS(c *client.Client, fingerprint, caFile string) (func() string, error) {
	switch {
	case fingerprint != "" && caFile != "":
		return nil, usagef("the join token pins the controller's CA already: leave out --ca-file")
	case fingerprint != "":
		pin := &client.Pin{Fingerprint: fingerprint}
		c.UseTLS(pin.TLSConfig())
		return pin.CAPEM, nil
	case caFile != "":
		b, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("--ca-file: %w", err)
		}
		cfg, err := client.CATLS(b)
		if err != nil {
			return nil, fmt.Errorf("--ca-file %s: %w", caFile, err)
		}
		c.UseTLS(cfg)
		return func() string { return string(b) }, nil
	}
	return func() string { return "" }, nil
}

// enrollLoop enrols a login node's key now and every 10 s after, so that a
// restarted controller knows it again within seconds. A refusal ends it.
func enrollLoop(ctx context.Context, enroll func(context.Context) error, log *slog.Logger) error {
	for ctx.Err() == nil {
		err := enroll(ctx)
		var ae *api.Error
		if errors.As(err, &ae) && ae.Code != api.CodeUnavailable && ae.Code != api.CodeInternal {
			return fmt.Errorf("the controller refused this node's key: %w", err)
		}
		if err != nil {
			log.Warn("cannot enrol the node key; retrying", "err", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(10 * time.Second):
		}
	}
	return nil
}

func defaultKeyFile(e *Env, id string) string {
	if d := e.getenv("GEFION_AGENT_STATE_DIR"); d != "" {
		return filepath.Join(d, id+".key")
	}
	if os.Geteuid() == 0 {
		return "/var/lib/gefion/agent/node.key"
	}
	home, err := os.UserHomeDir()
	if err != nil {
		home = "."
	}
	return filepath.Join(home, ".gefion", "agent", id+".key")
}
