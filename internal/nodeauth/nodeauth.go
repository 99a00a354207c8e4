// Package nodeauth is the node agent's credential service and the CLI's
// side of it: the agent answers a Unix socket with a fresh node credential
// (package ident) for whoever connected, as the kernel names them
// (SO_PEERCRED), and the controller's address and CA so that a command on
// the node needs no set-up. A caller sends nothing the agent reads: there
// is no way to ask for another user's credential.
//
// The agent imports Server; the CLI imports Fetch, which needs only net
// and encoding/json.
package nodeauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"
)

// DefaultSocket is where the agent serves credentials unless told
// otherwise; the CLI looks there unless GEFION_AGENT_SOCKET names another.
const DefaultSocket = "/run/gefion/agent.sock"

// SocketEnv names the environment variable that overrides DefaultSocket.
const SocketEnv = "GEFION_AGENT_SOCKET"

// maxReply bounds what Fetch reads: a credential, an address and a CA
// certificate.
const maxReply = 64 << 10

// Reply is what the agent answers.
type Reply struct {
	// Credential is the caller's node credential, or empty with Error.
	Credential string `json:"credential,omitempty"`
	Error      string `json:"error,omitempty"`
	// Controller is the controller's URL; CA its CA certificate (PEM),
	// empty for plain HTTP.
	Controller string `json:"controller,omitempty"`
	CA         string `json:"ca,omitempty"`
}

// ErrNoAgent means no agent serves credentials at the socket.
var ErrNoAgent = errors.New("no gefion agent serves credentials here")

// Socket returns the socket path getenv names, or DefaultSocket.
func Socket(getenv func(string) string) string {
	if p := getenv(SocketEnv); p != "" {
		return p
	}
	return DefaultSocket
}

// Available reports whether something is at the socket path.
func Available(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode()&os.ModeSocket != 0
}

// Fetch asks the agent at path for a credential for this process's user.
func Fetch(ctx context.Context, path string) (*Reply, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, fmt.Errorf("%w (%s: %v): is 'gefion agent' running on this node?", ErrNoAgent, path, err)
	}
	defer conn.Close()
	deadline := time.Now().Add(10 * time.Second)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = conn.SetDeadline(deadline)
	data, err := io.ReadAll(io.LimitReader(conn, maxReply+1))
	if err != nil {
		return nil, fmt.Errorf("reading a credential from the agent at %s: %w", path, err)
	}
	if len(data) > maxReply {
		return nil, fmt.Errorf("the agent at %s answered more than %d bytes", path, maxReply)
	}
	var r Reply
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("the agent at %s answered no credential: %v", path, err)
	}
	if r.Error != "" {
		return nil, fmt.Errorf("the agent at %s refused a credential: %s", path, r.Error)
	}
	if r.Credential == "" {
		return nil, fmt.Errorf("the agent at %s answered no credential", path)
	}
	return &r, nil
}
