package plan

import (
	"context"
	"time"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
)

// Rotation decides what each verify reads besides the new backup, and
// remembers what was read: the state keeps it across runs.
type Rotation interface {
	// Scope is the slice of everything else t's next verify reads.
	Scope(t *drivers.Target) drivers.Scope
	// WholeReadAt is when everything t keeps was last read, counting the
	// verify that read cov at at; nil while some slice was never read.
	WholeReadAt(t *drivers.Target, cov drivers.Coverage, at time.Time) *time.Time
}

// fullRotation reads everything every time: what verify --full, and a
// runner without state, do.
type fullRotation struct{}

func (fullRotation) Scope(*drivers.Target) drivers.Scope { return drivers.FullScope }
func (fullRotation) WholeReadAt(_ *drivers.Target, cov drivers.Coverage, at time.Time) *time.Time {
	if cov.Full {
		return &at
	}
	return nil
}

// FullRotation is the Rotation of verify --full.
var FullRotation Rotation = fullRotation{}

// CoverageReport is what a target's verify read, in the report.
type CoverageReport struct {
	// Full: everything the target keeps was read.
	Full bool `json:"full"`
	// Slice: the part of the rest that was read besides what the backup
	// wrote (0 when Full); Cycle: the target's verify_cycle.
	Slice int `json:"slice,omitempty"`
	// Slices: the parts read, when a verify read several or none of its
	// own choosing (borg's partial check reads on from where it stopped).
	Slices []int  `json:"slices,omitempty"`
	Cycle  int    `json:"cycle"`
	Detail string `json:"detail,omitempty"`
	// Memo is the driver's note for the target's next verify, which the
	// state keeps (drivers.Coverage.Memo); not part of the report.
	Memo string `json:"-"`
	// WholeReadAt is when every byte the target keeps was last read
	// (this run included); null until a whole cycle has been read.
	WholeReadAt *time.Time `json:"whole_read_at"`
}

// verifyWith verifies a (the new backup, or the latest when empty) of t:
// a driver that can read slices reads the rotation's, others read
// everything their Verify reads.
func verifyWith(ctx context.Context, d drivers.Driver, x proc.Executor, t *drivers.Target, a drivers.Artifact, rot Rotation) (*CoverageReport, error) {
	if rot == nil {
		rot = FullRotation
	}
	sv, ok := d.(drivers.ScopedVerifier)
	if !ok {
		// Its Verify reads the backup whole; it keeps no slices.
		return nil, d.Verify(ctx, x, t, a)
	}
	cov, err := sv.VerifyScoped(ctx, x, t, a, rot.Scope(t))
	if err != nil {
		return nil, err
	}
	slice := cov.Slice
	if cov.Full {
		slice = 0
	}
	var slices []int
	if !cov.Full && len(cov.Slices) > 0 {
		slices = cov.Slices
	}
	return &CoverageReport{Full: cov.Full, Slice: slice, Slices: slices, Cycle: max(t.VerifyCycle, 1), Detail: cov.Detail,
		Memo: cov.Memo, WholeReadAt: rot.WholeReadAt(t, cov, time.Now().UTC())}, nil
}
