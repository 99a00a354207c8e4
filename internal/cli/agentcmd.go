//go:build !client

package cli

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/gefion-hpc/gefion/internal/agent"
	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/client"
	"github.com/gefion-hpc/gefion/internal/cluster"
)

func init() {
	register(&command{path: "agent", summary: "run a node agent (or --virtual N nodes in one process)", run: runAgent})
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
	addr := resolveAddr(e, *ctl)
	c := client.New(addr, "")
	c.Token = *token
	log := slog.New(slog.NewTextHandler(e.Stderr, nil))
	var a *agent.Agent
	switch {
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
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	names := make([]string, 0, 3)
	for i, n := range a.Nodes {
		if i == 2 {
			names = append(names, "...")
			break
		}
		names = append(names, n.Name)
	}
	log.Info("agent starting", "controller", addr, "nodes", len(a.Nodes), "first", strings.Join(names, ","))
	return a.Run(ctx)
}
