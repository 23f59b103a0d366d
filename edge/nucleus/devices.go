package nucleus

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/sward-iot/sward/edge/authz"

	"go.yaml.in/yaml/v3"

	"github.com/sward-iot/sward/edge/broker"
	wire "github.com/sward-iot/sward/shared/ipc"
)

// Devices is the client-device file (--devices): who may connect to the
// broker besides components, and what topics each may use.
//
//	requireAuth: false        # loopback listeners: anonymous clients allowed (the default)
//	anonymous:                # what anonymous clients may do (default: every topic)
//	  publish: ["sensors/#"]
//	  subscribe: ["commands/#"]
//	users:
//	  - name: sensor-7        # MQTT username (up to a last "?": broker.LoginName)
//	    password: s3cret
//	    publish: ["sensors/sensor-7/#"]
//	    subscribe: ["commands/sensor-7/#", "$aws/things/sensor-7/shadow/#"]
//	  - name: "CN=cam-1"      # certificate user (needs --tls-ca): subject DN of its certificate
//	    certificate: true
//	    publish: ["cameras/cam-1/#"]
type Devices struct {
	RequireAuth bool         `yaml:"requireAuth"`
	Anonymous   *TopicGrants `yaml:"anonymous"`
	Users       []DeviceUser `yaml:"users"`
}

// TopicGrants are MQTT topic filters ("+", "#"; "a/b" is NATS subject a.b).
type TopicGrants struct {
	Publish   []string `yaml:"publish"`
	Subscribe []string `yaml:"subscribe"`
}

// DeviceUser is one client device.
type DeviceUser struct {
	Name        string `yaml:"name"`
	Password    string `yaml:"password"`
	Certificate bool   `yaml:"certificate"`
	TopicGrants `yaml:",inline"`
}

// deviceDeny keeps client devices off the nucleus's and the components'
// subjects whatever their grants say. Shadow topics stay reachable: a
// device reaches its shadow over MQTT as it would on IoT Core.
var deviceDeny = append(slices.Clip(authz.NucleusSubjects), wire.IPCRoot+".>", wire.EventRoot+".>", wire.InboxRoot+".>")

// LoadDevices reads and checks a devices file; every problem is named with
// its place in the file and the fix.
func LoadDevices(path string) (*Devices, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("devices file: %w", err)
	}
	var d Devices
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&d); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("devices file %s: %w (see docs/ipc.md, client devices)", path, err)
	}
	var errs []error
	seen := map[string]bool{}
	for i, u := range d.Users {
		at := fmt.Sprintf("devices file %s: users[%d]", path, i)
		switch {
		case u.Name == "" || strings.ContainsAny(u.Name, " \t\r\n"):
			errs = append(errs, fmt.Errorf("%s: name %q must be non-empty without spaces", at, u.Name))
		case strings.Contains(u.Name, "?"):
			errs = append(errs, fmt.Errorf("%s: name %q contains \"?\": a login name ends before its last \"?\" (the AWS IoT Device SDKs put their metrics after it); pick a name without one", at, u.Name))
		case strings.HasPrefix(u.Name, "sward-") || strings.HasPrefix(u.Name, authz.UserPrefix) || u.Name == broker.AnonymousIdentity:
			errs = append(errs, fmt.Errorf("%s: name %q is reserved for the nucleus and components; pick another", at, u.Name))
		case seen[u.Name]:
			errs = append(errs, fmt.Errorf("%s: name %q is listed twice; keep one", at, u.Name))
		case u.Certificate && u.Password != "":
			errs = append(errs, fmt.Errorf("%s (%s): a certificate user has no password; remove password", at, u.Name))
		case !u.Certificate && u.Password == "":
			errs = append(errs, fmt.Errorf("%s (%s): password is missing; set one, or certificate: true for a TLS client certificate user", at, u.Name))
		}
		seen[u.Name] = true
		errs = append(errs, checkTopics(at, u.TopicGrants)...)
	}
	if d.Anonymous != nil {
		errs = append(errs, checkTopics(fmt.Sprintf("devices file %s: anonymous", path), *d.Anonymous)...)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &d, nil
}

func checkTopics(at string, g TopicGrants) []error {
	var errs []error
	for _, list := range []struct {
		name   string
		topics []string
	}{{"publish", g.Publish}, {"subscribe", g.Subscribe}} {
		for _, t := range list.topics {
			if _, ok := authz.TopicSubject(t); !ok {
				errs = append(errs, fmt.Errorf("%s: %s topic %q cannot be a NATS subject: use whole levels and the MQTT wildcards + and #", at, list.name, t))
			}
		}
	}
	return errs
}

// certificateUsers reports whether any device logs in with a certificate.
func (d *Devices) certificateUsers() bool {
	for _, u := range d.Users {
		if u.Certificate {
			return true
		}
	}
	return false
}

// permissions turns topic grants into broker permissions; nil grants are
// every topic.
func (g *TopicGrants) permissions() broker.Permissions {
	// No AllowResponses, as for components (edge/ipc): a response
	// permission would override the deny list.
	p := broker.Permissions{PublishDeny: deviceDeny, SubscribeDeny: deviceDeny}
	if g == nil {
		p.PublishAllow, p.SubscribeAllow = []string{">"}, []string{">"}
		return p
	}
	p.PublishAllow = subjects(g.Publish)
	p.SubscribeAllow = subjects(g.Subscribe)
	if len(p.PublishAllow) == 0 {
		p.PublishAllow = []string{"$nothing"} // an empty allow list would allow everything
	}
	if len(p.SubscribeAllow) == 0 {
		p.SubscribeAllow = []string{"$nothing"}
	}
	return p
}

func subjects(topics []string) []string {
	var out []string
	for _, t := range topics {
		if s, ok := authz.TopicSubject(t); ok {
			out = append(out, s)
		}
	}
	return out
}
