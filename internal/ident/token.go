package ident

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// Bounds of a bearer token.
const (
	// TokenPrefix starts every bearer token (version 1).
	TokenPrefix = "gt1."
	// MaxTokenSize bounds a token's text.
	MaxTokenSize = 1024
)

const tokenDomain = "gefion bearer token v1\n"

// Token is what a bearer token says: its ID (for listing and revocation),
// its user and its validity in Unix seconds.
type Token struct {
	ID       string `json:"jti"`
	User     string `json:"sub"`
	IssuedS  int64  `json:"iat"`
	ExpiresS int64  `json:"exp"`
}

func (t *Token) check() error {
	var errs []error
	if len(t.ID) < 8 || len(t.ID) > 64 {
		errs = append(errs, errors.New("jti: want 8 to 64 characters"))
	}
	if t.User == "" || len(t.User) > maxName {
		errs = append(errs, errors.New("sub: empty or too long"))
	}
	if t.ExpiresS <= t.IssuedS {
		errs = append(errs, errors.New("exp: must follow iat"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrMalformed, errors.Join(errs...))
	}
	return nil
}

// SignToken returns t's text, signed with the controller's key.
func SignToken(key ed25519.PrivateKey, t *Token) (string, error) {
	if err := t.check(); err != nil {
		return "", err
	}
	return seal(TokenPrefix, tokenDomain, key, t)
}

// ParseToken decodes a token without checking its signature or expiry.
func ParseToken(s string) (*Token, error) {
	var t Token
	if _, _, err := open(s, TokenPrefix, ed25519.SignatureSize, MaxTokenSize, &t); err != nil {
		return nil, err
	}
	return &t, t.check()
}

// VerifyToken checks s's signature with key and its expiry at now.
// Revocation is the caller's part: the token's ID and HashToken(s) name it.
func VerifyToken(s string, key ed25519.PublicKey, now time.Time) (*Token, error) {
	var t Token
	payload, sig, err := open(s, TokenPrefix, ed25519.SignatureSize, MaxTokenSize, &t)
	if err != nil {
		return nil, err
	}
	if err := t.check(); err != nil {
		return nil, err
	}
	if !ed25519.Verify(key, append([]byte(tokenDomain), payload...), sig) {
		return nil, fmt.Errorf("%w: not signed by this controller", ErrBadSignature)
	}
	if now.Unix() >= t.ExpiresS {
		return nil, fmt.Errorf("%w at %s", ErrExpired, time.Unix(t.ExpiresS, 0).UTC().Format(time.RFC3339))
	}
	return &t, nil
}

// HashToken is what a store keeps of a token: its SHA-256, in hex. A
// stolen store yields no usable token.
func HashToken(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}
