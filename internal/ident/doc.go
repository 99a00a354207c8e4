// Package ident holds Gefion's proofs of identity and how they are checked:
// node credentials (a node agent's word, signed with the node's Ed25519 key,
// on which local Unix user is calling; the role MUNGE plays for Slurm) and
// bearer tokens (the controller's own signature on a user name, for scripts
// and the REST API; the role of Slurm's JWT).
//
// Both are text: a version prefix, a base64url JSON payload and a base64url
// Ed25519 signature over a domain string and the payload, so that a
// signature made for one kind can never pass for the other. Parsers bound
// the input's size before decoding anything and accept only the canonical
// encoding.
//
// It imports only the standard library. The agent signs with it, the
// controller verifies with it; the CLI never parses what it carries.
package ident
