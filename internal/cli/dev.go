package cli

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/gefion-hpc/gefion/internal/agent"
	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/client"
	"github.com/gefion-hpc/gefion/internal/controller"
	"github.com/gefion-hpc/gefion/internal/store/sqlite"
)

func init() {
	register(&command{path: "dev", summary: "controller, one local node and the embedded store in one process", run: runDev})
}

func defaultDataDir() string {
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".gefion", "dev")
	}
	return ".gefion"
}

func runDev(e *Env, args []string) error {
	fs := newFlags(e, "dev")
	dataDir := fs.String("data-dir", defaultDataDir(), "where the embedded SQLite database lives")
	listen := fs.String("listen", "127.0.0.1:8420", "address to serve the API on (loopback: the local user is trusted)")
	gpus := fs.Int("gpus", -1, "declare this many GPUs on the local node (default: discover; none without a GPU driver)")
	policy := fs.String("policy", "", "scheduling policy (fifo, backfill, conservative, gefion; default gefion)")
	nodeName := fs.String("node-name", "", "the local node's name (default: the host name)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to this file (for tuning)")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	host, _, err := net.SplitHostPort(*listen)
	if err != nil {
		return usagef("--listen=%s: give host:port, e.g. 127.0.0.1:8420", *listen)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return usagef("--listen=%s: gefion dev trusts the local user and serves loopback only; use 'gefion server' to serve a network", *listen)
	}
	stopProfile, err := startCPUProfile(*cpuProfile)
	if err != nil {
		return err
	}
	defer stopProfile()
	if err := os.MkdirAll(*dataDir, 0o700); err != nil {
		return fmt.Errorf("creating the data directory: %w", err)
	}
	log := slog.New(slog.NewTextHandler(e.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	dbPath := filepath.Join(*dataDir, "gefion.db")
	st, err := sqlite.Open(dbPath)
	if err != nil {
		return err
	}
	defer st.Close()
	me := currentUser(e)
	ctl, err := controller.New(controller.Config{
		Policy: *policy, Operators: []string{me}, DefaultProject: "default",
		Heartbeat: 2 * time.Second, LostAfter: 10 * time.Second,
	}, st, nil, log)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("cannot listen on %s (%v): is another gefion running? choose another --listen", *listen, err)
	}
	return serveController(ctl, ln, func(ctx context.Context, errc chan<- error) error {
		inv, exec, err := localNode(*nodeName, *gpus, true)
		if err != nil {
			return err
		}
		addr := "http://" + ln.Addr().String()
		ag := &agent.Agent{Client: client.New(addr, ""), ID: "dev-" + inv.Name, Nodes: []api.NodeInventory{inv}, Exec: exec, Log: log}
		go func() { errc <- ag.Run(ctx) }()
		fmt.Fprintf(e.Stderr, "gefion dev: controller at %s, node %s with %d GPUs and %d CPUs, store %s\n", addr, inv.Name, len(inv.GPUs), inv.CPUs, dbPath)
		if inv.Virtual {
			fmt.Fprintf(e.Stderr, "gefion dev: the local node is virtual: jobs run for --comment duration=SECONDS, else their time limit\n")
		}
		fmt.Fprintf(e.Stderr, "gefion dev: try 'gefion sbatch --wrap hostname', 'gefion queue', 'gefion nodes'; Ctrl-C stops\n")
		return nil
	})
}
