//go:build !client

package cli

import (
	"context"
	"log/slog"
	"os"
	"sync"

	"github.com/gefion-hpc/gefion/internal/agent"
	"github.com/gefion-hpc/gefion/internal/image"
)

// nodeStore is the image cache of this agent process, opened once for
// all the nodes it runs (gefion dev --nodes N): concurrent starts of one
// image on several nodes then share one pull and one unpack.
var nodeStore struct {
	once sync.Once
	s    *image.Store
	err  error
}

// nodeImages opens the node's image store as the agent's environment
// says (openAgentImages: GEFION_IMAGE_CACHE_DIR, GEFION_IMAGE_CACHE_MAX),
// where gefion image ls looks for it.
func nodeImages(log *slog.Logger) (agent.ImageStore, error) {
	nodeStore.once.Do(func() { nodeStore.s, nodeStore.err = openAgentImages(os.Getenv, log) })
	if nodeStore.err != nil {
		return nil, nodeStore.err
	}
	return imageStore{nodeStore.s}, nil
}

// imageStore is package image's Store as the agent uses it.
type imageStore struct{ s *image.Store }

func (st imageStore) Get(ctx context.Context, ref string, acc agent.ImageAccess) (*agent.ContainerImage, error) {
	img, err := st.s.Get(ctx, ref, image.Access{Home: acc.Home, Open: acc.Open})
	if err != nil {
		return nil, err
	}
	c := img.Config
	return &agent.ContainerImage{Digest: img.Digest, Rootfs: img.Rootfs, Env: c.Env, Entrypoint: c.Entrypoint, Cmd: c.Cmd,
		WorkingDir: c.WorkingDir, User: c.User, Size: img.Size, Release: img.Release}, nil
}
