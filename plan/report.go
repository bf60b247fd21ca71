package plan

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/alexandria-backup/alexandria-backup/internal/proc"
	"github.com/hashicorp/go-multierror"
)

// Target and run outcomes: the one status vocabulary of the report, the
// state file, `status`, hooks (ALEXANDRIA_BACKUP_STATUS) and pings; the
// metrics encode it as a number.
const (
	StatusOK          = "ok"
	StatusWarning     = "warning"
	StatusFailed      = "failed"
	StatusSkipped     = "skipped"
	StatusInterrupted = "interrupted"
	// StatusNotStarted is a run that never got to its targets (an invalid
	// plan, an unknown plan name): hooks and pings say so; no report does.
	StatusNotStarted = "not-started"
)

// Report is the JSON run report of SPEC.md.
type Report struct {
	// Command is "run" or "drill".
	Command string `json:"command"`
	Plan    string `json:"plan"`
	// Point is the recovery point this run recorded (a run's id, which
	// its backups carry: drivers.NewPoint); "" for a drill.
	Point           string         `json:"point,omitempty"`
	Status          string         `json:"status"`
	StartedAt       time.Time      `json:"started_at"`
	FinishedAt      time.Time      `json:"finished_at"`
	DurationSeconds float64        `json:"duration_seconds"`
	Targets         []TargetReport `json:"targets"`
}

// TargetReport is one target's outcome.
type TargetReport struct {
	Name            string  `json:"name"`
	Driver          string  `json:"driver"`
	Status          string  `json:"status"`
	DurationSeconds float64 `json:"duration_seconds"`
	// Attempts is how many times the backup was tried (retries).
	Attempts int     `json:"attempts,omitempty"`
	Artifact *string `json:"artifact"`
	// EarlierArtifact: Artifact is an earlier run's backup, not this
	// run's (drivers.Artifact.Earlier); the run's recovery point does not
	// hold it.
	EarlierArtifact bool   `json:"earlier_artifact,omitempty"`
	Bytes           *int64 `json:"bytes"`
	Verified        bool   `json:"verified"`
	// Coverage is what the verify read: the new backup, and which slice
	// of the rest (nil when the driver reads no slices, or no verify ran).
	Coverage *CoverageReport `json:"coverage,omitempty"`
	Pruned   bool            `json:"pruned"`
	// Reclaimed names the restic or borg target whose repository's space
	// the retention reclaimed (restic's --prune or borg compact ran).
	Reclaimed string   `json:"reclaimed,omitempty"`
	Warnings  []string `json:"warnings"`
	Error     *string  `json:"error"`
	// Drill is the restore drill's outcome, when one ran.
	Drill *DrillReport `json:"drill,omitempty"`
	// Log is the target's own log file of this run: every message about
	// it and each command it ran with the end of that command's output.
	Log string `json:"log,omitempty"`
}

// DrillReport is a restore drill's outcome for one target.
type DrillReport struct {
	Status   string  `json:"status"` // ok or failed
	Artifact string  `json:"artifact,omitempty"`
	Checked  int     `json:"checked"`
	Detail   string  `json:"detail,omitempty"`
	Error    *string `json:"error"`
}

func seconds(d time.Duration) float64 { return float64(d.Milliseconds()) / 1000 }

// finish sets the run's status from its targets: failed beats warning
// beats ok; interrupted when the run was stopped.
func (r *Report) finish(interrupted bool) {
	r.FinishedAt = time.Now().UTC()
	r.DurationSeconds = seconds(r.FinishedAt.Sub(r.StartedAt))
	r.Status = StatusOK
	for i := range r.Targets {
		r.Targets[i].maskURLPasswords()
	}
	for _, t := range r.Targets {
		switch t.Status {
		case StatusFailed, StatusSkipped:
			r.Status = StatusFailed
		case StatusWarning:
			if r.Status == StatusOK {
				r.Status = StatusWarning
			}
		}
	}
	if interrupted {
		r.Status = StatusInterrupted
	}
}

// maskURLPasswords hides the password of any URL in what the report says
// of a target. Plans refuse such URLs and tools' stderr is masked as it is
// read; this is the last line, before the report is written, printed,
// kept in the state file or sent.
func (t *TargetReport) maskURLPasswords() {
	mask := func(p *string) *string {
		if p == nil {
			return nil
		}
		m := proc.MaskURLPasswords(*p)
		return &m
	}
	t.Artifact, t.Error = mask(t.Artifact), mask(t.Error)
	for i, w := range t.Warnings {
		t.Warnings[i] = proc.MaskURLPasswords(w)
	}
	if d := t.Drill; d != nil {
		d.Artifact, d.Detail, d.Error = proc.MaskURLPasswords(d.Artifact), proc.MaskURLPasswords(d.Detail), mask(d.Error)
	}
}

// Err is the run's combined error: one line per failed or skipped target,
// or nil when none failed.
func (r *Report) Err() error {
	var m *multierror.Error
	for _, t := range r.Targets {
		if t.Error != nil && (t.Status == StatusFailed || t.Status == StatusSkipped) {
			m = multierror.Append(m, fmt.Errorf("%s: %s", t.Name, *t.Error))
		}
	}
	if m == nil {
		return nil
	}
	total := len(r.Targets)
	m.ErrorFormat = func(errs []error) string {
		lines := make([]string, len(errs))
		for i, e := range errs {
			lines[i] = "  - " + e.Error()
		}
		return fmt.Sprintf("%d of %d targets did not succeed:\n%s", len(errs), total, strings.Join(lines, "\n"))
	}
	return m.ErrorOrNil()
}

// Write saves the report under stateDir/reports, atomically, and returns
// its path.
func (r *Report) Write(stateDir string) (string, error) {
	dir := filepath.Join(stateDir, "reports")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return "", err
	}
	name := fmt.Sprintf("%s-%s.json", r.Plan, r.StartedAt.Format("20060102T150405.000Z"))
	if r.Command == "drill" {
		name = "drill-" + name
	}
	path := filepath.Join(dir, name)
	return path, writeAtomic(path, append(data, '\n'))
}

// writeAtomic writes a file under a temporary name, syncs it and renames
// it into place, so a reader never sees half a file.
func writeAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
