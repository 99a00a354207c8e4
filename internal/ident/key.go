package ident

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// EncodePublicKey and DecodePublicKey give a public key's text form, as
// enrolment carries it.
func EncodePublicKey(k ed25519.PublicKey) string { return b64.EncodeToString(k) }

// DecodePublicKey reads EncodePublicKey's text.
func DecodePublicKey(s string) (ed25519.PublicKey, error) {
	b, err := b64.DecodeString(s)
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: a public key is %d bytes of base64url", ErrMalformed, ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(b), nil
}

// LoadOrCreateKey reads the Ed25519 key in file (its seed, base64url), or
// draws one and writes it there, readable by its owner only. A node keeps
// its key across restarts: the controller pins the first key a node
// enrols.
func LoadOrCreateKey(file string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(file)
	switch {
	case err == nil:
		seed, derr := b64.DecodeString(strings.TrimSpace(string(b)))
		if derr != nil || len(seed) != ed25519.SeedSize {
			return nil, fmt.Errorf("key file %s is not a gefion key: move it away to have a new key drawn (the controller must then forget the old one)", file)
		}
		if fi, serr := os.Stat(file); serr == nil && fi.Mode().Perm()&0o077 != 0 {
			return nil, fmt.Errorf("key file %s is readable by others (mode %v): chmod 600 it", file, fi.Mode().Perm())
		}
		return ed25519.NewKeyFromSeed(seed), nil
	case !errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("reading the key: %w", err)
	}
	seed := make([]byte, ed25519.SeedSize)
	if _, err := rand.Read(seed); err != nil {
		return nil, fmt.Errorf("drawing a key: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return nil, fmt.Errorf("writing the key: %w", err)
	}
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("writing the key: %w", err)
	}
	if _, err := f.WriteString(b64.EncodeToString(seed) + "\n"); err != nil {
		f.Close()
		return nil, fmt.Errorf("writing the key: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("writing the key: %w", err)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

const enrolDomain = "gefion node enrolment v1\n"

func enrolMessage(nodes []string, atMS int64, pub ed25519.PublicKey) []byte {
	return []byte(fmt.Sprintf("%s%d\n%s\n%s", enrolDomain, atMS, strings.Join(nodes, "\n"), EncodePublicKey(pub)))
}

// SignEnrolment proves that an enrolment of nodes at atMS (Unix ms) comes
// from the holder of key, not from someone who merely knows its public
// half.
func SignEnrolment(key ed25519.PrivateKey, nodes []string, atMS int64) string {
	return b64.EncodeToString(ed25519.Sign(key, enrolMessage(nodes, atMS, key.Public().(ed25519.PublicKey))))
}

// VerifyEnrolment checks SignEnrolment's proof.
func VerifyEnrolment(pub ed25519.PublicKey, nodes []string, atMS int64, sig string) bool {
	s, err := b64.DecodeString(sig)
	return err == nil && len(s) == ed25519.SignatureSize && ed25519.Verify(pub, enrolMessage(nodes, atMS, pub), s)
}

// NewMACKey draws a node MAC key.
func NewMACKey() []byte {
	k := make([]byte, MACKeySize)
	_, _ = rand.Read(k)
	return k
}

// EncodeMACKey and DecodeMACKey give a MAC key's text form.
func EncodeMACKey(k []byte) string { return b64.EncodeToString(k) }

// DecodeMACKey reads EncodeMACKey's text.
func DecodeMACKey(s string) ([]byte, error) {
	b, err := b64.DecodeString(s)
	if err != nil || len(b) != MACKeySize {
		return nil, fmt.Errorf("%w: a MAC key is %d bytes of base64url", ErrMalformed, MACKeySize)
	}
	return b, nil
}
