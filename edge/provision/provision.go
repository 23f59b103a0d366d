// Package provision makes a device an AWS IoT thing with the caller's AWS
// credentials (`sward provision`): it reads the SwardCloud stack's outputs,
// creates the thing, its keys and certificate, attaches the stack's device
// policy to the certificate and the certificate to the thing, adds the
// thing to the group, and writes the certificate, the private key, the
// root CA the caller named and a device configuration file
// (edge/devconfig) into one folder that `sward run --config` reads.
//
// It downloads nothing: the root CA is a file the caller gives. It checks
// everything it can before it creates anything (the output files, the root
// CA, the stack, the endpoints), and when a step fails after that it
// undoes what it created, in reverse order; what it could not undo is in
// the error, with the AWS CLI commands that remove it.
package provision

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	cfn "github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/iot"
	iottypes "github.com/aws/aws-sdk-go-v2/service/iot/types"

	"github.com/sward-iot/sward/edge/devconfig"
	"github.com/sward-iot/sward/shared/stack"
)

// File names in the output folder, as AWS's console and Greengrass's
// installer name them.
const (
	ConfigFile      = "config.yaml"
	CertificateFile = "device.pem.crt"
	PrivateKeyFile  = "private.pem.key"
)

// IoT is the part of the AWS IoT control plane provisioning calls
// (*iot.Client).
type IoT interface {
	DescribeEndpoint(context.Context, *iot.DescribeEndpointInput, ...func(*iot.Options)) (*iot.DescribeEndpointOutput, error)
	DescribeThing(context.Context, *iot.DescribeThingInput, ...func(*iot.Options)) (*iot.DescribeThingOutput, error)
	CreateThing(context.Context, *iot.CreateThingInput, ...func(*iot.Options)) (*iot.CreateThingOutput, error)
	DeleteThing(context.Context, *iot.DeleteThingInput, ...func(*iot.Options)) (*iot.DeleteThingOutput, error)
	CreateKeysAndCertificate(context.Context, *iot.CreateKeysAndCertificateInput, ...func(*iot.Options)) (*iot.CreateKeysAndCertificateOutput, error)
	UpdateCertificate(context.Context, *iot.UpdateCertificateInput, ...func(*iot.Options)) (*iot.UpdateCertificateOutput, error)
	DeleteCertificate(context.Context, *iot.DeleteCertificateInput, ...func(*iot.Options)) (*iot.DeleteCertificateOutput, error)
	AttachPolicy(context.Context, *iot.AttachPolicyInput, ...func(*iot.Options)) (*iot.AttachPolicyOutput, error)
	DetachPolicy(context.Context, *iot.DetachPolicyInput, ...func(*iot.Options)) (*iot.DetachPolicyOutput, error)
	AttachThingPrincipal(context.Context, *iot.AttachThingPrincipalInput, ...func(*iot.Options)) (*iot.AttachThingPrincipalOutput, error)
	DetachThingPrincipal(context.Context, *iot.DetachThingPrincipalInput, ...func(*iot.Options)) (*iot.DetachThingPrincipalOutput, error)
	DescribeThingGroup(context.Context, *iot.DescribeThingGroupInput, ...func(*iot.Options)) (*iot.DescribeThingGroupOutput, error)
	CreateThingGroup(context.Context, *iot.CreateThingGroupInput, ...func(*iot.Options)) (*iot.CreateThingGroupOutput, error)
	DeleteThingGroup(context.Context, *iot.DeleteThingGroupInput, ...func(*iot.Options)) (*iot.DeleteThingGroupOutput, error)
	AddThingToThingGroup(context.Context, *iot.AddThingToThingGroupInput, ...func(*iot.Options)) (*iot.AddThingToThingGroupOutput, error)
	RemoveThingFromThingGroup(context.Context, *iot.RemoveThingFromThingGroupInput, ...func(*iot.Options)) (*iot.RemoveThingFromThingGroupOutput, error)
}

// Stacks is the part of CloudFormation provisioning calls (*cloudformation.Client).
type Stacks interface {
	DescribeStacks(context.Context, *cfn.DescribeStacksInput, ...func(*cfn.Options)) (*cfn.DescribeStacksOutput, error)
}

// Options says what to provision.
type Options struct {
	// ThingName is the thing to create (or reuse): 1–128 of [a-zA-Z0-9:_-].
	ThingName string
	// ThingGroup is the group to add it to (created when missing).
	// Default: the stack's ThingGroupName output.
	ThingGroup string
	// Region is the AWS region; it goes into the configuration file.
	Region string
	// OutDir receives the files. Required.
	OutDir string
	// RootCA is the PEM file of the CA the data endpoint's certificate
	// chains to (AmazonRootCA1.pem; devcloud's ca.pem), copied to OutDir
	// under its own name. Required: nothing is downloaded.
	RootCA string
	// Stack is the SwardCloud stack whose outputs name the policy, the
	// role alias and the group (default stack.Name). Not read when
	// PolicyName and RoleAlias are both given.
	Stack string
	// PolicyName and RoleAlias override the stack's outputs.
	PolicyName, RoleAlias string
	// Force overwrites files already in OutDir.
	Force bool
	// IoT and Stacks are the AWS clients. Required.
	IoT    IoT
	Stacks Stacks
	// Progress receives a line per step (default: discarded).
	Progress io.Writer
}

// Result is what was provisioned.
type Result struct {
	ThingArn, CertificateID, CertificateArn string
	// ThingGroup is the group the thing was added to.
	ThingGroup string
	// ConfigFile, CertificateFile, PrivateKeyFile and RootCAFile are the
	// files written.
	ConfigFile, CertificateFile, PrivateKeyFile, RootCAFile string
}

// validThingName is IoT Core's rule for thing names, 1–128 of
// [a-zA-Z0-9:_-]. A function rather than a regexp: `^[…]{1,128}$` compiles
// to 128 copies of the class, 118 KB of heap at every start of the sward
// binary, the nucleus included.
func validThingName(s string) bool {
	if len(s) < 1 || len(s) > 128 {
		return false
	}
	for _, c := range []byte(s) {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == ':', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// Provision runs the steps; see the package comment.
func Provision(ctx context.Context, o Options) (*Result, error) {
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if o.Stack == "" {
		o.Stack = stack.Name
	}
	if err := o.check(); err != nil {
		return nil, err
	}
	out, err := filepath.Abs(o.OutDir)
	if err != nil {
		return nil, err
	}
	res := &Result{
		ConfigFile:      filepath.Join(out, ConfigFile),
		CertificateFile: filepath.Join(out, CertificateFile),
		PrivateKeyFile:  filepath.Join(out, PrivateKeyFile),
		RootCAFile:      filepath.Join(out, filepath.Base(o.RootCA)),
	}
	caPEM, err := readRootCA(o.RootCA)
	if err != nil {
		return nil, err
	}
	if !o.Force {
		for _, f := range []string{res.ConfigFile, res.CertificateFile, res.PrivateKeyFile, res.RootCAFile} {
			if _, err := os.Lstat(f); err == nil {
				return nil, fmt.Errorf("%s exists: provisioning writes a new certificate and key; give another --out folder, or --force to overwrite", f)
			}
		}
	}
	// Read everything before creating anything.
	if err := o.stackOutputs(ctx); err != nil {
		return nil, err
	}
	dataEndpoint, err := o.endpoint(ctx, "iot:Data-ATS")
	if err != nil {
		return nil, err
	}
	credEndpoint, err := o.endpoint(ctx, "iot:CredentialProvider")
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(out, 0o700); err != nil {
		return nil, fmt.Errorf("output folder: %w", err)
	}

	u := &undo{}
	fail := func(err error) (*Result, error) { return nil, u.run(ctx, err) }

	if _, err := o.IoT.DescribeThing(ctx, &iot.DescribeThingInput{ThingName: &o.ThingName}); err != nil {
		if !isNotFound(err) {
			return fail(fmt.Errorf("describe thing %s: %w", o.ThingName, err))
		}
		th, err := o.IoT.CreateThing(ctx, &iot.CreateThingInput{ThingName: &o.ThingName})
		if err != nil {
			return fail(fmt.Errorf("create thing %s: %w", o.ThingName, err))
		}
		res.ThingArn = aws.ToString(th.ThingArn)
		u.add(fmt.Sprintf("thing %s", o.ThingName), "aws iot delete-thing --thing-name "+o.ThingName, func(ctx context.Context) error {
			_, err := o.IoT.DeleteThing(ctx, &iot.DeleteThingInput{ThingName: &o.ThingName})
			return err
		})
		fmt.Fprintf(o.Progress, "created thing %s\n", o.ThingName)
	} else {
		fmt.Fprintf(o.Progress, "thing %s exists: giving it a new certificate\n", o.ThingName)
	}

	kc, err := o.IoT.CreateKeysAndCertificate(ctx, &iot.CreateKeysAndCertificateInput{SetAsActive: true})
	if err != nil {
		return fail(fmt.Errorf("create keys and certificate: %w", err))
	}
	res.CertificateID, res.CertificateArn = aws.ToString(kc.CertificateId), aws.ToString(kc.CertificateArn)
	certID, certArn := res.CertificateID, res.CertificateArn
	u.add("certificate "+certID, fmt.Sprintf("aws iot update-certificate --certificate-id %s --new-status INACTIVE && aws iot delete-certificate --certificate-id %s", certID, certID), func(ctx context.Context) error {
		if _, err := o.IoT.UpdateCertificate(ctx, &iot.UpdateCertificateInput{CertificateId: &certID, NewStatus: iottypes.CertificateStatusInactive}); err != nil {
			return err
		}
		_, err := o.IoT.DeleteCertificate(ctx, &iot.DeleteCertificateInput{CertificateId: &certID})
		return err
	})
	fmt.Fprintf(o.Progress, "created certificate %s\n", certID)

	if _, err := o.IoT.AttachPolicy(ctx, &iot.AttachPolicyInput{PolicyName: &o.PolicyName, Target: &certArn}); err != nil {
		return fail(fmt.Errorf("attach policy %s to the certificate: %w", o.PolicyName, err))
	}
	u.add(fmt.Sprintf("policy %s on the certificate", o.PolicyName), fmt.Sprintf("aws iot detach-policy --policy-name %s --target %s", o.PolicyName, certArn), func(ctx context.Context) error {
		_, err := o.IoT.DetachPolicy(ctx, &iot.DetachPolicyInput{PolicyName: &o.PolicyName, Target: &certArn})
		return err
	})
	fmt.Fprintf(o.Progress, "attached policy %s\n", o.PolicyName)

	// Exclusively: the thing policy variables then resolve on every
	// connection of the certificate, also the further ones (<thing>#2, …)
	// the device policy allows beside <thing>.
	if _, err := o.IoT.AttachThingPrincipal(ctx, &iot.AttachThingPrincipalInput{ThingName: &o.ThingName, Principal: &certArn,
		ThingPrincipalType: iottypes.ThingPrincipalTypeExclusiveThing}); err != nil {
		return fail(fmt.Errorf("attach the certificate to thing %s: %w", o.ThingName, err))
	}
	u.add("the certificate on thing "+o.ThingName, fmt.Sprintf("aws iot detach-thing-principal --thing-name %s --principal %s", o.ThingName, certArn), func(ctx context.Context) error {
		_, err := o.IoT.DetachThingPrincipal(ctx, &iot.DetachThingPrincipalInput{ThingName: &o.ThingName, Principal: &certArn})
		return err
	})

	if o.ThingGroup != "" {
		if err := o.joinGroup(ctx, u); err != nil {
			return fail(err)
		}
		res.ThingGroup = o.ThingGroup
	}

	cfg := o.config(dataEndpoint, credEndpoint, filepath.Base(res.RootCAFile))
	data, err := devconfig.Marshal(cfg)
	if err != nil {
		return fail(err)
	}
	for _, w := range []struct {
		path string
		data []byte
		mode os.FileMode
	}{
		{res.CertificateFile, []byte(aws.ToString(kc.CertificatePem)), 0o644},
		{res.PrivateKeyFile, []byte(aws.ToString(kc.KeyPair.PrivateKey)), 0o600},
		{res.RootCAFile, caPEM, 0o644},
		{res.ConfigFile, data, 0o600},
	} {
		if filepath.Clean(w.path) == filepath.Clean(o.RootCA) {
			continue // --root-ca is already in --out
		}
		if err := writeFile(w.path, w.data, w.mode); err != nil {
			return fail(err)
		}
		path := w.path
		u.add("file "+path, "rm "+path, func(context.Context) error { return os.Remove(path) })
	}
	if res.ThingArn == "" {
		if th, err := o.IoT.DescribeThing(ctx, &iot.DescribeThingInput{ThingName: &o.ThingName}); err == nil {
			res.ThingArn = aws.ToString(th.ThingArn)
		}
	}
	fmt.Fprintf(o.Progress, "wrote %s, %s, %s and %s\n", res.ConfigFile, res.CertificateFile, res.PrivateKeyFile, res.RootCAFile)
	return res, nil
}

func (o *Options) check() error {
	var errs []error
	if !validThingName(o.ThingName) {
		errs = append(errs, fmt.Errorf("thing name %q: use 1–128 letters, digits, ':', '_' or '-' (--thing-name)", o.ThingName))
	}
	if o.Region == "" {
		errs = append(errs, errors.New("no AWS region: pass --region or set AWS_REGION"))
	}
	if o.OutDir == "" {
		errs = append(errs, errors.New("no output folder: pass --out DIR"))
	}
	if o.RootCA == "" {
		errs = append(errs, errors.New("no root CA: pass --root-ca FILE, the CA the data endpoint chains to (for AWS IoT Core AmazonRootCA1.pem from https://www.amazontrust.com/repository/; for devcloud its DIR/ca/ca.pem); nothing is downloaded"))
	}
	if o.IoT == nil || o.Stacks == nil {
		errs = append(errs, errors.New("provision: IoT and Stacks clients are required"))
	}
	return errors.Join(errs...)
}

// readRootCA reads and checks the root CA before anything is created.
func readRootCA(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("root CA (--root-ca): %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("root CA %s is not a PEM certificate: give the CA file (-----BEGIN CERTIFICATE-----)", path)
	}
	if _, err := x509.ParseCertificate(block.Bytes); err != nil {
		return nil, fmt.Errorf("root CA %s: %w", path, err)
	}
	return data, nil
}

// stackOutputs fills PolicyName, RoleAlias and ThingGroup from the stack
// where the options leave them empty.
func (o *Options) stackOutputs(ctx context.Context) error {
	if o.PolicyName != "" && o.RoleAlias != "" {
		return nil
	}
	out, err := o.Stacks.DescribeStacks(ctx, &cfn.DescribeStacksInput{StackName: &o.Stack})
	if err != nil {
		if strings.Contains(err.Error(), "does not exist") {
			return fmt.Errorf("stack %s does not exist in %s: deploy it (`npx cdk deploy`), name it with --stack, or give --policy-name and --role-alias: %w", o.Stack, o.Region, err)
		}
		return fmt.Errorf("read the outputs of stack %s: %w", o.Stack, err)
	}
	if len(out.Stacks) == 0 {
		return fmt.Errorf("stack %s does not exist in %s: deploy it (`npx cdk deploy`) or name it with --stack", o.Stack, o.Region)
	}
	outputs := map[string]string{}
	for _, op := range out.Stacks[0].Outputs {
		outputs[aws.ToString(op.OutputKey)] = aws.ToString(op.OutputValue)
	}
	fill := func(v *string, key, flag string) error {
		if *v != "" {
			return nil
		}
		if *v = outputs[key]; *v == "" {
			return fmt.Errorf("stack %s has no output %s: is it the SwardCloud stack (infra/)? deploy the current one, or pass %s", o.Stack, key, flag)
		}
		return nil
	}
	if err := fill(&o.PolicyName, stack.OutputDevicePolicyName, "--policy-name"); err != nil {
		return err
	}
	if err := fill(&o.RoleAlias, stack.OutputRoleAliasName, "--role-alias"); err != nil {
		return err
	}
	if o.ThingGroup == "" {
		o.ThingGroup = outputs[stack.OutputThingGroupName]
	}
	return nil
}

func (o *Options) endpoint(ctx context.Context, kind string) (string, error) {
	out, err := o.IoT.DescribeEndpoint(ctx, &iot.DescribeEndpointInput{EndpointType: &kind})
	if err != nil {
		return "", fmt.Errorf("describe the %s endpoint: %w", kind, err)
	}
	if aws.ToString(out.EndpointAddress) == "" {
		return "", fmt.Errorf("the account has no %s endpoint", kind)
	}
	return aws.ToString(out.EndpointAddress), nil
}

func (o *Options) joinGroup(ctx context.Context, u *undo) error {
	g := o.ThingGroup
	if _, err := o.IoT.DescribeThingGroup(ctx, &iot.DescribeThingGroupInput{ThingGroupName: &g}); err != nil {
		if !isNotFound(err) {
			return fmt.Errorf("describe thing group %s: %w", g, err)
		}
		if _, err := o.IoT.CreateThingGroup(ctx, &iot.CreateThingGroupInput{ThingGroupName: &g}); err != nil {
			return fmt.Errorf("create thing group %s: %w", g, err)
		}
		u.add("thing group "+g, "aws iot delete-thing-group --thing-group-name "+g, func(ctx context.Context) error {
			_, err := o.IoT.DeleteThingGroup(ctx, &iot.DeleteThingGroupInput{ThingGroupName: &g})
			return err
		})
		fmt.Fprintf(o.Progress, "created thing group %s\n", g)
	}
	if _, err := o.IoT.AddThingToThingGroup(ctx, &iot.AddThingToThingGroupInput{ThingName: &o.ThingName, ThingGroupName: &g}); err != nil {
		return fmt.Errorf("add thing %s to group %s: %w", o.ThingName, g, err)
	}
	u.add(fmt.Sprintf("thing %s in group %s", o.ThingName, g), fmt.Sprintf("aws iot remove-thing-from-thing-group --thing-name %s --thing-group-name %s", o.ThingName, g), func(ctx context.Context) error {
		_, err := o.IoT.RemoveThingFromThingGroup(ctx, &iot.RemoveThingFromThingGroupInput{ThingName: &o.ThingName, ThingGroupName: &g})
		return err
	})
	fmt.Fprintf(o.Progress, "added thing %s to group %s\n", o.ThingName, g)
	return nil
}

// config is the device configuration file: paths relative to its folder,
// so the folder can be copied to the device as it is.
func (o *Options) config(dataEndpoint, credEndpoint, caName string) *devconfig.File {
	f := &devconfig.File{
		System: devconfig.System{
			CertificateFilePath: CertificateFile,
			PrivateKeyPath:      PrivateKeyFile,
			RootCAPath:          caName,
			ThingName:           o.ThingName,
		},
		Nucleus: devconfig.Nucleus{
			AWSRegion:       o.Region,
			IoTDataEndpoint: dataEndpoint,
			IoTCredEndpoint: credEndpoint,
			IoTRoleAlias:    o.RoleAlias,
			MQTT:            devconfig.MQTT{Port: devconfig.DefaultMQTTPort},
		},
	}
	// An endpoint with a port (devcloud's) is written as Greengrass has
	// it: the host in iotDataEndpoint, the port in mqtt.port.
	if host, port := devconfig.SplitEndpoint(dataEndpoint); port != 0 {
		f.Nucleus.IoTDataEndpoint, f.Nucleus.MQTT.Port = host, port
	}
	return f
}

// writeFile writes through a temporary file, synced and renamed, so a
// crash leaves the old file or the new one.
func writeFile(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func isNotFound(err error) bool {
	var nf *iottypes.ResourceNotFoundException
	return errors.As(err, &nf)
}

// undo is what provisioning created, to take back in reverse order when a
// later step fails.
type undo struct {
	steps []undoStep
}

type undoStep struct {
	what, command string
	do            func(context.Context) error
}

func (u *undo) add(what, command string, do func(context.Context) error) {
	u.steps = append(u.steps, undoStep{what, command, do})
}

// run undoes every step and returns cause with what was undone and what
// is left (with the command that removes it).
func (u *undo) run(ctx context.Context, cause error) error {
	if len(u.steps) == 0 {
		return fmt.Errorf("%w; nothing was created", cause)
	}
	ctx = context.WithoutCancel(ctx)
	var undone, left []string
	for i := len(u.steps) - 1; i >= 0; i-- {
		s := u.steps[i]
		if err := s.do(ctx); err != nil {
			left = append(left, fmt.Sprintf("%s (%v): %s", s.what, err, s.command))
			continue
		}
		undone = append(undone, s.what)
	}
	msg := fmt.Sprintf("%v; removed again: %s", cause, strings.Join(undone, ", "))
	if len(left) > 0 {
		msg += "; NOT removed, remove by hand: " + strings.Join(left, "; ")
	}
	return &Error{msg: msg, cause: cause}
}

// Error is a provisioning failure after something was created: its message
// says what was removed again and what is left.
type Error struct {
	msg   string
	cause error
}

func (e *Error) Error() string { return e.msg }
func (e *Error) Unwrap() error { return e.cause }
