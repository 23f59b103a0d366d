package broker

import (
	"crypto/tls"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/sward-iot/sward/internal/testutil"
)

func TestWrongPasswordIsRefused(t *testing.T) {
	b := runBroker(t, testOptions(t))

	t.Run("nats", func(t *testing.T) {
		nc, err := natsDial(b.NATSURL(), "sensor", "wrong")
		if err == nil {
			nc.Close()
			t.Fatal("NATS connect with a wrong password succeeded")
		}
		if !errors.Is(err, nats.ErrAuthorization) {
			t.Fatalf("NATS connect error = %v, want an authorization violation", err)
		}
	})
	t.Run("mqtt", func(t *testing.T) {
		if _, err := dialMQTT(t, b.MQTTAddr(), mqttClient{id: "wrong", user: "sensor", pass: "wrong"}); err == nil {
			t.Fatal("MQTT connect with a wrong password succeeded")
		}
	})
	t.Run("right password works", func(t *testing.T) {
		nc, err := natsDial(b.NATSURL(), "sensor", sensorPass)
		if err != nil {
			t.Fatal(err)
		}
		nc.Close()
		mustMQTT(t, b.MQTTAddr(), mqttClient{id: "right", user: "sensor", pass: sensorPass})
	})
}

func TestUnauthenticatedClientsAreRefusedWithoutAnonymousUser(t *testing.T) {
	b := runBroker(t, testOptions(t))
	if nc, err := natsDial(b.NATSURL(), "", ""); err == nil {
		nc.Close()
		t.Error("NATS connect without credentials succeeded")
	}
	if _, err := dialMQTT(t, b.MQTTAddr(), mqttClient{id: "nobody"}); err == nil {
		t.Error("MQTT connect without credentials succeeded")
	}
	if nc, err := natsDial(b.NATSURL(), AnonymousIdentity, ""); err == nil {
		nc.Close()
		t.Error("NATS connect as the anonymous identity succeeded")
	}
}

func TestAnonymousClientsGetTheMappedUsersPermissions(t *testing.T) {
	o := testOptions(t)
	o.AnonymousUser = "sensor"
	b := runBroker(t, o)
	nc := connect(t, b, "nucleus")
	msgs := make(chan *nats.Msg, 4)
	if _, err := nc.ChanSubscribe("a.>", msgs); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}

	t.Run("mqtt", func(t *testing.T) {
		cl := mustMQTT(t, b.MQTTAddr(), mqttClient{id: "anon-mqtt"})
		wait(t, cl.Publish("a/from-mqtt", 1, false, "x"), "anonymous MQTT publish")
		if m := testutil.Receive(t, msgs, "anonymous MQTT message"); m.Subject != "a.from-mqtt" {
			t.Fatalf("got %s", m.Subject)
		}
	})
	t.Run("nats", func(t *testing.T) {
		errs := make(chan error, 4)
		anon, err := natsDial(b.NATSURL(), "", "", nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errs <- err }))
		if err != nil {
			t.Fatalf("anonymous NATS connect: %v", err)
		}
		defer anon.Close()
		if err := anon.Publish("a.from-nats", nil); err != nil {
			t.Fatal(err)
		}
		if m := testutil.Receive(t, msgs, "anonymous NATS message"); m.Subject != "a.from-nats" {
			t.Fatalf("got %s", m.Subject)
		}
		// sensor may not publish outside sensors.> and a.>.
		if err := anon.Publish("secrets.x", nil); err != nil {
			t.Fatal(err)
		}
		if err := testutil.Receive(t, errs, "permission violation"); !errors.Is(err, nats.ErrPermissionViolation) {
			t.Fatalf("got %v, want a permission violation", err)
		}
	})
}

func TestSetUsersChangesUsersWithoutDroppingOthers(t *testing.T) {
	o := testOptions(t)
	o.Users = append(o.Users, User{Name: "old", Password: "old-secret"})
	b := runBroker(t, o)
	nucleus := connect(t, b, "nucleus")

	keep, err := natsDial(b.NATSURL(), "sensor", sensorPass)
	if err != nil {
		t.Fatal(err)
	}
	defer keep.Close()
	gone, err := natsDial(b.NATSURL(), "old", "old-secret")
	if err != nil {
		t.Fatal(err)
	}
	defer gone.Close()
	keepMQTT := mustMQTT(t, b.MQTTAddr(), mqttClient{id: "keep-mqtt", user: "sensor", pass: sensorPass})
	mqttMsgs := mqttSubscribe(t, keepMQTT, "a/still", 1)

	users := append(testOptions(t).Users, User{Name: "new", Password: "new-secret"}) // "old" removed
	if err := b.SetUsers(users, ""); err != nil {
		t.Fatalf("SetUsers: %v", err)
	}

	testutil.Eventually(t, "removed user's connection closed", func() error {
		if !gone.IsClosed() {
			return errors.New("still open")
		}
		return nil
	})
	if nc, err := natsDial(b.NATSURL(), "old", "old-secret"); err == nil {
		nc.Close()
		t.Error("removed user could connect again")
	}
	if _, err := b.Connect("old"); !errors.Is(err, ErrUnknownUser) {
		t.Errorf("Connect(old) = %v, want ErrUnknownUser", err)
	}
	if nc, err := natsDial(b.NATSURL(), "new", "new-secret"); err != nil {
		t.Errorf("added user cannot connect: %v", err)
	} else {
		nc.Close()
	}

	// The unaffected connections are the same ones, still working.
	if !keep.IsConnected() || keep.Stats().Reconnects != 0 {
		t.Fatalf("sensor NATS connection was dropped (connected=%v)", keep.IsConnected())
	}
	sub, err := keep.SubscribeSync("a.echo")
	if err != nil {
		t.Fatal(err)
	}
	if err := keep.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := nucleus.Publish("a.echo", []byte("ping")); err != nil {
		t.Fatal(err)
	}
	if _, err := sub.NextMsg(waitTimeout); err != nil {
		t.Fatalf("sensor NATS connection no longer receives: %v", err)
	}
	if !keepMQTT.IsConnectionOpen() {
		t.Fatal("sensor MQTT connection was dropped")
	}
	if err := nucleus.Publish("a.still", []byte("here")); err != nil {
		t.Fatal(err)
	}
	testutil.Receive(t, mqttMsgs, "sensor MQTT subscription after SetUsers")
}

func TestSetUsersSwitchesAnonymousAccess(t *testing.T) {
	b := runBroker(t, testOptions(t)) // starts without anonymous access
	users := testOptions(t).Users

	anonConnects := func() error {
		nc, err := natsDial(b.NATSURL(), "", "")
		if err == nil {
			nc.Close()
		}
		return err
	}
	if anonConnects() == nil {
		t.Fatal("anonymous access before it was enabled")
	}

	if err := b.SetUsers(users, "sensor"); err != nil {
		t.Fatalf("enable anonymous: %v", err)
	}
	if err := anonConnects(); err != nil {
		t.Fatalf("anonymous access after enabling it: %v", err)
	}
	mustMQTT(t, b.MQTTAddr(), mqttClient{id: "anon-on"})

	anon, err := natsDial(b.NATSURL(), "", "")
	if err != nil {
		t.Fatal(err)
	}
	defer anon.Close()
	if err := b.SetUsers(users, ""); err != nil {
		t.Fatalf("disable anonymous: %v", err)
	}
	testutil.Eventually(t, "anonymous connection closed when anonymous access is disabled", func() error {
		if !anon.IsClosed() {
			return errors.New("still open")
		}
		return nil
	})
	if anonConnects() == nil {
		t.Fatal("anonymous NATS access after disabling it")
	}
	if _, err := dialMQTT(t, b.MQTTAddr(), mqttClient{id: "anon-off"}); err == nil {
		t.Fatal("anonymous MQTT access after disabling it")
	}

	if err := b.SetUsers(users, "nucleus"); err != nil {
		t.Fatalf("re-enable anonymous as another user: %v", err)
	}
	if err := anonConnects(); err != nil {
		t.Fatalf("anonymous access after re-enabling it: %v", err)
	}
}

func TestSetUsersClosesConnectionsWhosePermissionsChangedAndTheyReconnectUnderTheNewOnes(t *testing.T) {
	b := runBroker(t, testOptions(t))
	nucleus := connect(t, b, "nucleus")
	sensor, err := b.Connect("sensor", nats.ReconnectWait(10*time.Millisecond), nats.MaxReconnects(-1))
	if err != nil {
		t.Fatal(err)
	}
	defer sensor.Close()
	wide, err := sensor.SubscribeSync("a.>") // allowed now, not after the change
	if err != nil {
		t.Fatal(err)
	}
	if err := sensor.Flush(); err != nil {
		t.Fatal(err)
	}

	users := testOptions(t).Users
	users[1].Permissions = Permissions{PublishAllow: []string{"sensors.>"}, SubscribeAllow: []string{"sensors.>"}}
	if err := b.SetUsers(users, ""); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, "the sensor connection reconnected under its new permissions", func() error {
		if sensor.Stats().Reconnects == 0 || !sensor.IsConnected() {
			return errors.New("not reconnected yet")
		}
		return nil
	})
	if err := nucleus.Publish("a.narrowed", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := nucleus.Flush(); err != nil {
		t.Fatal(err)
	}
	if m, err := wide.NextMsg(300 * time.Millisecond); err == nil {
		t.Errorf("a subscription outside the new permissions still receives: %s", m.Subject)
	}
	if !nucleus.IsConnected() || nucleus.Stats().Reconnects != 0 {
		t.Error("the unchanged nucleus connection was closed")
	}
}

func TestSetUsersKeepsTheRules(t *testing.T) {
	dir := t.TempDir()
	cert, key, _, _ := selfSigned(t, dir, "server")
	o := testOptions(t)
	o.MQTTListen = "0.0.0.0:8883"
	o.TLSCert, o.TLSKey = cert, key
	b, err := New(o) // never started: nothing binds 0.0.0.0
	if err != nil {
		t.Fatal(err)
	}
	defer b.Shutdown()

	err = b.SetUsers(o.Users, "sensor")
	if !errors.Is(err, ErrInsecureListener) || !strings.Contains(err.Error(), "mqtt listener 0.0.0.0:8883") {
		t.Errorf("anonymous on a LAN listener = %v, want ErrInsecureListener naming it", err)
	}
	if err := b.SetUsers(o.Users, "ghost"); !errors.Is(err, ErrUnknownUser) {
		t.Errorf("unknown anonymous user = %v, want ErrUnknownUser", err)
	}
	if err := b.SetUsers([]User{{Name: "x"}}, ""); !errors.Is(err, ErrInvalidOptions) {
		t.Errorf("user without password = %v, want ErrInvalidOptions", err)
	}
}

func TestTLSListeners(t *testing.T) {
	dir := t.TempDir()
	cert, key, pool, _ := selfSigned(t, dir, "server")
	o := testOptions(t)
	o.TLSCert, o.TLSKey = cert, key
	b := runBroker(t, o)

	if nc, err := natsDial(b.NATSURL(), "sensor", sensorPass); err == nil {
		nc.Close()
		t.Error("NATS connect without TLS succeeded on a TLS listener")
	}
	nc, err := natsDial(b.NATSURL(), "sensor", sensorPass, nats.Secure(&tls.Config{RootCAs: pool}))
	if err != nil {
		t.Fatalf("NATS over TLS: %v", err)
	}
	if _, err := nc.TLSConnectionState(); err != nil {
		t.Errorf("NATS connection is not TLS: %v", err)
	}
	nc.Close()
	mustMQTT(t, b.MQTTAddr(), mqttClient{id: "tls", user: "sensor", pass: sensorPass, tls: &tls.Config{RootCAs: pool}})
	connect(t, b, "nucleus") // in-process connections skip TLS
}

func TestMutualTLSNeedsAClientCertificate(t *testing.T) {
	dir := t.TempDir()
	cert, key, pool, _ := selfSigned(t, dir, "server")
	clientCA, _, _, clientPair := selfSigned(t, dir, "client")
	o := testOptions(t)
	o.TLSCert, o.TLSKey, o.TLSClientCA = cert, key, clientCA
	b := runBroker(t, o)

	if nc, err := natsDial(b.NATSURL(), "sensor", sensorPass, nats.Secure(&tls.Config{RootCAs: pool})); err == nil {
		nc.Close()
		t.Error("NATS connect without a client certificate succeeded")
	}
	nc, err := natsDial(b.NATSURL(), "sensor", sensorPass, nats.Secure(&tls.Config{RootCAs: pool, Certificates: []tls.Certificate{clientPair}}))
	if err != nil {
		t.Fatalf("NATS with a client certificate: %v", err)
	}
	nc.Close()
	mustMQTT(t, b.MQTTAddr(), mqttClient{id: "mtls", user: "sensor", pass: sensorPass,
		tls: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{clientPair}}})
}

func TestSetUsersNeedsARunningBroker(t *testing.T) {
	o := testOptions(t)
	b, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.SetUsers(o.Users, ""); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("SetUsers before Start = %v, want ErrNotRunning", err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	if err := b.Ready(waitTimeout); err != nil {
		t.Fatal(err)
	}
	b.Shutdown()
	b.WaitForShutdown()
	if err := b.SetUsers(o.Users, ""); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("SetUsers after Shutdown = %v, want ErrNotRunning", err)
	}
	if err := b.Start(); !errors.Is(err, ErrStarted) {
		t.Fatalf("Start after Shutdown = %v, want ErrStarted", err)
	}
}

func TestAllowResponsesLetsAUserAnswerRequestsOutsideItsAllowList(t *testing.T) {
	o := testOptions(t)
	o.Users = append(o.Users,
		User{Name: "responder", Password: "r", Permissions: Permissions{
			PublishAllow: []string{"nothing.really"}, SubscribeAllow: []string{"svc.echo"}, AllowResponses: true}},
		User{Name: "mute", Password: "m", Permissions: Permissions{
			PublishAllow: []string{"nothing.really"}, SubscribeAllow: []string{"svc.mute"}}},
	)
	b := runBroker(t, o)
	for _, who := range []string{"responder", "mute"} {
		nc := connect(t, b, who)
		subj := map[string]string{"responder": "svc.echo", "mute": "svc.mute"}[who]
		if _, err := nc.Subscribe(subj, func(m *nats.Msg) { _ = m.Respond(m.Data) }); err != nil {
			t.Fatal(err)
		}
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	caller := connect(t, b, "nucleus")
	if m, err := caller.Request("svc.echo", []byte("hi"), 2*time.Second); err != nil || string(m.Data) != "hi" {
		t.Errorf("request to a user with AllowResponses = %v, %v; want the echo", m, err)
	}
	if _, err := caller.Request("svc.mute", []byte("hi"), 300*time.Millisecond); err == nil {
		t.Error("a user without AllowResponses answered on the caller's inbox")
	}
}

func TestTLSMapUsersMakesTheClientCertificateTheIdentity(t *testing.T) {
	dir := t.TempDir()
	cert, key, pool, _ := selfSigned(t, dir, "server")
	clientCA, _, _, clientPair := selfSigned(t, dir, "client")
	o := testOptions(t)
	o.TLSCert, o.TLSKey, o.TLSClientCA, o.TLSMapUsers = cert, key, clientCA, true
	o.Users = append(o.Users, User{Name: "CN=client",
		Permissions: Permissions{PublishAllow: []string{"devices.client.>"}}})
	b := runBroker(t, o)
	watcher := connect(t, b, "nucleus")
	msgs := make(chan *nats.Msg, 4)
	if _, err := watcher.ChanSubscribe("devices.>", msgs); err != nil {
		t.Fatal(err)
	}
	if err := watcher.Flush(); err != nil {
		t.Fatal(err)
	}

	cl := mustMQTT(t, b.MQTTAddr(), mqttClient{id: "cert-only",
		tls: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{clientPair}}})
	wait(t, cl.Publish("devices/client/temp", 1, false, "21"), "publish as the certificate's user")
	if m := testutil.Receive(t, msgs, "the certificate user's message"); m.Subject != "devices.client.temp" {
		t.Fatalf("got %s", m.Subject)
	}
	// The mapped user's permissions apply: outside devices.client.> is refused.
	wait(t, cl.Publish("devices/other/temp", 0, false, "x"), "publish outside the grant")
	select {
	case m := <-msgs:
		t.Errorf("a publish outside the certificate user's permissions got through: %s", m.Subject)
	case <-time.After(300 * time.Millisecond):
	}
	// The name alone, without the certificate, does not log in.
	if c, err := dialMQTT(t, b.MQTTAddr(), mqttClient{id: "name-only", user: "CN=client", tls: &tls.Config{RootCAs: pool}}); err == nil {
		c.Disconnect(0)
		t.Error("the certificate user logged in by name without its certificate")
	}
	if _, err := New(Options{StoreDir: t.TempDir(), TLSMapUsers: true}); err == nil || !strings.Contains(err.Error(), "TLSMapUsers needs TLSClientCA") {
		t.Errorf("TLSMapUsers without a client CA = %v, want a refusal naming TLSClientCA", err)
	}
}

// sdkUsernames are the MQTT usernames the AWS IoT Device SDKs send when the
// application sets none: their metrics, after a "?" (aws-c-mqtt's
// aws_mqtt_append_sdk_metrics_to_username for the CRT-based SDKs, the
// Python and Java SDKs' own builders before that).
var sdkUsernames = []string{
	"?SDK=IoTDeviceSDK/JS&Platform=Linux&Metadata=(IoTSDKVersion=1.27.0;IoTSDKMetricsVersion=1)",
	"?SDK=IoTDeviceSDK/Python&Platform=Linux&Metadata=(IoTSDKVersion=1.24.0;IoTSDKMetricsVersion=1)",
	"?SDK=IoTDeviceSDK/Java&Platform=Linux",
	"?SDK=IoTDeviceSDK/C&Platform=Linux",
	"?SDK=PythonV2&Version=1.22.0",
	"?SDK=JavaV2&Version=1.20.0",
}

func TestLoginNameDropsTheMetricsQueryOfTheAWSIoTDeviceSDKs(t *testing.T) {
	for _, tc := range []struct{ username, want string }{
		{"sensor-7", "sensor-7"},
		{"sensor-7?SDK=IoTDeviceSDK/JS&Platform=Linux", "sensor-7"},
		{"?SDK=PythonV2&Version=1.22.0", ""},
		{"sensor-7?x=y&SDK=PythonV2&Version=1.22.0", "sensor-7"}, // the SDK joins a custom query with "&"
		{"a?b?SDK=JavaV2&Version=1.20.0", "a?b"},                 // IoT Core cuts at the last "?"
		{"", ""},
	} {
		if got := LoginName(tc.username); got != tc.want {
			t.Errorf("LoginName(%q) = %q, want %q", tc.username, got, tc.want)
		}
	}
}

func TestAWSIoTDeviceSDKUsernamesLogInOverMQTTAndNATS(t *testing.T) {
	o := testOptions(t)
	o.AnonymousUser = "sensor"
	b := runBroker(t, o)
	watcher := connect(t, b, "nucleus")
	msgs := make(chan *nats.Msg, 16)
	if _, err := watcher.ChanSubscribe("sensors.>", msgs); err != nil {
		t.Fatal(err)
	}
	if err := watcher.Flush(); err != nil {
		t.Fatal(err)
	}
	for i, u := range sdkUsernames {
		t.Run("anonymous "+u, func(t *testing.T) {
			cl := mustMQTT(t, b.MQTTAddr(), mqttClient{id: fmt.Sprintf("sdk-anon-%d", i), user: u})
			wait(t, cl.Publish("sensors/anon", 1, false, "x"), "publish as an anonymous SDK client")
			testutil.Receive(t, msgs, "the anonymous SDK client's message")
			nc, err := natsDial(b.NATSURL(), u, "")
			if err != nil {
				t.Fatalf("NATS with the SDK's username and no password: %v", err)
			}
			nc.Close()
		})
		t.Run("device "+u, func(t *testing.T) {
			cl := mustMQTT(t, b.MQTTAddr(), mqttClient{id: fmt.Sprintf("sdk-dev-%d", i), user: "sensor" + u, pass: sensorPass})
			wait(t, cl.Publish("sensors/dev", 1, false, "x"), "publish as the device")
			testutil.Receive(t, msgs, "the device's message")
			if _, err := dialMQTT(t, b.MQTTAddr(), mqttClient{id: fmt.Sprintf("sdk-bad-%d", i), user: "sensor" + u, pass: "guess"}); err == nil {
				t.Error("a wrong password logged in with the SDK's username")
			}
			nc, err := natsDial(b.NATSURL(), "sensor"+u, sensorPass)
			if err != nil {
				t.Fatalf("NATS as the device with the SDK's username: %v", err)
			}
			nc.Close()
		})
	}
}

func TestAWSIoTDeviceSDKUsernamesAreRefusedWhereAnonymousIsNot(t *testing.T) {
	b := runBroker(t, testOptions(t)) // no AnonymousUser
	for i, u := range sdkUsernames {
		if _, err := dialMQTT(t, b.MQTTAddr(), mqttClient{id: fmt.Sprintf("sdk-%d", i), user: u}); err == nil {
			t.Errorf("MQTT username %q without a password logged in although anonymous access is off", u)
		}
		if nc, err := natsDial(b.NATSURL(), u, ""); err == nil {
			nc.Close()
			t.Errorf("NATS username %q without a password logged in although anonymous access is off", u)
		}
	}
	// The password is still checked against the user before the "?".
	if _, err := dialMQTT(t, b.MQTTAddr(), mqttClient{id: "sdk-guess", user: "sensor" + sdkUsernames[0], pass: "guess"}); err == nil {
		t.Error("a wrong password logged in")
	}
}

func TestAnAllowListWithTheFullWildcardIsLeftOutAsItAllowsEverything(t *testing.T) {
	for _, tc := range []struct {
		name             string
		in               Permissions
		wantPub, wantSub *server.SubjectPermission
	}{
		{"deny lists stay", Permissions{PublishAllow: []string{">"}, PublishDeny: []string{"$SYS.>"}, SubscribeAllow: []string{"a.>", ">"}, SubscribeDeny: []string{"b.>"}},
			&server.SubjectPermission{Deny: []string{"$SYS.>"}}, &server.SubjectPermission{Deny: []string{"b.>"}}},
		{"other allow lists stay", Permissions{PublishAllow: []string{"a.>"}, SubscribeAllow: []string{"a.*"}},
			&server.SubjectPermission{Allow: []string{"a.>"}}, &server.SubjectPermission{Allow: []string{"a.*"}}},
		{"with responses allowed the publish list stays (none would mean replies only)", Permissions{PublishAllow: []string{">"}, SubscribeAllow: []string{">"}, AllowResponses: true},
			&server.SubjectPermission{Allow: []string{">"}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sp := tc.in.server()
			if !reflect.DeepEqual(sp.Publish, tc.wantPub) || !reflect.DeepEqual(sp.Subscribe, tc.wantSub) {
				t.Fatalf("server permissions publish %+v subscribe %+v, want %+v and %+v", sp.Publish, sp.Subscribe, tc.wantPub, tc.wantSub)
			}
		})
	}
	if sp := (Permissions{PublishAllow: []string{">"}, SubscribeAllow: []string{">"}}).server(); sp != nil {
		t.Fatalf("allow > alone gave %+v, want no permissions (everything allowed)", sp)
	}
}
