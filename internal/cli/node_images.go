//go:build !client

package cli

import (
	"log/slog"

	"github.com/gefion-hpc/gefion/internal/agent"
)

// nodeImages opens the node's image store. Until the image store is
// part of the build, nodes report that they run no containers.
func nodeImages(stateDir, sub string, log *slog.Logger) (agent.ImageStore, error) {
	return nil, nil
}
