//go:build !linux

package cli

import (
	"context"
	"net"
)

// Raw mode and window sizes are implemented for Linux terminals; elsewhere
// srun --pty still gives task 0 a pseudo-terminal, at its default size.

func (r *stepRun) rawTerminal() func() { return func() {} }

func (r *stepRun) forwardWinsize(context.Context, net.Conn) {}
