package lcsocktest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// CA is a throw-away certificate authority for tests: nothing it makes is
// written anywhere unless asked, and everything expires within a day.
type CA struct {
	Cert    *x509.Certificate
	CertPEM []byte // the CA certificate, PEM
	key     *ecdsa.PrivateKey
}

// NewCA returns a new CA, failing the test if it cannot be made.
func NewCA(t TB) *CA {
	t.Helper()
	ca, err := newCA()
	if err != nil {
		t.Fatalf("lcsocktest: %v", err)
	}
	return ca
}

func newCA() (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "lcsocktest CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &CA{Cert: cert, CertPEM: pemBlock("CERTIFICATE", der), key: key}, nil
}

// Pool returns a certificate pool holding only the CA.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// Issue returns a certificate for hosts (DNS names or IP addresses),
// usable by servers and clients, and its key, both PEM.
func (ca *CA) Issue(t TB, hosts ...string) (certPEM, keyPEM []byte) {
	t.Helper()
	return ca.issue(t, time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour), hosts)
}

// IssueExpired is Issue with a certificate that expired an hour ago.
func (ca *CA) IssueExpired(t TB, hosts ...string) (certPEM, keyPEM []byte) {
	t.Helper()
	return ca.issue(t, time.Now().Add(-48*time.Hour), time.Now().Add(-time.Hour), hosts)
}

func (ca *CA) issue(t TB, from, until time.Time, hosts []string) ([]byte, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("lcsocktest: %v", err)
	}
	return ca.issueKey(t, key, from, until, hosts)
}

// issueWithKey issues a certificate for key's public half, valid now.
func (ca *CA) issueWithKey(t TB, key *ecdsa.PrivateKey, hosts []string) ([]byte, []byte) {
	t.Helper()
	return ca.issueKey(t, key, time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour), hosts)
}

func (ca *CA) issueKey(t TB, key *ecdsa.PrivateKey, from, until time.Time, hosts []string) ([]byte, []byte) {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: first(hosts)},
		NotBefore:    from,
		NotAfter:     until,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatalf("lcsocktest: %v", err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatalf("lcsocktest: %v", err)
	}
	return pemBlock("CERTIFICATE", der), pemBlock("EC PRIVATE KEY", kder)
}

// SelfSigned returns a self-signed certificate for hosts and its key, PEM.
func SelfSigned(t TB, hosts ...string) (certPEM, keyPEM []byte) {
	t.Helper()
	ca, err := newCA()
	if err != nil {
		t.Fatalf("lcsocktest: %v", err)
	}
	// Sign the leaf with its own key: issuer and subject are the same.
	ca.Cert.Subject = pkix.Name{CommonName: first(hosts)}
	leaf := &x509.Certificate{Subject: ca.Cert.Subject, PublicKey: &ca.key.PublicKey}
	self := &CA{Cert: leaf, key: ca.key}
	certPEM, _ = self.issueWithKey(t, ca.key, hosts)
	kder, err := x509.MarshalECPrivateKey(ca.key)
	if err != nil {
		t.Fatalf("lcsocktest: %v", err)
	}
	return certPEM, pemBlock("EC PRIVATE KEY", kder)
}

// WriteFile writes data to name in dir and returns the path.
func WriteFile(t TB, dir, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatalf("lcsocktest: %v", err)
	}
	return path
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	return n
}

func first(ss []string) string {
	if len(ss) == 0 {
		return ""
	}
	return ss[0]
}
