package test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awscreds "github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iot"
	"github.com/aws/aws-sdk-go-v2/service/iotdataplane"
	dptypes "github.com/aws/aws-sdk-go-v2/service/iotdataplane/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/sward-iot/sward/infra/devcloud"
	"github.com/sward-iot/sward/infra/devcloud/iotcore"
	"github.com/sward-iot/sward/internal/testutil"
	"github.com/sward-iot/sward/test/harness"
)

// thingFiles is what `devcloud thing create` prints.
type thingFiles struct {
	ThingName           string `json:"thingName"`
	CertificateArn      string `json:"certificateArn"`
	CertificateFilePath string `json:"certificateFilePath"`
	PrivateKeyPath      string `json:"privateKeyPath"`
	RootCaPath          string `json:"rootCaPath"`
}

func createThing(t *testing.T, d *harness.Devcloud, name string, args ...string) thingFiles {
	t.Helper()
	out, err := d.Run(t, append([]string{"thing", "create", name}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	var f thingFiles
	if err := json.Unmarshal(out, &f); err != nil {
		t.Fatalf("thing create printed %q: %v", out, err)
	}
	return f
}

// deviceTLS is what a device configures: its certificate and key, the
// endpoint's CA, and optionally ALPN.
func deviceTLS(t *testing.T, f thingFiles, alpn ...string) *tls.Config {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(f.CertificateFilePath, f.PrivateKeyPath)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := os.ReadFile(f.RootCaPath)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		t.Fatalf("%s: no certificate", f.RootCaPath)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, NextProtos: alpn, MinVersion: tls.VersionTLS12}
}

// dialThing connects an MQTT 3.1.1 client over mutual TLS; lost receives
// the error when the server closes the connection.
func dialThing(addr, clientID string, cfg *tls.Config, lost chan<- error) (mqtt.Client, error) {
	opts := mqtt.NewClientOptions().AddBroker("tls://" + addr).SetClientID(clientID).SetTLSConfig(cfg).
		SetProtocolVersion(4).SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(10 * time.Second)
	if lost != nil {
		opts.SetConnectionLostHandler(func(_ mqtt.Client, err error) { lost <- err })
	}
	c := mqtt.NewClient(opts)
	tok := c.Connect()
	if !tok.WaitTimeout(15 * time.Second) {
		return nil, errors.New("connect timed out")
	}
	return c, tok.Error()
}

func TestDevcloudUpServesTheTemplatesDevicePolicyToThingsItCreates(t *testing.T) {
	d := harness.StartDevcloud(t, harness.SynthTemplate(t), "")
	info := d.Info
	if info.Endpoints.AWS == "" || info.Endpoints.IoTData == "" || info.Endpoints.IoTDataALPN == "" {
		t.Fatalf("devcloud.json endpoints incomplete: %+v", info.Endpoints)
	}
	if !slices.Equal(info.Policies, []string{"SwardDevicePolicy"}) || !slices.Equal(info.ThingGroups, []string{"sward-devices"}) || !slices.Equal(info.RoleAliases, []string{"SwardTokenExchangeRoleAlias"}) {
		t.Errorf("devcloud.json template resources = %v %v %v, want the stack's policy, group and role alias", info.Policies, info.ThingGroups, info.RoleAliases)
	}

	dev1 := createThing(t, d, "dev1", "--group", "sward-devices")
	createThing(t, d, "dev2")

	// The control plane in moto knows the thing, its group and its policy.
	ctx := context.Background()
	client := iot.NewFromConfig(info.AWSConfig())
	inGroup, err := client.ListThingsInThingGroup(ctx, &iot.ListThingsInThingGroupInput{ThingGroupName: aws.String("sward-devices")})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(inGroup.Things, []string{"dev1"}) {
		t.Errorf("things in sward-devices = %v, want [dev1]", inGroup.Things)
	}
	policies, err := client.ListAttachedPolicies(ctx, &iot.ListAttachedPoliciesInput{Target: aws.String(dev1.CertificateArn)})
	if err != nil {
		t.Fatal(err)
	}
	if len(policies.Policies) != 1 || aws.ToString(policies.Policies[0].PolicyName) != "SwardDevicePolicy" {
		t.Errorf("policies of dev1's certificate = %+v, want SwardDevicePolicy", policies.Policies)
	}
	principals, err := client.ListThingPrincipals(ctx, &iot.ListThingPrincipalsInput{ThingName: aws.String("dev1")})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(principals.Principals, []string{dev1.CertificateArn}) {
		t.Errorf("principals of dev1 = %v, want its certificate %s", principals.Principals, dev1.CertificateArn)
	}

	t.Run("a client id other than the thing name is refused", func(t *testing.T) {
		if c, err := dialThing(info.Endpoints.IoTData, "dev2", deviceTLS(t, dev1), nil); err == nil {
			c.Disconnect(0)
			t.Fatal("dev1's certificate connected as client dev2")
		}
	})

	t.Run("port 443 stand-in requires ALPN x-amzn-mqtt-ca", func(t *testing.T) {
		if c, err := dialThing(info.Endpoints.IoTDataALPN, "dev1", deviceTLS(t, dev1), nil); err == nil {
			c.Disconnect(0)
			t.Fatal("connected without ALPN")
		}
		c, err := dialThing(info.Endpoints.IoTDataALPN, "dev1", deviceTLS(t, dev1, iotcore.ALPN), nil)
		if err != nil {
			t.Fatalf("connect with ALPN %s: %v", iotcore.ALPN, err)
		}
		c.Disconnect(0)
	})

	t.Run("pub/sub within the policy, subscribe outside it refused", func(t *testing.T) {
		c, err := dialThing(info.Endpoints.IoTData, "dev1", deviceTLS(t, dev1), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Disconnect(0)
		got := make(chan []byte, 1)
		own := "$aws/things/dev1/shadow/update"
		tok := c.Subscribe(own, 1, func(_ mqtt.Client, m mqtt.Message) { got <- m.Payload() })
		if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("subscribe %s: %v", own, tok.Error())
		}
		if code := tok.(*mqtt.SubscribeToken).Result()[own]; code != 1 {
			t.Fatalf("SUBACK for %s = %#x, want granted QoS 1", own, code)
		}
		other := "sward/dev2/alerts"
		tok = c.Subscribe(other, 1, func(mqtt.Client, mqtt.Message) {})
		if !tok.WaitTimeout(10 * time.Second) {
			t.Fatal("subscribe timed out")
		}
		if code := tok.(*mqtt.SubscribeToken).Result()[other]; code != 0x80 {
			t.Errorf("SUBACK for another thing's %s = %#x, want failure 0x80", other, code)
		}
		want := []byte(`{"state":{"reported":{"on":true}}}`)
		if tok := c.Publish(own, 1, false, want); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("publish %s: %v", own, tok.Error())
		}
		select {
		case p := <-got:
			if !bytes.Equal(p, want) {
				t.Errorf("received %s, want %s", p, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("nothing received on %s", own)
		}
	})

	refusedPublishes := []struct {
		name, topic string
		payload     []byte
	}{
		{"another thing's topic", "sward/dev2/telemetry/temp", []byte("1")},
		{"a payload over 128 KB", "sward/dev1/telemetry/temp", bytes.Repeat([]byte("x"), 200*1024)},
		{"a reserved topic", "$aws/events/presence/connected/dev1", []byte("1")},
	}
	for _, tt := range refusedPublishes {
		t.Run("publish to "+tt.name+" closes the connection", func(t *testing.T) {
			lost := make(chan error, 1)
			c, err := dialThing(info.Endpoints.IoTData, "dev1", deviceTLS(t, dev1), lost)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Disconnect(0)
			c.Publish(tt.topic, 1, false, tt.payload)
			select {
			case <-lost:
			case <-time.After(10 * time.Second):
				t.Fatalf("still connected after publishing to %s", tt.topic)
			}
		})
	}
	if d.Exited() {
		t.Fatalf("devcloud exited:\n%s", d.Output())
	}
}

func TestDevcloudKeepsItsCAAndThingsAcrossARestart(t *testing.T) {
	template := harness.SynthTemplate(t)
	data := t.TempDir()
	first := harness.StartDevcloud(t, template, data)
	dev := createThing(t, first, "dev1", "--group", "sward-devices")
	ca, err := os.ReadFile(first.Info.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	first.Stop()
	if _, err := devcloud.ReadInfo(data); !errors.Is(err, devcloud.ErrNotRunning) {
		t.Fatalf("devcloud.json after Ctrl-C: err = %v, want ErrNotRunning (removed)", err)
	}

	second := harness.StartDevcloud(t, template, data)
	again, err := os.ReadFile(second.Info.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ca, again) {
		t.Error("the CA changed across the restart")
	}
	// A new moto_server started empty; devcloud registered the thing again.
	inGroup, err := iot.NewFromConfig(second.Info.AWSConfig()).ListThingsInThingGroup(context.Background(),
		&iot.ListThingsInThingGroupInput{ThingGroupName: aws.String("sward-devices")})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(inGroup.Things, []string{"dev1"}) {
		t.Errorf("things in sward-devices after restart = %v, want [dev1]", inGroup.Things)
	}
	c, err := dialThing(second.Info.Endpoints.IoTData, "dev1", deviceTLS(t, dev), nil)
	if err != nil {
		t.Fatalf("dev1 connects after the restart: %v", err)
	}
	c.Disconnect(0)
	if _, err := second.Run(t, "thing", "create", "dev1"); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("creating dev1 again: err = %v, want already exists", err)
	}
}

func TestDevcloudThingCreateWithoutUpSaysToStartIt(t *testing.T) {
	template := harness.SynthTemplate(t)
	d := harness.StartDevcloud(t, template, "")
	d.Stop()
	_, err := d.Run(t, "thing", "create", "dev1")
	if err == nil || !strings.Contains(err.Error(), "devcloud up --data") {
		t.Fatalf("thing create without a running devcloud: err = %v, want the `devcloud up --data` advice", err)
	}
	if _, err := os.Stat(filepath.Join(d.Data, "things", "dev1")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("thing create left files behind: %v", err)
	}
}

func TestDevcloudCredentialsProviderIssuesMotoCredentialsForTheTemplatesRoleAlias(t *testing.T) {
	d := harness.StartDevcloud(t, harness.SynthTemplate(t), "")
	dev1 := createThing(t, d, "dev1", "--group", "sward-devices")
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: deviceTLS(t, dev1)}, Timeout: 30 * time.Second}
	get := func(alias, thingName string) (*http.Response, []byte) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, d.Info.Endpoints.Credentials+"/role-aliases/"+alias+"/credentials", nil)
		if err != nil {
			t.Fatal(err)
		}
		if thingName != "" {
			req.Header.Set("x-amzn-iot-thingname", thingName)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, b
	}

	resp, body := get("SwardTokenExchangeRoleAlias", "dev1")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("credentials: %s %s", resp.Status, body)
	}
	var doc struct {
		Credentials struct {
			AccessKeyID     string `json:"accessKeyId"`
			SecretAccessKey string `json:"secretAccessKey"`
			SessionToken    string `json:"sessionToken"`
			Expiration      string `json:"expiration"`
		} `json:"credentials"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("credentials document %s: %v", body, err)
	}
	c := doc.Credentials
	if c.AccessKeyID == "" || c.SecretAccessKey == "" || c.SessionToken == "" {
		t.Fatalf("credentials incomplete: %s", body)
	}
	exp, err := time.Parse(time.RFC3339, c.Expiration)
	if err != nil || !strings.HasSuffix(c.Expiration, "Z") {
		t.Fatalf("expiration %q: want RFC 3339 in UTC with Z (%v)", c.Expiration, err)
	}
	// The role alias declares 3600 s.
	if left := time.Until(exp); left < 50*time.Minute || left > 61*time.Minute {
		t.Errorf("credentials expire in %s, want the role alias's hour", left)
	}
	// moto issued them: it knows whose they are.
	cfg := d.Info.AWSConfig()
	cfg.Credentials = awscreds.NewStaticCredentialsProvider(c.AccessKeyID, c.SecretAccessKey, c.SessionToken)
	who, err := sts.NewFromConfig(cfg).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatalf("GetCallerIdentity with the device's credentials: %v", err)
	}
	if arn := aws.ToString(who.Arn); !strings.Contains(arn, ":assumed-role/TokenExchangeRole") || !strings.HasSuffix(arn, "/dev1") {
		t.Errorf("caller = %s, want the token exchange role assumed for session dev1", arn)
	}

	// AWS's answers: the device policy allows iot:AssumeRoleWithCertificate
	// on the template's alias only, so another alias is refused by the
	// policy (403) before its existence is looked at (404 for an allowed one).
	for _, tt := range []struct{ name, alias, thing, message string }{
		{"an unknown role alias", "OtherRoleAlias", "dev1", `{"message":"Access Denied"}`},
		{"a thing name that is not the certificate's", "SwardTokenExchangeRoleAlias", "dev2", `{"message":"Invalid thing name passed"}`},
	} {
		t.Run(tt.name+" is 403", func(t *testing.T) {
			if resp, body := get(tt.alias, tt.thing); resp.StatusCode != http.StatusForbidden || strings.TrimSpace(string(body)) != tt.message {
				t.Errorf("status %s %s, want 403 %s", resp.Status, body, tt.message)
			}
		})
	}
	if resp, _ := get("SwardTokenExchangeRoleAlias", ""); resp.StatusCode != http.StatusOK || d.Exited() {
		t.Errorf("after the refusals: credentials %s, devcloud exited %v", resp.Status, d.Exited())
	}
}

func TestDevcloudDataPlanePublishReachesOnlyTheThingsAllowedToReceiveIt(t *testing.T) {
	d := harness.StartDevcloud(t, harness.SynthTemplate(t), "")
	dev1 := createThing(t, d, "dev1")
	c, err := dialThing(d.Info.Endpoints.IoTData, "dev1", deviceTLS(t, dev1), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Disconnect(0)
	got := make(chan mqtt.Message, 1)
	if tok := c.Subscribe("sward/dev1/alerts", 1, func(_ mqtt.Client, m mqtt.Message) { got <- m }); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}

	// What the telemetry Lambda does for an alert, with only the endpoint changed.
	data := iotdataplane.NewFromConfig(d.Info.AWSConfig(), func(o *iotdataplane.Options) {
		o.BaseEndpoint = aws.String(d.Info.Endpoints.IoTDataHTTP)
	})
	alert := []byte(`{"stream":"temp","value":99}`)
	if _, err := data.Publish(context.Background(), &iotdataplane.PublishInput{Topic: aws.String("sward/dev1/alerts"), Qos: 1, Payload: alert}); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	select {
	case m := <-got:
		if m.Topic() != "sward/dev1/alerts" || !bytes.Equal(m.Payload(), alert) {
			t.Errorf("received %s %s, want sward/dev1/alerts %s", m.Topic(), m.Payload(), alert)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the device did not receive the published alert")
	}

	// The SDK models no exception for Publish's 413: it is the generic API
	// error with AWS's code.
	var apiErr smithy.APIError
	_, err = data.Publish(context.Background(), &iotdataplane.PublishInput{Topic: aws.String("sward/dev1/alerts"), Payload: bytes.Repeat([]byte("x"), 200*1024)})
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "RequestEntityTooLargeException" || !strings.Contains(err.Error(), "413") {
		t.Errorf("Publish of 200 KB: err = %v, want a 413 RequestEntityTooLargeException", err)
	}
	if !c.IsConnected() || d.Exited() {
		t.Errorf("after the refused Publish: device connected %v, devcloud exited %v", c.IsConnected(), d.Exited())
	}
}

func TestDevcloudShadowsAnswerDevicesOverMQTTAndTheCloudOverHTTPWithAWSSemantics(t *testing.T) {
	d := harness.StartDevcloud(t, harness.SynthTemplate(t), "")
	dev1 := createThing(t, d, "dev1")
	c, err := dialThing(d.Info.Endpoints.IoTData, "dev1", deviceTLS(t, dev1), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Disconnect(0)
	got := make(chan mqtt.Message, 16)
	const prefix = "$aws/things/dev1/shadow/"
	for _, f := range []string{"get/accepted", "get/rejected", "update/accepted", "update/rejected", "update/delta", "name/cfg/update/accepted"} {
		if tok := c.Subscribe(prefix+f, 1, func(_ mqtt.Client, m mqtt.Message) { got <- m }); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("subscribe %s: %v", f, tok.Error())
		}
	}
	next := func(topic string) map[string]any {
		t.Helper()
		select {
		case m := <-got:
			if m.Topic() != topic {
				t.Fatalf("received on %s (%s), want %s", m.Topic(), m.Payload(), topic)
			}
			var doc map[string]any
			if err := json.Unmarshal(m.Payload(), &doc); err != nil {
				t.Fatalf("%s: %v", m.Payload(), err)
			}
			return doc
		case <-time.After(10 * time.Second):
			t.Fatalf("nothing on %s", topic)
		}
		return nil
	}
	publish := func(topic, payload string) {
		t.Helper()
		if tok := c.Publish(topic, 1, false, payload); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("publish %s: %v", topic, tok.Error())
		}
	}

	publish(prefix+"get", `{"clientToken":"t1"}`)
	if doc := next(prefix + "get/rejected"); doc["code"] != 404.0 || doc["message"] != "No shadow exists with name: 'dev1'" || doc["clientToken"] != "t1" {
		t.Errorf("get of a missing shadow: %v, want AWS's 404 with the client token", doc)
	}

	// The cloud sets desired over HTTP; the device is told the delta.
	ctx := context.Background()
	data := iotdataplane.NewFromConfig(d.Info.AWSConfig(), func(o *iotdataplane.Options) {
		o.BaseEndpoint = aws.String(d.Info.Endpoints.IoTDataHTTP)
	})
	if _, err := data.UpdateThingShadow(ctx, &iotdataplane.UpdateThingShadowInput{ThingName: aws.String("dev1"), Payload: []byte(`{"state":{"desired":{"color":"red"}}}`)}); err != nil {
		t.Fatalf("UpdateThingShadow: %v", err)
	}
	next(prefix + "update/accepted")
	if doc := next(prefix + "update/delta"); doc["version"] != 1.0 || doc["state"].(map[string]any)["color"] != "red" {
		t.Errorf("delta: %v, want color red at version 1", doc)
	}

	// The device reports; the delta is gone.
	publish(prefix+"update", `{"state":{"reported":{"color":"red"}},"clientToken":"t2","version":1}`)
	if doc := next(prefix + "update/accepted"); doc["version"] != 2.0 || doc["clientToken"] != "t2" {
		t.Errorf("update accepted: %v, want version 2 and clientToken t2", doc)
	}
	out, err := data.GetThingShadow(ctx, &iotdataplane.GetThingShadowInput{ThingName: aws.String("dev1")})
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		State   map[string]any `json:"state"`
		Version int            `json:"version"`
	}
	if err := json.Unmarshal(out.Payload, &doc); err != nil {
		t.Fatal(err)
	}
	if _, hasDelta := doc.State["delta"]; hasDelta || doc.Version != 2 {
		t.Errorf("GetThingShadow: %s, want version 2 without a delta", out.Payload)
	}

	// A stale version is a conflict, malformed JSON a bad request, each
	// answered on update/rejected with AWS's error document.
	publish(prefix+"update", `{"state":{"reported":{"color":"blue"}},"version":1,"clientToken":"t3"}`)
	if doc := next(prefix + "update/rejected"); doc["code"] != 409.0 || doc["message"] != "Version conflict" || doc["clientToken"] != "t3" {
		t.Errorf("update with the stale version 1: %v, want 409 Version conflict with clientToken t3", doc)
	}
	publish(prefix+"update", `{"state":{"reported":{"color":`)
	if doc := next(prefix + "update/rejected"); doc["code"] != 400.0 || doc["message"] != "Invalid JSON" {
		t.Errorf("update with malformed JSON: %v, want 400 Invalid JSON", doc)
	}
	// A state over the 8 KB shadow limit (the message itself within 128 KB).
	publish(prefix+"update", `{"state":{"reported":{"blob":"`+strings.Repeat("x", 9*1024)+`"}}}`)
	if doc := next(prefix + "update/rejected"); doc["code"] != 413.0 {
		t.Errorf("update with a 9 KB state: %v, want 413", doc)
	}
	// A named shadow is listed.
	publish(prefix+"name/cfg/update", `{"state":{"reported":{"rate":5}}}`)
	if doc := next(prefix + "name/cfg/update/accepted"); doc["version"] != 1.0 {
		t.Errorf("named shadow update: %v, want version 1", doc)
	}
	list, err := data.ListNamedShadowsForThing(ctx, &iotdataplane.ListNamedShadowsForThingInput{ThingName: aws.String("dev1")})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(list.Results, []string{"cfg"}) {
		t.Errorf("named shadows = %v, want [cfg]", list.Results)
	}
	// Over HTTP the same refusals are the SDK's typed exceptions.
	var conflict *dptypes.ConflictException
	_, err = data.UpdateThingShadow(ctx, &iotdataplane.UpdateThingShadowInput{ThingName: aws.String("dev1"), Payload: []byte(`{"state":{"reported":{"color":"blue"}},"version":1}`)})
	if !errors.As(err, &conflict) || !strings.Contains(err.Error(), "409") {
		t.Errorf("UpdateThingShadow with a stale version: err = %v, want a 409 ConflictException", err)
	}
	var invalid *dptypes.InvalidRequestException
	_, err = data.UpdateThingShadow(ctx, &iotdataplane.UpdateThingShadowInput{ThingName: aws.String("dev1"), Payload: []byte(`{"state":`)})
	if !errors.As(err, &invalid) || !strings.Contains(err.Error(), "Invalid JSON") {
		t.Errorf("UpdateThingShadow with malformed JSON: err = %v, want an InvalidRequestException saying Invalid JSON", err)
	}
	var tooLarge *dptypes.RequestEntityTooLargeException
	_, err = data.UpdateThingShadow(ctx, &iotdataplane.UpdateThingShadowInput{ThingName: aws.String("dev1"), Payload: []byte(`{"state":{"reported":{"blob":"` + strings.Repeat("x", 200*1024) + `"}}}`)})
	if !errors.As(err, &tooLarge) {
		t.Errorf("UpdateThingShadow of 200 KB: err = %v, want a RequestEntityTooLargeException", err)
	}
	var missing *dptypes.ResourceNotFoundException
	if _, err := data.GetThingShadow(ctx, &iotdataplane.GetThingShadowInput{ThingName: aws.String("dev1"), ShadowName: aws.String("nosuch")}); !errors.As(err, &missing) {
		t.Errorf("GetThingShadow of a missing named shadow: err = %v, want a ResourceNotFoundException", err)
	}
	if !c.IsConnected() || d.Exited() {
		t.Errorf("after the refused updates: device connected %v, devcloud exited %v", c.IsConnected(), d.Exited())
	}
}

func TestDevcloudARevokedCertificateIsRefusedByTheEndpointAndTheCredentialsProvider(t *testing.T) {
	d := harness.StartDevcloud(t, harness.SynthTemplate(t), "")
	dev1 := createThing(t, d, "dev1")
	c, err := dialThing(d.Info.Endpoints.IoTData, "dev1", deviceTLS(t, dev1), nil)
	if err != nil {
		t.Fatalf("connect before the revocation: %v", err)
	}
	c.Disconnect(0)
	sdk := runDeviceSDK(t, "connect.js", d.Info.Endpoints.IoTData, dev1)
	if got := sdk.next("connect"); got["ok"] != true {
		t.Fatalf("the Device SDK's connect before the revocation: %v", got)
	}
	sdk.wait()
	if _, err := d.Run(t, "thing", "revoke", "dev1"); err != nil {
		t.Fatal(err)
	}
	desc, err := iot.NewFromConfig(d.Info.AWSConfig()).DescribeCertificate(context.Background(),
		&iot.DescribeCertificateInput{CertificateId: aws.String(dev1.CertificateArn[strings.LastIndex(dev1.CertificateArn, "/")+1:])})
	if err != nil {
		t.Fatal(err)
	}
	if s := desc.CertificateDescription.Status; s != "REVOKED" {
		t.Errorf("certificate status in the control plane = %s, want REVOKED", s)
	}
	if c, err := dialThing(d.Info.Endpoints.IoTData, "dev1", deviceTLS(t, dev1), nil); err == nil {
		c.Disconnect(0)
		t.Error("a revoked certificate connected")
	}
	// The AWS IoT Device SDK is refused too, on both ports.
	for _, addr := range []string{d.Info.Endpoints.IoTData, d.Info.Endpoints.IoTDataALPN} {
		s := runDeviceSDK(t, "connect.js", addr, dev1)
		if got := s.next("connect"); got["ok"] != false {
			t.Errorf("the Device SDK's connect with a revoked certificate to %s: %v, want refused", addr, got)
		}
		s.wait()
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: deviceTLS(t, dev1)}, Timeout: 30 * time.Second}
	resp, err := client.Get(d.Info.Endpoints.Credentials + "/role-aliases/SwardTokenExchangeRoleAlias/credentials")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("credentials for a revoked certificate: %s, want 403", resp.Status)
	}
	if _, err := d.Run(t, "thing", "revoke", "nosuch"); err == nil || !strings.Contains(err.Error(), "thing create nosuch") {
		t.Errorf("revoking an unknown thing: err = %v, want the advice to create it", err)
	}
	if d.Exited() {
		t.Fatalf("devcloud exited:\n%s", d.Output())
	}
}

func TestDevcloudUsesAGivenMotoAndLeavesItRunning(t *testing.T) {
	moto, err := testutil.StartMoto()
	if err != nil {
		t.Fatal(err)
	}
	defer moto.Stop()
	d := harness.StartDevcloud(t, harness.SynthTemplate(t), "", "--moto-endpoint", moto.URL)
	if d.Info.Endpoints.AWS != moto.URL {
		t.Errorf("devcloud.json endpoints.aws = %s, want the given %s", d.Info.Endpoints.AWS, moto.URL)
	}
	createThing(t, d, "dev1")
	d.Stop()
	// moto outlived devcloud, with what devcloud registered in it.
	if _, err := iot.NewFromConfig(moto.Config()).DescribeThing(context.Background(), &iot.DescribeThingInput{ThingName: aws.String("dev1")}); err != nil {
		t.Errorf("moto after devcloud stopped: %v", err)
	}
}

// TestDevcloudUpIsReadyWithinTwoSecondsWithMotoRunning is the `devcloud up`
// → ready figure of docs/performance.md: from starting the process to its
// devcloud.json, with moto_server already running (--moto-endpoint), for a
// first start (the CA is made), for a restart on a data folder with three
// things that moto has from the start before, and for the same restart after
// a moto reset (devcloud registers them again). Each is the median of
// five runs after one warm-up run (the binary is built and moto has loaded
// its IoT backend).
func TestDevcloudUpIsReadyWithinTwoSecondsWithMotoRunning(t *testing.T) {
	moto, err := testutil.StartMoto()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(moto.Stop)
	template := harness.SynthTemplate(t)
	up := func(data string) time.Duration {
		t.Helper()
		d := harness.StartDevcloud(t, template, data, "--moto-endpoint", moto.URL)
		ready := d.Ready
		d.Stop()
		return ready
	}
	up("") // warm-up
	const runs = 5
	median := func(name string, run func() time.Duration) time.Duration {
		t.Helper()
		var got []time.Duration
		for range runs {
			got = append(got, run())
		}
		slices.Sort(got)
		var ms []string
		for _, d := range got {
			ms = append(ms, fmt.Sprintf("%.0f", float64(d.Microseconds())/1000))
		}
		t.Logf("devcloud up → ready, %s: median %.0f ms of %d runs (sorted, ms: %s; goal ≤ 2000 ms)",
			name, float64(got[runs/2].Microseconds())/1000, runs, strings.Join(ms, " "))
		return got[runs/2]
	}
	first := median("first start (CA made)", func() time.Duration { return up(t.TempDir()) })

	data := t.TempDir()
	d := harness.StartDevcloud(t, template, data, "--moto-endpoint", moto.URL)
	for _, name := range []string{"dev1", "dev2", "dev3"} {
		createThing(t, d, name, "--group", "sward-devices")
	}
	d.Stop()
	restart := median("restart with 3 things moto has", func() time.Duration { return up(data) })
	// moto's reset API empties it, as a new moto_server would start: devcloud
	// registers the policy, the group and the three things again.
	reregister := median("restart with 3 things after a moto reset", func() time.Duration {
		resp, err := http.Post(moto.URL+"/moto-api/reset", "application/json", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("moto reset: %s", resp.Status)
		}
		return up(data)
	})
	for _, got := range []time.Duration{first, restart, reregister} {
		if got > 2*time.Second {
			t.Errorf("devcloud up → ready median %s, over the 2 s goal", got)
		}
	}
}
