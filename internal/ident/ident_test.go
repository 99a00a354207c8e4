package ident

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func testKey(seed byte) ed25519.PrivateKey {
	s := make([]byte, ed25519.SeedSize)
	s[0] = seed
	return ed25519.NewKeyFromSeed(s)
}

func testCred() *Credential {
	return &Credential{UID: 1000, GID: 1000, Groups: []uint32{1000, 27}, User: "alice", Node: "login1",
		IssuedMS: t0.UnixMilli(), ExpiresMS: t0.Add(30 * time.Second).UnixMilli(), Nonce: NewNonce()}
}

func mustSign(t *testing.T, key ed25519.PrivateKey, c *Credential) string {
	t.Helper()
	s, err := SignCredential(key, c)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// tamper replaces the credential's payload with edit's change, keeping the
// original signature: what a forger without the key can do.
func tamper(t *testing.T, s string, edit func(c *Credential)) string {
	t.Helper()
	c, err := ParseCredential(s)
	if err != nil {
		t.Fatal(err)
	}
	edit(c)
	payload, _ := json.Marshal(c)
	_, sig, _ := strings.Cut(strings.TrimPrefix(s, CredentialPrefix), ".")
	return CredentialPrefix + b64.EncodeToString(payload) + "." + sig
}

func TestVerifyCredential(t *testing.T) {
	login, other := testKey(1), testKey(2)
	keys := map[string]ed25519.PublicKey{"login1": login.Public().(ed25519.PublicKey), "dgx001": other.Public().(ed25519.PublicKey)}
	newVerifier := func() *Verifier {
		return &Verifier{Key: func(n string) (ed25519.PublicKey, bool) { k, ok := keys[n]; return k, ok }}
	}
	good := mustSign(t, login, testCred())
	tests := []struct {
		name string
		cred string
		at   time.Time
		want error
	}{
		{"valid", good, t0.Add(time.Second), nil},
		{"valid within skew before issue", good, t0.Add(-20 * time.Second), nil},
		{"valid within skew after expiry", good, t0.Add(50 * time.Second), nil},
		{"expired", good, t0.Add(61 * time.Second), ErrExpired},
		{"issued in the future", good, t0.Add(-31 * time.Second), ErrNotYetValid},
		{"another uid, same signature", tamper(t, good, func(c *Credential) { c.UID = 0; c.User = "root" }), t0, ErrBadSignature},
		{"longer expiry, same signature", tamper(t, good, func(c *Credential) { c.ExpiresMS += 60_000 }), t0, ErrBadSignature},
		{"signed by another node's key", mustSign(t, other, testCred()), t0, ErrBadSignature},
		{"wrong node named", tamper(t, good, func(c *Credential) { c.Node = "dgx001" }), t0, ErrBadSignature},
		{"unknown node", mustSign(t, login, func() *Credential { c := testCred(); c.Node = "nowhere"; return c }()), t0, ErrUnknownNode},
		{"truncated", good[:len(good)-5], t0, ErrMalformed},
		{"truncated payload", good[:len(CredentialPrefix)+20], t0, ErrMalformed},
		{"no prefix", strings.TrimPrefix(good, CredentialPrefix), t0, ErrMalformed},
		{"token prefix", TokenPrefix + strings.TrimPrefix(good, CredentialPrefix), t0, ErrMalformed},
		{"empty", "", t0, ErrMalformed},
		{"huge", CredentialPrefix + strings.Repeat("A", MaxCredentialSize), t0, ErrTooLarge},
		{"extra part", good + ".AAAA", t0, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := newVerifier().Verify(tt.cred, tt.at)
			if !errors.Is(err, tt.want) || (err == nil) != (tt.want == nil) {
				t.Errorf("Verify = %v; want %v", err, tt.want)
			}
		})
	}
}

func TestVerifyRefusesReplay(t *testing.T) {
	key := testKey(1)
	v := &Verifier{Key: func(string) (ed25519.PublicKey, bool) { return key.Public().(ed25519.PublicKey), true }}
	s := mustSign(t, key, testCred())
	c, err := v.Verify(s, t0)
	if err != nil {
		t.Fatal(err)
	}
	if c.UID != 1000 || c.User != "alice" || c.Node != "login1" || len(c.Groups) != 2 {
		t.Errorf("Verify = %+v; want alice's credential from login1", c)
	}
	if _, err := v.Verify(s, t0.Add(time.Second)); !errors.Is(err, ErrReplayed) {
		t.Errorf("second Verify = %v; want ErrReplayed", err)
	}
	// Another credential with its own nonce passes.
	if _, err := v.Verify(mustSign(t, key, testCred()), t0); err != nil {
		t.Errorf("fresh credential: %v", err)
	}
	// The nonce is remembered as long as the credential could pass: past
	// that, the expiry refuses it.
	if _, err := v.Verify(s, t0.Add(10*time.Minute)); !errors.Is(err, ErrExpired) {
		t.Errorf("Verify long after = %v; want ErrExpired", err)
	}
}

func TestVerifierBoundsNonces(t *testing.T) {
	key := testKey(1)
	v := &Verifier{MaxNonces: 2, Key: func(string) (ed25519.PublicKey, bool) { return key.Public().(ed25519.PublicKey), true }}
	for i := 0; i < 2; i++ {
		if _, err := v.Verify(mustSign(t, key, testCred()), t0); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := v.Verify(mustSign(t, key, testCred()), t0); !errors.Is(err, ErrBusy) {
		t.Errorf("third Verify = %v; want ErrBusy", err)
	}
	// Once the first two have expired, room is made.
	c := testCred()
	c.IssuedMS, c.ExpiresMS = t0.Add(time.Hour).UnixMilli(), t0.Add(time.Hour+time.Second).UnixMilli()
	if _, err := v.Verify(mustSign(t, key, c), t0.Add(time.Hour)); err != nil {
		t.Errorf("Verify after expiry of the others = %v", err)
	}
}

func TestSignCredentialRefusesBadFields(t *testing.T) {
	for name, edit := range map[string]func(c *Credential){
		"no user":        func(c *Credential) { c.User = "" },
		"no node":        func(c *Credential) { c.Node = "" },
		"short nonce":    func(c *Credential) { c.Nonce = "abc" },
		"long lifetime":  func(c *Credential) { c.ExpiresMS = c.IssuedMS + MaxLifetime.Milliseconds() + 1 },
		"expiry first":   func(c *Credential) { c.ExpiresMS = c.IssuedMS },
		"overflowing":    func(c *Credential) { c.IssuedMS, c.ExpiresMS = -1<<63, 1<<62 },
		"too many group": func(c *Credential) { c.Groups = make([]uint32, MaxGroups+1) },
	} {
		c := testCred()
		edit(c)
		if _, err := SignCredential(testKey(1), c); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: SignCredential = %v; want ErrMalformed", name, err)
		}
	}
}

func TestToken(t *testing.T) {
	key, other := testKey(3), testKey(4)
	pub := key.Public().(ed25519.PublicKey)
	tok := &Token{ID: "0123456789abcdef", User: "alice", IssuedS: t0.Unix(), ExpiresS: t0.Add(time.Hour).Unix()}
	s, err := SignToken(key, tok)
	if err != nil {
		t.Fatal(err)
	}
	got, err := VerifyToken(s, pub, t0.Add(time.Minute))
	if err != nil || *got != *tok {
		t.Fatalf("VerifyToken = %+v, %v; want %+v", got, err, tok)
	}
	forged, _ := SignToken(other, tok)
	cred := mustSign(t, key, testCred()) // same key, other kind
	for name, c := range map[string]struct {
		s    string
		at   time.Time
		want error
	}{
		"expired":          {s, t0.Add(time.Hour), ErrExpired},
		"forged":           {forged, t0, ErrBadSignature},
		"truncated":        {s[:len(s)-1], t0, ErrMalformed},
		"a credential":     {cred, t0, ErrMalformed},
		"credential recut": {TokenPrefix + strings.TrimPrefix(cred, CredentialPrefix), t0, ErrMalformed},
		"huge":             {TokenPrefix + strings.Repeat("A", MaxTokenSize), t0, ErrTooLarge},
	} {
		if _, err := VerifyToken(c.s, pub, c.at); !errors.Is(err, c.want) {
			t.Errorf("%s: VerifyToken = %v; want %v", name, err, c.want)
		}
	}
	if HashToken(s) == HashToken(forged) || len(HashToken(s)) != 64 {
		t.Errorf("HashToken does not tell tokens apart")
	}
}

func TestLoadOrCreateKey(t *testing.T) {
	file := filepath.Join(t.TempDir(), "sub", "node.key")
	k1, err := LoadOrCreateKey(file)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := LoadOrCreateKey(file)
	if err != nil || !k1.Equal(k2) {
		t.Fatalf("second LoadOrCreateKey = %v; want the same key", err)
	}
	pub, err := DecodePublicKey(EncodePublicKey(k1.Public().(ed25519.PublicKey)))
	if err != nil || !pub.Equal(k1.Public()) {
		t.Errorf("DecodePublicKey(EncodePublicKey) = %v", err)
	}
}

func FuzzParseCredential(f *testing.F) {
	key := testKey(1)
	good, _ := SignCredential(key, testCred())
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add(CredentialPrefix + "e30.AAAA")
	if mac, err := SealCredential(NewMACKey(), testCred()); err == nil {
		f.Add(mac)
	}
	f.Add("")
	v := &Verifier{Key: func(string) (ed25519.PublicKey, bool) { return key.Public().(ed25519.PublicKey), true }}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCredential(s)
		if err != nil {
			return
		}
		// Whatever parses must survive checking, and re-encode into a
		// credential that parses to the same fields.
		_, _ = v.Verify(s, t0)
		re, err := SignCredential(key, c)
		if err != nil {
			t.Fatalf("parsed %+v but cannot sign it: %v", c, err)
		}
		c2, err := ParseCredential(re)
		if err != nil || c2.UID != c.UID || c2.User != c.User || c2.Node != c.Node || c2.Nonce != c.Nonce {
			t.Fatalf("round trip: %+v, %v; want %+v", c2, err, c)
		}
	})
}

func FuzzParseToken(f *testing.F) {
	key := testKey(3)
	good, _ := SignToken(key, &Token{ID: "0123456789abcdef", User: "alice", IssuedS: 1, ExpiresS: 2})
	f.Add(good)
	f.Add(good[:len(good)-3])
	f.Add(TokenPrefix + "e30.")
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := ParseToken(s)
		if err != nil {
			return
		}
		if _, err := VerifyToken(s, key.Public().(ed25519.PublicKey), time.Unix(0, 0)); err != nil && !errors.Is(err, ErrBadSignature) && !errors.Is(err, ErrExpired) {
			t.Fatalf("ParseToken accepted %q (%+v) but VerifyToken says %v", s, tok, err)
		}
	})
}

func TestVerifyMACCredential(t *testing.T) {
	macs := map[string][]byte{"login1": NewMACKey(), "dgx001": NewMACKey()}
	v := func() *Verifier {
		return &Verifier{Key: func(string) (ed25519.PublicKey, bool) { return nil, false },
			MACKey: func(n string) ([]byte, bool) { k, ok := macs[n]; return k, ok }}
	}
	seal := func(k []byte, edit func(c *Credential)) string {
		c := testCred()
		if edit != nil {
			edit(c)
		}
		s, err := SealCredential(k, c)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	good := seal(macs["login1"], nil)
	if !strings.HasPrefix(good, MACCredentialPrefix) {
		t.Fatalf("SealCredential = %q; want the %q prefix", good, MACCredentialPrefix)
	}
	recut := func(s string, edit func(c *Credential)) string {
		c, err := ParseCredential(s)
		if err != nil {
			t.Fatal(err)
		}
		edit(c)
		payload, _ := json.Marshal(c)
		_, mac, _ := strings.Cut(strings.TrimPrefix(s, MACCredentialPrefix), ".")
		return MACCredentialPrefix + b64.EncodeToString(payload) + "." + mac
	}
	for _, tt := range []struct {
		name string
		cred string
		want error
	}{
		{"valid", good, nil},
		{"another uid, same MAC", recut(good, func(c *Credential) { c.UID, c.User = 0, "root" }), ErrBadSignature},
		{"sealed with another node's key", seal(macs["dgx001"], nil), ErrBadSignature},
		{"a forger's key", seal(NewMACKey(), nil), ErrBadSignature},
		{"node without a MAC key", seal(NewMACKey(), func(c *Credential) { c.Node = "nowhere" }), ErrUnknownNode},
		{"truncated", good[:len(good)-3], ErrMalformed},
		{"an Ed25519 signature's length under the MAC prefix", MACCredentialPrefix + strings.TrimPrefix(mustSign(t, testKey(1), testCred()), CredentialPrefix), ErrMalformed},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := v().Verify(tt.cred, t0)
			if !errors.Is(err, tt.want) || (err == nil) != (tt.want == nil) {
				t.Errorf("Verify = %v; want %v", err, tt.want)
			}
		})
	}
	// Without MAC keys configured, a MAC credential is refused.
	if _, err := (&Verifier{Key: func(string) (ed25519.PublicKey, bool) { return nil, false }}).Verify(seal(macs["login1"], nil), t0); !errors.Is(err, ErrUnknownNode) {
		t.Errorf("Verify without MAC keys = %v; want ErrUnknownNode", err)
	}
}

func TestEnrolmentProof(t *testing.T) {
	k := testKey(1)
	pub := k.Public().(ed25519.PublicKey)
	nodes := []string{"dgx001", "dgx002"}
	sig := SignEnrolment(k, nodes, 1000)
	if !VerifyEnrolment(pub, nodes, 1000, sig) {
		t.Fatal("VerifyEnrolment refuses a good proof")
	}
	for name, ok := range map[string]bool{
		"another time":  VerifyEnrolment(pub, nodes, 1001, sig),
		"another node":  VerifyEnrolment(pub, []string{"dgx001", "dgx003"}, 1000, sig),
		"another key":   VerifyEnrolment(testKey(2).Public().(ed25519.PublicKey), nodes, 1000, sig),
		"no proof":      VerifyEnrolment(pub, nodes, 1000, ""),
		"garbled proof": VerifyEnrolment(pub, nodes, 1000, sig[:20]),
	} {
		if ok {
			t.Errorf("%s: VerifyEnrolment accepted it", name)
		}
	}
}

// BenchmarkVerify is the controller's cost per request for each kind of
// credential: parse, seal check, times and nonce.
func BenchmarkVerify(b *testing.B) {
	key, mac := testKey(1), NewMACKey()
	v := &Verifier{MaxNonces: 1 << 30, Key: func(string) (ed25519.PublicKey, bool) { return key.Public().(ed25519.PublicKey), true },
		MACKey: func(string) ([]byte, bool) { return mac, true }}
	for _, kind := range []string{"ed25519", "mac"} {
		b.Run(kind, func(b *testing.B) {
			creds := make([]string, b.N)
			for i := range creds {
				var err error
				if kind == "mac" {
					creds[i], err = SealCredential(mac, testCred())
				} else {
					creds[i], err = SignCredential(key, testCred())
				}
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			for i := range creds {
				if _, err := v.Verify(creds[i], t0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
