package provision

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
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cfn "github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/iot"
	iottypes "github.com/aws/aws-sdk-go-v2/service/iot/types"

	"github.com/sward-iot/sward/edge/devconfig"
)

// fakeIoT records the calls and fails the ones named in fail.
type fakeIoT struct {
	IoT          // unimplemented methods panic
	calls        []string
	fail         map[string]error
	thingExists  bool
	groupExists  bool
	dataEndpoint string
}

func (f *fakeIoT) call(name string) error {
	f.calls = append(f.calls, name)
	return f.fail[name]
}

func (f *fakeIoT) DescribeEndpoint(_ context.Context, in *iot.DescribeEndpointInput, _ ...func(*iot.Options)) (*iot.DescribeEndpointOutput, error) {
	if *in.EndpointType == "iot:Data-ATS" {
		return &iot.DescribeEndpointOutput{EndpointAddress: aws.String(f.dataEndpoint)}, f.call("DescribeEndpoint")
	}
	return &iot.DescribeEndpointOutput{EndpointAddress: aws.String("creds.example.com")}, f.call("DescribeEndpoint")
}

func (f *fakeIoT) DescribeThing(context.Context, *iot.DescribeThingInput, ...func(*iot.Options)) (*iot.DescribeThingOutput, error) {
	f.calls = append(f.calls, "DescribeThing")
	if !f.thingExists {
		return nil, &iottypes.ResourceNotFoundException{Message: aws.String("no thing")}
	}
	return &iot.DescribeThingOutput{ThingArn: aws.String("arn:thing")}, nil
}

func (f *fakeIoT) CreateThing(context.Context, *iot.CreateThingInput, ...func(*iot.Options)) (*iot.CreateThingOutput, error) {
	return &iot.CreateThingOutput{ThingArn: aws.String("arn:thing")}, f.call("CreateThing")
}

func (f *fakeIoT) DeleteThing(context.Context, *iot.DeleteThingInput, ...func(*iot.Options)) (*iot.DeleteThingOutput, error) {
	return &iot.DeleteThingOutput{}, f.call("DeleteThing")
}

func (f *fakeIoT) CreateKeysAndCertificate(context.Context, *iot.CreateKeysAndCertificateInput, ...func(*iot.Options)) (*iot.CreateKeysAndCertificateOutput, error) {
	return &iot.CreateKeysAndCertificateOutput{CertificateId: aws.String("c1"), CertificateArn: aws.String("arn:cert/c1"),
		CertificatePem: aws.String("CERT"), KeyPair: &iottypes.KeyPair{PrivateKey: aws.String("KEY")}}, f.call("CreateKeysAndCertificate")
}

func (f *fakeIoT) UpdateCertificate(context.Context, *iot.UpdateCertificateInput, ...func(*iot.Options)) (*iot.UpdateCertificateOutput, error) {
	return &iot.UpdateCertificateOutput{}, f.call("UpdateCertificate")
}

func (f *fakeIoT) DeleteCertificate(context.Context, *iot.DeleteCertificateInput, ...func(*iot.Options)) (*iot.DeleteCertificateOutput, error) {
	return &iot.DeleteCertificateOutput{}, f.call("DeleteCertificate")
}

func (f *fakeIoT) AttachPolicy(context.Context, *iot.AttachPolicyInput, ...func(*iot.Options)) (*iot.AttachPolicyOutput, error) {
	return &iot.AttachPolicyOutput{}, f.call("AttachPolicy")
}

func (f *fakeIoT) DetachPolicy(context.Context, *iot.DetachPolicyInput, ...func(*iot.Options)) (*iot.DetachPolicyOutput, error) {
	return &iot.DetachPolicyOutput{}, f.call("DetachPolicy")
}

func (f *fakeIoT) AttachThingPrincipal(_ context.Context, in *iot.AttachThingPrincipalInput, _ ...func(*iot.Options)) (*iot.AttachThingPrincipalOutput, error) {
	// Exclusively, so that the device policy's thing variable resolves on
	// the further connections <thing>#2, … too.
	if in.ThingPrincipalType != iottypes.ThingPrincipalTypeExclusiveThing {
		return nil, fmt.Errorf("certificate attached with type %q, want EXCLUSIVE_THING", in.ThingPrincipalType)
	}
	return &iot.AttachThingPrincipalOutput{}, f.call("AttachThingPrincipal")
}

func (f *fakeIoT) DetachThingPrincipal(context.Context, *iot.DetachThingPrincipalInput, ...func(*iot.Options)) (*iot.DetachThingPrincipalOutput, error) {
	return &iot.DetachThingPrincipalOutput{}, f.call("DetachThingPrincipal")
}

func (f *fakeIoT) DescribeThingGroup(context.Context, *iot.DescribeThingGroupInput, ...func(*iot.Options)) (*iot.DescribeThingGroupOutput, error) {
	f.calls = append(f.calls, "DescribeThingGroup")
	if !f.groupExists {
		return nil, &iottypes.ResourceNotFoundException{Message: aws.String("no group")}
	}
	return &iot.DescribeThingGroupOutput{}, nil
}

func (f *fakeIoT) CreateThingGroup(context.Context, *iot.CreateThingGroupInput, ...func(*iot.Options)) (*iot.CreateThingGroupOutput, error) {
	return &iot.CreateThingGroupOutput{}, f.call("CreateThingGroup")
}

func (f *fakeIoT) DeleteThingGroup(context.Context, *iot.DeleteThingGroupInput, ...func(*iot.Options)) (*iot.DeleteThingGroupOutput, error) {
	return &iot.DeleteThingGroupOutput{}, f.call("DeleteThingGroup")
}

func (f *fakeIoT) AddThingToThingGroup(context.Context, *iot.AddThingToThingGroupInput, ...func(*iot.Options)) (*iot.AddThingToThingGroupOutput, error) {
	return &iot.AddThingToThingGroupOutput{}, f.call("AddThingToThingGroup")
}

func (f *fakeIoT) RemoveThingFromThingGroup(context.Context, *iot.RemoveThingFromThingGroupInput, ...func(*iot.Options)) (*iot.RemoveThingFromThingGroupOutput, error) {
	return &iot.RemoveThingFromThingGroupOutput{}, f.call("RemoveThingFromThingGroup")
}

type fakeStacks struct {
	outputs map[string]string
	err     error
}

func (f *fakeStacks) DescribeStacks(context.Context, *cfn.DescribeStacksInput, ...func(*cfn.Options)) (*cfn.DescribeStacksOutput, error) {
	if f.err != nil {
		return nil, f.err
	}
	s := cfntypes.Stack{}
	for k, v := range f.outputs {
		s.Outputs = append(s.Outputs, cfntypes.Output{OutputKey: aws.String(k), OutputValue: aws.String(v)})
	}
	return &cfn.DescribeStacksOutput{Stacks: []cfntypes.Stack{s}}, nil
}

func rootCA(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "AmazonRootCA1.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

var swardOutputs = map[string]string{"DevicePolicyName": "SwardDevicePolicy", "TokenExchangeRoleAliasName": "SwardAlias", "ThingGroupName": "sward-devices"}

func options(t *testing.T, f *fakeIoT) Options {
	return Options{ThingName: "dev1", Region: "eu-west-1", OutDir: filepath.Join(t.TempDir(), "out"), RootCA: rootCA(t),
		IoT: f, Stacks: &fakeStacks{outputs: swardOutputs}}
}

func TestProvisionWritesAConfigFileWithTheStacksNamesAndTheEndpointsPort(t *testing.T) {
	f := &fakeIoT{dataEndpoint: "127.0.0.1:18883", groupExists: true}
	o := options(t, f)
	res, err := Provision(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	cfg, warnings, err := devconfig.Load(res.ConfigFile)
	if err != nil || len(warnings) != 0 {
		t.Fatal(err, warnings)
	}
	c := cfg.Cloud()
	if c.DataEndpoint != "127.0.0.1" || c.Port != 18883 || c.RoleAlias != "SwardAlias" || c.CredentialsEndpoint != "creds.example.com" || c.Region != "eu-west-1" {
		t.Errorf("cloud = %+v", c)
	}
	if c.RootCAFile != filepath.Join(o.OutDir, "AmazonRootCA1.pem") || cfg.System.CertificateFilePath != CertificateFile {
		t.Errorf("paths: %q %q (want relative in the file, resolved on load)", c.RootCAFile, cfg.System.CertificateFilePath)
	}
	if res.ThingGroup != "sward-devices" || strings.Contains(strings.Join(f.calls, ","), "CreateThingGroup") {
		t.Errorf("group %q, calls %v: the stack's existing group is joined, not created", res.ThingGroup, f.calls)
	}
	key, _ := os.Stat(res.PrivateKeyFile)
	if key.Mode().Perm() != 0o600 {
		t.Errorf("key mode %v", key.Mode())
	}
}

func TestAFailedStepUndoesWhatWasMadeInReverseAndKeepsAThingThatExisted(t *testing.T) {
	f := &fakeIoT{dataEndpoint: "x.example.com", thingExists: true,
		fail: map[string]error{"AddThingToThingGroup": errors.New("throttled"), "DeleteThingGroup": errors.New("access denied")}}
	_, err := Provision(context.Background(), options(t, f))
	if err == nil {
		t.Fatal("no error")
	}
	want := []string{"AddThingToThingGroup", "DeleteThingGroup", "DetachThingPrincipal", "DetachPolicy", "UpdateCertificate", "DeleteCertificate"}
	got := f.calls[len(f.calls)-len(want):]
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("calls end %v, want %v", got, want)
	}
	for _, c := range f.calls {
		if c == "DeleteThing" {
			t.Error("a thing that existed before was deleted")
		}
	}
	msg := err.Error()
	for _, w := range []string{"add thing dev1 to group sward-devices: throttled", "removed again: the certificate on thing dev1, policy SwardDevicePolicy on the certificate, certificate c1",
		"NOT removed", "aws iot delete-thing-group --thing-group-name sward-devices"} {
		if !strings.Contains(msg, w) {
			t.Errorf("error %q\nwant it to contain %q", msg, w)
		}
	}
}

func TestNothingIsCreatedWhenTheChecksFail(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Options)
		want   string
	}{
		{"bad thing name", func(o *Options) { o.ThingName = "a b" }, `thing name "a b"`},
		{"no root CA", func(o *Options) { o.RootCA = "" }, "--root-ca"},
		{"root CA not a certificate", func(o *Options) {
			p := filepath.Join(t.TempDir(), "ca.pem")
			_ = os.WriteFile(p, []byte("hello"), 0o644)
			o.RootCA = p
		}, "is not a PEM certificate"},
		{"unknown stack", func(o *Options) {
			o.Stacks = &fakeStacks{err: errors.New("ValidationError: Stack with id SwardCloud does not exist")}
		}, "stack SwardCloud does not exist in eu-west-1"},
		{"stack without the output", func(o *Options) { o.Stacks = &fakeStacks{outputs: map[string]string{}} }, "has no output DevicePolicyName"},
		{"existing file", func(o *Options) {
			_ = os.MkdirAll(o.OutDir, 0o700)
			_ = os.WriteFile(filepath.Join(o.OutDir, "config.yaml"), nil, 0o600)
		}, "config.yaml exists"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeIoT{dataEndpoint: "x"}
			o := options(t, f)
			tt.change(&o)
			_, err := Provision(context.Background(), o)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
			for _, c := range f.calls {
				if strings.HasPrefix(c, "Create") || strings.HasPrefix(c, "Attach") {
					t.Errorf("%s was called", c)
				}
			}
		})
	}
}
