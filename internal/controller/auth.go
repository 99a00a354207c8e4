package controller

import (
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/ident"
	"github.com/gefion-hpc/gefion/internal/store"
)

// AuthConfig makes the controller verify who calls: a node credential
// signed by an enrolled node key, or a bearer token it issued. Its zero
// value is valid: a token key drawn at start (tokens then end with the
// process), 30 s of clock skew, tokens of up to 30 days.
type AuthConfig struct {
	// TokenKey signs bearer tokens; keep it across restarts (gefion
	// server keeps it in its data directory) or tokens die with them.
	TokenKey ed25519.PrivateKey
	// Skew is the clock difference tolerated between nodes and controller.
	Skew time.Duration
	// MaxTokenLifespan bounds what gefion token --lifespan may ask.
	MaxTokenLifespan time.Duration
	// OIDC, when set, checks bearer tokens that are not the controller's
	// own: ID tokens of a centre's single sign-on (package oidcauth). It
	// returns the user a token names and its subject.
	OIDC func(ctx context.Context, raw string) (user, subject string, err error)
}

// maxIDToken bounds an ID token, refused before it is parsed.
const maxIDToken = 16 << 10

// DefaultTokenLifespan is a token's lifespan when its request names none.
const DefaultTokenLifespan = 24 * time.Hour

// authority verifies credentials and tokens and keeps what that needs:
// the nodes' enrolled keys (in memory: agents enrol again when they
// register, and the first key enrolled for a node holds while the
// controller runs) and the tokens (in the store, by hash, and cached).
type authority struct {
	cfg      AuthConfig
	verifier ident.Verifier
	ts       store.TokenStore // nil: the store keeps no tokens

	mu     sync.RWMutex
	keys   map[string]ed25519.PublicKey
	macs   map[string][]byte
	tokens map[string]store.TokenRecord
	// ks keeps the pins where the store can (nil: memory only).
	ks store.NodeKeyStore
}

// A node's MAC key is derived from its public key and the controller's
// token key (HMAC-SHA256 under the key's seed), not drawn at random: with
// the pins in the store (public keys, no secret), a restarted controller,
// or another one taking over with the same token key, derives the very
// keys the agents already hold, and their credentials verify at once
// rather than after each agent enrols again. The store never holds a MAC
// key.
func (a *authority) macFor(key ed25519.PublicKey) []byte {
	m := hmac.New(sha256.New, a.cfg.TokenKey.Seed())
	m.Write([]byte("gefion node MAC key v1\n"))
	m.Write(key)
	return m.Sum(nil)
}

func newAuthority(cfg AuthConfig, st store.Store) (*authority, error) {
	if cfg.TokenKey == nil {
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("drawing a token key: %w", err)
		}
		cfg.TokenKey = k
	}
	if cfg.Skew == 0 {
		cfg.Skew = 30 * time.Second
	}
	if cfg.MaxTokenLifespan == 0 {
		cfg.MaxTokenLifespan = 30 * 24 * time.Hour
	}
	a := &authority{cfg: cfg, keys: map[string]ed25519.PublicKey{}, macs: map[string][]byte{}, tokens: map[string]store.TokenRecord{}}
	a.verifier = ident.Verifier{Key: a.key, MACKey: a.macKey, Skew: cfg.Skew}
	if ts, ok := st.(store.TokenStore); ok {
		a.ts = ts
		recs, err := ts.Tokens(context.Background())
		if err != nil {
			return nil, fmt.Errorf("loading tokens: %w", err)
		}
		for _, r := range recs {
			a.tokens[r.ID] = r
		}
	}
	if ks, ok := st.(store.NodeKeyStore); ok {
		a.ks = ks
		recs, err := ks.NodeKeys(context.Background())
		if err != nil {
			return nil, fmt.Errorf("loading node keys: %w", err)
		}
		for _, r := range recs {
			k, err := ident.DecodePublicKey(r.Key)
			if err != nil {
				return nil, fmt.Errorf("node key of %s in the store: %w", r.Node, err)
			}
			a.keys[r.Node], a.macs[r.Node] = k, a.macFor(k)
		}
	}
	return a, nil
}

func (a *authority) key(node string) (ed25519.PublicKey, bool) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	k, ok := a.keys[node]
	return k, ok
}

func (a *authority) macKey(node string) ([]byte, bool) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	k, ok := a.macs[node]
	return k, ok
}

// enroll pins key for nodes and returns their MAC key. The request must
// prove, with a fresh signature, that it comes from the key's holder: a
// public key alone enrols nothing. A node that holds another key keeps
// it: an agent with the join token may not take over a node another agent
// holds. A node enrolled again with its key keeps its MAC key.
func (a *authority) enroll(req api.EnrollRequest, now time.Time) ([]byte, error) {
	key, err := ident.DecodePublicKey(req.Key)
	if err != nil {
		return nil, invalid("enrolment key: %v", err)
	}
	if len(req.Nodes) == 0 {
		return nil, invalid("enrolment names no node")
	}
	if d := time.Duration(now.UnixMilli()-req.AtMS) * time.Millisecond; d > a.cfg.Skew || d < -a.cfg.Skew {
		return nil, unauthorized("enrolment dated %s away from the controller's clock (tolerated %s): check the node's clock", d, a.cfg.Skew)
	}
	if !ident.VerifyEnrolment(key, req.Nodes, req.AtMS, req.Proof) {
		return nil, unauthorized("enrolment without proof that it comes from the key's holder")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	var fresh []store.NodeKeyRecord
	for _, n := range req.Nodes {
		old, ok := a.keys[n]
		if ok && !old.Equal(key) {
			return nil, forbidden("node %s is enrolled with another key; an agent may not speak for a node another agent holds (if %s was reinstalled, an operator runs 'gefion nodes forget-key %s')", n, n, n)
		}
		if !ok {
			fresh = append(fresh, store.NodeKeyRecord{Node: n, Key: req.Key, EnrolledS: now.Unix()})
		}
	}
	// New pins are stored before they are used: a pin acknowledged to an
	// agent outlives a restart.
	if a.ks != nil && len(fresh) > 0 {
		if err := a.ks.PutNodeKeys(context.Background(), fresh); err != nil {
			return nil, &api.Error{Code: api.CodeUnavailable, Message: fmt.Sprintf("cannot store the node key (%v); enrol again", err)}
		}
	}
	mac := a.macFor(key)
	for _, n := range req.Nodes {
		a.keys[n], a.macs[n] = key, mac
	}
	return mac, nil
}

func unauthorized(format string, args ...any) error {
	return &api.Error{Code: api.CodeUnauthorized, Message: fmt.Sprintf(format, args...)}
}

// identify verifies r's credential or token. A stated X-Gefion-User must
// match what was verified.
func (a *authority) identify(r *http.Request, now time.Time) (Identity, error) {
	var id Identity
	cred := r.Header.Get(api.HeaderCredential)
	bearer, isBearer := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	switch {
	case cred != "" && isBearer:
		return id, unauthorized("send a node credential or a bearer token, not both")
	case cred != "":
		c, err := a.verifier.Verify(cred, now)
		if err != nil {
			if errors.Is(err, ident.ErrBusy) {
				return id, &api.Error{Code: api.CodeUnavailable, Message: "the controller holds too many credentials in flight; retry shortly"}
			}
			return id, unauthorized("node credential refused: %v", err)
		}
		id = Identity{User: c.User, Via: fmt.Sprintf("node %s uid %d", c.Node, c.UID)}
	case isBearer && a.cfg.OIDC != nil && !strings.HasPrefix(strings.TrimSpace(bearer), ident.TokenPrefix):
		raw := strings.TrimSpace(bearer)
		if len(raw) > maxIDToken {
			return id, unauthorized("ID token refused: %d bytes, more than %d", len(raw), maxIDToken)
		}
		user, sub, err := a.cfg.OIDC(r.Context(), raw)
		if err != nil {
			return id, unauthorized("ID token refused: %v", err)
		}
		id = Identity{User: user, Via: "oidc sub " + sub}
	case isBearer:
		t, err := a.verifyToken(strings.TrimSpace(bearer), now)
		if err != nil {
			return id, err
		}
		id = Identity{User: t.User, Via: "token " + t.ID}
	default:
		return id, unauthorized("no credential: run gefion on a node whose agent serves credentials (GEFION_AGENT_SOCKET names its socket), or give a token from 'gefion token' in GEFION_AUTH_TOKEN")
	}
	if claimed := r.Header.Get(api.HeaderUser); claimed != "" && claimed != id.User {
		return Identity{}, forbidden("the request claims to come from %q, but its %s says %s: a stated name is never taken over a verified one", claimed, id.Via, id.User)
	}
	return id, nil
}

func (a *authority) verifyToken(s string, now time.Time) (*ident.Token, error) {
	t, err := ident.VerifyToken(s, a.cfg.TokenKey.Public().(ed25519.PublicKey), now)
	if err != nil {
		return nil, unauthorized("bearer token refused: %v", err)
	}
	a.mu.RLock()
	rec, ok := a.tokens[t.ID]
	a.mu.RUnlock()
	switch {
	case !ok:
		return nil, unauthorized("bearer token refused: token %s is unknown to this controller", t.ID)
	case subtle.ConstantTimeCompare([]byte(rec.Hash), []byte(ident.HashToken(s))) != 1:
		return nil, unauthorized("bearer token refused: it does not match the token issued as %s", t.ID)
	case rec.RevokedS != 0:
		return nil, unauthorized("bearer token refused: token %s was revoked at %s", t.ID, time.Unix(rec.RevokedS, 0).UTC().Format(time.RFC3339))
	}
	return t, nil
}

func tokenInfo(r store.TokenRecord) api.TokenInfo {
	return api.TokenInfo{ID: r.ID, User: r.User, CreatedS: r.CreatedS, ExpiresS: r.ExpiresS, RevokedS: r.RevokedS}
}

// IssueToken issues a bearer token for the caller of ctx's request. Only
// a caller proven by a node credential may: a token that could mint
// tokens would never expire.
func (c *Controller) IssueToken(ctx context.Context, user string, req api.TokenRequest) (*api.TokenResponse, error) {
	a := c.auth
	if a == nil {
		return nil, invalid("this controller verifies no identities (gefion dev), so it issues no tokens")
	}
	if a.ts == nil {
		return nil, &api.Error{Code: api.CodeUnavailable, Message: "this controller's store keeps no tokens"}
	}
	if id, _ := IdentityOf(ctx); !strings.HasPrefix(id.Via, "node ") {
		return nil, forbidden("tokens are issued only to a caller proven by a node credential, not by another token: run 'gefion token' on a login node")
	}
	life := time.Duration(req.LifespanS) * time.Second
	switch {
	case req.LifespanS == 0:
		life = DefaultTokenLifespan
	case req.LifespanS < 0 || life > a.cfg.MaxTokenLifespan:
		return nil, invalid("lifespan %ds: give a positive lifespan of at most %s", req.LifespanS, a.cfg.MaxTokenLifespan)
	}
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	now := c.clk.Now()
	t := ident.Token{ID: hex.EncodeToString(b[:]), User: user, IssuedS: now.Unix(), ExpiresS: now.Add(life).Unix()}
	text, err := ident.SignToken(a.cfg.TokenKey, &t)
	if err != nil {
		return nil, err
	}
	rec := store.TokenRecord{ID: t.ID, User: user, Hash: ident.HashToken(text), CreatedS: t.IssuedS, ExpiresS: t.ExpiresS}
	if err := a.ts.PutToken(ctx, &rec); err != nil {
		return nil, err
	}
	a.mu.Lock()
	a.tokens[rec.ID] = rec
	a.mu.Unlock()
	return &api.TokenResponse{Token: text, TokenInfo: tokenInfo(rec)}, nil
}

// Tokens lists the caller's tokens; an operator's lists everyone's.
func (c *Controller) Tokens(ctx context.Context, user string) ([]api.TokenInfo, error) {
	out := []api.TokenInfo{}
	if c.auth == nil {
		return out, nil
	}
	c.auth.mu.RLock()
	for _, r := range c.auth.tokens {
		if r.User == user || c.isOperator(user) {
			out = append(out, tokenInfo(r))
		}
	}
	c.auth.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool {
		return out[i].CreatedS < out[j].CreatedS || out[i].CreatedS == out[j].CreatedS && out[i].ID < out[j].ID
	})
	return out, nil
}

// RevokeToken revokes a token: its owner's or, for an operator, anyone's.
func (c *Controller) RevokeToken(ctx context.Context, user, id string) error {
	a := c.auth
	if a == nil || a.ts == nil {
		return notFound("no token %s", id)
	}
	a.mu.RLock()
	rec, ok := a.tokens[id]
	a.mu.RUnlock()
	if !ok || (rec.User != user && !c.isOperator(user)) {
		// Another user's token is not even said to exist.
		return notFound("no token %s of yours; 'gefion token list' shows them", id)
	}
	now := c.clk.Now().Unix()
	if err := a.ts.RevokeToken(ctx, id, now); err != nil {
		return err
	}
	a.mu.Lock()
	if r := a.tokens[id]; r.RevokedS == 0 {
		r.RevokedS = now
		a.tokens[id] = r
	}
	a.mu.Unlock()
	return nil
}

// Enroll pins an agent's node key (see authority.enroll); without
// authentication configured it accepts and verifies nothing.
func (c *Controller) Enroll(req api.EnrollRequest) (*api.EnrollResponse, error) {
	if req.Version != api.Version {
		return nil, &api.Error{Code: api.CodeVersion, Message: fmt.Sprintf("agent speaks protocol version %d; this controller speaks %d: run the same gefion release on both", req.Version, api.Version)}
	}
	if c.auth == nil {
		return &api.EnrollResponse{}, nil
	}
	mac, err := c.auth.enroll(req, c.clk.Now())
	if err != nil {
		c.log.Warn("enrolment refused", "nodes", req.Nodes, "err", err)
		return nil, err
	}
	c.log.Info("node key enrolled", "nodes", req.Nodes)
	return &api.EnrollResponse{Verified: true, MACKey: ident.EncodeMACKey(mac)}, nil
}

// ForgetNodeKey drops a node's enrolled key and MAC key (operators only),
// so that a reinstalled node may enrol a new key without a controller
// restart. Credentials the node issued before are refused from then on.
func (c *Controller) ForgetNodeKey(user, node string) error {
	if !c.isOperator(user) {
		return forbidden("only operators may forget a node's key")
	}
	if c.auth == nil {
		return notFound("this controller enrols no node keys (gefion dev)")
	}
	c.auth.mu.Lock()
	defer c.auth.mu.Unlock()
	if _, ok := c.auth.keys[node]; !ok {
		return notFound("node %s has enrolled no key", node)
	}
	if c.auth.ks != nil {
		if err := c.auth.ks.DeleteNodeKey(context.Background(), node); err != nil && !errors.Is(err, store.ErrNotFound) {
			return &api.Error{Code: api.CodeUnavailable, Message: fmt.Sprintf("cannot forget the stored key of %s (%v); nothing changed, try again", node, err)}
		}
	}
	delete(c.auth.keys, node)
	delete(c.auth.macs, node)
	c.log.Warn("node key forgotten", "node", node, "by", user)
	return nil
}
