//go:build !client

package cli

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/gefion-hpc/gefion/internal/agent"
	"github.com/gefion-hpc/gefion/internal/image"
)

// nodeImages opens the node's image store where gefion image ls looks
// for it (defaultImageDir): $GEFION_IMAGE_CACHE_DIR, else the images
// directory of the agent's state directory (the one the nodes of gefion
// dev --nodes N share).
func nodeImages(stateDir, sub string, log *slog.Logger) (agent.ImageStore, error) {
	dir := os.Getenv(envImageDir)
	if dir == "" {
		base := stateDir
		if sub != "" {
			base = filepath.Dir(stateDir)
		}
		if base == "" {
			base = filepath.Join(os.TempDir(), "gefion-agent")
		}
		dir = filepath.Join(base, "images")
	}
	s, err := image.Open(dir, image.Options{Log: log})
	if err != nil {
		return nil, err
	}
	return imageStore{s}, nil
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
