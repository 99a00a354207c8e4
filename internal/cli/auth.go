package cli

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/gefion-hpc/gefion/internal/client"
	"github.com/gefion-hpc/gefion/internal/nodeauth"
)

// agentLink is a command's link to its node's agent: the first answer,
// fetched at most once (it also names the controller and its CA), and a
// fresh credential for every request after.
type agentLink struct {
	once  sync.Once
	sock  string
	first *nodeauth.Reply
	err   error

	mu     sync.Mutex
	unused bool // first.Credential has not been sent yet
}

// agent returns the node agent's link, or nil where no agent serves
// credentials (gefion dev, a laptop) or a bearer token is given.
func (e *Env) agent() *agentLink {
	if e.link == nil {
		e.link = &agentLink{}
		sock := nodeauth.Socket(e.getenv)
		if e.getenv("GEFION_AUTH_TOKEN") != "" || !nodeauth.Available(sock) {
			return nil
		}
		e.link.sock = sock
	}
	if e.link.sock == "" {
		return nil
	}
	e.link.once.Do(func() {
		ctx, cancel := ctxTimeout()
		defer cancel()
		e.link.first, e.link.err = nodeauth.Fetch(ctx, e.link.sock)
		e.link.unused = e.link.err == nil
	})
	return e.link
}

// credential is a client's Credential: the first answer's credential
// once, then a fresh one per request.
func (l *agentLink) credential(ctx context.Context) (string, error) {
	if l.err != nil {
		return "", l.err
	}
	l.mu.Lock()
	if l.unused {
		l.unused = false
		l.mu.Unlock()
		return l.first.Credential, nil
	}
	l.mu.Unlock()
	r, err := nodeauth.Fetch(ctx, l.sock)
	if err != nil {
		return "", err
	}
	return r.Credential, nil
}

// agentAddr is the controller the node's agent names, if any.
func (e *Env) agentAddr() string {
	if l := e.agent(); l != nil && l.err == nil {
		return l.first.Controller
	}
	return ""
}

// newClient returns a client for a command, proven by the node agent's
// credentials, or by GEFION_AUTH_TOKEN, or (gefion dev, which asks the
// kernel instead) stating the Unix user. An https:// controller is
// trusted by the CA in GEFION_CA_FILE, else the CA the agent hands out.
func newClient(e *Env, addr string) *client.Client {
	c := client.New(addr, currentUser(e))
	l := e.agent()
	switch tok := e.getenv("GEFION_AUTH_TOKEN"); {
	case tok != "":
		c.Bearer = strings.TrimSpace(tok)
	case l != nil:
		c.Credential = l.credential
	}
	if !strings.HasPrefix(c.Base, "https://") {
		return c
	}
	var ca []byte
	if f := e.getenv("GEFION_CA_FILE"); f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			c.Credential = failing(fmt.Errorf("GEFION_CA_FILE: %w", err))
			return c
		}
		ca = b
	} else if l != nil && l.err == nil && l.first.CA != "" {
		ca = []byte(l.first.CA)
	}
	if ca != nil {
		cfg, err := client.CATLS(ca)
		if err != nil {
			c.Credential = failing(fmt.Errorf("the controller's CA: %w", err))
			return c
		}
		c.UseTLS(cfg)
	}
	return c
}

// failing is a Credential that refuses every request with err, so that a
// set-up problem is told when the command first talks to the controller.
func failing(err error) func(context.Context) (string, error) {
	return func(context.Context) (string, error) { return "", err }
}
