// Package tlsutil makes and loads the console's TLS certificate: a
// self-signed ECDSA P-256 pair generated on first start when none is
// configured, reused afterwards, and a server config that allows TLS 1.2+.
package tlsutil

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
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/google/renameio/v2"
)

// File names inside the directory given to EnsureSelfSigned.
const (
	CertFile = "cert.pem"
	KeyFile  = "key.pem"
)

// Names are the subject alternative names of a generated certificate.
type Names struct {
	DNS []string
	IPs []net.IP
}

// add appends a name or address once, ignoring empty strings.
func (n *Names) add(s string) {
	if s == "" {
		return
	}
	if ip := net.ParseIP(s); ip != nil {
		if !slices.ContainsFunc(n.IPs, ip.Equal) {
			n.IPs = append(n.IPs, ip)
		}
		return
	}
	if !slices.Contains(n.DNS, s) {
		n.DNS = append(n.DNS, s)
	}
}

// NewNames builds Names from host names and addresses in any mix,
// dropping empty strings and duplicates.
func NewNames(hosts ...string) Names {
	var n Names
	for _, h := range hosts {
		n.add(h)
	}
	return n
}

// EnsureSelfSigned returns the paths of the certificate and key in dir,
// generating a self-signed ECDSA P-256 pair valid for names when either file
// is missing. An existing pair is reused as is. The key file is 0600 and dir
// 0700. generated reports whether a new pair was made.
func EnsureSelfSigned(dir string, names Names, now time.Time) (certPath, keyPath string, generated bool, err error) {
	certPath, keyPath = filepath.Join(dir, CertFile), filepath.Join(dir, KeyFile)
	_, cerr := os.Stat(certPath)
	_, kerr := os.Stat(keyPath)
	if cerr == nil && kerr == nil {
		if _, err := tls.LoadX509KeyPair(certPath, keyPath); err != nil {
			return "", "", false, fmt.Errorf("loading existing certificate in %s: %w", dir, err)
		}
		return certPath, keyPath, false, nil
	}
	for _, e := range []error{cerr, kerr} {
		if e != nil && !errors.Is(e, fs.ErrNotExist) {
			return "", "", false, fmt.Errorf("checking certificate in %s: %w", dir, e)
		}
	}
	certPEM, keyPEM, err := SelfSigned(names, now)
	if err != nil {
		return "", "", false, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", false, fmt.Errorf("creating %s: %w", dir, err)
	}
	if err := writeFile(keyPath, keyPEM, 0o600); err != nil {
		return "", "", false, err
	}
	if err := writeFile(certPath, certPEM, 0o644); err != nil {
		return "", "", false, err
	}
	return certPath, keyPath, true, nil
}

// SelfSigned returns a PEM certificate and PKCS#8 key for names, valid from
// an hour before now for ten years.
func SelfSigned(names Names, now time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generating ECDSA key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, fmt.Errorf("generating serial number: %w", err)
	}
	cn := "devmgr"
	if len(names.DNS) > 0 {
		cn = names.DNS[0]
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"devmgr self-signed"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              names.DNS,
		IPAddresses:           names.IPs,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("creating certificate: %w", err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("encoding key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), nil
}

// ServerConfig returns a TLS 1.2+ server config serving the pair at
// certPath and keyPath.
func ServerConfig(certPath, keyPath string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		return nil, fmt.Errorf("loading certificate %s: %w", certPath, err)
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		// For TLS 1.2 only AEAD suites with forward secrecy; TLS 1.3 suites are fixed.
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
			tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		},
	}, nil
}

// writeFile writes b to path atomically (temp file, fsync, rename) with mode perm.
func writeFile(path string, b []byte, perm os.FileMode) error {
	if err := renameio.WriteFile(path, b, perm); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
