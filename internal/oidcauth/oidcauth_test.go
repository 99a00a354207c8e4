package oidcauth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
)

const issuer = "https://sso.example/realms/hpc"

func sign(t *testing.T, key *ecdsa.PrivateKey, claims map[string]any) string {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, nil)
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	obj, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestVerify(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	v := NewStatic(Config{Issuer: issuer, ClientID: "gefion"}, &oidc.StaticKeySet{PublicKeys: []crypto.PublicKey{&key.PublicKey}}, oidc.ES256)
	now := time.Now()
	claims := func(edit func(c map[string]any)) map[string]any {
		c := map[string]any{"iss": issuer, "aud": "gefion", "sub": "f00d", "preferred_username": "alice",
			"iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
		if edit != nil {
			edit(c)
		}
		return c
	}
	user, sub, err := v.Verify(context.Background(), sign(t, key, claims(nil)))
	if err != nil || user != "alice" || sub != "f00d" {
		t.Fatalf("Verify = %q, %q, %v; want alice, f00d", user, sub, err)
	}
	good := sign(t, key, claims(nil))
	for name, raw := range map[string]string{
		"signed by another key": sign(t, other, claims(nil)),
		"another issuer":        sign(t, key, claims(func(c map[string]any) { c["iss"] = "https://evil.example" })),
		"another audience":      sign(t, key, claims(func(c map[string]any) { c["aud"] = "other-app" })),
		"expired":               sign(t, key, claims(func(c map[string]any) { c["exp"] = now.Add(-time.Hour).Unix() })),
		"no user claim":         sign(t, key, claims(func(c map[string]any) { delete(c, "preferred_username") })),
		"truncated":             good[:len(good)-10],
		"a payload swapped in":  strings.Join([]string{strings.Split(good, ".")[0], strings.Split(sign(t, key, claims(func(c map[string]any) { c["preferred_username"] = "root" })), ".")[1], strings.Split(good, ".")[2]}, "."),
	} {
		if u, _, err := v.Verify(context.Background(), raw); err == nil {
			t.Errorf("%s: Verify = %q; want a refusal", name, u)
		}
	}
}
