package controller

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gefion-hpc/gefion/internal/agent"
	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/client"
	"github.com/gefion-hpc/gefion/internal/cluster"
	"github.com/gefion-hpc/gefion/internal/ident"
	"github.com/gefion-hpc/gefion/internal/store"
)

// authHarness is a controller that verifies identities, with two nodes
// enrolled: login1 (a login node) and dgx001.
type authHarness struct {
	*harness
	login, dgx ed25519.PrivateKey
	// macs are the MAC keys the controller gave at enrolment.
	macs map[string][]byte
}

func key(seed byte) ed25519.PrivateKey {
	s := make([]byte, ed25519.SeedSize)
	s[0] = seed
	return ed25519.NewKeyFromSeed(s)
}

func newAuthHarness(t *testing.T, st store.Store, tokenKey ed25519.PrivateKey) *authHarness {
	t.Helper()
	h := &authHarness{harness: newHarness(t, Config{Auth: &AuthConfig{TokenKey: tokenKey}}, st, 0), login: key(1), dgx: key(2), macs: map[string][]byte{}}
	for node, k := range map[string]ed25519.PrivateKey{"login1": h.login, "dgx001": h.dgx} {
		code, body := h.enroll(node, k, h.ctl.JoinToken())
		if code != http.StatusOK {
			t.Fatalf("enrol %s: %d %s", node, code, body)
		}
		var resp api.EnrollResponse
		_ = json.Unmarshal([]byte(body), &resp)
		mac, err := ident.DecodeMACKey(resp.MACKey)
		if err != nil || !resp.Verified {
			t.Fatalf("enrol %s: %s: %v", node, body, err)
		}
		h.macs[node] = mac
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.agentC = cancel
	h.agent = &agent.Agent{
		Client: client.NewAgent(h.srv.URL, h.ctl.JoinToken()), ID: "virtual-test",
		Nodes: agent.VirtualNodes("dgx", 1, &cluster.DGXH100, 1), Exec: &agent.Virtual{GPU: cluster.H100SXM},
	}
	go func() { _ = h.agent.Run(ctx) }()
	h.waitFor("node up", func() bool {
		ns, err := h.ctl.Nodes(context.Background())
		return err == nil && len(ns) == 1 && ns[0].State != "down"
	})
	return h
}

func (h *authHarness) enroll(node string, k ed25519.PrivateKey, joinToken string) (int, string) {
	at := time.Now().UnixMilli()
	return h.enrollAs(node, k, joinToken, at, ident.SignEnrolment(k, []string{node}, at))
}

func (h *authHarness) enrollAs(node string, k ed25519.PrivateKey, joinToken string, at int64, proof string) (int, string) {
	b, _ := json.Marshal(api.EnrollRequest{Version: api.Version, Nodes: []string{node}, Key: ident.EncodePublicKey(k.Public().(ed25519.PublicKey)), AtMS: at, Proof: proof})
	return h.send("POST", "/v1/agent/enroll", map[string]string{api.HeaderToken: joinToken}, string(b))
}

// cred signs a credential as node's agent would for uid and user, valid
// from at for 30 s.
func (h *authHarness) cred(k ed25519.PrivateKey, node, user string, uid uint32, at time.Time) string {
	h.t.Helper()
	s, err := ident.SignCredential(k, &ident.Credential{UID: uid, GID: uid, User: user, Node: node,
		IssuedMS: at.UnixMilli(), ExpiresMS: at.Add(30 * time.Second).UnixMilli(), Nonce: ident.NewNonce()})
	if err != nil {
		h.t.Fatal(err)
	}
	return s
}

// sealed is cred sealed with a MAC key instead of signed.
func (h *authHarness) sealed(mac []byte, node, user string, uid uint32, at time.Time) string {
	h.t.Helper()
	s, err := ident.SealCredential(mac, &ident.Credential{UID: uid, GID: uid, User: user, Node: node,
		IssuedMS: at.UnixMilli(), ExpiresMS: at.Add(30 * time.Second).UnixMilli(), Nonce: ident.NewNonce()})
	if err != nil {
		h.t.Fatal(err)
	}
	return s
}

func (h *authHarness) send(method, path string, hdr map[string]string, body string) (int, string) {
	h.t.Helper()
	req, err := http.NewRequest(method, h.srv.URL+path, strings.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

const submitBody = `{"spec":{"name":"probe","script":"#!/bin/sh\ntrue\n","comment":"duration=1"}}`

func (h *authHarness) jobCount() int {
	h.t.Helper()
	jobs, err := h.st.Jobs(h.t.Context(), store.JobQuery{})
	if err != nil {
		h.t.Fatal(err)
	}
	return len(jobs)
}

func (h *authHarness) issueToken(cred string) api.TokenResponse {
	h.t.Helper()
	code, body := h.send("POST", "/v1/tokens", map[string]string{api.HeaderCredential: cred}, `{"lifespan_s":3600}`)
	if code != http.StatusOK {
		h.t.Fatalf("issue token: %d %s", code, body)
	}
	var t api.TokenResponse
	if err := json.Unmarshal([]byte(body), &t); err != nil {
		h.t.Fatal(err)
	}
	return t
}

func TestCredentialSubmits(t *testing.T) {
	h := newAuthHarness(t, nil, nil)
	code, body := h.send("POST", "/v1/jobs", map[string]string{api.HeaderCredential: h.cred(h.login, "login1", "alice", 1000, time.Now())}, submitBody)
	if code != http.StatusOK {
		t.Fatalf("submit with a valid credential: %d %s", code, body)
	}
	jobs, _ := h.st.Jobs(t.Context(), store.JobQuery{})
	if len(jobs) != 1 || jobs[0].User != "alice" {
		t.Fatalf("stored jobs = %+v; want one of alice's", jobs)
	}
	// The same name stated along with the credential is fine.
	code, body = h.send("GET", "/v1/jobs", map[string]string{api.HeaderCredential: h.cred(h.login, "login1", "alice", 1000, time.Now()), api.HeaderUser: "alice"}, "")
	if code != http.StatusOK || !strings.Contains(body, `"probe"`) {
		t.Errorf("list with credential and the same stated name: %d %s", code, body)
	}
}

// TestCredentialAttacks is the attacker's list: each request is refused
// with the right status and submits nothing.
func TestCredentialAttacks(t *testing.T) {
	h := newAuthHarness(t, nil, nil)
	now := time.Now()
	valid := h.cred(h.login, "login1", "alice", 1000, now)
	if code, body := h.send("POST", "/v1/jobs", map[string]string{api.HeaderCredential: valid}, submitBody); code != http.StatusOK {
		t.Fatalf("first use of a valid credential: %d %s", code, body)
	}
	macValid := h.sealed(h.macs["login1"], "login1", "alice", 1000, now)
	if code, body := h.send("POST", "/v1/jobs", map[string]string{api.HeaderCredential: macValid}, submitBody); code != http.StatusOK {
		t.Fatalf("first use of a valid MAC credential: %d %s", code, body)
	}
	forgedUID := func() string {
		c, _ := ident.ParseCredential(h.cred(h.login, "login1", "alice", 1000, now))
		c.UID, c.User = 0, "root"
		payload, _ := json.Marshal(c)
		good := h.cred(h.login, "login1", "alice", 1000, now)
		_, sig, _ := strings.Cut(strings.TrimPrefix(good, ident.CredentialPrefix), ".")
		return ident.CredentialPrefix + base64.RawURLEncoding.EncodeToString(payload) + "." + sig
	}()
	tok := h.issueToken(h.cred(h.login, "login1", "alice", 1000, now))
	revoked := h.issueToken(h.cred(h.login, "login1", "alice", 1000, now))
	if code, body := h.send("DELETE", "/v1/tokens/"+revoked.ID, map[string]string{"Authorization": "Bearer " + tok.Token}, ""); code != http.StatusOK {
		t.Fatalf("revoke: %d %s", code, body)
	}
	before := h.jobCount()
	tests := []struct {
		name string
		hdr  map[string]string
		want int
	}{
		{"no credential, a stated name", map[string]string{api.HeaderUser: "alice"}, 401},
		{"no credential, stated root", map[string]string{api.HeaderUser: "root"}, 401},
		{"replayed", map[string]string{api.HeaderCredential: valid}, 401},
		{"forged: signed by a key no node enrolled", map[string]string{api.HeaderCredential: h.cred(key(9), "login1", "alice", 1000, now)}, 401},
		{"expired", map[string]string{api.HeaderCredential: h.cred(h.login, "login1", "alice", 1000, now.Add(-2*time.Minute))}, 401},
		{"issued in the future", map[string]string{api.HeaderCredential: h.cred(h.login, "login1", "alice", 1000, now.Add(2*time.Minute))}, 401},
		{"truncated", map[string]string{api.HeaderCredential: h.cred(h.login, "login1", "alice", 1000, now)[:60]}, 401},
		{"wrong node: login1's key, naming dgx001", map[string]string{api.HeaderCredential: h.cred(h.login, "dgx001", "alice", 1000, now)}, 401},
		{"unknown node", map[string]string{api.HeaderCredential: h.cred(h.login, "nowhere", "alice", 1000, now)}, 401},
		{"a credential edited to another uid", map[string]string{api.HeaderCredential: forgedUID}, 401},
		{"a valid credential with another stated user", map[string]string{api.HeaderCredential: h.cred(h.login, "login1", "alice", 1000, now), api.HeaderUser: "root"}, 403},
		{"a token with another stated user", map[string]string{"Authorization": "Bearer " + tok.Token, api.HeaderUser: "admin"}, 403},
		{"credential and token together", map[string]string{api.HeaderCredential: h.cred(h.login, "login1", "alice", 1000, now), "Authorization": "Bearer " + tok.Token}, 401},
		{"revoked token", map[string]string{"Authorization": "Bearer " + revoked.Token}, 401},
		{"forged token", map[string]string{"Authorization": "Bearer " + forgeToken(t, "admin")}, 401},
		{"truncated token", map[string]string{"Authorization": "Bearer " + tok.Token[:len(tok.Token)-4]}, 401},
		{"a credential as a bearer token", map[string]string{"Authorization": "Bearer " + h.cred(h.login, "login1", "alice", 1000, now)}, 401},
		{"MAC: sealed with a forger's key", map[string]string{api.HeaderCredential: h.sealed(ident.NewMACKey(), "login1", "alice", 1000, now)}, 401},
		{"MAC: login1's key, naming dgx001", map[string]string{api.HeaderCredential: h.sealed(h.macs["login1"], "dgx001", "alice", 1000, now)}, 401},
		{"MAC: expired", map[string]string{api.HeaderCredential: h.sealed(h.macs["login1"], "login1", "alice", 1000, now.Add(-2*time.Minute))}, 401},
		{"MAC: replayed", map[string]string{api.HeaderCredential: macValid}, 401},
		{"MAC: truncated", map[string]string{api.HeaderCredential: macValid[:len(macValid)-2]}, 401},
		{"a credential over its bound", map[string]string{api.HeaderCredential: ident.CredentialPrefix + strings.Repeat("A", ident.MaxCredentialSize)}, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := h.send("POST", "/v1/jobs", tt.hdr, submitBody)
			if code != tt.want {
				t.Errorf("submit: status %d %s; want %d", code, body, tt.want)
			}
			if n := h.jobCount(); n != before {
				t.Errorf("jobs stored = %d; want %d (nothing submitted)", n, before)
			}
		})
	}
	// A token serves, but cannot mint another token (which would never
	// expire).
	if code, body := h.send("GET", "/v1/jobs", map[string]string{"Authorization": "Bearer " + tok.Token}, ""); code != http.StatusOK {
		t.Errorf("list with a token: %d %s", code, body)
	}
	if code, body := h.send("POST", "/v1/tokens", map[string]string{"Authorization": "Bearer " + tok.Token}, `{}`); code != http.StatusForbidden {
		t.Errorf("token minting a token: %d %s; want 403", code, body)
	}
	// A head over the server's bound (the API's server, as gefion server
	// runs it) is refused before any handler sees it.
	bounded := httptest.NewUnstartedServer(h.ctl.Handler())
	bounded.Config = NewHTTPServer(h.ctl.Handler(), HTTPConfig{})
	bounded.Start()
	defer bounded.Close()
	req, _ := http.NewRequest("POST", bounded.URL+"/v1/jobs", strings.NewReader(submitBody))
	req.Header.Set(api.HeaderCredential, ident.CredentialPrefix+strings.Repeat("A", 1<<20))
	if resp, err := http.DefaultClient.Do(req); err != nil {
		t.Errorf("header bomb: %v", err)
	} else {
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("header bomb: status %d; want 431", resp.StatusCode)
		}
	}
	// A body over its bound is refused before it is decoded.
	big := `{"spec":{"script":"` + strings.Repeat("x", maxBody) + `"}}`
	if code, _ := h.send("POST", "/v1/jobs", map[string]string{api.HeaderCredential: h.cred(h.login, "login1", "alice", 1000, now)}, big); code != http.StatusRequestEntityTooLarge {
		t.Errorf("body bomb: status %d; want 413", code)
	}
	if n := h.jobCount(); n != before {
		t.Errorf("jobs stored = %d; want %d", n, before)
	}
}

// forgeToken signs a token for user with a key that is not the
// controller's.
func forgeToken(t *testing.T, user string) string {
	s, err := ident.SignToken(key(7), &ident.Token{ID: "0123456789abcdef01234567", User: user, IssuedS: time.Now().Unix(), ExpiresS: time.Now().Add(time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestEnrolmentAttacks(t *testing.T) {
	h := newAuthHarness(t, nil, nil)
	// Another agent with the join token may not take over login1.
	if code, body := h.enroll("login1", key(5), h.ctl.JoinToken()); code != http.StatusForbidden {
		t.Errorf("enrol login1 with another key: %d %s; want 403", code, body)
	}
	// Nor may anyone enrol without the join token.
	if code, body := h.enroll("login2", key(5), "wrong"); code != http.StatusUnauthorized {
		t.Errorf("enrol without the join token: %d %s; want 401", code, body)
	}
	if code, body := h.enroll("login2", key(5), ""); code != http.StatusUnauthorized {
		t.Errorf("enrol with no join token: %d %s; want 401", code, body)
	}
	// A public key alone enrols nothing: the request must be signed by
	// its holder, and recently.
	at := time.Now().UnixMilli()
	if code, body := h.enrollAs("login3", key(6), h.ctl.JoinToken(), at, ""); code != http.StatusUnauthorized {
		t.Errorf("enrol without proof: %d %s; want 401", code, body)
	}
	if code, body := h.enrollAs("login3", key(6), h.ctl.JoinToken(), at, ident.SignEnrolment(key(7), []string{"login3"}, at)); code != http.StatusUnauthorized {
		t.Errorf("enrol with another key's proof: %d %s; want 401", code, body)
	}
	old := time.Now().Add(-time.Hour).UnixMilli()
	if code, body := h.enrollAs("login3", key(6), h.ctl.JoinToken(), old, ident.SignEnrolment(key(6), []string{"login3"}, old)); code != http.StatusUnauthorized {
		t.Errorf("enrol with an hour-old proof: %d %s; want 401", code, body)
	}
	// Neither refusal changed a key: login1's own still serves, the
	// impostor's does not, and login2 is unknown.
	now := time.Now()
	for _, c := range []struct {
		cred string
		want int
	}{
		{h.cred(h.login, "login1", "alice", 1000, now), 200},
		{h.cred(key(5), "login1", "alice", 1000, now), 401},
		{h.cred(key(5), "login2", "alice", 1000, now), 401},
	} {
		if code, body := h.send("GET", "/v1/jobs", map[string]string{api.HeaderCredential: c.cred}, ""); code != c.want {
			t.Errorf("after the refused enrolments: %d %s; want %d", code, body, c.want)
		}
	}
	// Only an operator may forget a node's key; then a new key may enrol,
	// and the old key's credentials are refused.
	admin := h.cred(h.login, "login1", "admin", 1002, now)
	if code, body := h.send("DELETE", "/v1/nodes/dgx001/key", map[string]string{api.HeaderCredential: h.cred(h.login, "login1", "alice", 1000, now)}, ""); code != http.StatusForbidden {
		t.Errorf("alice forgets dgx001's key: %d %s; want 403", code, body)
	}
	if code, body := h.send("DELETE", "/v1/nodes/dgx001/key", map[string]string{api.HeaderCredential: admin}, ""); code != http.StatusOK {
		t.Fatalf("operator forgets dgx001's key: %d %s", code, body)
	}
	if code, _ := h.send("GET", "/v1/jobs", map[string]string{api.HeaderCredential: h.cred(h.dgx, "dgx001", "alice", 1000, now)}, ""); code != http.StatusUnauthorized {
		t.Errorf("a credential of the forgotten key: %d; want 401", code)
	}
	if code, body := h.enroll("dgx001", key(8), h.ctl.JoinToken()); code != http.StatusOK {
		t.Errorf("enrol dgx001's new key: %d %s", code, body)
	}
	// Enrolling the same key again (an agent re-registering) is fine,
	// and keeps the node's MAC key.
	code, body := h.enroll("login1", h.login, h.ctl.JoinToken())
	var resp api.EnrollResponse
	_ = json.Unmarshal([]byte(body), &resp)
	if code != http.StatusOK || resp.MACKey != ident.EncodeMACKey(h.macs["login1"]) {
		t.Errorf("enrol login1 again with its key: %d %s; want its MAC key again", code, body)
	}
}

func TestTokensListRevokeAndSurviveRestart(t *testing.T) {
	st := store.NewMemory()
	tk := key(11)
	h := newAuthHarness(t, st, tk)
	now := time.Now()
	alice := h.issueToken(h.cred(h.login, "login1", "alice", 1000, now))
	bob := h.issueToken(h.cred(h.login, "login1", "bob", 1001, now))
	if alice.User != "alice" || alice.ExpiresS-alice.CreatedS != 3600 || !strings.HasPrefix(alice.Token, ident.TokenPrefix) {
		t.Errorf("issued %+v; want alice's token of an hour", alice.TokenInfo)
	}
	// The store keeps hashes, never the text.
	recs, _ := st.Tokens(t.Context())
	for _, r := range recs {
		if r.Hash == "" || strings.Contains(r.Hash, alice.Token) || r.Hash == alice.Token {
			t.Errorf("stored token %+v; want only a hash", r)
		}
	}
	list := func(tok string) []api.TokenInfo {
		code, body := h.send("GET", "/v1/tokens", map[string]string{"Authorization": "Bearer " + tok}, "")
		if code != 200 {
			t.Fatalf("list tokens: %d %s", code, body)
		}
		var l []api.TokenInfo
		_ = json.Unmarshal([]byte(body), &l)
		return l
	}
	if l := list(alice.Token); len(l) != 1 || l[0].ID != alice.ID {
		t.Errorf("alice lists %+v; want her own token only", l)
	}
	// Alice may not revoke bob's token, nor learn that it exists.
	if code, body := h.send("DELETE", "/v1/tokens/"+bob.ID, map[string]string{"Authorization": "Bearer " + alice.Token}, ""); code != http.StatusNotFound {
		t.Errorf("alice revokes bob's token: %d %s; want 404", code, body)
	}
	// An operator sees and revokes everyone's.
	admin := h.issueToken(h.cred(h.login, "login1", "admin", 1002, now))
	if l := list(admin.Token); len(l) != 3 {
		t.Errorf("the operator lists %d tokens; want 3", len(l))
	}
	if code, body := h.send("DELETE", "/v1/tokens/"+bob.ID, map[string]string{"Authorization": "Bearer " + admin.Token}, ""); code != http.StatusOK {
		t.Errorf("operator revokes bob's token: %d %s", code, body)
	}
	if code, _ := h.send("GET", "/v1/jobs", map[string]string{"Authorization": "Bearer " + bob.Token}, ""); code != http.StatusUnauthorized {
		t.Errorf("bob's revoked token: %d; want 401", code)
	}
	// Bad lifespans are refused.
	for _, life := range []string{"-1", fmt.Sprint(int64(31 * 24 * 3600))} {
		code, body := h.send("POST", "/v1/tokens", map[string]string{api.HeaderCredential: h.cred(h.login, "login1", "alice", 1000, now)}, `{"lifespan_s":`+life+`}`)
		if code != http.StatusBadRequest {
			t.Errorf("lifespan %s: %d %s; want 400", life, code, body)
		}
	}
	// A restarted controller with the same key and store honours alice's
	// token and still refuses bob's.
	h.stop()
	h2 := newAuthHarness(t, st, tk)
	if code, body := h2.send("GET", "/v1/jobs", map[string]string{"Authorization": "Bearer " + alice.Token}, ""); code != http.StatusOK {
		t.Errorf("alice's token after a restart: %d %s", code, body)
	}
	if code, _ := h2.send("GET", "/v1/jobs", map[string]string{"Authorization": "Bearer " + bob.Token}, ""); code != http.StatusUnauthorized {
		t.Errorf("bob's revoked token after a restart: %d; want 401", code)
	}
}

// TestNodeKeysSurviveRestart: node key pins are stored and MAC keys are
// derived from them, so a restarted controller (or one taking over with
// the same token key and store) verifies the credentials agents already
// seal, before any agent enrols again, and keeps refusing another key for
// a pinned node. Forgetting a key forgets the stored pin too.
func TestNodeKeysSurviveRestart(t *testing.T) {
	st := store.NewMemory()
	tk := key(9)
	h := newAuthHarness(t, st, tk)
	mac := h.macs["login1"]
	h.stop()

	h2 := &authHarness{harness: newHarness(t, Config{Auth: &AuthConfig{TokenKey: tk}}, st, 0)}
	code, body := h2.send("GET", "/v1/jobs", map[string]string{api.HeaderCredential: h.sealed(mac, "login1", "alice", 1000, time.Now())}, "")
	if code != http.StatusOK {
		t.Errorf("a credential sealed with the MAC key from before the restart: %d %s; want 200", code, body)
	}
	if code, body := h2.enroll("login1", key(7), h2.ctl.JoinToken()); code != http.StatusForbidden {
		t.Errorf("another key for login1 after the restart: %d %s; want 403 (the pin is stored)", code, body)
	}
	code, body = h2.send("DELETE", "/v1/nodes/login1/key", map[string]string{api.HeaderCredential: h.sealed(mac, "login1", "admin", 1001, time.Now())}, "")
	if code != http.StatusOK {
		t.Fatalf("forget login1's key: %d %s", code, body)
	}
	pins, err := st.NodeKeys(context.Background())
	if err != nil || len(pins) != 1 || pins[0].Node != "dgx001" {
		t.Errorf("stored pins after forgetting login1 = %+v, %v; want only dgx001's", pins, err)
	}
}
