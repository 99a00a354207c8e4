package nodeauth

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gefion-hpc/gefion/internal/ident"
)

func TestServerVouchesForTheCaller(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "run", "agent.sock")
	ln, err := Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	pub, key, _ := ed25519.GenerateKey(nil)
	now := time.Unix(1_800_000_000, 0)
	srv := &Server{Key: key, Node: "login1", Controller: "https://ctl:8420", CA: func() string { return "PEM" },
		Lookup: func(uid uint32) (string, error) { return "user" + strings.Repeat("x", int(uid%2)), nil },
		Now:    func() time.Time { return now }}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = srv.Serve(ctx, ln) }()
	if !Available(sock) {
		t.Fatalf("Available(%s) = false", sock)
	}
	v := &ident.Verifier{Key: func(string) (ed25519.PublicKey, bool) { return pub, true }}
	r, err := Fetch(ctx, sock)
	if err != nil {
		t.Fatal(err)
	}
	if r.Controller != "https://ctl:8420" || r.CA != "PEM" {
		t.Errorf("Fetch = %+v; want the controller and its CA", r)
	}
	c, err := v.Verify(r.Credential, now)
	if err != nil {
		t.Fatal(err)
	}
	if c.UID != uint32(os.Getuid()) || c.GID != uint32(os.Getgid()) || c.Node != "login1" {
		t.Errorf("credential %+v; want uid %d gid %d on login1", c, os.Getuid(), os.Getgid())
	}
	// Whatever a caller sends is not read: a request naming root gets the
	// caller's own credential.
	conn, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = conn.Write([]byte(`{"uid":0,"user":"root"}`))
	buf := make([]byte, 4096)
	n, _ := conn.Read(buf)
	conn.Close()
	var claimed Reply
	if err := json.Unmarshal(buf[:n], &claimed); err != nil || claimed.Credential == "" {
		t.Fatalf("answer to a claiming caller: %q", buf[:n])
	}
	if c, err := ident.ParseCredential(claimed.Credential); err != nil || c.UID != uint32(os.Getuid()) {
		t.Errorf("a caller claiming root got %+v, %v; want its own uid %d", c, err, os.Getuid())
	}
	// Once the controller gave a MAC key, credentials are sealed with it.
	mac := ident.NewMACKey()
	srv.SetMACKey(mac)
	r, err = Fetch(ctx, sock)
	if err != nil {
		t.Fatal(err)
	}
	v.MACKey = func(string) ([]byte, bool) { return mac, true }
	if !strings.HasPrefix(r.Credential, ident.MACCredentialPrefix) {
		t.Errorf("credential after SetMACKey = %.8s...; want %s", r.Credential, ident.MACCredentialPrefix)
	}
	if _, err := v.Verify(r.Credential, now); err != nil {
		t.Errorf("MAC credential: %v", err)
	}
	// A second agent may not take the socket over.
	if _, err := Listen(sock); err == nil {
		t.Error("Listen on a served socket succeeded")
	}
}

func TestListenRefusesAnOpenDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "open")
	if err := os.Mkdir(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if _, err := Listen(filepath.Join(dir, "agent.sock")); err == nil || !strings.Contains(err.Error(), "writable by others") {
		t.Errorf("Listen in a world-writable directory = %v; want a refusal", err)
	}
}

func TestFetchWithoutAgent(t *testing.T) {
	_, err := Fetch(context.Background(), filepath.Join(t.TempDir(), "none.sock"))
	if !errors.Is(err, ErrNoAgent) {
		t.Errorf("Fetch = %v; want ErrNoAgent", err)
	}
}
