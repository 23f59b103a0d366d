// Package client is the Go client of the Sward IPC: it reads the environment
// the nucleus gives every component, connects to the embedded broker with the
// component's own credential and private inbox, and offers typed calls for
// the operations. It is a convenience: every call is a plain NATS request on
// $SWARD_IPC_PREFIX.<Operation> that any NATS client can make (docs/ipc.md).
//
// It lives in shared/ (with a NATS import, unlike the rest of shared/) so
// that components anywhere — the samples in recipes/ too — can use it without
// depending on the nucleus.
package client

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	wire "github.com/sward-iot/sward/shared/ipc"
)

// DefaultTimeout bounds a call whose context has no deadline: the nucleus
// answers in well under a millisecond, so a second means it is not there.
const DefaultTimeout = 5 * time.Second

// Env is the part of the component environment the client uses.
type Env struct {
	NATSURL, User, Password       string
	IPCPrefix, EventPrefix, Inbox string
	Component, Version, Thing     string
	MQTTURL                       string
	// CAFile and TLSServerName verify the nucleus's TLS certificate when
	// its listeners use TLS (SWARD_NATS_CA, SWARD_TLS_SERVER_NAME).
	CAFile, TLSServerName string
}

// FromEnv reads Env from the process environment.
func FromEnv() Env {
	return Env{
		NATSURL: os.Getenv(wire.EnvNATSURL), User: os.Getenv(wire.EnvNATSUser), Password: os.Getenv(wire.EnvNATSPassword),
		IPCPrefix: os.Getenv(wire.EnvIPCPrefix), EventPrefix: os.Getenv(wire.EnvEventPrefix), Inbox: os.Getenv(wire.EnvInboxPrefix),
		Component: os.Getenv(wire.EnvComponentName), Version: os.Getenv(wire.EnvComponentVersion),
		Thing: os.Getenv(wire.EnvThingName), MQTTURL: os.Getenv(wire.EnvMQTTURL),
		CAFile: os.Getenv(wire.EnvNATSCA), TLSServerName: os.Getenv(wire.EnvTLSServerName),
	}
}

// NATSOptions are the connection options that carry the component's
// identity: its credential and its private inbox prefix (without which
// request/reply is refused by the broker); and, when the nucleus uses TLS,
// the CA its certificate is verified with.
func (e Env) NATSOptions() []nats.Option {
	var opts []nats.Option
	if e.CAFile != "" {
		opts = append(opts, nats.Secure(&tls.Config{MinVersion: tls.VersionTLS12, ServerName: e.TLSServerName}), nats.RootCAs(e.CAFile))
	}
	if e.User != "" {
		opts = append(opts, nats.UserInfo(e.User, e.Password))
	}
	if e.Inbox != "" {
		opts = append(opts, nats.CustomInboxPrefix(e.Inbox))
	}
	if e.Component != "" {
		opts = append(opts, nats.Name(e.Component))
	}
	return opts
}

// Client calls the nucleus for one component.
type Client struct {
	nc  *nats.Conn
	env Env
}

// Connect reads the environment and connects; extra options follow the
// identity options.
func Connect(extra ...nats.Option) (*Client, error) {
	env := FromEnv()
	if env.NATSURL == "" || env.IPCPrefix == "" {
		return nil, fmt.Errorf("ipc client: %s or %s is not set: run the component under the Sward nucleus", wire.EnvNATSURL, wire.EnvIPCPrefix)
	}
	nc, err := nats.Connect(env.NATSURL, append(env.NATSOptions(), extra...)...)
	if err != nil {
		return nil, fmt.Errorf("ipc client: connect to %s: %w", env.NATSURL, err)
	}
	return New(nc, env), nil
}

// New wraps a connection made with env.NATSOptions.
func New(nc *nats.Conn, env Env) *Client { return &Client{nc: nc, env: env} }

// Conn is the underlying connection, for plain publish and subscribe.
func (c *Client) Conn() *nats.Conn { return c.nc }

// Env is what the client was made with.
func (c *Client) Env() Env { return c.env }

// Close closes the connection.
func (c *Client) Close() { c.nc.Close() }

// Call sends req (marshalled to JSON; nil sends {}) to operation op and
// decodes the answer into resp (may be nil). A nucleus error comes back as
// *wire.Error.
func (c *Client) Call(ctx context.Context, op string, req, resp any) error {
	body := []byte("{}")
	if req != nil {
		var err error
		if body, err = json.Marshal(req); err != nil {
			return fmt.Errorf("ipc client: encode %s request: %w", op, err)
		}
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultTimeout)
		defer cancel()
	}
	m, err := c.nc.RequestWithContext(ctx, c.env.IPCPrefix+"."+op, body)
	if err != nil {
		if errors.Is(err, nats.ErrNoResponders) {
			return fmt.Errorf("ipc client: %s: the nucleus is not answering (no responders)", op)
		}
		return fmt.Errorf("ipc client: %s: %w", op, err)
	}
	if e := wire.DecodeError(m.Data); e != nil {
		return e
	}
	if resp == nil {
		return nil
	}
	if err := json.Unmarshal(m.Data, resp); err != nil {
		return fmt.Errorf("ipc client: decode %s response: %w", op, err)
	}
	return nil
}

// subscribe delivers the events of kind, decoded into a fresh T each.
func subscribe[T any](c *Client, kind string, fn func(T)) (*nats.Subscription, error) {
	return c.nc.Subscribe(c.env.EventPrefix+"."+kind, func(m *nats.Msg) {
		var ev T
		if json.Unmarshal(m.Data, &ev) == nil {
			fn(ev)
		}
	})
}

// GetConfiguration reads the caller's configuration at keyPath (none: all).
func (c *Client) GetConfiguration(ctx context.Context, keyPath ...string) (map[string]any, error) {
	return c.GetConfigurationOf(ctx, "", keyPath...)
}

// GetConfigurationOf reads another component's configuration.
func (c *Client) GetConfigurationOf(ctx context.Context, component string, keyPath ...string) (map[string]any, error) {
	var resp wire.GetConfigurationResponse
	err := c.Call(ctx, wire.OpGetConfiguration, wire.GetConfigurationRequest{ComponentName: component, KeyPath: keyPath}, &resp)
	return resp.Value, err
}

// UpdateConfiguration merges value at keyPath of the caller's configuration,
// stamped with at (zero: now).
func (c *Client) UpdateConfiguration(ctx context.Context, keyPath []string, value map[string]any, at time.Time) error {
	raw, err := json.Marshal(value)
	if err != nil {
		return err
	}
	if at.IsZero() {
		at = time.Now()
	}
	return c.Call(ctx, wire.OpUpdateConfiguration, wire.UpdateConfigurationRequest{KeyPath: keyPath, ValueToMerge: raw, Timestamp: at.UnixMilli()}, nil)
}

// SubscribeToConfigurationUpdate calls fn for every change under keyPath of
// component ("" for the caller). The subscription lasts until the
// component's session ends or the returned subscription is unsubscribed.
func (c *Client) SubscribeToConfigurationUpdate(ctx context.Context, component string, keyPath []string, fn func(wire.ConfigurationUpdateEvent)) (*nats.Subscription, error) {
	sub, err := subscribe(c, wire.EventConfigurationUpdate, func(ev wire.ConfigurationUpdateEvents) {
		if ev.ConfigurationUpdateEvent != nil {
			fn(*ev.ConfigurationUpdateEvent)
		}
	})
	if err != nil {
		return nil, err
	}
	if err := c.nc.Flush(); err != nil {
		return nil, err
	}
	return sub, c.Call(ctx, wire.OpSubscribeToConfigurationUpdate, wire.SubscribeToConfigurationUpdateRequest{ComponentName: component, KeyPath: keyPath}, nil)
}

// SubscribeToValidateConfigurationUpdates calls fn with each configuration a
// deployment proposes; answer with SendConfigurationValidityReport.
func (c *Client) SubscribeToValidateConfigurationUpdates(ctx context.Context, fn func(wire.ValidateConfigurationUpdateEvent)) (*nats.Subscription, error) {
	sub, err := subscribe(c, wire.EventValidateConfigurationUpdates, func(ev wire.ValidateConfigurationUpdateEvents) {
		if ev.ValidateConfigurationUpdateEvent != nil {
			fn(*ev.ValidateConfigurationUpdateEvent)
		}
	})
	if err != nil {
		return nil, err
	}
	if err := c.nc.Flush(); err != nil {
		return nil, err
	}
	return sub, c.Call(ctx, wire.OpSubscribeToValidateConfigurationUpdates, nil, nil)
}

// SendConfigurationValidityReport accepts (valid) or rejects a proposed
// configuration.
func (c *Client) SendConfigurationValidityReport(ctx context.Context, deploymentID string, valid bool, message string) error {
	status := wire.ValidityAccepted
	if !valid {
		status = wire.ValidityRejected
	}
	return c.Call(ctx, wire.OpSendConfigurationValidityReport, wire.SendConfigurationValidityReportRequest{
		ConfigurationValidityReport: wire.ConfigurationValidityReport{Status: status, DeploymentID: deploymentID, Message: message}}, nil)
}

// UpdateState reports the caller RUNNING or ERRORED.
func (c *Client) UpdateState(ctx context.Context, state string) error {
	return c.Call(ctx, wire.OpUpdateState, wire.UpdateStateRequest{State: strings.ToUpper(state)}, nil)
}

// SubscribeToComponentUpdates calls fn before (PreUpdateEvent: answer with
// DeferComponentUpdate) and after (PostUpdateEvent) each deployment.
func (c *Client) SubscribeToComponentUpdates(ctx context.Context, fn func(wire.ComponentUpdatePolicyEvents)) (*nats.Subscription, error) {
	sub, err := subscribe(c, wire.EventComponentUpdates, fn)
	if err != nil {
		return nil, err
	}
	if err := c.nc.Flush(); err != nil {
		return nil, err
	}
	return sub, c.Call(ctx, wire.OpSubscribeToComponentUpdates, nil, nil)
}

// DeferComponentUpdate defers a deployment by recheck (0: go ahead).
func (c *Client) DeferComponentUpdate(ctx context.Context, deploymentID, message string, recheck time.Duration) error {
	return c.Call(ctx, wire.OpDeferComponentUpdate, wire.DeferComponentUpdateRequest{
		DeploymentID: deploymentID, Message: message, RecheckAfterMs: recheck.Milliseconds()}, nil)
}

// RestartComponent restarts a component (aws.greengrass.Cli policy).
func (c *Client) RestartComponent(ctx context.Context, name string) error {
	var resp wire.RestartComponentResponse
	if err := c.Call(ctx, wire.OpRestartComponent, wire.ComponentRequest{ComponentName: name}, &resp); err != nil {
		return err
	}
	if resp.RestartStatus != wire.RequestSucceeded {
		return &wire.Error{Code: wire.CodeService, Message: resp.Message}
	}
	return nil
}

// StopComponent stops a component (aws.greengrass.Cli policy).
func (c *Client) StopComponent(ctx context.Context, name string) error {
	var resp wire.StopComponentResponse
	if err := c.Call(ctx, wire.OpStopComponent, wire.ComponentRequest{ComponentName: name}, &resp); err != nil {
		return err
	}
	if resp.StopStatus != wire.RequestSucceeded {
		return &wire.Error{Code: wire.CodeService, Message: resp.Message}
	}
	return nil
}

// GetComponentDetails describes a component (aws.greengrass.Cli policy).
func (c *Client) GetComponentDetails(ctx context.Context, name string) (wire.ComponentDetails, error) {
	var resp wire.GetComponentDetailsResponse
	err := c.Call(ctx, wire.OpGetComponentDetails, wire.ComponentRequest{ComponentName: name}, &resp)
	return resp.ComponentDetails, err
}

// ListComponents lists the deployed components (aws.greengrass.Cli policy).
func (c *Client) ListComponents(ctx context.Context) ([]wire.ComponentDetails, error) {
	var resp wire.ListComponentsResponse
	err := c.Call(ctx, wire.OpListComponents, nil, &resp)
	return resp.Components, err
}

// CreateLocalDeployment queues a LOCAL deployment (aws.greengrass.Cli policy).
func (c *Client) CreateLocalDeployment(ctx context.Context, req wire.CreateLocalDeploymentRequest) (string, error) {
	var resp wire.CreateLocalDeploymentResponse
	err := c.Call(ctx, wire.OpCreateLocalDeployment, req, &resp)
	return resp.DeploymentID, err
}

// ListLocalDeployments lists the deployments (aws.greengrass.Cli policy).
func (c *Client) ListLocalDeployments(ctx context.Context) ([]wire.LocalDeployment, error) {
	var resp wire.ListLocalDeploymentsResponse
	err := c.Call(ctx, wire.OpListLocalDeployments, nil, &resp)
	return resp.LocalDeployments, err
}

// GetLocalDeploymentStatus reads one deployment (aws.greengrass.Cli policy).
func (c *Client) GetLocalDeploymentStatus(ctx context.Context, id string) (wire.LocalDeployment, error) {
	var resp wire.GetLocalDeploymentStatusResponse
	err := c.Call(ctx, wire.OpGetLocalDeploymentStatus, wire.GetLocalDeploymentStatusRequest{DeploymentID: id}, &resp)
	return resp.Deployment, err
}

// PutComponentMetric publishes metrics (aws.greengrass.ipc.componentmetric
// policy); they appear on the nucleus's /metrics.
func (c *Client) PutComponentMetric(ctx context.Context, metrics ...wire.Metric) error {
	return c.Call(ctx, wire.OpPutComponentMetric, wire.PutComponentMetricRequest{Metrics: metrics}, nil)
}

// GetThingShadow reads a shadow document ("" name: the classic shadow).
func (c *Client) GetThingShadow(ctx context.Context, thing, name string) (json.RawMessage, error) {
	var resp wire.ShadowResponse
	err := c.Call(ctx, wire.OpGetThingShadow, wire.ShadowRequest{ThingName: thing, ShadowName: name}, &resp)
	return resp.Payload, err
}

// UpdateThingShadow sends an AWS shadow update document.
func (c *Client) UpdateThingShadow(ctx context.Context, thing, name string, doc []byte) (json.RawMessage, error) {
	var resp wire.ShadowResponse
	err := c.Call(ctx, wire.OpUpdateThingShadow, wire.UpdateThingShadowRequest{ThingName: thing, ShadowName: name, Payload: doc}, &resp)
	return resp.Payload, err
}

// DeleteThingShadow deletes a shadow.
func (c *Client) DeleteThingShadow(ctx context.Context, thing, name string) (json.RawMessage, error) {
	var resp wire.ShadowResponse
	err := c.Call(ctx, wire.OpDeleteThingShadow, wire.ShadowRequest{ThingName: thing, ShadowName: name}, &resp)
	return resp.Payload, err
}

// ListNamedShadowsForThing lists a page of a thing's named shadows.
func (c *Client) ListNamedShadowsForThing(ctx context.Context, thing, nextToken string, pageSize int) (wire.ListNamedShadowsForThingResponse, error) {
	var resp wire.ListNamedShadowsForThingResponse
	err := c.Call(ctx, wire.OpListNamedShadowsForThing, wire.ListNamedShadowsForThingRequest{ThingName: thing, NextToken: nextToken, PageSize: pageSize}, &resp)
	return resp, err
}

// Subject turns an MQTT-style topic (a/b) into its NATS subject (a.b), the
// form PublishToTopic and SubscribeToTopic take here.
func Subject(topic string) string {
	return strings.NewReplacer("/", ".", "+", "*", "#", ">").Replace(topic)
}

// Publish is PublishToTopic: a plain publish under the component's pubsub
// permissions.
func (c *Client) Publish(topic string, data []byte) error { return c.nc.Publish(Subject(topic), data) }

// Subscribe is SubscribeToTopic.
func (c *Client) Subscribe(topic string, fn func(*nats.Msg)) (*nats.Subscription, error) {
	return c.nc.Subscribe(Subject(topic), fn)
}

// CreateMessageStream creates a stream (sward.StreamManager policy).
func (c *Client) CreateMessageStream(ctx context.Context, def wire.MessageStreamDefinition) error {
	return c.Call(ctx, wire.OpCreateMessageStream, wire.CreateMessageStreamRequest{Definition: def}, nil)
}

// DescribeMessageStream reads a stream's definition, storage and exports.
func (c *Client) DescribeMessageStream(ctx context.Context, name string) (wire.MessageStreamInfo, error) {
	var resp wire.MessageStreamInfo
	err := c.Call(ctx, wire.OpDescribeMessageStream, wire.DescribeMessageStreamRequest{StreamName: name}, &resp)
	return resp, err
}

// AppendMessage appends payload to a stream and returns its sequence number.
func (c *Client) AppendMessage(ctx context.Context, name string, payload []byte) (int64, error) {
	var resp wire.AppendMessageResponse
	err := c.Call(ctx, wire.OpAppendMessage, wire.AppendMessageRequest{StreamName: name, Payload: payload}, &resp)
	return resp.SequenceNumber, err
}

// ReadMessages reads messages of a stream as opts say.
func (c *Client) ReadMessages(ctx context.Context, name string, opts wire.ReadMessagesOptions) ([]wire.Message, error) {
	var resp wire.ReadMessagesResponse
	err := c.Call(ctx, wire.OpReadMessages, wire.ReadMessagesRequest{StreamName: name, ReadMessagesOptions: opts}, &resp)
	return resp.Messages, err
}

// PublishToIoTCore publishes payload on topic through the nucleus's AWS
// IoT Core link at qos (wire.QoSAtMostOnce or wire.QoSAtLeastOnce). With
// QoS "1" it returns once the message is in the nucleus's durable spool.
func (c *Client) PublishToIoTCore(ctx context.Context, topic, qos string, payload []byte) error {
	return c.Call(ctx, wire.OpPublishToIoTCore, wire.PublishToIoTCoreRequest{TopicName: topic, QoS: qos, Payload: payload}, nil)
}

// SubscribeToIoTCore calls fn with each message IoT Core delivers on the
// topic filter, until the component's session ends or the returned
// subscription is unsubscribed. Each subscription gets only its own
// filter's messages, so overlapping filters do not double them.
func (c *Client) SubscribeToIoTCore(ctx context.Context, filter, qos string, fn func(wire.MQTTMessage)) (*nats.Subscription, error) {
	sub, err := c.nc.Subscribe(c.env.EventPrefix+"."+wire.EventIoTCoreMessage, func(m *nats.Msg) {
		var ev wire.IoTCoreMessage
		if m.Header.Get(wire.HeaderTopicFilter) != filter || json.Unmarshal(m.Data, &ev) != nil || ev.Message == nil {
			return
		}
		fn(*ev.Message)
	})
	if err != nil {
		return nil, err
	}
	if err := c.nc.Flush(); err != nil {
		return nil, err
	}
	return sub, c.Call(ctx, wire.OpSubscribeToIoTCore, wire.SubscribeToIoTCoreRequest{TopicName: filter, QoS: qos}, nil)
}
