package control

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
)

// Client calls the control API of one running nucleus.
type Client struct {
	nc *nats.Conn
}

// dialTimeout bounds how long the CLI waits for a nucleus that has a
// credential file but does not answer: long enough for a busy 4-core board,
// short enough that a dead nucleus is reported at once to a person.
const dialTimeout = 2 * time.Second

// Dial connects to the nucleus whose root folder is root, using the admin
// credential it wrote there. A nucleus that is not running yields an error
// wrapping ErrNotRunning.
func Dial(root string) (*Client, error) {
	nc, err := DialConn(root)
	if err != nil {
		return nil, err
	}
	return &Client{nc: nc}, nil
}

// DialConn is Dial's admin connection itself, for the requests the control
// API does not wrap (the shadow topics, the stream manager's admin API).
func DialConn(root string) (*nats.Conn, error) { return DialConnCA(root, "") }

// DialCA is Dial verifying the nucleus's TLS certificate with caFile (PEM)
// rather than the bundle the nucleus published (Credential.TLSCA).
func DialCA(root, caFile string) (*Client, error) {
	nc, err := DialConnCA(root, caFile)
	if err != nil {
		return nil, err
	}
	return &Client{nc: nc}, nil
}

// DialConnCA is DialConn with DialCA's caFile.
func DialConnCA(root, caFile string) (*nats.Conn, error) {
	cred, err := ReadCredential(root)
	if err != nil {
		return nil, err
	}
	opts := []nats.Option{
		nats.UserInfo(cred.User, cred.Password),
		nats.Timeout(dialTimeout),
		nats.Name("sward-cli"),
		nats.NoReconnect(),
	}
	if caFile == "" {
		caFile = cred.TLSCA
	}
	if caFile != "" {
		opts = append(opts, nats.Secure(&tls.Config{MinVersion: tls.VersionTLS12, ServerName: cred.TLSServerName}), nats.RootCAs(caFile))
	}
	nc, err := nats.Connect(cred.NATSURL, opts...)
	if err != nil {
		return nil, fmt.Errorf("%w at root %s (%s does not answer: %v): start it with `sward run --root %s`", ErrNotRunning, root, cred.NATSURL, err, root)
	}
	return nc, nil
}

// NewClient wraps an existing connection (for tests and in-process callers).
func NewClient(nc *nats.Conn) *Client { return &Client{nc: nc} }

// Close closes the connection if the client opened it.
func (c *Client) Close() { c.nc.Close() }

// Components lists every component the nucleus runs, sorted by name.
func (c *Client) Components(ctx context.Context) ([]Component, error) {
	var out []Component
	err := c.call(ctx, SubjectComponentList, struct{}{}, &out)
	return out, err
}

// Component returns one component's details.
func (c *Client) Component(ctx context.Context, name string) (Component, error) {
	var out Component
	err := c.call(ctx, SubjectComponentDetails, ComponentRequest{Name: name}, &out)
	return out, err
}

// Restart restarts a component and returns its state afterwards.
func (c *Client) Restart(ctx context.Context, name string) (Component, error) {
	var out Component
	err := c.call(ctx, SubjectComponentRestart, ComponentRequest{Name: name}, &out)
	return out, err
}

// Stop stops a component and returns the state it ended in (FINISHED, or
// BROKEN, which a stop leaves as it is), or STOPPING when it was still
// stopping after StopWait.
func (c *Client) Stop(ctx context.Context, name string) (Component, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, StopWait+requestTimeout)
		defer cancel()
	}
	var out Component
	err := c.call(ctx, SubjectComponentStop, ComponentRequest{Name: name}, &out)
	return out, err
}

// requestTimeout bounds one control request when ctx has no deadline.
const requestTimeout = 10 * time.Second

func (c *Client) call(ctx context.Context, subject string, req, out any) error {
	data, err := json.Marshal(req)
	if err != nil {
		return err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, requestTimeout)
		defer cancel()
	}
	msg, err := c.nc.RequestWithContext(ctx, subject, data)
	if errors.Is(err, nats.ErrNoResponders) {
		return fmt.Errorf("%w: nothing answers %s", ErrNotRunning, subject)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", subject, err)
	}
	var resp response
	if err := json.Unmarshal(msg.Data, &resp); err != nil {
		return fmt.Errorf("%s: reply is not valid JSON: %w", subject, err)
	}
	if resp.Error != nil {
		return resp.Error
	}
	return json.Unmarshal(resp.Result, out)
}
