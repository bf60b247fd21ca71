package plan

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/internal/atomicfile"
)

// planRepository is the target whose repository t's backup went into
// (its own, or its `into` target's), when that driver keeps the plan.
func planRepository(t *drivers.Target, rt Runtime) (*drivers.Target, drivers.PlanStore, bool) {
	repo := t
	if t.Into != nil {
		repo = t.Into
	}
	ps, ok := rt.driver(repo.Driver).(drivers.PlanStore)
	return repo, ps, ok
}

// planSumFile remembers, per repository, the SHA-256 of the plan last
// stored there (in KeepDir, never swept): an unchanged plan costs no
// process. "" when the target keeps nothing between runs.
func planSumFile(repo *drivers.Target) string {
	if repo.KeepDir == "" || repo.Repository() == "" {
		return ""
	}
	// One file per repository however spelt ("/srv/borg" and "/srv/borg/"
	// on two targets): a second store of the same plan in one run would
	// fail on borg's archive name.
	where := repo.Repository()
	if filepath.IsAbs(where) {
		where = filepath.Clean(where)
	}
	id := sha256.Sum256([]byte(where))
	return filepath.Join(repo.KeepDir, "plan-stored-"+hex.EncodeToString(id[:8])+".sha256")
}

// storePlan stores the run's redacted plan (t.Plan) in the repository t
// backed up into, unless that repository has it already. It returns a
// warning when that failed: the backup stands, and the next run tries
// again.
func storePlan(ctx context.Context, t *drivers.Target, rt Runtime, log *slog.Logger) string {
	if t.Plan == nil {
		return ""
	}
	repo, ps, ok := planRepository(t, rt)
	if !ok {
		return ""
	}
	sumFile := planSumFile(repo)
	if sumFile != "" {
		if b, err := os.ReadFile(sumFile); err == nil && strings.TrimSpace(string(b)) == t.Plan.Sum {
			log.Debug("the repository has this plan already", "repository_of", repo.Name)
			return ""
		}
	}
	if err := ps.StorePlan(ctx, rt.Exec, repo, t.Plan); err != nil {
		return fmt.Sprintf("the plan was not stored in the repository of %s (the backup stands; the next run tries again): %v", repo.Name, err)
	}
	log.Info("plan stored in the repository", "repository_of", repo.Name, "sha256", t.Plan.Sum)
	if sumFile == "" {
		return ""
	}
	err := os.MkdirAll(repo.KeepDir, 0o700)
	if err == nil {
		err = atomicfile.Write(sumFile, []byte(t.Plan.Sum+"\n"), 0o600)
	}
	if err != nil {
		return fmt.Sprintf("the plan was stored in the repository of %s, but not remembered, so the next run stores it again: %v", repo.Name, err)
	}
	return ""
}

// storePlanSteps is storePlan for --dry-run.
func storePlanSteps(t *drivers.Target, rt Runtime) []drivers.Step {
	if t.Plan == nil {
		return nil
	}
	repo, ps, ok := planRepository(t, rt)
	if !ok {
		return nil
	}
	note := drivers.Step{Phase: drivers.PhaseBackup, Note: "store the plan (secrets masked) in the repository of " + repo.Name +
		" unless its SHA-256 is the one last stored there (state_dir/keep); a failure is a warning:"}
	return append([]drivers.Step{note}, ps.StorePlanSteps(repo, t.Plan)...)
}
