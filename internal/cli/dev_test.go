package cli

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/peercred"
)

func TestDevIdentify(t *testing.T) {
	me, err := devOwner()
	if err != nil {
		t.Fatal(err)
	}
	other := devUser{uid: me.uid + 1, name: "someoneelse"}
	for _, tc := range []struct {
		name     string
		owner    devUser
		claim    string
		peercred bool
		want     string // user, or the error code
	}{
		{"owner, no claim", me, "", true, me.name},
		{"owner, own name", me, me.name, true, me.name},
		{"owner, claims another", me, "alice-" + me.name, true, api.CodeForbidden},
		{"not the owner", other, "", true, api.CodeForbidden},
		{"not the owner, claims the owner", other, "someoneelse", true, api.CodeForbidden},
		{"server without peer credentials", me, me.name, false, api.CodeUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got string
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				id, err := tc.owner.identify(r)
				var ae *api.Error
				switch {
				case err == nil:
					got = id.User
				case errors.As(err, &ae):
					got = ae.Code
				default:
					got = err.Error()
				}
			}))
			if tc.peercred {
				srv.Config.ConnContext = peercred.ConnContext
			}
			srv.Start()
			defer srv.Close()
			req, _ := http.NewRequest("GET", srv.URL, nil)
			if tc.claim != "" {
				req.Header.Set(api.HeaderUser, tc.claim)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if got != tc.want {
				t.Errorf("identify = %q; want %q", got, tc.want)
			}
		})
	}
}

func TestLoadOrCreateToken(t *testing.T) {
	file := filepath.Join(t.TempDir(), "join-token")
	tok, err := loadOrCreateToken(file, "")
	if err != nil || len(tok) < 32 {
		t.Fatalf("loadOrCreateToken = %q, %v; want a new token", tok, err)
	}
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("token file mode = %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	again, err := loadOrCreateToken(file, "")
	if err != nil || again != tok {
		t.Errorf("second loadOrCreateToken = %q, %v; want the same %q", again, err, tok)
	}
	if err := os.WriteFile(file, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadOrCreateToken(file, ""); err == nil {
		t.Error("an empty token file was accepted")
	}
}

func TestDevNodeNames(t *testing.T) {
	for _, tc := range []struct {
		name string
		n    int
		want string // joined with spaces, or "error"
	}{
		{"", 1, ""},
		{"box", 1, "box"},
		{"", 3, "dev1 dev2 dev3"},
		{"n", 2, "n1 n2"},
		{"", 0, "error"},
		{"", -2, "error"},
		{"", 65, "error"},
	} {
		got, err := devNodeNames(tc.name, tc.n)
		s := strings.Join(got, " ")
		if err != nil {
			s = "error"
		}
		if s != tc.want {
			t.Errorf("devNodeNames(%q, %d) = %q, %v; want %q", tc.name, tc.n, s, err, tc.want)
		}
	}
}
