package devcloud

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iot"
	iottypes "github.com/aws/aws-sdk-go-v2/service/iot/types"
)

// File names of a thing's folder, DIR/things/<name>/.
const (
	ThingFile       = "thing.json"
	CertificateFile = "device.pem.crt"
	PrivateKeyFile  = "private.pem.key"
	RootCAFile      = "AmazonRootCA1.pem"
)

// ErrThingExists is returned by CreateThing for a name already in DIR.
var ErrThingExists = errors.New("thing already exists")

// thingName is IoT Core's rule for thing names.
var thingName = regexp.MustCompile(`^[a-zA-Z0-9:_-]{1,128}$`)

// Thing is DIR/things/<name>/thing.json.
type Thing struct {
	ThingName      string   `json:"thingName"`
	ThingGroups    []string `json:"thingGroups,omitempty"`
	CertificateID  string   `json:"certificateId"`
	CertificateArn string   `json:"certificateArn"`
	// CertificateStatus is ACTIVE or REVOKED; only ACTIVE connects.
	CertificateStatus string   `json:"certificateStatus"`
	Policies          []string `json:"policies"`

	certificate *x509.Certificate
}

func (th *Thing) certificatePEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: th.certificate.Raw})
}

func thingsDir(dataDir string) string { return filepath.Join(dataDir, "things") }

// CreateThingOptions are `devcloud thing create`'s.
type CreateThingOptions struct {
	DataDir string
	Name    string
	// Groups the thing joins; a group the template does not declare is
	// created, as `aws iot create-thing-group` would be first.
	Groups []string
	// Policies to attach to the certificate; empty means the template's
	// only IoT policy.
	Policies []string
}

// CreateThing issues a certificate and key signed by devcloud's CA for a
// new thing, writes them under DIR/things/<name>/ and registers thing,
// certificate, policies and group membership in the running devcloud's
// IoT control plane.
func CreateThing(ctx context.Context, opts CreateThingOptions) (*Thing, error) {
	if !thingName.MatchString(opts.Name) {
		return nil, fmt.Errorf("thing name %q: want 1–128 of [a-zA-Z0-9:_-]", opts.Name)
	}
	info, err := ReadInfo(opts.DataDir)
	if err != nil {
		return nil, err
	}
	policies := opts.Policies
	if len(policies) == 0 {
		if len(info.Policies) != 1 {
			return nil, fmt.Errorf("the template declares %d IoT policies (%v): name the ones to attach with --policy", len(info.Policies), info.Policies)
		}
		policies = info.Policies
	}
	for _, p := range policies {
		if !slices.Contains(info.Policies, p) {
			return nil, fmt.Errorf("policy %q is not in the template (it declares %v)", p, info.Policies)
		}
	}
	dir := filepath.Join(thingsDir(opts.DataDir), opts.Name)
	if _, err := os.Stat(dir); err == nil {
		return nil, fmt.Errorf("%w: %s (its files are in %s)", ErrThingExists, opts.Name, dir)
	}
	ca, err := loadOrCreateCA(filepath.Join(opts.DataDir, "ca"))
	if err != nil {
		return nil, err
	}
	certPEM, keyPEM, err := ca.IssueDevice()
	if err != nil {
		return nil, fmt.Errorf("issue certificate: %w", err)
	}
	block, _ := pem.Decode(certPEM)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, err
	}
	th := &Thing{
		ThingName:         opts.Name,
		ThingGroups:       opts.Groups,
		CertificateStatus: string(iottypes.CertificateStatusActive),
		Policies:          policies,
		certificate:       cert,
	}
	client := iot.NewFromConfig(info.IoTConfig())
	if err := register(ctx, client, th, string(certPEM)); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	for name, b := range map[string][]byte{CertificateFile: certPEM, PrivateKeyFile: keyPEM, RootCAFile: ca.CertPEM} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			return nil, err
		}
	}
	if err := writeJSON(filepath.Join(dir, ThingFile), th); err != nil {
		return nil, err
	}
	return th, nil
}

// register puts a thing into moto's IoT control plane: the thing, its
// certificate (registered without a CA, ACTIVE), the policies on the
// certificate, the certificate on the thing, and the group memberships.
func register(ctx context.Context, client *iot.Client, th *Thing, certPEM string) error {
	if _, err := client.CreateThing(ctx, &iot.CreateThingInput{ThingName: aws.String(th.ThingName)}); err != nil {
		return fmt.Errorf("register thing %s: %w", th.ThingName, err)
	}
	cert, err := client.RegisterCertificateWithoutCA(ctx, &iot.RegisterCertificateWithoutCAInput{
		CertificatePem: aws.String(certPEM),
		Status:         iottypes.CertificateStatus(th.CertificateStatus),
	})
	if err != nil {
		return fmt.Errorf("register the certificate of thing %s: %w", th.ThingName, err)
	}
	th.CertificateID, th.CertificateArn = aws.ToString(cert.CertificateId), aws.ToString(cert.CertificateArn)
	for _, p := range th.Policies {
		if _, err := client.AttachPolicy(ctx, &iot.AttachPolicyInput{PolicyName: aws.String(p), Target: cert.CertificateArn}); err != nil {
			return fmt.Errorf("attach policy %s to the certificate of thing %s: %w", p, th.ThingName, err)
		}
	}
	if _, err := client.AttachThingPrincipal(ctx, &iot.AttachThingPrincipalInput{ThingName: aws.String(th.ThingName), Principal: cert.CertificateArn}); err != nil {
		return fmt.Errorf("attach the certificate to thing %s: %w", th.ThingName, err)
	}
	for _, g := range th.ThingGroups {
		if err := ensureThingGroup(ctx, client, g); err != nil {
			return err
		}
		if _, err := client.AddThingToThingGroup(ctx, &iot.AddThingToThingGroupInput{ThingName: aws.String(th.ThingName), ThingGroupName: aws.String(g)}); err != nil {
			return fmt.Errorf("add thing %s to group %s: %w", th.ThingName, g, err)
		}
	}
	return nil
}

func ensureThingGroup(ctx context.Context, client *iot.Client, name string) error {
	if _, err := client.DescribeThingGroup(ctx, &iot.DescribeThingGroupInput{ThingGroupName: aws.String(name)}); err == nil {
		return nil
	}
	if _, err := client.CreateThingGroup(ctx, &iot.CreateThingGroupInput{ThingGroupName: aws.String(name)}); err != nil {
		return fmt.Errorf("create thing group %s: %w", name, err)
	}
	return nil
}

// loadThings reads every DIR/things/<name>/thing.json with its certificate.
func loadThings(dataDir string) ([]*Thing, error) {
	entries, err := os.ReadDir(thingsDir(dataDir))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []*Thing
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		th, err := loadThing(filepath.Join(thingsDir(dataDir), e.Name()))
		if err != nil {
			return nil, err
		}
		out = append(out, th)
	}
	return out, nil
}

func loadThing(dir string) (*Thing, error) {
	var th Thing
	b, err := os.ReadFile(filepath.Join(dir, ThingFile))
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &th); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, ThingFile), err)
	}
	certPEM, err := os.ReadFile(filepath.Join(dir, CertificateFile))
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(certPEM)
	if block == nil {
		return nil, fmt.Errorf("%s: no PEM certificate", filepath.Join(dir, CertificateFile))
	}
	if th.certificate, err = x509.ParseCertificate(block.Bytes); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, CertificateFile), err)
	}
	return &th, nil
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// RevokeThingCertificate marks the certificate of thing name REVOKED, in
// DIR and in the running devcloud's control plane, as
// `aws iot update-certificate --new-status REVOKED` does: the data
// endpoint refuses its next connections and the credentials provider
// answers 403. Connections already open stay, as in IoT Core.
func RevokeThingCertificate(ctx context.Context, dataDir, name string) (*Thing, error) {
	info, err := ReadInfo(dataDir)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(thingsDir(dataDir), name)
	th, err := loadThing(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("no thing %s in %s (`devcloud thing create %s` makes one)", name, thingsDir(dataDir), name)
	}
	if err != nil {
		return nil, err
	}
	client := iot.NewFromConfig(info.IoTConfig())
	if _, err := client.UpdateCertificate(ctx, &iot.UpdateCertificateInput{CertificateId: aws.String(th.CertificateID), NewStatus: iottypes.CertificateStatusRevoked}); err != nil {
		return nil, fmt.Errorf("revoke the certificate of thing %s: %w", name, err)
	}
	th.CertificateStatus = string(iottypes.CertificateStatusRevoked)
	if err := writeJSON(filepath.Join(dir, ThingFile), th); err != nil {
		return nil, err
	}
	return th, nil
}
