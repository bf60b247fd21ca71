package drivers

import (
	"context"
	"errors"

	"github.com/alexandria-backup/alexandria-backup/internal/proc"
)

// The plan in the repositories: a run stores its plan file, secrets
// masked (plan.StoredPlan), in every restic and borg repository it backs
// up into, as a small backup of its own, so that a repository and its
// password alone bootstrap a new machine (`recover --from-repository`).

// PlanLabel marks the backup that holds the plan: restic's tag, the start
// of borg's archive name ("alexandria-plan@<point>"). No target carries
// it (the plan loader reserves the name), so no retention, listing or
// recovery point of a target ever includes the plan's backup.
const PlanLabel = "alexandria-plan"

// PlanFileName is the plan's file name inside its backup.
const PlanFileName = "alexandria-backup.toml"

// PlanCopy is the redacted plan a run stores (Target.Plan).
type PlanCopy struct {
	Point string // the run's recovery point, which the backup carries
	Text  []byte // what is stored: a header, then the redacted plan
	// Sum is the SHA-256 of the redacted plan without its header: a
	// repository that has it already is not written to again.
	Sum string
}

// PlanSource is a repository to fetch a stored plan from, on a machine
// that has no plan: its location, and the file holding its password
// ("" : the tool's usual environment, RESTIC_PASSWORD_FILE or
// BORG_PASSPHRASE and the like).
type PlanSource struct {
	Repository   string
	PasswordFile string
}

// PlanStore is implemented by drivers whose repositories keep the plan
// (restic, borg).
type PlanStore interface {
	// StorePlan stores pc in t's repository (the text on standard
	// input, never in argv), carrying PlanLabel and pc.Point.
	StorePlan(ctx context.Context, x proc.Executor, t *Target, pc *PlanCopy) error
	// StorePlanSteps is StorePlan for --dry-run.
	StorePlanSteps(t *Target, pc *PlanCopy) []Step
	// Recognizes reports whether location certainly names a repository
	// of this driver: a local directory holding one, or a URL scheme only
	// this tool uses. No driver recognising it, or two, is ambiguous.
	Recognizes(location string) bool
	// FetchPlan returns the text of the newest plan stored in the
	// repository; ErrNoStoredPlan (wrapped) when it holds none.
	FetchPlan(ctx context.Context, x proc.Executor, from PlanSource) ([]byte, error)
}

// MaxPlanSize bounds what FetchPlan reads: a tool's output is kept as a
// bounded tail, and no plan comes near a MiB.
const MaxPlanSize = 1 << 20

// ErrPlanTooLarge: what the repository holds as the plan is no plan.
var ErrPlanTooLarge = errors.New("the stored plan is 1 MiB or larger: not a plan alexandria-backup stored")

// ErrNoStoredPlan: the repository opened, but holds no stored plan.
var ErrNoStoredPlan = errNoStoredPlan{}

type errNoStoredPlan struct{}

func (errNoStoredPlan) Error() string {
	return "the repository holds no stored plan (a run stores it after its first backup into the repository)"
}
