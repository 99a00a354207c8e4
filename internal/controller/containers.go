package controller

import (
	"fmt"
	"slices"
	"strings"

	"github.com/gefion-hpc/gefion/internal/hostlist"
	"github.com/gefion-hpc/gefion/internal/image"
	"github.com/gefion-hpc/gefion/internal/job"
)

// Container jobs run only on nodes whose agent reported an OCI runtime it
// can use (api.NodeInventory.ContainerRuntime). A submission that no node
// could run is refused with what the nodes lack, rather than queued to
// fail, or worse to run bare.

// checkImageRef checks a container request's image reference as the
// nodes' image stores will read it.
func checkImageRef(c *job.Container) error {
	if c == nil || c.Image == "" {
		return nil
	}
	if _, err := image.ParseRef(c.Image); err != nil {
		return invalid("--container-image: %v", err)
	}
	return nil
}

// noContainers returns nil when one of names (every node, when names is
// empty) can run containers, else an error naming what the nodes lack.
func (cr *core) noContainers(names []string) error {
	why := map[string][]string{}
	for _, n := range cr.nodes {
		if len(names) > 0 && !slices.Contains(names, n.name) {
			continue
		}
		if n.inv.ContainerRuntime != "" {
			if len(names) == 0 {
				return nil
			}
			continue
		}
		r := n.inv.NoContainers
		if r == "" {
			r = "its agent reports no container runtime (not registered yet, or an older agent)"
		}
		why[r] = append(why[r], n.name)
	}
	if len(why) == 0 {
		return nil
	}
	reasons := make([]string, 0, len(why))
	for r := range why {
		reasons = append(reasons, r)
	}
	slices.Sort(reasons)
	var b strings.Builder
	if len(names) == 0 {
		b.WriteString("no node can run containers: ")
	} else {
		b.WriteString("the step's nodes cannot run containers: ")
	}
	for i, r := range reasons {
		if i > 0 {
			b.WriteString("; ")
		}
		if len(reasons) == 1 && len(names) == 0 {
			fmt.Fprintf(&b, "%s on any node (%s)", r, hostlist.CompressOrJoin(why[r]))
		} else {
			fmt.Fprintf(&b, "%s: %s", hostlist.CompressOrJoin(why[r]), r)
		}
	}
	b.WriteString("; run the job without container options, or ask the operators to install runc and allow user namespaces")
	return conflict("%s", b.String())
}
