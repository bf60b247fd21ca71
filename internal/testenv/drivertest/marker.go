package drivertest

import (
	"context"
	"strings"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
)

// MarkerOK runs every command through X except those that move or read a
// mirror's recovery-point marker (they name drivers.MirrorPointMarker), which succeed
// with no output: a mirror without a marker. Tests that script one tool
// result for every command use it so the marker's commands do not get
// the scripted failure.
type MarkerOK struct{ X proc.Executor }

func (m MarkerOK) Run(ctx context.Context, c proc.Command) (proc.Result, error) {
	for _, a := range c.Args {
		if strings.HasSuffix(a, drivers.MirrorPointMarker) && !strings.HasPrefix(a, "--exclude=") {
			return proc.Result{Command: c.String()}, nil
		}
	}
	return m.X.Run(ctx, c)
}
