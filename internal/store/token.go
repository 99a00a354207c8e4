package store

import "context"

// TokenRecord is a bearer token as kept: its hash (SHA-256, hex), never
// its text.
type TokenRecord struct {
	ID       string `json:"id"`
	User     string `json:"user"`
	Hash     string `json:"hash"`
	CreatedS int64  `json:"created_s"`
	ExpiresS int64  `json:"expires_s"`
	// RevokedS is when an operator or the owner revoked it; 0 if never.
	RevokedS int64 `json:"revoked_s,omitempty"`
}

// TokenStore is a Store that keeps bearer tokens. A controller whose store
// is no TokenStore issues none.
type TokenStore interface {
	// PutToken stores a new token; an ID that exists fails with
	// ErrConflict.
	PutToken(ctx context.Context, t *TokenRecord) error
	// Tokens returns every token, ordered by ID.
	Tokens(ctx context.Context) ([]TokenRecord, error)
	// RevokeToken marks the token revoked at atS (ErrNotFound if absent);
	// revoking a revoked token keeps the first time.
	RevokeToken(ctx context.Context, id string, atS int64) error
}

// NodeKeyRecord pins a node's enrolled public key: the first key a node
// name enrolled, kept so that a restarted or newly leading controller
// still knows which key speaks for the node. Public keys are no secret.
type NodeKeyRecord struct {
	Node string `json:"node"`
	// Key is the Ed25519 public key, as ident.EncodePublicKey writes it.
	Key       string `json:"key"`
	EnrolledS int64  `json:"enrolled_s"`
}

// NodeKeyStore is a Store that keeps node key pins. A controller whose
// store is none keeps them in memory, and agents enrol again after a
// restart.
type NodeKeyStore interface {
	// PutNodeKeys stores pins, replacing those of the same nodes.
	PutNodeKeys(ctx context.Context, recs []NodeKeyRecord) error
	// NodeKeys returns every pin, ordered by node.
	NodeKeys(ctx context.Context) ([]NodeKeyRecord, error)
	// DeleteNodeKey forgets a node's pin (ErrNotFound if absent).
	DeleteNodeKey(ctx context.Context, node string) error
}
