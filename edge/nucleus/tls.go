package nucleus

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
)

// dirPublic holds what every component may read: today the CA bundle that
// lets components and the CLI verify the nucleus's TLS certificate.
const dirPublic = "public"

// CAFile is the name of that bundle inside <root>/public.
const CAFile = "ca.pem"

// trust is what a local client needs to verify the listeners' TLS
// certificate: the CA bundle's path and, when the certificate does not
// name the address local clients dial, a name it does hold.
type trust struct {
	caFile     string
	serverName string
}

// publishTrust writes the CA bundle local clients verify the nucleus's
// certificate with to <root>/public/ca.pem (mode 0644: certificates only,
// never a key) and returns it; the zero trust when the listeners have no TLS.
// The bundle is TLSServerCA when given; otherwise the CA certificates that
// follow the leaf in TLSCert; otherwise the leaf itself, which a client then
// trusts as it is (a self-signed certificate).
func (n *Nucleus) publishTrust(natsURL string) (trust, error) {
	if n.opts.TLSCert == "" {
		// A bundle left from a start with TLS would mislead a client.
		_ = os.Remove(filepath.Join(n.opts.Root, dirPublic, CAFile))
		return trust{}, nil
	}
	chain, err := readCertificates(n.opts.TLSCert)
	if err != nil {
		return trust{}, fmt.Errorf("--tls-cert: %w", err)
	}
	if len(chain) == 0 {
		return trust{}, fmt.Errorf("--tls-cert %s holds no CERTIFICATE block", n.opts.TLSCert)
	}
	bundle := chain[1:]
	if n.opts.TLSServerCA != "" {
		if bundle, err = readCertificates(n.opts.TLSServerCA); err != nil {
			return trust{}, fmt.Errorf("--tls-server-ca: %w", err)
		}
		if len(bundle) == 0 {
			return trust{}, fmt.Errorf("--tls-server-ca %s holds no CERTIFICATE block: give the PEM of the CA that signed --tls-cert", n.opts.TLSServerCA)
		}
	}
	if len(bundle) == 0 {
		bundle = chain[:1]
	}
	var out []byte
	for _, c := range bundle {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	dir := filepath.Join(n.opts.Root, dirPublic)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return trust{}, fmt.Errorf("public folder %s: %w", dir, err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return trust{}, err
	}
	path := filepath.Join(dir, CAFile)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, out, 0o644); err != nil {
		return trust{}, fmt.Errorf("write CA bundle %s: %w", path, err)
	}
	if err := os.Chmod(tmp, 0o644); err != nil { // whatever the umask
		return trust{}, err
	}
	if err := os.Rename(tmp, path); err != nil {
		return trust{}, fmt.Errorf("write CA bundle %s: %w", path, err)
	}
	t := trust{caFile: path}
	if u, err := url.Parse(natsURL); err == nil {
		host := u.Hostname()
		if err := chain[0].VerifyHostname(host); err != nil {
			t.serverName = certificateName(chain[0])
			n.log.Warn("the TLS certificate does not name the address components and the CLI dial; they verify it under the name it holds",
				"dial", host, "name", t.serverName)
		}
	}
	return t, nil
}

// readCertificates parses the CERTIFICATE blocks of a PEM file. Other
// blocks (a private key kept in the same file) are skipped: only what this
// returns is ever re-encoded into the public bundle.
func readCertificates(path string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []*x509.Certificate
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return out, nil
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: certificate %d: %w", path, len(out)+1, err)
		}
		out = append(out, c)
	}
}

// certificateName is a name the certificate holds: its first DNS name, else
// its first IP address, else its common name.
func certificateName(c *x509.Certificate) string {
	switch {
	case len(c.DNSNames) > 0:
		return c.DNSNames[0]
	case len(c.IPAddresses) > 0:
		return net.IP.String(c.IPAddresses[0])
	}
	return c.Subject.CommonName
}
