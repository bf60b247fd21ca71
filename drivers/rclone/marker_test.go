package rclone_test

import (
	"strings"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
)

// rcloneMarkerCommand says whether c moves or reads the recovery-point
// marker (a fake executor's tests count the other commands).
func rcloneMarkerCommand(c proc.Command) bool {
	for _, a := range c.Args {
		if strings.HasSuffix(a, drivers.MirrorPointMarker) && !strings.HasPrefix(a, "--exclude=") {
			return true
		}
	}
	return false
}
