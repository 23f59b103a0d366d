package cli

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
	"github.com/spf13/cobra"

	"github.com/sward-iot/sward/edge/stream"
	"github.com/sward-iot/sward/shared/ipc"
)

// streamRequestTimeout bounds one stream manager request besides the read
// timeout a ReadMessages asks for: the nucleus answers in milliseconds; a
// flushOnWrite append waits for one fsync.
const streamRequestTimeout = 10 * time.Second

func newStreamCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "stream",
		Short: "Create, inspect, append to and read the message streams of a running nucleus",
	}
	cmd.AddCommand(streamDefineCommand("create"), streamDefineCommand("update"),
		streamDeleteCommand(), streamDescribeCommand(), streamListCommand(),
		streamAppendCommand(), streamReadCommand())
	return cmd
}

// streamDefineCommand builds create and update: the definition comes from
// --definition (JSON, or @file) and the flags, flags winning. update starts
// from the stream's current definition.
func streamDefineCommand(verb string) *cobra.Command {
	var (
		definition  string
		maxSize     int64
		segmentSize int64
		ttl         time.Duration
		strategy    string
		persistence string
		flush       bool
		export      string
	)
	cmd := &cobra.Command{
		Use:   verb + " NAME",
		Short: map[string]string{"create": "Create a stream", "update": "Change a stream's definition (persistence cannot change)"}[verb],
		Args:  exactlyOneStream,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := ctxOf(cmd)
			var d ipc.MessageStreamDefinition
			if verb == "update" {
				var info ipc.MessageStreamInfo
				if err := streamCall(ctx, cmd, ipc.OpDescribeMessageStream, ipc.DescribeMessageStreamRequest{StreamName: args[0]}, &info, 0); err != nil {
					return err
				}
				d = info.Definition
			}
			if definition != "" {
				raw, err := inlineOrFile("--definition", definition)
				if err != nil {
					return err
				}
				if err := json.Unmarshal(raw, &d); err != nil {
					return fmt.Errorf("--definition is not a JSON stream definition: %v", err)
				}
			}
			d.Name = args[0]
			f := cmd.Flags()
			if f.Changed("max-size") {
				d.MaxSize = maxSize
			}
			if f.Changed("segment-size") {
				d.StreamSegmentSize = segmentSize
			}
			if f.Changed("ttl") {
				d.TimeToLiveMillis = ttl.Milliseconds()
			}
			if f.Changed("strategy") {
				d.StrategyOnFull = ipc.StrategyOnFull(strategy)
			}
			if f.Changed("persistence") {
				d.Persistence = ipc.Persistence(persistence)
			}
			if f.Changed("flush-on-write") {
				d.FlushOnWrite = flush
			}
			if f.Changed("export") {
				raw, err := inlineOrFile("--export", export)
				if err != nil {
					return err
				}
				d.ExportDefinition = nil
				if s := strings.TrimSpace(string(raw)); s != "" && s != "null" {
					d.ExportDefinition = &ipc.ExportDefinition{}
					if err := json.Unmarshal(raw, d.ExportDefinition); err != nil {
						return fmt.Errorf("--export is not a JSON export definition: %v", err)
					}
				}
			}
			op, req := ipc.OpCreateMessageStream, any(ipc.CreateMessageStreamRequest{Definition: d})
			if verb == "update" {
				op, req = ipc.OpUpdateMessageStream, ipc.UpdateMessageStreamRequest{Definition: d}
			}
			if err := streamCall(ctx, cmd, op, req, nil, 0); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "stream %s %sd\n", d.Name, verb)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&definition, "definition", "", "the definition as JSON, or @FILE (Greengrass MessageStreamDefinition field names)")
	f.Int64Var(&maxSize, "max-size", 0, "maximum stream size in bytes (default 256 MiB)")
	f.Int64Var(&segmentSize, "segment-size", 0, "streamSegmentSize in bytes (kept for compatibility)")
	f.DurationVar(&ttl, "ttl", 0, "drop messages older than this, at least 1m (default: keep)")
	f.StringVar(&strategy, "strategy", "", "when full: RejectNewData or OverwriteOldestData (required on create)")
	f.StringVar(&persistence, "persistence", "", "File (default) or Memory")
	f.BoolVar(&flush, "flush-on-write", false, "acknowledge appends only once fsync'd (File only)")
	f.StringVar(&export, "export", "", "the exportDefinition as JSON, or @FILE (empty: none)")
	return cmd
}

func streamDeleteCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a stream and its messages",
		Args:  exactlyOneStream,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := streamCall(ctxOf(cmd), cmd, ipc.OpDeleteMessageStream, ipc.DeleteMessageStreamRequest{StreamName: args[0]}, nil, 0); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "stream %s deleted\n", args[0])
			return nil
		},
	}
}

func streamDescribeCommand() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "describe NAME",
		Short: "Show a stream's definition, storage status and export status",
		Args:  exactlyOneStream,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			var info ipc.MessageStreamInfo
			if err := streamCall(ctxOf(cmd), cmd, ipc.OpDescribeMessageStream, ipc.DescribeMessageStreamRequest{StreamName: args[0]}, &info, 0); err != nil {
				return err
			}
			if output == "json" {
				return writeJSON(cmd.OutOrStdout(), info)
			}
			return writeStreamInfo(cmd.OutOrStdout(), info)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "table or json")
	return cmd
}

func streamListCommand() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the streams",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			var resp ipc.ListStreamsResponse
			if err := streamCall(ctxOf(cmd), cmd, ipc.OpListStreams, ipc.ListStreamsRequest{}, &resp, 0); err != nil {
				return err
			}
			if output == "json" {
				return writeJSON(cmd.OutOrStdout(), resp)
			}
			for _, s := range resp.Streams {
				fmt.Fprintln(cmd.OutOrStdout(), s)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "table or json")
	return cmd
}

func streamAppendCommand() *cobra.Command {
	var data, file string
	cmd := &cobra.Command{
		Use:   "append NAME",
		Short: "Append one message (--data, --file, or standard input) and print its sequence number",
		Args:  exactlyOneStream,
		RunE: func(cmd *cobra.Command, args []string) error {
			var payload []byte
			switch {
			case data != "" && file != "":
				return errors.New("--data and --file are exclusive: give the payload one way")
			case data != "":
				payload = []byte(data)
			case file != "":
				b, err := os.ReadFile(file)
				if err != nil {
					return fmt.Errorf("--file: %w", err)
				}
				payload = b
			default:
				b, err := io.ReadAll(cmd.InOrStdin())
				if err != nil {
					return fmt.Errorf("read the payload from standard input: %w", err)
				}
				payload = b
			}
			var resp ipc.AppendMessageResponse
			if err := streamCall(ctxOf(cmd), cmd, ipc.OpAppendMessage, ipc.AppendMessageRequest{StreamName: args[0], Payload: payload}, &resp, 0); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), resp.SequenceNumber)
			return nil
		},
	}
	cmd.Flags().StringVar(&data, "data", "", "the payload as a string")
	cmd.Flags().StringVar(&file, "file", "", "read the payload from this file")
	return cmd
}

func streamReadCommand() *cobra.Command {
	var (
		from     int64
		minCount int64
		maxCount int64
		wait     time.Duration
		output   string
	)
	cmd := &cobra.Command{
		Use:   "read NAME",
		Short: "Read messages from a sequence number on",
		Args:  exactlyOneStream,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			req := ipc.ReadMessagesRequest{StreamName: args[0], ReadMessagesOptions: ipc.ReadMessagesOptions{
				DesiredStartSequenceNumber: from, MinMessageCount: minCount, MaxMessageCount: maxCount,
				ReadTimeoutMillis: wait.Milliseconds(),
			}}
			var resp ipc.ReadMessagesResponse
			if err := streamCall(ctxOf(cmd), cmd, ipc.OpReadMessages, req, &resp, wait); err != nil {
				return err
			}
			if output == "json" {
				return writeJSON(cmd.OutOrStdout(), resp)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SEQUENCE\tINGESTED\tPAYLOAD")
			for _, m := range resp.Messages {
				fmt.Fprintf(tw, "%d\t%s\t%s\n", m.SequenceNumber, time.UnixMilli(m.IngestTime).Local().Format(time.RFC3339Nano), printable(m.Payload))
			}
			return tw.Flush()
		},
	}
	f := cmd.Flags()
	f.Int64Var(&from, "from", 0, "first sequence number (0: the oldest)")
	f.Int64Var(&minCount, "min", 0, "fail unless at least this many messages come (default 1)")
	f.Int64Var(&maxCount, "max", 0, "return at most this many (default --min)")
	f.DurationVar(&wait, "wait", 0, "wait this long for --min messages")
	f.StringVarP(&output, "output", "o", "table", "table or json (json has payloads in base64)")
	return cmd
}

// printable shows a payload as text when it is, else as base64.
func printable(p []byte) string {
	if utf8.Valid(p) && !strings.ContainsFunc(string(p), func(r rune) bool { return r < ' ' && r != '\t' }) {
		return string(p)
	}
	return "base64:" + base64.StdEncoding.EncodeToString(p)
}

func writeStreamInfo(w io.Writer, info ipc.MessageStreamInfo) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	d, s := info.Definition, info.StorageStatus
	ttl := "none"
	if d.TimeToLiveMillis > 0 {
		ttl = (time.Duration(d.TimeToLiveMillis) * time.Millisecond).String()
	}
	rows := [][2]string{
		{"Name", d.Name}, {"Max size", fmt.Sprint(d.MaxSize)}, {"Segment size", fmt.Sprint(d.StreamSegmentSize)},
		{"Time to live", ttl}, {"Strategy on full", string(d.StrategyOnFull)}, {"Persistence", string(d.Persistence)},
		{"Flush on write", fmt.Sprint(d.FlushOnWrite)},
		{"Sequence numbers", fmt.Sprintf("%d to %d", s.OldestSequenceNumber, s.NewestSequenceNumber)},
		{"Total bytes", fmt.Sprint(s.TotalBytes)},
	}
	for _, r := range rows {
		fmt.Fprintf(tw, "%s:\t%s\n", r[0], r[1])
	}
	for _, e := range info.ExportStatuses {
		status := "ok"
		if e.ErrorMessage != "" {
			status = e.ErrorMessage
		}
		fmt.Fprintf(tw, "Export %s:\tlast exported %d, %d messages, %s\n", e.ExportConfigIdentifier, e.LastExportedSequenceNumber, e.ExportedMessagesCount, status)
	}
	return tw.Flush()
}

func exactlyOneStream(cmd *cobra.Command, args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("%s takes exactly one stream name, got %d: see `sward stream list`", cmd.CommandPath(), len(args))
	}
	return nil
}

// inlineOrFile returns v, or the content of the file when v is @FILE.
func inlineOrFile(flag, v string) ([]byte, error) {
	if path, ok := strings.CutPrefix(v, "@"); ok {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", flag, err)
		}
		return b, nil
	}
	return []byte(v), nil
}

// streamCall sends one stream manager request to the admin API of the
// nucleus at --root and decodes the response into out (nil: ignore it).
// extra lengthens the wait, for reads that wait for messages.
func streamCall(ctx context.Context, cmd *cobra.Command, op string, req, out any, extra time.Duration) error {
	root := rootFlag(cmd)
	nc, err := dialConn(cmd)
	if err != nil {
		return err
	}
	defer nc.Close()
	body, err := json.Marshal(req)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, streamRequestTimeout+extra)
	defer cancel()
	msg, err := nc.RequestWithContext(ctx, stream.AdminSubject(op), body)
	if errors.Is(err, nats.ErrNoResponders) {
		return fmt.Errorf("the nucleus at root %s serves no stream manager (nothing answers %s)", root, stream.AdminSubject(op))
	}
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if e := ipc.DecodeError(msg.Data); e != nil {
		return e
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(msg.Data, out); err != nil {
		return fmt.Errorf("%s: reply is not valid JSON: %w", op, err)
	}
	return nil
}
