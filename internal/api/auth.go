package api

// Authentication: who a request comes from.
//
// A request made on one of the machine's nodes carries a node credential
// in HeaderCredential: the node agent's signed statement of the calling
// process's Unix uid (package ident). A request from elsewhere carries a
// bearer token, "Authorization: Bearer gt1...", issued by POST /v1/tokens.
//
//	POST   /v1/agent/enroll  EnrollRequest -> EnrollResponse (join token)
//	POST   /v1/tokens        TokenRequest  -> TokenResponse
//	GET    /v1/tokens                      -> []TokenInfo
//	DELETE /v1/tokens/{id}                 -> {}

// HeaderCredential carries a node credential.
const HeaderCredential = "X-Gefion-Credential"

// EnrollRequest enrols a node agent's Ed25519 public key for the nodes it
// speaks for. The controller keeps the first key each node enrols and
// refuses another.
type EnrollRequest struct {
	Version int      `json:"version"`
	Nodes   []string `json:"nodes"`
	// Key is the public key, base64url (ident.EncodePublicKey).
	Key string `json:"key"`
	// AtMS (Unix ms) and Proof (ident.SignEnrolment) show that the
	// request comes from the key's holder, now.
	AtMS  int64  `json:"at_ms"`
	Proof string `json:"proof"`
}

// EnrollResponse accepts an enrolment. Verified is false where the
// controller checks no credentials (gefion dev). MACKey is the nodes' MAC
// key (ident.EncodeMACKey), with which the agent seals credentials that
// the controller checks faster than signatures.
type EnrollResponse struct {
	Verified bool   `json:"verified"`
	MACKey   string `json:"mac_key,omitempty"`
}

// TokenRequest asks for a bearer token for the caller.
type TokenRequest struct {
	// LifespanS is how long the token is valid, in seconds.
	LifespanS int64 `json:"lifespan_s"`
}

// TokenInfo describes a token, never its text.
type TokenInfo struct {
	ID       string `json:"id"`
	User     string `json:"user"`
	CreatedS int64  `json:"created_s"`
	ExpiresS int64  `json:"expires_s"`
	RevokedS int64  `json:"revoked_s,omitempty"`
}

// TokenResponse carries a new token: its text is shown this once and
// stored only as a hash.
type TokenResponse struct {
	Token string `json:"token"`
	TokenInfo
}
