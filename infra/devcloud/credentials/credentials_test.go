package credentials

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/sward-iot/sward/infra/devcloud/policy"
)

const aliasArn = "arn:aws:iot:us-east-1:123456789012:rolealias/Known"

func mustParse(t *testing.T, doc string) *policy.Document {
	t.Helper()
	d, err := policy.Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestRefusalsAreAnsweredAsTheIoTCredentialsProviderAnswers covers the
// requests refused before STS is asked, with the statuses and messages AWS's
// provider sends: its policies are evaluated on the alias's ARN first, so an
// alias they do not allow is 403 whether it exists or not, and only an
// allowed one that does not exist is 404.
func TestRefusalsAreAnsweredAsTheIoTCredentialsProviderAnswers(t *testing.T) {
	onlyKnown := mustParse(t, `{"Statement":{"Effect":"Allow","Action":"iot:AssumeRoleWithCertificate","Resource":"`+aliasArn+`"}}`)
	anyAlias := mustParse(t, `{"Statement":{"Effect":"Allow","Action":"iot:AssumeRoleWithCertificate","Resource":"*"}}`)
	noAssume := mustParse(t, `{"Statement":{"Effect":"Allow","Action":"iot:Connect","Resource":"*"}}`)
	tests := []struct {
		name       string
		registered bool
		policies   []*policy.Document
		alias      string
		thingName  string
		status     int
		message    string
	}{
		{"a certificate not registered or not ACTIVE", false, nil, "Known", "", 403, "Access Denied"},
		{"a thing name that is not the certificate's", true, []*policy.Document{anyAlias}, "Known", "dev2", 403, "Invalid thing name passed"},
		{"a known alias the policies do not allow", true, []*policy.Document{noAssume}, "Known", "dev1", 403, "Access Denied"},
		{"an unknown alias the policies do not allow", true, []*policy.Document{onlyKnown}, "Other", "dev1", 403, "Access Denied"},
		{"an unknown alias the policies allow", true, []*policy.Document{anyAlias}, "Other", "dev1", 404, "Role alias does not exist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(Options{
				Listen:    "127.0.0.1:0",
				ClientCAs: x509.NewCertPool(),
				Identify: func(*x509.Certificate) (policy.Identity, bool) {
					return policy.Identity{ThingName: "dev1", Policies: tt.policies}, tt.registered
				},
				RoleAliases: []RoleAlias{{Name: "Known", Arn: aliasArn, RoleArn: "arn:aws:iam::123456789012:role/R"}},
				Region:      "us-east-1", AccountID: "123456789012",
				// Never reached: every case is refused before AssumeRole.
				STS: sts.New(sts.Options{Region: "us-east-1", BaseEndpoint: aws.String("http://127.0.0.1:1")}),
			})
			if err != nil {
				t.Fatal(err)
			}
			req := httptest.NewRequest(http.MethodGet, "/role-aliases/"+tt.alias+"/credentials", nil)
			req.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{{}}}
			if tt.thingName != "" {
				req.Header.Set(ThingNameHeader, tt.thingName)
			}
			rec := httptest.NewRecorder()
			s.http.Handler.ServeHTTP(rec, req)
			var body struct {
				Message string `json:"message"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatalf("body %q: %v", rec.Body, err)
			}
			if rec.Code != tt.status || body.Message != tt.message {
				t.Errorf("%d %q, want %d %q", rec.Code, body.Message, tt.status, tt.message)
			}
		})
	}
}
