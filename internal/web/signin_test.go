package web

import (
	"context"
	"crypto/ed25519"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gefion-hpc/gefion/internal/controller"
	"github.com/gefion-hpc/gefion/internal/ident"
	"github.com/gefion-hpc/gefion/internal/store"
)

// TestSignInWithAToken: on a controller that authenticates, pages refuse
// a browser without a token and offer the sign-in; a bad token signs no
// one in; alice's token, given once, is kept in an HttpOnly, SameSite
// cookie that identifies her on every page until she signs out.
func TestSignInWithAToken(t *testing.T) {
	st := store.NewMemory()
	seed := make([]byte, ed25519.SeedSize)
	seed[0] = 42
	key := ed25519.NewKeyFromSeed(seed)
	now := time.Now().Unix()
	tok := &ident.Token{ID: "webtest-alice", User: "alice", IssuedS: now, ExpiresS: now + 3600}
	text, err := ident.SignToken(key, tok)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.PutToken(context.Background(), &store.TokenRecord{ID: tok.ID, User: "alice", Hash: ident.HashToken(text), CreatedS: now, ExpiresS: tok.ExpiresS}); err != nil {
		t.Fatal(err)
	}
	ctl, err := controller.New(controller.Config{DefaultProject: "default", Auth: &controller.AuthConfig{TokenKey: key}}, st, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = ctl.Run(ctx) }()
	srv := httptest.NewServer(Handler(ctl, Options{}))
	defer srv.Close()
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	do := func(method, path string, form url.Values, cookie *http.Cookie) (*http.Response, string) {
		t.Helper()
		var body io.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		}
		req, _ := http.NewRequest(method, srv.URL+path, body)
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		if cookie != nil {
			req.AddCookie(cookie)
		}
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	if resp, body := do("GET", "/", nil, nil); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, `href="/signin"`) {
		t.Errorf("a page without a token: %d; want 401 offering the sign-in:\n%s", resp.StatusCode, body)
	}
	if resp, body := do("POST", "/signin", url.Values{"token": {text[:len(text)-4] + "AAAA"}}, nil); resp.StatusCode != http.StatusUnauthorized || len(resp.Cookies()) != 0 {
		t.Errorf("sign-in with a forged token: %d, cookies %v; want 401 and none:\n%s", resp.StatusCode, resp.Cookies(), body)
	}
	resp, body := do("POST", "/signin", url.Values{"token": {text}}, nil)
	var ck *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == controller.TokenCookie {
			ck = c
		}
	}
	if resp.StatusCode != http.StatusSeeOther || ck == nil || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode {
		t.Fatalf("sign-in with alice's token: %d, cookie %+v; want 303 and an HttpOnly, SameSite=Strict cookie:\n%s", resp.StatusCode, ck, body)
	}
	if resp, body := do("GET", "/", nil, ck); resp.StatusCode != http.StatusOK || !strings.Contains(body, "signed in as <strong>alice</strong>") || !strings.Contains(body, "Sign out") {
		t.Errorf("a page with the cookie: %d; want alice's, with a sign-out:\n%s", resp.StatusCode, body)
	}
	resp, _ = do("POST", "/signout", url.Values{}, ck)
	for _, c := range resp.Cookies() {
		if c.Name == controller.TokenCookie && c.MaxAge >= 0 {
			t.Errorf("sign-out left the cookie: %+v", c)
		}
	}
}
