//go:build !client

package cli

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/gefion-hpc/gefion/internal/client"
)

// serverTLS is the controller's TLS set-up: its certificate and the CA
// that agents pin.
type serverTLS struct {
	config *tls.Config
	// caFile is the CA certificate (PEM) and caFingerprint its SHA-256;
	// both empty when a certificate was given without its CA.
	caFile        string
	caFingerprint string
}

// loadServerTLS takes the certificate the configuration names, or creates
// (on first start) and keeps a CA and a certificate it signs in
// dataDir/tls.
func loadServerTLS(sc *serverConfig) (*serverTLS, error) {
	st := &serverTLS{}
	certFile, keyFile := sc.TLSCert, sc.TLSKey
	switch {
	case (certFile == "") != (keyFile == ""):
		return nil, errors.New("give both tls_cert and tls_key, or neither to have the controller make its own CA")
	case certFile == "":
		dir := filepath.Join(sc.DataDir, "tls")
		var err error
		if certFile, keyFile, st.caFile, err = ensureCA(dir, sc.Listen, sc.TLSNames); err != nil {
			return nil, fmt.Errorf("the controller's CA in %s: %w", dir, err)
		}
	default:
		st.caFile = sc.TLSCA
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("TLS certificate: %w", err)
	}
	if st.caFile != "" {
		b, err := os.ReadFile(st.caFile)
		if err != nil {
			return nil, fmt.Errorf("TLS CA: %w", err)
		}
		blk, _ := pem.Decode(b)
		if blk == nil || blk.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("TLS CA %s: no PEM certificate", st.caFile)
		}
		st.caFingerprint = client.Fingerprint(blk.Bytes)
		// Clients are shown the whole chain, so that an agent can find
		// the CA it pins.
		cert.Certificate = append(cert.Certificate, blk.Bytes)
	}
	st.config = &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert}}
	return st, nil
}

// ensureCA returns dir's CA and server certificate, making them on first
// start: an ECDSA P-256 CA of ten years, and a certificate of two years
// for the listen address, this host's name, loopback and names.
func ensureCA(dir, listen string, names []string) (certFile, keyFile, caFile string, err error) {
	caFile, caKey := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca.key")
	certFile, keyFile = filepath.Join(dir, "server.pem"), filepath.Join(dir, "server.key")
	if _, err := os.Stat(certFile); err == nil {
		return certFile, keyFile, caFile, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", "", err
	}
	now := time.Now()
	var ca *x509.Certificate
	var caPriv *ecdsa.PrivateKey
	if b, err := os.ReadFile(caFile); err == nil {
		// A CA kept from before (the server certificate was removed to
		// have it made again, e.g. for new names): agents keep their pin.
		blk, _ := pem.Decode(b)
		kb, kerr := os.ReadFile(caKey)
		kblk, _ := pem.Decode(kb)
		if blk == nil || kerr != nil || kblk == nil {
			return "", "", "", errors.New("ca.pem or ca.key unreadable: remove both to have a new CA made (agents then need the new join token)")
		}
		if ca, err = x509.ParseCertificate(blk.Bytes); err != nil {
			return "", "", "", err
		}
		if caPriv, err = x509.ParseECPrivateKey(kblk.Bytes); err != nil {
			return "", "", "", err
		}
	} else {
		if caPriv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			return "", "", "", err
		}
		tmpl := &x509.Certificate{
			SerialNumber: serial(), Subject: pkix.Name{CommonName: "Gefion controller CA"},
			NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(10, 0, 0),
			IsCA: true, BasicConstraintsValid: true, MaxPathLenZero: true,
			KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &caPriv.PublicKey, caPriv)
		if err != nil {
			return "", "", "", err
		}
		if ca, err = x509.ParseCertificate(der); err != nil {
			return "", "", "", err
		}
		if err := writePEM(caKey, "EC PRIVATE KEY", mustEC(caPriv), 0o600); err != nil {
			return "", "", "", err
		}
		if err := writePEM(caFile, "CERTIFICATE", der, 0o644); err != nil {
			return "", "", "", err
		}
	}
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", "", err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: "Gefion controller"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(2, 0, 0),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	if h, err := os.Hostname(); err == nil {
		tmpl.DNSNames = append(tmpl.DNSNames, h)
	}
	if host, _, err := net.SplitHostPort(listen); err == nil {
		names = append(names, host)
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			if !ip.IsUnspecified() {
				tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
			}
		} else if n != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &priv.PublicKey, caPriv)
	if err != nil {
		return "", "", "", err
	}
	if err := writePEM(keyFile, "EC PRIVATE KEY", mustEC(priv), 0o600); err != nil {
		return "", "", "", err
	}
	return certFile, keyFile, caFile, writePEM(certFile, "CERTIFICATE", der, 0o644)
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n
}

func mustEC(k *ecdsa.PrivateKey) []byte {
	b, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		panic(err) // a P-256 key always marshals
	}
	return b
}

func writePEM(file, typ string, der []byte, mode os.FileMode) error {
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if err := pem.Encode(f, &pem.Block{Type: typ, Bytes: der}); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
