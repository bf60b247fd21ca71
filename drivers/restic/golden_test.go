package restic_test

import (
	"flag"
	"testing"

	"github.com/alexandria-backup/alexandria-backup/internal/testenv/drivertest"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestGolden pins the exact commands the driver runs for the plans in
// testdata/golden (make golden rewrites them after an intended change).
func TestGolden(t *testing.T) {
	drivertest.Golden(t, *update)
}
