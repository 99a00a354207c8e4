package controller

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"

	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/oidcauth"
	"github.com/gefion-hpc/gefion/internal/store"
)

func TestOIDCTokens(t *testing.T) {
	const issuer = "https://sso.example/realms/hpc"
	idp, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	forger, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	v := oidcauth.NewStatic(oidcauth.Config{Issuer: issuer, ClientID: "gefion"}, &oidc.StaticKeySet{PublicKeys: []crypto.PublicKey{&idp.PublicKey}}, oidc.ES256)
	h := &authHarness{harness: newHarness(t, Config{Auth: &AuthConfig{OIDC: v.Verify}}, store.NewMemory(), 0)}
	idToken := func(key *ecdsa.PrivateKey, user string) string {
		s, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, nil)
		payload, _ := json.Marshal(map[string]any{"iss": issuer, "aud": "gefion", "sub": "sub-" + user, "preferred_username": user,
			"iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix()})
		obj, err := s.Sign(payload)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := obj.CompactSerialize()
		return raw
	}
	carol := idToken(idp, "carol")
	for _, tc := range []struct {
		name, method, path string
		hdr                map[string]string
		want               int
	}{
		{"an ID token of the issuer", "GET", "/v1/jobs", map[string]string{"Authorization": "Bearer " + carol}, 200},
		{"an ID token with another stated user", "GET", "/v1/jobs", map[string]string{"Authorization": "Bearer " + carol, api.HeaderUser: "admin"}, 403},
		{"an ID token signed by someone else", "GET", "/v1/jobs", map[string]string{"Authorization": "Bearer " + idToken(forger, "admin")}, 401},
		{"a truncated ID token", "GET", "/v1/jobs", map[string]string{"Authorization": "Bearer " + carol[:len(carol)-5]}, 401},
		{"an ID token of 20 KiB", "GET", "/v1/jobs", map[string]string{"Authorization": "Bearer " + strings.Repeat("a", 20<<10)}, 401},
		{"an ID token asking for a token", "POST", "/v1/tokens", map[string]string{"Authorization": "Bearer " + carol}, 403},
		{"a forged controller token is still the controller's to judge", "GET", "/v1/jobs", map[string]string{"Authorization": "Bearer " + forgeToken(t, "admin")}, 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := ""
			if tc.method == "POST" {
				body = "{}"
			}
			if code, resp := h.send(tc.method, tc.path, tc.hdr, body); code != tc.want {
				t.Errorf("%s %s: %d %s; want %d", tc.method, tc.path, code, resp, tc.want)
			}
		})
	}
	if code, _ := h.send("GET", "/v1/jobs", nil, ""); code != http.StatusUnauthorized {
		t.Errorf("no identity at all: %d; want 401", code)
	}
}
