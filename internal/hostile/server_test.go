package hostile

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gefion-hpc/gefion/internal/client"
	"github.com/gefion-hpc/gefion/internal/ident"
	"github.com/gefion-hpc/gefion/internal/nodeauth"
	"github.com/gefion-hpc/gefion/internal/testdev"
)

// credPeerEnv, when set, makes the test binary a process that asks the
// agent at that socket for a credential and prints it: run as another
// user, it shows whose credential an agent gives.
const credPeerEnv = "GEFION_HOSTILE_CRED_PEER"

func init() {
	if sock := os.Getenv(credPeerEnv); sock != "" {
		r, err := nodeauth.Fetch(context.Background(), sock)
		if err != nil {
			fmt.Println("ERR", err)
			os.Exit(1)
		}
		fmt.Println(r.Credential)
		os.Exit(0)
	}
}

// cluster is a live gefion server (TLS, credentials) with a virtual
// compute agent and a login agent serving credentials on a socket.
type liveCluster struct {
	t              *testing.T
	bin, dir, sock string
	url, tokenFile string
	https          *http.Client
	logs           map[string]*bytes.Buffer
}

var urlRE = regexp.MustCompile(`"url":"(https://127\.0\.0\.1:\d+)"`)

// start runs a gefion subcommand in the background until the test ends;
// it returns a channel closed when the process exits.
func (c *liveCluster) start(name string, env []string, args ...string) (<-chan struct{}, *syncBuffer) {
	c.t.Helper()
	cmd := exec.Command(c.bin, args...)
	cmd.Env = append(os.Environ(), env...)
	log := &syncBuffer{}
	cmd.Stderr, cmd.Stdout = log, log
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	c.t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
		}
		if c.t.Failed() {
			c.t.Logf("%s's log:\n%s", name, log.String())
		}
	})
	return exited, log
}

// syncBuffer is a process's output, written by exec's copier while the
// test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func startCluster(t *testing.T) *liveCluster {
	t.Helper()
	if testing.Short() {
		t.Skip("starts gefion server and two agents")
	}
	c := &liveCluster{t: t, bin: testdev.Binary(t), dir: t.TempDir()}
	// The socket's directory is open to every user (the agent refuses
	// one that others may write).
	sockDir, err := os.MkdirTemp("", "gefion-sock-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	if err := os.Chmod(sockDir, 0o755); err != nil {
		t.Fatal(err)
	}
	c.sock = filepath.Join(sockDir, "agent.sock")
	conf := filepath.Join(c.dir, "controller.toml")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf("listen = \"127.0.0.1:0\"\ndata_dir = %q\noperators = [\"admin\"]\ndefault_project = \"default\"\n", filepath.Join(c.dir, "data"))), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(c.bin, "server", "--config", conf)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	serverLog := &bytes.Buffer{}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("server's log:\n%s", serverLog)
		}
	})
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			serverLog.WriteString(sc.Text() + "\n")
			if m := urlRE.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
			}
		}
	}()
	select {
	case c.url = <-found:
	case <-time.After(60 * time.Second):
		t.Fatalf("gefion server did not start within 60 s:\n%s", serverLog)
	}
	c.tokenFile = filepath.Join(c.dir, "data", "join-token")
	ca, err := os.ReadFile(filepath.Join(c.dir, "data", "tls", "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := client.CATLS(ca)
	if err != nil {
		t.Fatal(err)
	}
	c.https = &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
	c.start("compute agent", nil, "agent", "--controller", c.url, "--token-file", c.tokenFile, "--virtual", "2", "--key-file", filepath.Join(c.dir, "compute.key"))
	c.start("login agent", nil, "agent", "--controller", c.url, "--token-file", c.tokenFile, "--login", "--name", "login1",
		"--socket", c.sock, "--key-file", filepath.Join(c.dir, "login.key"))
	deadline := time.Now().Add(30 * time.Second)
	for {
		if nodeauth.Available(c.sock) {
			cred := c.cred()
			code, body := c.do("GET", "/v1/nodes", "", map[string]string{"X-Gefion-Credential": cred})
			if code == 200 && strings.Count(body, `"idle"`) == 2 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the cluster did not come up within 30 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	return c
}

// cred asks the login agent for a credential, as the test's user.
func (c *liveCluster) cred() string {
	c.t.Helper()
	r, err := nodeauth.Fetch(context.Background(), c.sock)
	if err != nil {
		c.t.Fatal(err)
	}
	return r.Credential
}

func (c *liveCluster) do(method, path, body string, hdr map[string]string) (int, string) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.url+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.https.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// cli runs a gefion command with env and returns its output and error.
func (c *liveCluster) cli(env []string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.bin, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestServerWithAgentsAndCredentials(t *testing.T) {
	c := startCluster(t)
	me := ownerName(t)
	// A user on the login node needs no set-up: the agent's socket names
	// the controller and its CA, and vouches for the caller.
	onLogin := []string{nodeauth.SocketEnv + "=" + c.sock, "GEFION_ADDR=", "GEFION_USER=", "GEFION_AUTH_TOKEN="}
	out, err := c.cli(onLogin, "sbatch", "--wrap", "true", "--comment", "duration=1")
	if err != nil || !strings.HasPrefix(out, "Submitted batch job ") {
		t.Fatalf("sbatch through the login node: %v\n%s", err, out)
	}
	id := strings.TrimSpace(strings.TrimPrefix(out, "Submitted batch job "))
	out, err = c.cli(onLogin, "queue", "--json")
	if err != nil || !regexp.MustCompile(`"user":\s*"`+me+`"`).MatchString(out) {
		t.Fatalf("queue through the login node: %v\n%s", err, out)
	}
	// A stated name is not taken: GEFION_USER does not change who submits.
	out, err = c.cli(append(onLogin, "GEFION_USER=admin"), "sbatch", "--wrap", "true", "--comment", "duration=1")
	if err != nil {
		t.Fatalf("sbatch with GEFION_USER set: %v\n%s", err, out)
	}
	id2 := strings.TrimSpace(strings.TrimPrefix(out, "Submitted batch job "))
	code, body := c.do("GET", "/v1/jobs/"+id2, "", map[string]string{"X-Gefion-Credential": c.cred()})
	if code != 200 || !strings.Contains(body, `"user":"`+me+`"`) {
		t.Errorf("job %s: %d %s; want it owned by %s", id2, code, body, me)
	}

	// Once enrolled, the agent seals credentials with the MAC key the
	// controller gave it.
	if cred := c.cred(); !strings.HasPrefix(cred, ident.MACCredentialPrefix) {
		t.Errorf("the login agent's credential %.8s...; want one sealed with its MAC key (%s)", cred, ident.MACCredentialPrefix)
	}
	// The attacks, against the live server.
	t.Run("stated names are refused", func(t *testing.T) {
		for _, who := range []string{"root", "admin", me} {
			if code, body := c.do("POST", "/v1/jobs", `{"spec":{"script":"#!/bin/sh\n"}}`, map[string]string{"X-Gefion-User": who}); code != 401 {
				t.Errorf("X-Gefion-User %s alone: %d %s; want 401", who, code, body)
			}
		}
	})
	t.Run("replayed credential", func(t *testing.T) {
		cred := c.cred()
		if code, body := c.do("GET", "/v1/jobs", "", map[string]string{"X-Gefion-Credential": cred}); code != 200 {
			t.Fatalf("first use: %d %s", code, body)
		}
		if code, body := c.do("GET", "/v1/jobs", "", map[string]string{"X-Gefion-Credential": cred}); code != 401 || !strings.Contains(body, "replayed") {
			t.Errorf("second use: %d %s; want 401 replayed", code, body)
		}
	})
	t.Run("valid credential with another stated user", func(t *testing.T) {
		if code, body := c.do("POST", "/v1/jobs/"+id+"/cancel", "", map[string]string{"X-Gefion-Credential": c.cred(), "X-Gefion-User": "admin"}); code != 403 {
			t.Errorf("%d %s; want 403", code, body)
		}
	})
	t.Run("truncated credential", func(t *testing.T) {
		cred := c.cred()
		if code, body := c.do("GET", "/v1/jobs", "", map[string]string{"X-Gefion-Credential": cred[:len(cred)/2]}); code != 401 {
			t.Errorf("%d %s; want 401", code, body)
		}
	})
	t.Run("header bomb", func(t *testing.T) {
		if code, _ := c.do("GET", "/v1/jobs", "", map[string]string{"X-Gefion-Credential": strings.Repeat("A", 200<<10)}); code != 431 {
			t.Errorf("%d; want 431", code)
		}
	})
	t.Run("agent impersonating the login node", func(t *testing.T) {
		exited, log := c.start("impostor", nil, "agent", "--controller", c.url, "--token-file", c.tokenFile, "--login", "--name", "login1",
			"--socket", filepath.Join(c.dir, "impostor.sock"), "--key-file", filepath.Join(c.dir, "impostor.key"))
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			t.Fatal("an agent with another key for login1 kept running")
		}
		if !strings.Contains(log.String(), "enrolled with another key") {
			t.Errorf("impostor's log does not say why it was refused:\n%s", log)
		}
	})
	t.Run("agent without the join token", func(t *testing.T) {
		out, err := c.cli(nil, "agent", "--controller", c.url, "--token", "gjt1."+strings.Repeat("0", 64)+".guess", "--login", "--name", "login9",
			"--socket", filepath.Join(c.dir, "guess.sock"), "--key-file", filepath.Join(c.dir, "guess.key"))
		if err == nil || !strings.Contains(out, "does not chain to the CA the join token pins") {
			t.Errorf("agent pinning another CA: %v\n%s; want a refusal naming the pin", err, out)
		}
		tok, _ := os.ReadFile(c.tokenFile)
		_, fp, _ := client.ParseJoinToken(strings.TrimSpace(string(tok)))
		out, err = c.cli(nil, "agent", "--controller", c.url, "--token", "gjt1."+fp+".guess", "--login", "--name", "login9",
			"--socket", filepath.Join(c.dir, "guess.sock"), "--key-file", filepath.Join(c.dir, "guess.key"))
		if err == nil || !strings.Contains(out, "join token") {
			t.Errorf("agent with a wrong secret: %v\n%s; want a refusal naming the join token", err, out)
		}
	})
	t.Run("tokens", func(t *testing.T) {
		out, err := c.cli(onLogin, "token", "--lifespan", "1h")
		tok, ok := strings.CutPrefix(strings.TrimSpace(out), "GEFION_AUTH_TOKEN=")
		if err != nil || !ok {
			t.Fatalf("gefion token: %v\n%s", err, out)
		}
		tok, _, _ = strings.Cut(tok, "\n")
		// From elsewhere: no agent socket, the token and the CA file.
		away := []string{nodeauth.SocketEnv + "=" + filepath.Join(c.dir, "none.sock"), "GEFION_ADDR=" + c.url,
			"GEFION_CA_FILE=" + filepath.Join(c.dir, "data", "tls", "ca.pem"), "GEFION_AUTH_TOKEN=" + tok}
		if out, err := c.cli(away, "queue"); err != nil || !strings.Contains(out, id) {
			t.Fatalf("queue with a token: %v\n%s", err, out)
		}
		parsed, err := ident.ParseToken(tok)
		if err != nil {
			t.Fatal(err)
		}
		if out, err := c.cli(onLogin, "token", "revoke", parsed.ID); err != nil {
			t.Fatalf("revoke: %v\n%s", err, out)
		}
		if out, err := c.cli(away, "queue"); err == nil || !strings.Contains(out, "revoked") {
			t.Errorf("queue with a revoked token: %v\n%s; want a refusal", err, out)
		}
	})
	t.Run("another user's credential is their own", func(t *testing.T) {
		other, err := user.LookupId("1000")
		if os.Geteuid() != 0 || err != nil {
			t.Skip("needs root and a user with uid 1000, to ask the agent as another user")
		}
		cmd := exec.Command(sharedCopy(t, os.Args[0]), "-test.run=^$")
		cmd.Env = append(os.Environ(), credPeerEnv+"="+c.sock, "GEFION_USER=root")
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 1000, Gid: 1000}}
		cmd.Dir = "/"
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("peer as uid 1000: %v\n%s", err, out)
		}
		cred, err := ident.ParseCredential(strings.TrimSpace(string(out)))
		if err != nil {
			t.Fatalf("peer's credential: %v\n%s", err, out)
		}
		if cred.UID != 1000 || cred.User != other.Username || cred.Node != "login1" {
			t.Errorf("credential for uid 1000 = %+v; want uid 1000 (%s) on login1", cred, other.Username)
		}
		// Sent claiming root, it is refused; sent plainly, it is uid 1000's.
		if code, body := c.do("POST", "/v1/jobs/"+id+"/cancel", "", map[string]string{"X-Gefion-Credential": strings.TrimSpace(string(out)), "X-Gefion-User": "root"}); code != 403 {
			t.Errorf("uid 1000's credential claiming root: %d %s; want 403", code, body)
		}
	})
}

func TestServerSafeDefaults(t *testing.T) {
	if testing.Short() {
		t.Skip("runs gefion server")
	}
	bin := testdev.Binary(t)
	dir := t.TempDir()
	for _, tc := range []struct {
		name, conf string
		args       []string
		want       string
	}{
		{"plain HTTP off loopback", "listen = \"0.0.0.0:0\"\nplaintext = true\n", nil, "--insecure-plaintext-i-know"},
		{"no authentication", "listen = \"127.0.0.1:0\"\nauth = \"none\"\n", nil, "identifies users by node credentials and tokens only"},
		{"half a certificate", "listen = \"127.0.0.1:0\"\ntls_cert = \"x.pem\"\n", nil, "give both tls_cert and tls_key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conf := filepath.Join(dir, "c.toml")
			if err := os.WriteFile(conf, []byte(tc.conf+fmt.Sprintf("data_dir = %q\n", filepath.Join(dir, "data"))), 0o644); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, bin, append([]string{"server", "--config", conf}, tc.args...)...).CombinedOutput()
			if err == nil || ctx.Err() != nil || !strings.Contains(string(out), tc.want) {
				t.Errorf("gefion server with %q: %v\n%s; want a refusal saying %q", tc.conf, err, out, tc.want)
			}
		})
	}
}
