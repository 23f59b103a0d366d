package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"time"
)

// measureIdleLink is the idle figure with the IoT Core link connected: the
// nucleus, no components, its --config pointing at a mosquitto that
// requires mutual TLS as IoT Core does; read once the link is up, the spool
// empty and the process settled (idleSettle), as the idle figure is read.
func measureIdleLink(cfg config, work string, rep *report) error {
	mosq, err := findMosquitto()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp(work, "idlelink-")
	if err != nil {
		return err
	}
	pki, err := writeLinkPKI(dir)
	if err != nil {
		return err
	}
	broker, err := startTLSMosquitto(mosq, dir, pki)
	if err != nil {
		return err
	}
	defer func() { _ = broker.stop() }()
	_, port, _ := net.SplitHostPort(broker.addr)
	config := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(config, fmt.Appendf(nil, `system:
  thingName: perf-thing
  certificateFilePath: %s
  privateKeyPath: %s
  rootCaPath: %s
services:
  aws.greengrass.Nucleus:
    configuration:
      awsRegion: eu-north-1
      iotDataEndpoint: 127.0.0.1
      mqtt:
        port: %s
`, pki.clientCert, pki.clientKey, pki.ca, port), 0o600); err != nil {
		return err
	}

	pss := rep.add("idlelink_pss_mb", "idle memory, IoT Core link connected, spool empty, PSS", "MB", atMost(12))
	rss := rep.add("idlelink_rss_mb", "idle memory, IoT Core link connected, RSS", "MB", goal{})
	file := rep.add("idlelink_pss_file_mb", "idle memory, IoT Core link connected, PSS of files (the binary)", "MB", goal{})
	anon := rep.add("idlelink_pss_anon_mb", "idle memory, IoT Core link connected, PSS anonymous", "MB", goal{})
	for i := range cfg.runs {
		m, err := idleLinkOnce(cfg.sward, work, config)
		if err != nil {
			return fmt.Errorf("%w (mosquitto's log: %s)", err, filepath.Join(dir, "mosquitto.out"))
		}
		progress("  idle with the link run %d: PSS %.2f MB (files %.2f, anonymous %.2f), RSS %.2f MB", i+1, mb(m.pss), mb(m.pssFile), mb(m.pssAnon), mb(m.rss))
		pss.samples = append(pss.samples, mb(m.pss))
		rss.samples = append(rss.samples, mb(m.rss))
		file.samples = append(file.samples, mb(m.pssFile))
		anon.samples = append(anon.samples, mb(m.pssAnon))
	}
	return nil
}

func idleLinkOnce(bin, work, config string) (m memory, err error) {
	n, err := startNucleus(bin, work, "", "--config", config)
	if err != nil {
		return m, err
	}
	defer func() { err = errors.Join(err, n.stop()) }()
	c, err := n.dial(startTimeout)
	if err != nil {
		return m, err
	}
	deadline := time.Now().Add(startTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		st, err := c.CloudStatus(ctx)
		cancel()
		if err == nil && st.Connected && st.SpoolMessages == 0 {
			break
		}
		if time.Now().After(deadline) {
			c.Close()
			return m, fmt.Errorf("the IoT Core link is not connected with an empty spool after %s: %+v (%v)", startTimeout, st, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.Close() // an idle nucleus has no admin connection
	time.Sleep(idleSettle)
	if err := n.exited(); err != nil {
		return m, err
	}
	return readMemory(n.pid())
}

// linkPKI is a CA with a server certificate for 127.0.0.1 and a client
// certificate for the thing, as PEM files.
type linkPKI struct {
	ca, serverCert, serverKey, clientCert, clientKey string
}

func writeLinkPKI(dir string) (linkPKI, error) {
	p := linkPKI{ca: filepath.Join(dir, "ca.pem")}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return p, err
	}
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sward perf CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return p, err
	}
	ca, _ := x509.ParseCertificate(caDER)
	if err := writePEM(p.ca, "CERTIFICATE", caDER); err != nil {
		return p, err
	}
	issue := func(name, cn string, serial int64, usage x509.ExtKeyUsage) (string, string, error) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return "", "", err
		}
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			return "", "", err
		}
		keyDER, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return "", "", err
		}
		certFile, keyFile := filepath.Join(dir, name+".pem"), filepath.Join(dir, name+".key")
		return certFile, keyFile, errors.Join(writePEM(certFile, "CERTIFICATE", der), writePEM(keyFile, "PRIVATE KEY", keyDER))
	}
	if p.serverCert, p.serverKey, err = issue("server", "localhost", 2, x509.ExtKeyUsageServerAuth); err != nil {
		return p, err
	}
	p.clientCert, p.clientKey, err = issue("client", "perf-thing", 3, x509.ExtKeyUsageClientAuth)
	return p, err
}

func writePEM(path, typ string, der []byte) error {
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600)
}

// startTLSMosquitto is mosquitto on a free loopback port requiring a client
// certificate from pki's CA: the stand-in for IoT Core's endpoint.
func startTLSMosquitto(bin, dir string, pki linkPKI) (*mosquitto, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	// Run as root, mosquitto would switch to its own user, which cannot
	// read the 0600 keys; it stays this user.
	me, err := user.Current()
	if err != nil {
		return nil, err
	}
	return runMosquitto(bin, dir, port, fmt.Appendf(nil, `user %s
listener %d 127.0.0.1
cafile %s
certfile %s
keyfile %s
require_certificate true
use_identity_as_username true
allow_anonymous true
persistence false
log_dest stderr
`, me.Username, port, pki.ca, pki.serverCert, pki.serverKey))
}
