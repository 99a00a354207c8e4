//go:build !client

package cli

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"time"

	"github.com/gefion-hpc/gefion/internal/agent"
	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/client"
	"github.com/gefion-hpc/gefion/internal/controller"
	"github.com/gefion-hpc/gefion/internal/hostlist"
	"github.com/gefion-hpc/gefion/internal/peercred"
	"github.com/gefion-hpc/gefion/internal/store/sqlite"
	"github.com/gefion-hpc/gefion/internal/web"
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
	listen := fs.String("listen", "127.0.0.1:8420", "address to serve the API on (loopback only; only the user who started dev is served)")
	gpus := fs.Int("gpus", -1, "declare this many GPUs on the local node (default: discover; none without a GPU driver)")
	policy := fs.String("policy", "", "scheduling policy (fifo, backfill, conservative, gefion; default gefion)")
	nodeName := fs.String("node-name", "", "the local node's name (default: the host name); with --nodes N, the prefix of dev1..devN")
	nodeCount := fs.Int("nodes", 1, "run this many local nodes, each with its own agent and --gpus GPUs (for multi-node jobs, srun and MPI on one computer)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to this file (for tuning)")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	host, _, err := net.SplitHostPort(*listen)
	if err != nil {
		return usagef("--listen=%s: give host:port, e.g. 127.0.0.1:8420", *listen)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return usagef("--listen=%s: gefion dev serves its owner over loopback only; use 'gefion server' to serve a network", *listen)
	}
	names, err := devNodeNames(*nodeName, *nodeCount)
	if err != nil {
		return err
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
	owner, err := devOwner()
	if err != nil {
		return err
	}
	ctl, err := controller.New(controller.Config{
		Policy: *policy, Operators: []string{owner.name}, DefaultProject: "default",
		Heartbeat: 2 * time.Second, LostAfter: 10 * time.Second,
		Identify: owner.identify,
	}, st, nil, log)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("cannot listen on %s (%v): is another gefion running? choose another --listen", *listen, err)
	}
	return serveController(ctl, ln, nil, peercred.ConnContext, web.Options{}, func(ctx context.Context, errc chan<- error) error {
		addr := "http://" + ln.Addr().String()
		var inv api.NodeInventory
		for _, name := range names {
			var exec agent.Executor
			var err error
			// Each node spools its jobs apart: the nodes of one
			// multi-node job would otherwise share files.
			sub := ""
			if len(names) > 1 {
				sub = name
			}
			if inv, exec, err = localNode(name, *gpus, true, sub); err != nil {
				return err
			}
			ag := &agent.Agent{Client: client.NewAgent(addr, ctl.JoinToken()), ID: "dev-" + inv.Name, Nodes: []api.NodeInventory{inv}, Exec: exec, Log: log}
			go func() { errc <- ag.Run(ctx) }()
		}
		nodesDesc := "node " + inv.Name
		if len(names) > 1 {
			list, _ := hostlist.Compress(names) // dev names are valid host names
			nodesDesc = fmt.Sprintf("%d nodes %s", len(names), list)
		}
		fmt.Fprintf(e.Stderr, "gefion dev: controller at %s, %s with %d GPUs and %d CPUs each, store %s\n", addr, nodesDesc, len(inv.GPUs), inv.CPUs, dbPath)
		fmt.Fprintf(e.Stderr, "gefion dev: web view at %s/ (for %s's browser on this host)\n", addr, owner.name)
		fmt.Fprintf(e.Stderr, "gefion dev: serving only %s (uid %d), who started it\n", owner.name, owner.uid)
		if inv.Virtual {
			fmt.Fprintf(e.Stderr, "gefion dev: the local node is virtual: jobs run for --comment duration=SECONDS, else their time limit\n")
		}
		fmt.Fprintf(e.Stderr, "gefion dev: try 'gefion sbatch --wrap hostname', 'gefion queue', 'gefion nodes'; Ctrl-C stops\n")
		return nil
	})
}

// devNodeNames names dev's local nodes: the given name (default the host
// name) for one, prefix1..prefixN (default dev1..devN) for several.
func devNodeNames(name string, n int) ([]string, error) {
	switch {
	case n < 1:
		return nil, usagef("--nodes=%d: give at least 1", n)
	case n > 64:
		return nil, usagef("--nodes=%d: gefion dev runs at most 64 local nodes; use 'gefion agent --virtual N' for more", n)
	case n == 1:
		return []string{name}, nil
	}
	if name == "" {
		name = "dev"
	}
	names := make([]string, n)
	for i := range names {
		names[i] = name + strconv.Itoa(i+1)
	}
	return names, nil
}

// devUser is the Unix user who started gefion dev: its only user and
// operator. The kernel says who each caller is (package peercred); the
// X-Gefion-User header, which any local process can set, is never taken as
// an identity.
type devUser struct {
	uid  uint32
	name string
}

func devOwner() (devUser, error) {
	uid := os.Getuid()
	u, err := user.LookupId(strconv.Itoa(uid))
	if err != nil {
		return devUser{}, fmt.Errorf("cannot name the Unix user %d who runs gefion dev: %w", uid, err)
	}
	return devUser{uid: uint32(uid), name: u.Username}, nil
}

// identify admits the owner's own processes only. Another local user's job
// would otherwise run with the owner's rights, root's included.
func (o devUser) identify(r *http.Request) (controller.Identity, error) {
	uid, err := peercred.FromContext(r.Context())
	if err != nil {
		return controller.Identity{}, &api.Error{Code: api.CodeUnauthorized, Message: fmt.Sprintf("gefion dev cannot tell which Unix user is calling (%v); it serves only %s, over loopback on this host", err, o.name)}
	}
	if uid != o.uid {
		return controller.Identity{}, &api.Error{Code: api.CodeForbidden, Message: fmt.Sprintf("this gefion dev serves only %s (uid %d), who started it, and you are uid %d: start your own with 'gefion dev --listen 127.0.0.1:PORT' and point GEFION_ADDR at it", o.name, o.uid, uid)}
	}
	if claimed := r.Header.Get(api.HeaderUser); claimed != "" && claimed != o.name {
		return controller.Identity{}, &api.Error{Code: api.CodeForbidden, Message: fmt.Sprintf("the request claims to come from %q, but the kernel says you are %s: gefion dev takes no claimed names (unset GEFION_USER)", claimed, o.name)}
	}
	return controller.Identity{User: o.name, Via: fmt.Sprintf("peer uid %d", uid)}, nil
}
