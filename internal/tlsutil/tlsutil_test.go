package tlsutil

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestEnsureSelfSigned(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tls")
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	names := NewNames("box", "device.local", "192.168.4.1", "localhost", "127.0.0.1", "::1", "", "localhost")
	certPath, keyPath, generated, err := EnsureSelfSigned(dir, names, now)
	if err != nil || !generated {
		t.Fatalf("EnsureSelfSigned = %v, generated %v", err, generated)
	}
	st, err := os.Stat(keyPath)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode = %v %v, want 0600", st.Mode().Perm(), err)
	}
	if st, err := os.Stat(dir); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("tls dir mode = %v %v, want 0700", st.Mode().Perm(), err)
	}
	certPEM, _ := os.ReadFile(certPath)
	block, _ := pem.Decode(certPEM)
	if block == nil {
		t.Fatal("no PEM certificate")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"box", "device.local", "localhost"}, cert.DNSNames); diff != "" {
		t.Errorf("DNS names (-want +got):\n%s", diff)
	}
	var ips []string
	for _, ip := range cert.IPAddresses {
		ips = append(ips, ip.String())
	}
	if diff := cmp.Diff([]string{"192.168.4.1", "127.0.0.1", "::1"}, ips); diff != "" {
		t.Errorf("IP SANs (-want +got):\n%s", diff)
	}
	pub, ok := cert.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		t.Errorf("key is %T, want ECDSA P-256", cert.PublicKey)
	}
	if !cert.NotBefore.Before(now) || !cert.NotAfter.After(now.AddDate(5, 0, 0)) {
		t.Errorf("validity %v..%v", cert.NotBefore, cert.NotAfter)
	}
	if !slices.Contains(cert.ExtKeyUsage, x509.ExtKeyUsageServerAuth) {
		t.Errorf("no serverAuth usage")
	}
	if err := cert.VerifyHostname("192.168.4.1"); err != nil {
		t.Errorf("VerifyHostname: %v", err)
	}

	// A second start reuses the pair.
	_, _, generated, err = EnsureSelfSigned(dir, NewNames("other"), now)
	if err != nil || generated {
		t.Fatalf("second EnsureSelfSigned = %v, generated %v, want reuse", err, generated)
	}
	again, _ := os.ReadFile(certPath)
	if !bytes.Equal(again, certPEM) {
		t.Errorf("certificate changed on reuse")
	}

	// A broken pair is an error, never silently replaced.
	os.WriteFile(keyPath, []byte("garbage"), 0o600)
	if _, _, _, err := EnsureSelfSigned(dir, names, now); err == nil {
		t.Errorf("broken key accepted")
	}
}

func TestServerConfigTLS12Minimum(t *testing.T) {
	dir := t.TempDir()
	c, k, _, err := EnsureSelfSigned(dir, NewNames("localhost", "127.0.0.1"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := ServerConfig(c, k)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MinVersion != 0x0303 {
		t.Errorf("MinVersion = %#x, want TLS 1.2", cfg.MinVersion)
	}
	if _, err := ServerConfig(c, filepath.Join(dir, "missing")); err == nil {
		t.Errorf("missing key accepted")
	}
}
