package ident

import (
	"bytes"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// Errors of Parse and Verify, wrapped with details.
var (
	ErrMalformed    = errors.New("malformed")
	ErrTooLarge     = errors.New("too large")
	ErrUnknownNode  = errors.New("unknown node")
	ErrBadSignature = errors.New("bad signature")
	ErrExpired      = errors.New("expired")
	ErrNotYetValid  = errors.New("not yet valid")
	ErrReplayed     = errors.New("replayed")
	ErrBusy         = errors.New("too many credentials in flight")
)

// Bounds of a credential.
const (
	// CredentialPrefix starts a node credential signed with the node's
	// Ed25519 key; MACCredentialPrefix one sealed with the node's MAC key
	// (HMAC-SHA256), which the controller gave the node at enrolment,
	// after the node proved it holds its Ed25519 key. Both say the same;
	// the controller checks a MAC-sealed credential about ten times
	// faster than a signed one (BenchmarkVerify).
	CredentialPrefix    = "gc1."
	MACCredentialPrefix = "gm1."
	// MACKeySize is a node MAC key's length in bytes.
	MACKeySize = 32
	// MaxCredentialSize bounds a credential's text: it is refused before
	// it is decoded.
	MaxCredentialSize = 4096
	// MaxGroups bounds the supplementary groups a credential lists.
	MaxGroups = 128
	// MaxLifetime bounds a credential's validity, however its issuer set
	// it: a stolen credential is worth a few seconds.
	MaxLifetime = 5 * time.Minute
	// NonceSize is the random nonce's length in bytes.
	NonceSize = 16
	// maxName bounds user and node names.
	maxName = 256
)

const credentialDomain = "gefion node credential v1\n"

var b64 = base64.RawURLEncoding.Strict()

// Credential is a node agent's statement that a local process runs as UID
// (with GID and Groups) right now. The agent takes every field but Node,
// the times and the nonce from the kernel; none from the caller.
type Credential struct {
	UID    uint32   `json:"uid"`
	GID    uint32   `json:"gid"`
	Groups []uint32 `json:"groups,omitempty"`
	// User is the name of UID on the issuing node.
	User string `json:"user"`
	// Node is the issuing node, whose enrolled key signs.
	Node string `json:"node"`
	// IssuedMS and ExpiresMS are Unix milliseconds.
	IssuedMS  int64 `json:"iat"`
	ExpiresMS int64 `json:"exp"`
	// Nonce makes each credential unique: the controller takes it once.
	Nonce string `json:"nonce"`
}

// NewNonce draws a random nonce.
func NewNonce() string {
	var b [NonceSize]byte
	_, _ = rand.Read(b[:])
	return b64.EncodeToString(b[:])
}

// SignCredential returns c's text, signed with key.
func SignCredential(key ed25519.PrivateKey, c *Credential) (string, error) {
	if err := c.check(); err != nil {
		return "", err
	}
	return seal(CredentialPrefix, credentialDomain, key, c)
}

func seal(prefix, domain string, key ed25519.PrivateKey, v any) (string, error) {
	payload, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	sig := ed25519.Sign(key, append([]byte(domain), payload...))
	var b strings.Builder
	b.Grow(len(prefix) + b64.EncodedLen(len(payload)) + 1 + b64.EncodedLen(len(sig)))
	b.WriteString(prefix)
	b.WriteString(b64.EncodeToString(payload))
	b.WriteByte('.')
	b.WriteString(b64.EncodeToString(sig))
	return b.String(), nil
}

// open splits and decodes prefix.payload.signature, bounded by max bytes,
// and decodes the payload strictly into v. It checks no signature.
func open(s, prefix string, sigSize, max int, v any) (payload, sig []byte, err error) {
	if len(s) > max {
		return nil, nil, fmt.Errorf("%w: %d bytes, more than %d", ErrTooLarge, len(s), max)
	}
	rest, ok := strings.CutPrefix(s, prefix)
	if !ok {
		return nil, nil, fmt.Errorf("%w: does not start with %q", ErrMalformed, prefix)
	}
	p, sg, ok := strings.Cut(rest, ".")
	if !ok || strings.Contains(sg, ".") {
		return nil, nil, fmt.Errorf("%w: want payload.signature", ErrMalformed)
	}
	if payload, err = b64.DecodeString(p); err != nil {
		return nil, nil, fmt.Errorf("%w: payload: not base64url", ErrMalformed)
	}
	if sig, err = b64.DecodeString(sg); err != nil || len(sig) != sigSize {
		return nil, nil, fmt.Errorf("%w: signature: not %d bytes of base64url", ErrMalformed, sigSize)
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return nil, nil, fmt.Errorf("%w: payload: %v", ErrMalformed, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, nil, fmt.Errorf("%w: payload: trailing data", ErrMalformed)
	}
	return payload, sig, nil
}

// SealCredential returns c's text, sealed with the node's MAC key.
func SealCredential(macKey []byte, c *Credential) (string, error) {
	if err := c.check(); err != nil {
		return "", err
	}
	if len(macKey) != MACKeySize {
		return "", fmt.Errorf("%w: a MAC key is %d bytes", ErrMalformed, MACKeySize)
	}
	payload, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	return MACCredentialPrefix + b64.EncodeToString(payload) + "." + b64.EncodeToString(credentialMAC(macKey, payload)), nil
}

func credentialMAC(key, payload []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(credentialDomain))
	m.Write(payload)
	return m.Sum(nil)
}

// ParseCredential decodes a credential of either kind without checking its
// seal or times: for tools and fuzzing. Verify is what a server calls.
func ParseCredential(s string) (*Credential, error) {
	c, _, _, err := parseCredential(s)
	return c, err
}

func parseCredential(s string) (*Credential, []byte, []byte, error) {
	var c Credential
	prefix, sigSize := CredentialPrefix, ed25519.SignatureSize
	if strings.HasPrefix(s, MACCredentialPrefix) {
		prefix, sigSize = MACCredentialPrefix, sha256.Size
	}
	payload, sig, err := open(s, prefix, sigSize, MaxCredentialSize, &c)
	if err != nil {
		return nil, nil, nil, err
	}
	if err := c.check(); err != nil {
		return nil, nil, nil, err
	}
	return &c, payload, sig, nil
}

// check validates the fields' shapes (not their truth).
func (c *Credential) check() error {
	var errs []error
	if c.User == "" || len(c.User) > maxName {
		errs = append(errs, errors.New("user: empty or too long"))
	}
	if c.Node == "" || len(c.Node) > maxName {
		errs = append(errs, errors.New("node: empty or too long"))
	}
	if len(c.Groups) > MaxGroups {
		errs = append(errs, fmt.Errorf("groups: %d, more than %d", len(c.Groups), MaxGroups))
	}
	if n, err := b64.DecodeString(c.Nonce); err != nil || len(n) != NonceSize {
		errs = append(errs, fmt.Errorf("nonce: want %d bytes of base64url", NonceSize))
	}
	// A negative issue time could make the difference below overflow.
	if c.IssuedMS < 0 || c.ExpiresMS <= c.IssuedMS || c.ExpiresMS-c.IssuedMS > MaxLifetime.Milliseconds() {
		errs = append(errs, fmt.Errorf("expiry: must follow issue by at most %s", MaxLifetime))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrMalformed, errors.Join(errs...))
	}
	return nil
}

// Verifier checks node credentials: signature by the named node's enrolled
// key, validity at the verifier's time give or take Skew, and single use
// of each nonce while the credential could still be valid. It is safe for
// concurrent use.
type Verifier struct {
	// Key returns node's enrolled public key; MACKey its MAC key (nil:
	// MAC-sealed credentials are refused).
	Key    func(node string) (ed25519.PublicKey, bool)
	MACKey func(node string) ([]byte, bool)
	// Skew is the clock difference tolerated between node and verifier
	// (default 30 s).
	Skew time.Duration
	// MaxNonces bounds the nonces remembered (default 1,000,000); past it,
	// credentials are refused with ErrBusy until old ones expire.
	MaxNonces int

	mu   sync.Mutex
	seen map[string]struct{} // node + nonce
	// bySecond lists the nonces that may be forgotten in each second
	// (Unix); every second before next is forgotten already. Forgetting
	// walks only the seconds that passed, never the whole set.
	bySecond map[int64][]string
	next     int64
}

// Verify checks s at now and returns the credential it carries. A
// credential passes Verify at most once.
func (v *Verifier) Verify(s string, now time.Time) (*Credential, error) {
	c, payload, sig, err := parseCredential(s)
	if err != nil {
		return nil, err
	}
	if len(sig) == sha256.Size {
		var key []byte
		ok := false
		if v.MACKey != nil {
			key, ok = v.MACKey(c.Node)
		}
		if !ok {
			return nil, fmt.Errorf("%w: node %q holds no MAC key", ErrUnknownNode, c.Node)
		}
		if !hmac.Equal(sig, credentialMAC(key, payload)) {
			return nil, fmt.Errorf("%w: not sealed with node %s's MAC key", ErrBadSignature, c.Node)
		}
	} else {
		key, ok := v.Key(c.Node)
		if !ok {
			return nil, fmt.Errorf("%w: node %q has enrolled no key", ErrUnknownNode, c.Node)
		}
		if !ed25519.Verify(key, append([]byte(credentialDomain), payload...), sig) {
			return nil, fmt.Errorf("%w: not signed by node %s's enrolled key", ErrBadSignature, c.Node)
		}
	}
	skew := v.Skew
	if skew == 0 {
		skew = 30 * time.Second
	}
	ms := now.UnixMilli()
	switch {
	case ms > c.ExpiresMS+skew.Milliseconds():
		return nil, fmt.Errorf("%w: %s ago (tolerated clock skew %s)", ErrExpired, time.Duration(ms-c.ExpiresMS)*time.Millisecond, skew)
	case ms < c.IssuedMS-skew.Milliseconds():
		return nil, fmt.Errorf("%w: issued %s in the future (tolerated clock skew %s): check the node's clock", ErrNotYetValid, time.Duration(c.IssuedMS-ms)*time.Millisecond, skew)
	}
	if err := v.use(c.Node+"\x00"+c.Nonce, c.ExpiresMS+skew.Milliseconds(), ms); err != nil {
		return nil, err
	}
	return c, nil
}

// use records a nonce until forget (ms), or says it was used.
func (v *Verifier) use(key string, forget, now int64) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.seen == nil {
		v.seen, v.bySecond, v.next = make(map[string]struct{}), make(map[int64][]string), now/1000
	}
	// Forget the nonces of the seconds that have passed: their
	// credentials fail the expiry check now.
	for ; v.next < now/1000 && len(v.bySecond) > 0; v.next++ {
		for _, k := range v.bySecond[v.next] {
			delete(v.seen, k)
		}
		delete(v.bySecond, v.next)
	}
	v.next = max(v.next, now/1000)
	if _, dup := v.seen[key]; dup {
		return fmt.Errorf("%w: this credential was used before; each request needs a fresh one", ErrReplayed)
	}
	bound := v.MaxNonces
	if bound == 0 {
		bound = 1_000_000
	}
	if len(v.seen) >= bound {
		return ErrBusy
	}
	v.seen[key] = struct{}{}
	// Kept through the second after forget, so that it outlives its
	// credential's validity.
	s := forget/1000 + 1
	v.bySecond[s] = append(v.bySecond[s], key)
	return nil
}
