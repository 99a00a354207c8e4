package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/gefion-hpc/gefion/internal/api"
)

// authenticate adds the credential or bearer token to a request's headers
// (names and values in turn); the stated user is then left out.
func (c *Client) authenticate(ctx context.Context, hdr []string) ([]string, error) {
	if c.Credential == nil && c.Bearer == "" {
		return hdr, nil
	}
	out := make([]string, 0, len(hdr)+2)
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i] != api.HeaderUser {
			out = append(out, hdr[i], hdr[i+1])
		}
	}
	if c.Credential != nil {
		cred, err := c.Credential(ctx)
		if err != nil {
			return nil, err
		}
		return append(out, api.HeaderCredential, cred), nil
	}
	return append(out, "Authorization", "Bearer "+c.Bearer), nil
}

// UseTLS makes the client's requests go over net/http with cfg (an
// https:// controller); New already does so for https:// addresses, and
// this sets whom it trusts.
func (c *Client) UseTLS(cfg *tls.Config) {
	if c.HTTP == nil {
		c.HTTP = NewPooled(c.Base, c.User).HTTP
		c.light = nil
	}
	if tr, ok := c.HTTP.Transport.(*http.Transport); ok {
		tr.TLSClientConfig = cfg
	}
}

// JoinTokenPrefix starts a join token that carries the controller CA's
// fingerprint: gjt1.<SHA-256 of the CA certificate, hex>.<secret>.
const JoinTokenPrefix = "gjt1."

// ParseJoinToken splits a join token into the secret the controller
// checks and the CA fingerprint the agent pins (empty in a plain token).
func ParseJoinToken(tok string) (secret, fingerprint string, err error) {
	rest, ok := strings.CutPrefix(tok, JoinTokenPrefix)
	if !ok {
		return tok, "", nil
	}
	fp, secret, ok := strings.Cut(rest, ".")
	if b, err := hex.DecodeString(fp); !ok || err != nil || len(b) != sha256.Size || secret == "" {
		return "", "", fmt.Errorf("join token: want %s<64 hex digits>.<secret>, as the controller wrote it", JoinTokenPrefix)
	}
	return secret, fp, nil
}

// Fingerprint returns the SHA-256 of a certificate's DER, in hex.
func Fingerprint(der []byte) string {
	h := sha256.Sum256(der)
	return hex.EncodeToString(h[:])
}

// ErrPinMismatch means the controller's certificate does not chain to the
// pinned CA: a wrong controller, or a join token from another one.
var ErrPinMismatch = errors.New("the controller's certificate does not chain to the CA the join token pins")

// Pin trusts a controller whose certificate chains to the CA with a given
// fingerprint, which the join token carries: an agent needs no CA file,
// and a controller with another CA is refused. It remembers the CA, to
// hand it to the node's users.
type Pin struct {
	Fingerprint string

	mu sync.Mutex
	ca *x509.Certificate
}

// TLSConfig returns the client configuration that enforces the pin.
func (p *Pin) TLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		// The chain is checked below, against the pinned CA only, with
		// the server's name: the system's roots have no say.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			var ca *x509.Certificate
			for _, c := range cs.PeerCertificates {
				if Fingerprint(c.Raw) == p.Fingerprint {
					ca = c
				}
			}
			if ca == nil || len(cs.PeerCertificates) == 0 {
				return fmt.Errorf("%w (sha256 %.16s...): a wrong controller, or a token from another one", ErrPinMismatch, p.Fingerprint)
			}
			pool := x509.NewCertPool()
			pool.AddCert(ca)
			if _, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: pool, DNSName: cs.ServerName}); err != nil {
				return fmt.Errorf("%w: %w", ErrPinMismatch, err)
			}
			p.mu.Lock()
			p.ca = ca
			p.mu.Unlock()
			return nil
		},
	}
}

// CAPEM returns the pinned CA certificate once a connection has shown it.
func (p *Pin) CAPEM() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ca == nil {
		return ""
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.ca.Raw}))
}

// CATLS returns a client configuration that trusts the CA certificates in
// pemCerts alone.
func CATLS(pemCerts []byte) (*tls.Config, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(bytes.TrimSpace(pemCerts)) {
		return nil, errors.New("no PEM certificate in the controller's CA")
	}
	return &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: pool}, nil
}

// Enroll enrols a node agent's public key for its nodes.
func (c *Client) Enroll(ctx context.Context, req api.EnrollRequest) (*api.EnrollResponse, error) {
	var out api.EnrollResponse
	return &out, c.do(ctx, "POST", "/v1/agent/enroll", nil, req, &out)
}

// IssueToken asks for a bearer token for the caller.
func (c *Client) IssueToken(ctx context.Context, req api.TokenRequest) (*api.TokenResponse, error) {
	var out api.TokenResponse
	return &out, c.do(ctx, "POST", "/v1/tokens", nil, req, &out)
}

// Tokens lists the caller's tokens (an operator's: everyone's).
func (c *Client) Tokens(ctx context.Context) ([]api.TokenInfo, error) {
	var out []api.TokenInfo
	return out, c.do(ctx, "GET", "/v1/tokens", nil, nil, &out)
}

// RevokeToken revokes a token by ID.
func (c *Client) RevokeToken(ctx context.Context, id string) error {
	return c.do(ctx, "DELETE", "/v1/tokens/"+url.PathEscape(id), nil, nil, nil)
}

// ForgetNodeKey drops a node's enrolled key (operators).
func (c *Client) ForgetNodeKey(ctx context.Context, node string) error {
	return c.do(ctx, "DELETE", "/v1/nodes/"+url.PathEscape(node)+"/key", nil, nil, nil)
}
