package peercred

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// When GEFION_PEERCRED_DIAL is set, the test binary is the peer: it dials
// that address (network:address) and holds the connection open until the
// server closes it.
func TestMain(m *testing.M) {
	if a := os.Getenv("GEFION_PEERCRED_DIAL"); a != "" {
		network, addr, _ := cut(a)
		c, err := net.Dial(network, addr)
		if err != nil {
			os.Exit(3)
		}
		var b [1]byte
		_, _ = c.Read(b[:])
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func cut(s string) (string, string, bool) {
	for i := range s {
		if s[i] == ':' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// accept listens on network/addr, runs a peer (this test binary, optionally
// under another uid) that dials it, and returns the accepted connection.
func accept(t *testing.T, network, addr string, cred *syscall.Credential) net.Conn {
	t.Helper()
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Skipf("cannot listen on %s %s: %v", network, addr, err)
	}
	t.Cleanup(func() { ln.Close() })
	if network == "unix" && cred != nil {
		// Another user connects only to a socket file it may write.
		if err := os.Chmod(addr, 0o777); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(peerBinary(t, cred != nil), "-test.run=^$")
	cmd.Env = append(os.Environ(), "GEFION_PEERCRED_DIAL="+network+":"+ln.Addr().String())
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting the peer: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	type res struct {
		c   net.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() { c, err := ln.Accept(); ch <- res{c, err} }()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatal(r.err)
		}
		t.Cleanup(func() { r.c.Close() })
		return r.c
	case <-time.After(10 * time.Second):
		t.Fatal("the peer did not connect within 10 s")
	}
	return nil
}

// peerBinary returns the test binary's path, copied where another user can
// run it when shared is set (go test builds in a private directory).
func peerBinary(t *testing.T, shared bool) string {
	if !shared {
		return os.Args[0]
	}
	dir, err := os.MkdirTemp("", "peercred-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	data, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "peer")
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return bin
}

func TestUIDSameUser(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "s")
	for _, tc := range []struct{ network, addr string }{
		{"tcp", "127.0.0.1:0"},
		{"tcp6", "[::1]:0"},
		{"unix", sock},
	} {
		t.Run(tc.network, func(t *testing.T) {
			c := accept(t, tc.network, tc.addr, nil)
			uid, err := UID(c)
			if err != nil {
				t.Fatalf("UID: %v", err)
			}
			if want := uint32(os.Getuid()); uid != want {
				t.Errorf("UID = %d; want %d", uid, want)
			}
			ctx := ConnContext(context.Background(), c)
			if got, err := FromContext(ctx); err != nil || got != uid {
				t.Errorf("FromContext = %d, %v; want %d, nil", got, err, uid)
			}
		})
	}
}

// TestUIDOtherUser is the check that matters: a process of another user is
// reported as that user, whatever it might claim.
func TestUIDOtherUser(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root, to run the peer as uid 65534")
	}
	dir, err := os.MkdirTemp("", "peercred-sock-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ network, addr string }{
		{"tcp", "127.0.0.1:0"},
		{"tcp6", "[::1]:0"},
		{"unix", filepath.Join(dir, "s")},
	} {
		t.Run(tc.network, func(t *testing.T) {
			c := accept(t, tc.network, tc.addr, &syscall.Credential{Uid: 65534, Gid: 65534})
			uid, err := UID(c)
			if err != nil {
				t.Fatalf("UID: %v", err)
			}
			if uid != 65534 {
				t.Errorf("UID = %d; want 65534", uid)
			}
		})
	}
}

func TestProcLookupAgreesWithDiag(t *testing.T) {
	c := accept(t, "tcp", "127.0.0.1:0", nil)
	l, r := c.LocalAddr().(*net.TCPAddr), c.RemoteAddr().(*net.TCPAddr)
	got, err := procLookup(l, r)
	if err != nil {
		t.Fatalf("procLookup: %v", err)
	}
	if got != uint32(os.Getuid()) {
		t.Errorf("procLookup = %d; want %d", got, os.Getuid())
	}
	if d, err := diagLookup(l, r); err == nil && d != got {
		t.Errorf("diagLookup = %d, procLookup = %d", d, got)
	}
}

func TestUnknown(t *testing.T) {
	if _, err := FromContext(context.Background()); !errors.Is(err, ErrUnknown) {
		t.Errorf("FromContext without ConnContext: err = %v; want ErrUnknown", err)
	}
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if _, err := UID(a); !errors.Is(err, ErrUnknown) {
		t.Errorf("UID(pipe): err = %v; want ErrUnknown", err)
	}
	// A tuple with no socket behind it.
	l := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}
	r := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 2}
	if _, err := tcpPeer(l, r); !errors.Is(err, ErrUnknown) {
		t.Errorf("tcpPeer(no such socket): err = %v; want ErrUnknown", err)
	}
}

func TestUnixCredIsTheCallersOwn(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "s")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cred, err := UnixCred(s.(*net.UnixConn))
	if err != nil {
		t.Fatal(err)
	}
	if cred.UID != uint32(os.Getuid()) || cred.GID != uint32(os.Getgid()) {
		t.Errorf("UnixCred = uid %d gid %d; want %d %d", cred.UID, cred.GID, os.Getuid(), os.Getgid())
	}
	groups, _ := os.Getgroups()
	if len(cred.Groups) != len(groups) {
		t.Errorf("UnixCred groups = %v; want %v", cred.Groups, groups)
	}
}
