package cli

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/sward-iot/sward/edge/control"
)

func newCloudCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cloud",
		Short: "Inspect the running nucleus's link to AWS IoT Core",
	}
	status := queryCommand("status", "Show the IoT Core link: connected since, endpoint, spool depth and bytes, last error", noOperands,
		func(ctx context.Context, c *control.Client, _ []string) (control.CloudStatus, error) {
			return c.CloudStatus(ctx)
		},
		writeCloudStatus)
	cmd.AddCommand(status)
	return cmd
}

// writeCloudStatus prints the link's state, one figure a line.
func writeCloudStatus(w io.Writer, s control.CloudStatus) error {
	if !s.Configured {
		_, err := fmt.Fprintln(w, "Link: not configured (start the nucleus with `sward run --config FILE` naming iotDataEndpoint and the device certificate)")
		return err
	}
	link := "disconnected"
	if s.Connected {
		link = "connected since " + s.ConnectedSince.Local().Format(time.RFC3339)
	}
	spool := fmt.Sprintf("%d messages, %d of %d bytes", s.SpoolMessages, s.SpoolBytes, s.SpoolMaxBytes)
	if s.SpoolMessages < 0 {
		spool = "unreadable (see the nucleus log)"
	}
	lastErr := "none"
	if s.LastError != "" {
		lastErr = s.LastError + " (" + s.LastErrorAt.Local().Format(time.RFC3339) + ")"
	}
	rows := [][2]string{{"Link", link}, {"Endpoint", s.Endpoint}, {"Client id", s.ClientID},
		{"Connections", fmt.Sprint(s.Connections)}, {"Spool", spool}, {"Last error", lastErr}}
	if s.LastDrop != "" {
		rows = append(rows, [2]string{"Last drop", s.LastDrop + " (" + s.LastDropAt.Local().Format(time.RFC3339) + ")"})
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, r := range rows {
		fmt.Fprintf(tw, "%s:\t%s\n", r[0], r[1])
	}
	return tw.Flush()
}
