package cli

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/internal/humanize"
)

func snapshotsCommand() *cli.Command {
	return &cli.Command{
		Name:      "snapshots",
		Usage:     "list a target's backups",
		ArgsUsage: "TARGET",
		Flags:     []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print JSON"}},
		Action:    cmdSnapshots,
	}
}

func cmdSnapshots(c *cli.Context) error {
	e, t, err := pickOne(c)
	if err != nil {
		return err
	}
	snaps, err := e.plan.Snapshots(c.Context, t, e.rt)
	if err != nil {
		return err
	}
	if c.Bool("json") {
		if snaps == nil {
			snaps = []drivers.Snapshot{}
		}
		out, _ := json.MarshalIndent(snaps, "", "  ")
		fmt.Fprintln(c.App.Writer, string(out))
		return nil
	}
	tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTIME\tSIZE")
	for _, s := range snaps {
		size := "-"
		if s.Bytes >= 0 {
			size = humanize.Bytes(s.Bytes)
		}
		at := "unknown" // a mirror without the marker of a verified sync
		if !s.Time.IsZero() {
			at = s.Time.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", s.ID, at, size)
	}
	return tw.Flush()
}
