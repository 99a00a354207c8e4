package cli

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestDeployControllerConfigs checks that the two controller
// configurations in deploy/ are valid and name a PostgreSQL store.
func TestDeployControllerConfigs(t *testing.T) {
	for _, f := range []string{"controller-a.toml", "controller-b.toml"} {
		path := filepath.Join("..", "..", "deploy", f)
		sc, err := loadServerConfig(path)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if !isPostgresURL(sc.Store) || sc.Name == "" || sc.Advertise == "" {
			t.Errorf("%s: store %q, name %q, advertise %q; want a PostgreSQL store, a name and an address", f, sc.Store, sc.Name, sc.Advertise)
		}
		// The join token file does not exist here; the rest must hold.
		sc.JoinTokenFile = ""
		if _, err := sc.controllerConfig(path); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

// TestServerStoreErrors: a store setting that is not PostgreSQL, or a bad
// lease, is refused at start with what to give instead; a password in the
// URL is never shown.
func TestServerStoreErrors(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		name, config, flag, want string
	}{
		{"not postgres", `store = "mysql://u:secret@db/x"`, "", "give a PostgreSQL URL"},
		{"flag not postgres", ``, "sqlite:///tmp/x", "give a PostgreSQL URL"},
		{"bad lease", `store = "postgres://u:secret@127.0.0.1:1/x"` + "\nlease_ttl = \"1ms\"", "", "lease_ttl"},
		{"unknown key", `stor = "postgres://x"`, "", "unknown key"},
	} {
		cfg := filepath.Join(dir, "c.toml")
		body := "listen = \"127.0.0.1:0\"\ndata_dir = " + `"` + filepath.Join(dir, "data") + `"` + "\n" + c.config + "\n"
		if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		args := []string{"server", "--config", cfg}
		if c.flag != "" {
			args = append(args, "--store", c.flag)
		}
		code, _, errs := runCLI(t, args...)
		if code == 0 || !strings.Contains(errs, c.want) || strings.Contains(errs, "secret") {
			t.Errorf("%s: exit %d, %q; want a failure saying %q, without the password", c.name, code, errs, c.want)
		}
	}
}

// TestOpenPostgresRetries: PostgreSQL down at start is waited for, with a
// warning per try naming the server (not its password), until the
// controller is stopped.
func TestOpenPostgresRetries(t *testing.T) {
	var logs strings.Builder
	log := slog.New(slog.NewTextHandler(&logs, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := openPostgres(ctx, "postgres://u:secret@127.0.0.1:1/x?connect_timeout=1", log)
	if err == nil || !strings.Contains(err.Error(), "gave up waiting for PostgreSQL") {
		t.Errorf("openPostgres with nothing listening = %v; want it to give up when stopped", err)
	}
	if n := strings.Count(logs.String(), "PostgreSQL is unreachable; retrying"); n < 2 {
		t.Errorf("%d retries logged in %s; want at least 2:\n%s", n, time.Since(start), logs.String())
	}
	if strings.Contains(logs.String(), "secret") {
		t.Errorf("the log shows the password:\n%s", logs.String())
	}
}

func TestServerWebHosts(t *testing.T) {
	sc := serverConfig{Advertise: "https://ctl-a.example:8420", WebHosts: []string{"gefion.example"}}
	if got := sc.webHosts(); !slices.Equal(got, []string{"gefion.example", "ctl-a.example"}) {
		t.Errorf("webHosts = %v; want the configured name and the advertised host", got)
	}
	if got := (&serverConfig{}).webHosts(); len(got) != 0 {
		t.Errorf("webHosts without names = %v; want none (loopback only)", got)
	}
}
