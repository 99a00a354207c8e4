//go:build !linux

package peercred

import (
	"fmt"
	"net"
	"runtime"
)

func unixPeer(*net.UnixConn) (uint32, error) {
	return 0, fmt.Errorf("%w: peer credentials are implemented for Linux only, not %s", ErrUnknown, runtime.GOOS)
}

func tcpPeer(_, _ *net.TCPAddr) (uint32, error) {
	return 0, fmt.Errorf("%w: peer credentials are implemented for Linux only, not %s", ErrUnknown, runtime.GOOS)
}

func unixCred(*net.UnixConn) (Cred, error) {
	return Cred{}, fmt.Errorf("%w: peer credentials are implemented for Linux only, not %s", ErrUnknown, runtime.GOOS)
}
