package devcloud

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/iot"
	iottypes "github.com/aws/aws-sdk-go-v2/service/iot/types"

	"github.com/sward-iot/sward/infra/devcloud/policy"
)

// Provisioning through the control plane (`sward provision`, the AWS CLI's
// create-keys-and-certificate): `up` registers the stack's outputs in
// moto's CloudFormation (registerStack); devcloud answers CreateKeysAndCertificate
// itself, with a certificate its CA signs (moto's would not chain to
// anything the data endpoint trusts), registered in moto; and
// DescribeEndpoint with its own addresses. A certificate issued this way
// is identified through moto at each connection: its status, the thing it
// is attached to and the policies attached to it, as IoT Core evaluates
// them. Such things live in moto only: unlike `devcloud thing create`'s,
// they are gone when moto restarts.

// registerStack puts a stack named StackName into moto's CloudFormation
// whose outputs are the template's that resolve here (the device policy,
// role alias and thing group names), so `sward provision` reads them as it
// reads a deployed stack's. Its one resource is a WaitConditionHandle, which
// moto skips: the template's resources are devcloud's to serve, not moto's.
func (s *Server) registerStack(ctx context.Context) error {
	client := cloudformation.NewFromConfig(s.info.AWSConfig())
	if _, err := client.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(StackName)}); err == nil {
		return nil // a moto that outlived devcloud still has it
	}
	outputs := map[string]any{}
	for k, v := range s.tmpl.Outputs {
		outputs[k] = map[string]string{"Value": v}
	}
	body, err := json.Marshal(map[string]any{
		"Resources": map[string]any{"Devcloud": map[string]string{"Type": "AWS::CloudFormation::WaitConditionHandle"}},
		"Outputs":   outputs,
	})
	if err != nil {
		return err
	}
	if _, err := client.CreateStack(ctx, &cloudformation.CreateStackInput{StackName: aws.String(StackName), TemplateBody: aws.String(string(body))}); err != nil {
		return fmt.Errorf("register stack %s in moto: %w", StackName, err)
	}
	return nil
}

// issuedCert is moto's name for a certificate devcloud issued.
type issuedCert struct{ id, arn string }

// motoLookupTimeout bounds identifying a provisioned certificate through
// moto during a TLS handshake; moto on loopback answers in milliseconds.
const motoLookupTimeout = 5 * time.Second

// registerProvisioning adds CreateKeysAndCertificate and DescribeEndpoint
// to the control plane.
func (s *Server) registerProvisioning(mux *http.ServeMux, moto *iot.Client) {
	mux.HandleFunc("POST /keys-and-certificate", func(w http.ResponseWriter, r *http.Request) {
		s.createKeysAndCertificate(w, r, moto)
	})
	mux.HandleFunc("GET /endpoint", s.describeEndpoint)
}

func (s *Server) createKeysAndCertificate(w http.ResponseWriter, r *http.Request, moto *iot.Client) {
	certPEM, keyPEM, err := s.ca.IssueDevice()
	if err != nil {
		writeAPIError(w, http.StatusInternalServerError, "InternalFailureException", "issue a certificate: "+err.Error())
		return
	}
	status := iottypes.CertificateStatusInactive
	if r.URL.Query().Get("setAsActive") == "true" {
		status = iottypes.CertificateStatusActive
	}
	reg, err := moto.RegisterCertificateWithoutCA(r.Context(), &iot.RegisterCertificateWithoutCAInput{
		CertificatePem: aws.String(string(certPEM)), Status: status,
	})
	if err != nil {
		writeAPIError(w, http.StatusInternalServerError, "InternalFailureException", "register the certificate in moto: "+err.Error())
		return
	}
	block, _ := pem.Decode(certPEM)
	pub, err := publicKeyPEM(block.Bytes)
	if err != nil {
		writeAPIError(w, http.StatusInternalServerError, "InternalFailureException", err.Error())
		return
	}
	s.mu.Lock()
	if s.issued == nil {
		s.issued = map[string]issuedCert{}
	}
	s.issued[certificateID(block.Bytes)] = issuedCert{id: aws.ToString(reg.CertificateId), arn: aws.ToString(reg.CertificateArn)}
	s.mu.Unlock()
	s.log.Info("issued certificate", "certificateId", aws.ToString(reg.CertificateId), "status", status)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"certificateArn": aws.ToString(reg.CertificateArn),
		"certificateId":  aws.ToString(reg.CertificateId),
		"certificatePem": string(certPEM),
		"keyPair":        map[string]string{"PublicKey": pub, "PrivateKey": string(keyPEM)},
	})
}

func publicKeyPEM(der []byte) (string, error) {
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return "", err
	}
	b, err := x509.MarshalPKIXPublicKey(cert.PublicKey)
	if err != nil {
		return "", err
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: b})), nil
}

// describeEndpoint answers with devcloud's addresses, host:port: the data
// endpoint for iot:Data-ATS (and iot:Data), the credentials provider for
// iot:CredentialProvider.
func (s *Server) describeEndpoint(w http.ResponseWriter, r *http.Request) {
	var addr string
	switch t := r.URL.Query().Get("endpointType"); t {
	case "", "iot:Data", "iot:Data-ATS":
		addr = s.info.Endpoints.IoTData
	case "iot:CredentialProvider":
		addr = strings.TrimPrefix(s.info.Endpoints.Credentials, "https://")
	default:
		writeAPIError(w, http.StatusBadRequest, "InvalidRequestException", "devcloud serves endpointType iot:Data-ATS, iot:Data and iot:CredentialProvider, not "+t)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]string{"endpointAddress": addr})
}

// identifyIssued identifies a certificate the control plane issued, from
// what moto holds now. Called with s.mu held.
func (s *Server) identifyIssued(id string) (policy.Identity, bool) {
	c, ok := s.issued[id]
	if !ok {
		return policy.Identity{}, false
	}
	ctx, cancel := context.WithTimeout(context.Background(), motoLookupTimeout)
	defer cancel()
	client := iot.NewFromConfig(s.info.AWSConfig())
	desc, err := client.DescribeCertificate(ctx, &iot.DescribeCertificateInput{CertificateId: aws.String(c.id)})
	if err != nil || desc.CertificateDescription == nil {
		s.log.Warn("provisioned certificate unknown to moto", "certificateId", c.id, "error", err)
		return policy.Identity{}, false
	}
	if desc.CertificateDescription.Status != iottypes.CertificateStatusActive {
		return policy.Identity{}, false
	}
	things, err := client.ListPrincipalThings(ctx, &iot.ListPrincipalThingsInput{Principal: aws.String(c.arn)})
	if err != nil || len(things.Things) == 0 {
		s.log.Warn("provisioned certificate attached to no thing", "certificateId", c.id, "error", err)
		return policy.Identity{}, false
	}
	identity := policy.Identity{ThingName: things.Things[0]}
	pols, err := client.ListAttachedPolicies(ctx, &iot.ListAttachedPoliciesInput{Target: aws.String(c.arn)})
	if err != nil {
		s.log.Warn("list the policies of a provisioned certificate", "certificateId", c.id, "error", err)
		return policy.Identity{}, false
	}
	for _, p := range pols.Policies {
		if doc, ok := s.policies[aws.ToString(p.PolicyName)]; ok {
			identity.Policies = append(identity.Policies, doc)
		}
	}
	return identity, true
}

func writeAPIError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-ErrorType", code)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"message": msg})
}
