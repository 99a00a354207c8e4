package peercred

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

func unixPeer(c *net.UnixConn) (uint32, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	var cred *unix.Ucred
	var serr error
	if err := raw.Control(func(fd uintptr) {
		cred, serr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return 0, err
	}
	if serr != nil {
		return 0, fmt.Errorf("%w: SO_PEERCRED: %v", ErrUnknown, serr)
	}
	return cred.Uid, nil
}

// tcpPeer finds the socket whose local end is remote and whose remote end is
// local: the peer's own socket on this host, and its owner.
func tcpPeer(local, remote *net.TCPAddr) (uint32, error) {
	uid, err := diagLookup(local, remote)
	if err == nil {
		return uid, nil
	}
	if uid, perr := procLookup(local, remote); perr == nil {
		return uid, nil
	}
	return 0, err
}

// Layout of the sock_diag messages (linux/inet_diag.h); the sizes are fixed
// by the kernel ABI.
const (
	nlmsgHdrLen      = 16
	sockIDLen        = 48
	diagReqLen       = 8 + sockIDLen
	diagMsgUIDOff    = 4 + sockIDLen + 12
	inetDiagNoCookie = 0xffffffff
)

// diagLookup asks the kernel for exactly one socket by its four-tuple, which
// it answers from its hash tables: constant time however many connections
// the host has.
func diagLookup(local, remote *net.TCPAddr) (uint32, error) {
	family, src, dst := uint8(unix.AF_INET6), remote.IP.To16(), local.IP.To16()
	if s4, d4 := remote.IP.To4(), local.IP.To4(); s4 != nil && d4 != nil {
		family, src, dst = unix.AF_INET, s4, d4
	}
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return 0, fmt.Errorf("%w: sock_diag: %v", ErrUnknown, err)
	}
	defer unix.Close(fd)
	tv := unix.Timeval{Sec: 1}
	_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)

	req := make([]byte, nlmsgHdrLen+diagReqLen)
	ne := binary.NativeEndian
	ne.PutUint32(req[0:], uint32(len(req)))
	ne.PutUint16(req[4:], unix.SOCK_DIAG_BY_FAMILY)
	ne.PutUint16(req[6:], unix.NLM_F_REQUEST)
	ne.PutUint32(req[8:], 1)
	r := req[nlmsgHdrLen:]
	r[0] = family
	r[1] = unix.IPPROTO_TCP
	ne.PutUint32(r[4:], 0xffffffff) // every state
	id := r[8:]
	binary.BigEndian.PutUint16(id[0:], uint16(remote.Port))
	binary.BigEndian.PutUint16(id[2:], uint16(local.Port))
	copy(id[4:20], src)
	copy(id[20:36], dst)
	ne.PutUint32(id[40:], inetDiagNoCookie)
	ne.PutUint32(id[44:], inetDiagNoCookie)
	if err := unix.Sendto(fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return 0, fmt.Errorf("%w: sock_diag: %v", ErrUnknown, err)
	}
	buf := make([]byte, 4096)
	n, _, err := unix.Recvfrom(fd, buf, 0)
	if err != nil {
		return 0, fmt.Errorf("%w: sock_diag: %v", ErrUnknown, err)
	}
	for msg := buf[:n]; len(msg) >= nlmsgHdrLen; {
		mlen := int(ne.Uint32(msg))
		if mlen < nlmsgHdrLen || mlen > len(msg) {
			break
		}
		typ, data := ne.Uint16(msg[4:]), msg[nlmsgHdrLen:mlen]
		msg = msg[min((mlen+3)&^3, len(msg)):]
		switch typ {
		case unix.NLMSG_ERROR:
			if len(data) >= 4 {
				if errno := int32(ne.Uint32(data)); errno != 0 {
					return 0, fmt.Errorf("%w: sock_diag: %v", ErrUnknown, unix.Errno(-errno))
				}
			}
		case unix.SOCK_DIAG_BY_FAMILY:
			d := data
			if len(d) < diagMsgUIDOff+4 {
				continue
			}
			// The kernel looked the socket up by this tuple; check anyway
			// that the answer is the socket asked about.
			gotID := d[4 : 4+sockIDLen]
			if string(gotID[:36]) != string(id[:36]) {
				continue
			}
			return ne.Uint32(d[diagMsgUIDOff:]), nil
		}
	}
	return 0, fmt.Errorf("%w: sock_diag has no socket %s -> %s", ErrUnknown, remote, local)
}

// procLookup finds the peer socket in /proc/net/tcp or tcp6, where addresses
// are the kernel's in-memory words printed in hex.
func procLookup(local, remote *net.TCPAddr) (uint32, error) {
	file, want, wantRem := "/proc/net/tcp6", procAddr6(remote), procAddr6(local)
	if s4, d4 := remote.IP.To4(), local.IP.To4(); s4 != nil && d4 != nil {
		file = "/proc/net/tcp"
		want = fmt.Sprintf("%08X:%04X", binary.NativeEndian.Uint32(s4), remote.Port)
		wantRem = fmt.Sprintf("%08X:%04X", binary.NativeEndian.Uint32(d4), local.Port)
	}
	f, err := os.Open(file)
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrUnknown, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 8 || fields[1] != want || fields[2] != wantRem {
			continue
		}
		uid, err := strconv.ParseUint(fields[7], 10, 32)
		if err != nil {
			return 0, fmt.Errorf("%w: %s: bad uid %q", ErrUnknown, file, fields[7])
		}
		return uint32(uid), nil
	}
	return 0, fmt.Errorf("%w: %s has no socket %s -> %s", ErrUnknown, file, remote, local)
}

func procAddr6(a *net.TCPAddr) string {
	ip := a.IP.To16()
	var b strings.Builder
	for i := 0; i < 16; i += 4 {
		fmt.Fprintf(&b, "%08X", binary.NativeEndian.Uint32(ip[i:]))
	}
	fmt.Fprintf(&b, ":%04X", a.Port)
	return b.String()
}

func unixCred(c *net.UnixConn) (Cred, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return Cred{}, err
	}
	var cred Cred
	var serr error
	if err := raw.Control(func(fd uintptr) {
		var u *unix.Ucred
		if u, serr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED); serr != nil {
			serr = fmt.Errorf("%w: SO_PEERCRED: %v", ErrUnknown, serr)
			return
		}
		cred.UID, cred.GID = u.Uid, u.Gid
		cred.Groups, serr = peerGroups(int(fd))
	}); err != nil {
		return Cred{}, err
	}
	return cred, serr
}

// peerGroups reads SO_PEERGROUPS (Linux 4.13 and later): the peer's
// supplementary groups as an array of gid_t.
func peerGroups(fd int) ([]uint32, error) {
	buf := make([]uint32, 64)
	for range 2 {
		size := uint32(len(buf) * 4)
		_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_SOCKET, unix.SO_PEERGROUPS,
			uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(&size)), 0)
		switch errno {
		case 0:
			return buf[:size/4], nil
		case unix.ERANGE:
			buf = make([]uint32, size/4+1)
			continue
		}
		return nil, fmt.Errorf("%w: SO_PEERGROUPS: %v", ErrUnknown, errno)
	}
	return nil, fmt.Errorf("%w: SO_PEERGROUPS: the group list keeps growing", ErrUnknown)
}
