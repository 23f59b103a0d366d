package iotcore

import (
	"context"
	"strings"
	"testing"

	"github.com/sward-iot/sward/internal/testutil"
)

// A device whose certificate the endpoint does not trust, or that does not
// trust the endpoint, keeps retrying with the cause and the fix in its
// state (`sward cloud status`): the nucleus and its spool go on.
func TestACertificateProblemIsALastErrorNamingTheFileToFix(t *testing.T) {
	c := startCloud(t)
	other := testutil.NewPKI(t, thing) // another account's or a stale CA
	for _, tt := range []struct {
		name   string
		change func(o *Options)
		want   []string
	}{
		{"a device certificate the endpoint does not trust", func(o *Options) {
			o.CertFile, o.KeyFile = other.ClientCert, other.ClientKey
		}, []string{"refused the device certificate", "certificateFilePath"}},
		{"an endpoint certificate the root CA did not sign", func(o *Options) {
			o.RootCAFile = other.CAFile
		}, []string{"not signed by", "rootCaPath"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, _, js := startJetStream(t, "")
			o := c.options(t, js)
			tt.change(&o)
			s := start(t, o)
			testutil.Eventually(t, "a last error naming the certificate problem", func() error {
				st := s.State(context.Background())
				if st.Connected {
					t.Fatal("connected with a certificate the other side does not trust")
				}
				for _, w := range tt.want {
					if !strings.Contains(st.LastError, w) {
						return &missing{w, st.LastError}
					}
				}
				return nil
			})
		})
	}
}

type missing struct{ want, got string }

func (m *missing) Error() string { return "last error " + m.got + ": want it to say " + m.want }
