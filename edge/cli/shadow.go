package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/spf13/cobra"

	"github.com/sward-iot/sward/edge/shadow"
)

// shadowTimeout bounds one shadow request: the nucleus answers in
// milliseconds; this only runs out when its shadow service is stuck.
const shadowTimeout = 10 * time.Second

// newShadowCommand is `sward shadow get|update|delete|list`: the local
// shadows over NATS request/reply on the same subjects MQTT clients use.
func newShadowCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "shadow",
		Short: "Get, update, delete and list the local device shadows of a running nucleus",
		Long: `Local shadows follow AWS IoT Device Shadow semantics. --thing names the thing
(the core device or a client device); --name a named shadow, none for the
classic shadow. Documents are AWS shadow documents, e.g.
  sward shadow update --thing lamp --document '{"state":{"desired":{"on":true}}}'
  sward shadow update --thing lamp --name cfg --document @update.json`,
	}
	var thing, name, document string
	addNames := func(c *cobra.Command) {
		c.Flags().StringVar(&thing, "thing", "", "thing name (required)")
		c.Flags().StringVar(&name, "name", "", "named shadow; empty for the classic shadow")
		_ = c.MarkFlagRequired("thing")
	}
	op := func(use, short, opName string) *cobra.Command {
		c := &cobra.Command{
			Use:   use,
			Short: short,
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				var payload []byte
				if opName == shadow.OpUpdate {
					var err error
					if payload, err = inlineOrFile("--document "+document, document); err != nil {
						return err
					}
				}
				reply, err := shadowRequest(cmd, shadow.Subject(thing, name, opName, ""), payload)
				if err != nil {
					return err
				}
				if e := rejection(reply); e != nil {
					return fmt.Errorf("shadow %s of thing %q%s rejected: %d %s", opName, thing, shadowLabel(name), e.Code, e.Message)
				}
				return writeIndented(cmd.OutOrStdout(), reply)
			},
		}
		addNames(c)
		return c
	}
	get := op("get", "Print a shadow document (state, delta, metadata, version)", shadow.OpGet)
	update := op("update", "Apply an update document (null deletes a key) and print the accepted document", shadow.OpUpdate)
	update.Flags().StringVar(&document, "document", "", `update document as JSON, or @FILE (required), e.g. '{"state":{"desired":{"on":true}}}'`)
	_ = update.MarkFlagRequired("document")
	del := op("delete", "Delete a shadow (its version continues if it is created again)", shadow.OpDelete)

	var nextToken string
	var pageSize int
	list := &cobra.Command{
		Use:   "list",
		Short: "List a thing's named shadows",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			body, _ := json.Marshal(map[string]any{"thingName": thing, "nextToken": nextToken, "pageSize": pageSize})
			reply, err := shadowRequest(cmd, shadow.SubjectList, body)
			if err != nil {
				return err
			}
			if e := rejection(reply); e != nil {
				return fmt.Errorf("shadow list of thing %q rejected: %d %s", thing, e.Code, e.Message)
			}
			var page struct {
				Results   []string `json:"results"`
				NextToken string   `json:"nextToken"`
			}
			if err := json.Unmarshal(reply, &page); err != nil {
				return fmt.Errorf("shadow list: reply is not a list (%v): %s", err, reply)
			}
			for _, n := range page.Results {
				fmt.Fprintln(cmd.OutOrStdout(), n)
			}
			if page.NextToken != "" {
				fmt.Fprintf(cmd.ErrOrStderr(), "more: sward shadow list --thing %s --next-token %s\n", thing, page.NextToken)
			}
			return nil
		},
	}
	list.Flags().StringVar(&thing, "thing", "", "thing name (required)")
	_ = list.MarkFlagRequired("thing")
	list.Flags().StringVar(&nextToken, "next-token", "", "token printed by the previous page")
	list.Flags().IntVar(&pageSize, "page-size", 0, fmt.Sprintf("names per page, 1-%d (default %d)", shadow.MaxPageSize, shadow.DefaultPageSize))

	cmd.AddCommand(get, update, del, list)
	return cmd
}

// shadowRequest sends one request to the nucleus of --root as its admin.
func shadowRequest(cmd *cobra.Command, subject string, payload []byte) ([]byte, error) {
	root := rootFlag(cmd)
	nc, err := dialConn(cmd)
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(ctxOf(cmd), shadowTimeout)
	defer cancel()
	m, err := nc.RequestWithContext(ctx, subject, payload)
	if errors.Is(err, nats.ErrNoResponders) {
		return nil, fmt.Errorf("the nucleus at root %s serves no shadows (nothing answers %s): is it a version with the shadow service?", root, subject)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", subject, err)
	}
	return m.Data, nil
}

// rejection decodes AWS's error document; nil for any other reply.
func rejection(reply []byte) *shadow.Error {
	var e struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
	if json.Unmarshal(reply, &e) != nil || e.Code == 0 {
		return nil
	}
	return &shadow.Error{Code: e.Code, Message: e.Message}
}

func shadowLabel(name string) string {
	if name == "" {
		return " (classic shadow)"
	}
	return fmt.Sprintf(" shadow %q", name)
}

func writeIndented(w io.Writer, doc []byte) error {
	var b bytes.Buffer
	if err := json.Indent(&b, doc, "", "  "); err != nil {
		_, err = fmt.Fprintf(w, "%s\n", doc)
		return err
	}
	b.WriteByte('\n')
	_, err := b.WriteTo(w)
	return err
}
