package cli

import (
	"context"
	"net"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/gefion-hpc/gefion/internal/agent"
)

// srun --pty on a terminal: srun's terminal is put in raw mode, so that
// every key (Ctrl-C, Ctrl-Z, arrows) reaches the task's pseudo-terminal
// and its line discipline does what the local one would; the window size
// follows srun's, at the start and at each SIGWINCH.

// terminalFd returns the descriptor of f when it is a terminal.
func terminalFd(f any) (int, bool) {
	file, ok := f.(*os.File)
	if !ok {
		return 0, false
	}
	fd := int(file.Fd())
	if _, err := unix.IoctlGetTermios(fd, unix.TCGETS); err != nil {
		return 0, false
	}
	return fd, true
}

// rawTerminal puts srun's standard input in raw mode if it is a terminal
// and returns what restores it.
func (r *stepRun) rawTerminal() func() {
	fd, ok := terminalFd(r.e.Stdin)
	if !r.o.req.PTY || !ok {
		return func() {}
	}
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return func() {}
	}
	raw := *old
	raw.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	raw.Oflag &^= unix.OPOST
	raw.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	raw.Cflag &^= unix.CSIZE | unix.PARENB
	raw.Cflag |= unix.CS8
	raw.Cc[unix.VMIN], raw.Cc[unix.VTIME] = 1, 0
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &raw); err != nil {
		return func() {}
	}
	return func() { _ = unix.IoctlSetTermios(fd, unix.TCSETS, old) }
}

// forwardWinsize sends srun's window size to task 0's pseudo-terminal,
// now and whenever it changes.
func (r *stepRun) forwardWinsize(ctx context.Context, conn net.Conn) {
	fd, ok := terminalFd(r.e.Stdin)
	if !ok {
		fd, ok = terminalFd(r.e.Stdout)
	}
	if !ok {
		return
	}
	fw := agent.NewFrameWriter(conn)
	send := func() bool {
		ws, err := unix.IoctlGetWinsize(fd, unix.TIOCGWINSZ)
		if err != nil {
			return true
		}
		return fw.Write(agent.FrameWinsize, 0, agent.Winsize(ws.Row, ws.Col)) == nil
	}
	winch := make(chan os.Signal, 1)
	signal.Notify(winch, syscall.SIGWINCH)
	defer signal.Stop(winch)
	if !send() {
		return
	}
	for {
		select {
		case <-winch:
			if !send() {
				return
			}
		case <-ctx.Done():
			return
		}
	}
}
