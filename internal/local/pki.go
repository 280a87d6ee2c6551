package local

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// kubePKI is the key material of a test control plane, generated in Go so
// every kubeconfig can be written before the API server starts. ECDSA keys
// keep generation instant.
type kubePKI struct {
	caFile      string // CA certificate, trusted by clients and published in kube-root-ca.crt
	certFile    string // API server serving certificate, signed by the CA
	keyFile     string // its private key
	saKeyFile   string // service account token signing key
	tokenFile   string // --token-auth-file
	caPEM       []byte
	adminToken  string
	adminUser   string
	adminGroups string
}

// newKubePKI writes the CA, the API server certificate for 127.0.0.1 and
// the in-cluster names, the service account key and the token file to dir.
func newKubePKI(dir string, serviceIP net.IP) (*kubePKI, error) {
	p := &kubePKI{
		caFile:      filepath.Join(dir, "ca.crt"),
		certFile:    filepath.Join(dir, "apiserver.crt"),
		keyFile:     filepath.Join(dir, "apiserver.key"),
		saKeyFile:   filepath.Join(dir, "sa.key"),
		tokenFile:   filepath.Join(dir, "tokens.csv"),
		adminUser:   "stepper-admin",
		adminGroups: "system:masters",
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("kube pki: %w", err)
	}
	caKey, caCert, err := newCA()
	if err != nil {
		return nil, fmt.Errorf("kube pki: %w", err)
	}
	p.caPEM = pemBlock("CERTIFICATE", caCert.Raw)
	serverKey, serverCert, err := newServingCert(caKey, caCert, serviceIP)
	if err != nil {
		return nil, fmt.Errorf("kube pki: %w", err)
	}
	saKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("kube pki: service account key: %w", err)
	}
	token := make([]byte, 24)
	if _, err := rand.Read(token); err != nil {
		return nil, fmt.Errorf("kube pki: token: %w", err)
	}
	p.adminToken = hex.EncodeToString(token)

	serverKeyPEM, err := ecKeyPEM(serverKey)
	if err != nil {
		return nil, err
	}
	saKeyPEM, err := ecKeyPEM(saKey)
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{
		p.caFile:    p.caPEM,
		p.certFile:  pemBlock("CERTIFICATE", serverCert.Raw),
		p.keyFile:   serverKeyPEM,
		p.saKeyFile: saKeyPEM,
		// token,user,uid,"group1,group2"
		p.tokenFile: fmt.Appendf(nil, "%s,%s,%s,%q\n", p.adminToken, p.adminUser, p.adminUser, p.adminGroups),
	}
	for path, data := range files {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return nil, fmt.Errorf("kube pki: %w", err)
		}
	}
	return p, nil
}

func newCA() (*ecdsa.PrivateKey, *x509.Certificate, error) {
	return newCert(&x509.Certificate{
		Subject:               pkix.Name{CommonName: "stepper-testenv-ca"},
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}, nil, nil)
}

func newServingCert(caKey *ecdsa.PrivateKey, ca *x509.Certificate, serviceIP net.IP) (*ecdsa.PrivateKey, *x509.Certificate, error) {
	return newCert(&x509.Certificate{
		Subject:     pkix.Name{CommonName: "kube-apiserver"},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), serviceIP},
		DNSNames: []string{
			"localhost", "kubernetes", "kubernetes.default",
			"kubernetes.default.svc", "kubernetes.default.svc.cluster.local",
		},
	}, ca, caKey)
}

// newCert makes a key and a certificate for it from tmpl, signed by parent,
// or self-signed when parent is nil.
func newCert(tmpl, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*ecdsa.PrivateKey, *x509.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("%s key: %w", tmpl.Subject.CommonName, err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, nil, fmt.Errorf("%s serial: %w", tmpl.Subject.CommonName, err)
	}
	tmpl.SerialNumber = serial
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	tmpl.NotAfter = time.Now().Add(10 * 365 * 24 * time.Hour)
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		return nil, nil, fmt.Errorf("%s certificate: %w", tmpl.Subject.CommonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("%s certificate: %w", tmpl.Subject.CommonName, err)
	}
	return key, cert, nil
}

func ecKeyPEM(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode key: %w", err)
	}
	return pemBlock("EC PRIVATE KEY", der), nil
}

func pemBlock(kind string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der})
}
