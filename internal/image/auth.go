package image

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"

	"github.com/google/go-containerregistry/pkg/authn"
)

// Access is what a Get may read on behalf of the job's user.
type Access struct {
	// Home is the job user's home directory. Registry credentials come from
	// Home/.config/enroot/.credentials (netrc lines, as enroot reads them:
	// "machine nvcr.io login $oauthtoken password KEY") and then from
	// Home/.docker/config.json ("auths": base64 of user:password, or
	// "username" and "password"). Empty: anonymous pulls only.
	Home string
	// Open opens local image files and credential files with the job
	// user's rights, so that a job cannot make the agent read what its
	// user may not. Nil means os.Open.
	Open func(path string) (*os.File, error)
}

func (a Access) open(p string) (*os.File, error) {
	if a.Open == nil {
		return os.Open(p)
	}
	return a.Open(p)
}

func (a Access) readFile(p string) ([]byte, error) {
	f, err := a.open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, 1<<20))
}

// keychain resolves a registry's credentials from the user's files. It reads
// them on each Resolve: they are small, and a user who fixes a wrong key
// expects the next job to use it.
// It records whether it gave any credentials: an image pulled with them
// may be private, and is then given from the cache only to users who have
// shown the registry their own right to it.
type keychain struct {
	acc  Access
	used atomic.Bool
}

var _ authn.Keychain = (*keychain)(nil)

func (k *keychain) Resolve(res authn.Resource) (authn.Authenticator, error) {
	if k.acc.Home == "" {
		return authn.Anonymous, nil
	}
	host := res.RegistryStr()
	if c, err := k.enroot(host); err != nil {
		return nil, err
	} else if c != nil {
		k.used.Store(true)
		return authn.FromConfig(*c), nil
	}
	if c, err := k.docker(host); err != nil {
		return nil, err
	} else if c != nil {
		k.used.Store(true)
		return authn.FromConfig(*c), nil
	}
	return authn.Anonymous, nil
}

func (k *keychain) enroot(host string) (*authn.AuthConfig, error) {
	p := filepath.Join(k.acc.Home, ".config", "enroot", ".credentials")
	b, err := k.acc.readFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading registry credentials %s: %w", p, err)
	}
	return parseNetrc(b, host, p)
}

// parseNetrc finds host's login and password in netrc text. Words may be
// spread over lines, as in netrc; "default" applies when no machine
// matches. Docker Hub's names are equivalent.
func parseNetrc(b []byte, host, file string) (*authn.AuthConfig, error) {
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	sc.Split(bufio.ScanWords)
	type entry struct{ machine, login, password string }
	var cur *entry
	var all []*entry
	for sc.Scan() {
		w := sc.Text()
		next := func() (string, error) {
			if !sc.Scan() {
				return "", fmt.Errorf("%s: %q has no value after it; write lines as: machine HOST login USER password SECRET", file, w)
			}
			return sc.Text(), nil
		}
		var err error
		switch w {
		case "machine":
			cur = &entry{}
			all = append(all, cur)
			cur.machine, err = next()
		case "default":
			cur = &entry{machine: "*"}
			all = append(all, cur)
		case "login", "password":
			if cur == nil {
				return nil, fmt.Errorf("%s: %q before any \"machine HOST\"; write lines as: machine HOST login USER password SECRET", file, w)
			}
			v, e := next()
			err = e
			if w == "login" {
				cur.login = v
			} else {
				cur.password = v
			}
		}
		if err != nil {
			return nil, err
		}
	}
	var def *entry
	for _, e := range all {
		if e.machine == "*" {
			def = e
			continue
		}
		if sameRegistry(e.machine, host) {
			return &authn.AuthConfig{Username: e.login, Password: e.password}, nil
		}
	}
	if def != nil {
		return &authn.AuthConfig{Username: def.login, Password: def.password}, nil
	}
	return nil, nil
}

func (k *keychain) docker(host string) (*authn.AuthConfig, error) {
	p := filepath.Join(k.acc.Home, ".docker", "config.json")
	b, err := k.acc.readFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading registry credentials %s: %w", p, err)
	}
	var cfg struct {
		Auths map[string]struct {
			Auth          string `json:"auth"`
			Username      string `json:"username"`
			Password      string `json:"password"`
			IdentityToken string `json:"identitytoken"`
		} `json:"auths"`
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		return nil, fmt.Errorf("%s is not valid JSON (%v): fix it or remove it", p, err)
	}
	for key, a := range cfg.Auths {
		if !sameRegistry(key, host) {
			continue
		}
		c := &authn.AuthConfig{Username: a.Username, Password: a.Password, IdentityToken: a.IdentityToken}
		if a.Auth != "" {
			raw, err := base64.StdEncoding.DecodeString(a.Auth)
			if err != nil {
				return nil, fmt.Errorf("%s: auths[%q].auth is not base64 of user:password: %v", p, key, err)
			}
			u, pw, ok := strings.Cut(string(raw), ":")
			if !ok {
				return nil, fmt.Errorf("%s: auths[%q].auth must be base64 of user:password (no ':' found)", p, key)
			}
			c.Username, c.Password = u, pw
		}
		return c, nil
	}
	return nil, nil
}

// sameRegistry compares a host named in a credentials file (which may be
// a URL, as Docker writes "https://index.docker.io/v1/") with a registry.
func sameRegistry(key, host string) bool {
	norm := func(s string) string {
		s = strings.TrimPrefix(strings.TrimPrefix(s, "https://"), "http://")
		s, _, _ = strings.Cut(s, "/")
		switch s {
		case "docker.io", "registry-1.docker.io", "index.docker.io":
			return DefaultRegistry
		}
		return s
	}
	return norm(key) == norm(host)
}
