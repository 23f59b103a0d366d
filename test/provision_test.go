package test

import (
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iot"
	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/sward-iot/sward/edge/devconfig"
	"github.com/sward-iot/sward/test/harness"
)

// provision runs `sward provision` against d with the credentials moto
// accepts, and returns its output.
func provision(t testing.TB, d *harness.Devcloud, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, harness.Binary(t), append([]string{"provision",
		"--region", d.Info.Region, "--endpoint-url", d.Info.Endpoints.IoT,
		"--root-ca", filepath.Join(d.Data, "ca", "ca.pem")}, args...)...)
	cmd.Env = append(os.Environ(),
		"AWS_ACCESS_KEY_ID="+d.Info.Credentials.AccessKeyID, "AWS_SECRET_ACCESS_KEY="+d.Info.Credentials.SecretAccessKey,
		"AWS_ENDPOINT_URL=", "AWS_PROFILE=", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func thingExists(t *testing.T, client *iot.Client, name string) bool {
	t.Helper()
	_, err := client.DescribeThing(context.Background(), &iot.DescribeThingInput{ThingName: aws.String(name)})
	return err == nil
}

func certificateCount(t *testing.T, client *iot.Client) int {
	t.Helper()
	out, err := client.ListCertificates(context.Background(), &iot.ListCertificatesInput{})
	if err != nil {
		t.Fatal(err)
	}
	return len(out.Certificates)
}

func TestProvisionMakesAThingWhoseFilesConnectToDevcloudAsThatThing(t *testing.T) {
	d := harness.StartDevcloud(t, harness.SynthTemplate(t), "")
	out := filepath.Join(t.TempDir(), "device")
	text, err := provision(t, d, "--thing-name", "field-7", "--thing-group", "field-devices", "--out", out)
	if err != nil {
		t.Fatalf("sward provision: %v\n%s", err, text)
	}

	st, err := os.Stat(filepath.Join(out, "private.pem.key"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("private key: %v, mode %v, want 0600", err, st.Mode())
	}
	f, warnings, err := devconfig.Load(filepath.Join(out, "config.yaml"))
	if err != nil || len(warnings) != 0 {
		t.Fatalf("config.yaml: %v %v", err, warnings)
	}
	c := f.Cloud()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.ThingName != "field-7" || c.Region != d.Info.Region || c.RoleAlias != d.Info.RoleAliases[0] ||
		!strings.HasSuffix(d.Info.Endpoints.Credentials, c.CredentialsEndpoint) {
		t.Errorf("cloud settings = %+v; devcloud %+v", c, d.Info.Endpoints)
	}

	// The device's AWS view: policy on the certificate, certificate on the
	// thing, thing in the group (which provisioning created).
	client := iot.NewFromConfig(d.Info.IoTConfig())
	ctx := context.Background()
	members, err := client.ListThingsInThingGroup(ctx, &iot.ListThingsInThingGroupInput{ThingGroupName: aws.String("field-devices")})
	if err != nil || !slices.Contains(members.Things, "field-7") {
		t.Errorf("group field-devices: %v %v", members, err)
	}

	// Without --thing-group the thing joins the stack's group, which
	// devcloud registered with the stack's other outputs.
	if text, err := provision(t, d, "--thing-name", "field-8", "--out", filepath.Join(t.TempDir(), "d8")); err != nil {
		t.Fatalf("sward provision with the stack's group: %v\n%s", err, text)
	}
	members, err = client.ListThingsInThingGroup(ctx, &iot.ListThingsInThingGroupInput{ThingGroupName: aws.String(d.Info.ThingGroups[0])})
	if err != nil || !slices.Contains(members.Things, "field-8") {
		t.Errorf("group %s (the stack's): %v %v", d.Info.ThingGroups[0], members, err)
	}

	// A TLS MQTT client with the written files is the thing: the device
	// policy lets it use its own shadow topics.
	addr := net.JoinHostPort(c.DataEndpoint, strconv.Itoa(c.Port))
	files := thingFiles{CertificateFilePath: c.CertificateFile, PrivateKeyPath: c.PrivateKeyFile, RootCaPath: c.RootCAFile}
	dev, err := dialThing(addr, c.ThingName, deviceTLS(t, files), nil)
	if err != nil {
		t.Fatalf("connect as field-7 to %s: %v\n%s", addr, err, d.Output())
	}
	defer dev.Disconnect(100)
	got := make(chan string, 4)
	if tok := dev.Subscribe("$aws/things/field-7/shadow/get/+", 1, func(_ mqtt.Client, m mqtt.Message) { got <- m.Topic() }); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	dev.Publish("$aws/things/field-7/shadow/get", 1, false, "{}").WaitTimeout(10 * time.Second)
	select {
	case topic := <-got:
		if topic != "$aws/things/field-7/shadow/get/rejected" {
			t.Errorf("answer on %s, want get/rejected (no shadow yet)", topic)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("no shadow answer to the provisioned thing\n%s", d.Output())
	}

	// Another client id is not this certificate's thing: the policy refuses.
	if other, err := dialThing(addr, "someone-else", deviceTLS(t, files), nil); err == nil {
		other.Disconnect(0)
		t.Error("the device policy let the certificate connect as another client id")
	}

	// The credentials provider at iotCredEndpoint exchanges the
	// certificate for the role alias's credentials, as the token exchange
	// service will.
	creds := &http.Client{Transport: &http.Transport{TLSClientConfig: deviceTLS(t, files)}, Timeout: 30 * time.Second}
	credsGet := func() int {
		req, err := http.NewRequest(http.MethodGet, "https://"+c.CredentialsEndpoint+"/role-aliases/"+c.RoleAlias+"/credentials", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("x-amzn-iot-thingname", c.ThingName)
		resp, err := creds.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := credsGet(); code != http.StatusOK {
		t.Errorf("credentials for the provisioned certificate: %d, want 200\n%s", code, d.Output())
	}

	// Running it again on the same folder refuses before creating anything.
	before := certificateCount(t, client)
	text, err = provision(t, d, "--thing-name", "field-7", "--out", out)
	if err == nil || !strings.Contains(text, "exists") || !strings.Contains(text, "--force") {
		t.Errorf("second provision into the same folder: %v\n%s", err, text)
	}
	if n := certificateCount(t, client); n != before {
		t.Errorf("a refused provision created certificates: %d → %d", before, n)
	}

	// A certificate made inactive in the control plane is refused at the
	// next connection, as IoT Core refuses it.
	certs, err := client.ListPrincipalThings(ctx, &iot.ListPrincipalThingsInput{Principal: aws.String(certificateArn(t, client, "field-7"))})
	if err != nil || len(certs.Things) != 1 {
		t.Fatalf("principal things: %v %v", certs, err)
	}
	if _, err := client.UpdateCertificate(ctx, &iot.UpdateCertificateInput{CertificateId: aws.String(certificateID(certificateArn(t, client, "field-7"))), NewStatus: "INACTIVE"}); err != nil {
		t.Fatal(err)
	}
	if again, err := dialThing(addr, c.ThingName, deviceTLS(t, files), nil); err == nil {
		again.Disconnect(0)
		t.Error("an inactive certificate connected")
	}
	creds.CloseIdleConnections()
	if code := credsGet(); code != http.StatusForbidden {
		t.Errorf("credentials for an inactive certificate: %d, want 403", code)
	}
}

// certificateArn is the one certificate attached to thing.
func certificateArn(t *testing.T, client *iot.Client, thing string) string {
	t.Helper()
	out, err := client.ListThingPrincipals(context.Background(), &iot.ListThingPrincipalsInput{ThingName: aws.String(thing)})
	if err != nil || len(out.Principals) != 1 {
		t.Fatalf("principals of %s: %v %v", thing, out, err)
	}
	return out.Principals[0]
}

func certificateID(arn string) string { return arn[strings.LastIndex(arn, "/")+1:] }

func TestProvisionRefusesAnUnknownStackAndUndoesWhatItMadeWhenAStepFails(t *testing.T) {
	d := harness.StartDevcloud(t, harness.SynthTemplate(t), "")
	client := iot.NewFromConfig(d.Info.IoTConfig())

	text, err := provision(t, d, "--thing-name", "nostack-1", "--stack", "NoSuchStack", "--out", filepath.Join(t.TempDir(), "a"))
	if err == nil || !strings.Contains(text, "stack NoSuchStack does not exist") {
		t.Errorf("unknown stack: %v\n%s", err, text)
	}
	if thingExists(t, client, "nostack-1") {
		t.Error("an unknown stack still created the thing")
	}

	// A policy that does not exist fails after the thing and certificate
	// were made: both are removed again and the message says so.
	before := certificateCount(t, client)
	outDir := filepath.Join(t.TempDir(), "b")
	text, err = provision(t, d, "--thing-name", "undo-1", "--policy-name", "NoSuchPolicy", "--role-alias", d.Info.RoleAliases[0], "--out", outDir)
	if err == nil || !strings.Contains(text, "attach policy NoSuchPolicy") || !strings.Contains(text, "removed again") {
		t.Fatalf("missing policy: %v\n%s", err, text)
	}
	if strings.Contains(text, "NOT removed") {
		t.Errorf("rollback left things behind:\n%s", text)
	}
	if thingExists(t, client, "undo-1") {
		t.Error("the thing is still there after the rollback")
	}
	if n := certificateCount(t, client); n != before {
		t.Errorf("certificates %d → %d after the rollback", before, n)
	}
	if entries, _ := os.ReadDir(outDir); len(entries) != 0 {
		t.Errorf("files left in --out: %v", entries)
	}

	// Without --root-ca nothing is fetched: it is an error before any call.
	cmdOut, err := harness.RunCLI(t, "provision", "--thing-name", "x", "--region", "us-east-1", "--out", t.TempDir(), "--endpoint-url", "http://127.0.0.1:1")
	if err == nil || !strings.Contains(cmdOut, "--root-ca") {
		t.Errorf("no --root-ca: %v\n%s", err, cmdOut)
	}
}
