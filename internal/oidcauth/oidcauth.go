// Package oidcauth admits users of a centre's single sign-on: it verifies
// OpenID Connect ID tokens from one configured issuer (signature by the
// issuer's published keys, issuer, audience, expiry) with go-oidc, and maps
// one claim to the Unix user name. The controller asks it about bearer
// tokens that are not its own; only gefion server imports it.
package oidcauth

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
)

// Config names the issuer and how its tokens map to users.
type Config struct {
	// Issuer is the issuer URL (https://sso.example/realms/hpc); ClientID
	// the audience its ID tokens must carry for this controller.
	Issuer   string
	ClientID string
	// UserClaim is the claim that holds the Unix user name (default
	// "preferred_username").
	UserClaim string
}

// Verifier checks ID tokens.
type Verifier struct {
	v     *oidc.IDTokenVerifier
	claim string
}

// New discovers the issuer's configuration and keys (its
// .well-known/openid-configuration): the issuer must answer at start.
func New(ctx context.Context, cfg Config) (*Verifier, error) {
	if cfg.Issuer == "" || cfg.ClientID == "" {
		return nil, errors.New("OIDC: give both the issuer and the client ID")
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	p, err := oidc.NewProvider(ctx, cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("OIDC issuer %s: %w", cfg.Issuer, err)
	}
	return newVerifier(p.Verifier(&oidc.Config{ClientID: cfg.ClientID}), cfg.UserClaim), nil
}

// NewStatic checks tokens of issuer against fixed keys: for tests and for
// issuers that publish no discovery document.
func NewStatic(cfg Config, keys oidc.KeySet, algs ...string) *Verifier {
	return newVerifier(oidc.NewVerifier(cfg.Issuer, keys, &oidc.Config{ClientID: cfg.ClientID, SupportedSigningAlgs: algs}), cfg.UserClaim)
}

func newVerifier(v *oidc.IDTokenVerifier, claim string) *Verifier {
	if claim == "" {
		claim = "preferred_username"
	}
	return &Verifier{v: v, claim: claim}
}

// Verify checks raw and returns the user it names and its subject.
func (v *Verifier) Verify(ctx context.Context, raw string) (user, subject string, err error) {
	tok, err := v.v.Verify(ctx, raw)
	if err != nil {
		return "", "", err
	}
	var claims map[string]any
	if err := tok.Claims(&claims); err != nil {
		return "", "", err
	}
	user, ok := claims[v.claim].(string)
	if !ok || user == "" {
		return "", "", fmt.Errorf("the ID token has no %q claim naming the user", v.claim)
	}
	return user, tok.Subject, nil
}
