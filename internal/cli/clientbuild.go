//go:build client

package cli

import "fmt"

// This is the client build of gefion (go build -tags client): the commands
// researchers run in loops (sbatch, squeue, sacct, srun ...) without the
// controller, the node agent's executor, the embedded store, the load tools
// and the twin. Linking less, it starts in about half the time of the full
// build; login nodes install it, and the full build runs the services.
// The commands it leaves out answer with where to find them.
func init() {
	for _, c := range []struct{ path, summary string }{
		{"dev", "controller, one local node and the embedded store in one process"},
		{"server", "run the controller (production: one per cluster)"},
		{"agent", "run a node agent (or --virtual N nodes in one process)"},
		{"sim", "replay a job trace on a machine through the scheduler (digital twin)"},
		{"bench submit", "load tool: durable submissions per second against a controller"},
		{"bench run", "load tool: trivial jobs finished per second on virtual nodes"},
		{"bench steps", "load tool: srun step launch latency inside an allocation"},
	} {
		path := c.path
		register(&command{path: path, summary: c.summary + " [full build only]", run: func(*Env, []string) error {
			return fmt.Errorf("'gefion %s' is not in this client build of gefion, which leaves the services and load tools out to start fast; run it from the full build (go build ./cmd/gefion)", path)
		}})
	}
}
