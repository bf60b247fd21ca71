package restic

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
)

// The plan in a restic repository (drivers.PlanStore): a snapshot of one
// file, /alexandria-backup.toml, read from standard input, tagged
// alexandria-plan and with the run's point, under the target's host. It
// has no alexandria:<target> tag, which every selection of a target's
// snapshots (retention, listing, restore, copy) requires: none of them
// ever includes it.

// storePlanCommand stores pc.Text from standard input. A copy stores
// under its source's host, as its snapshots are.
func (r Driver) storePlanCommand(t *drivers.Target, pc *drivers.PlanCopy) proc.Command {
	args := []string{"backup", "--json", "--quiet", "--stdin", "--stdin-filename=" + drivers.PlanFileName,
		"--host=" + resticHost(owner(t)), "--tag=" + drivers.PlanLabel}
	if pc.Point != "" {
		args = append(args, "--tag="+drivers.PointLabel(pc.Point))
	}
	c := r.cmd(t, args...)
	c.Stdin = bytes.NewReader(pc.Text)
	return c
}

func (r Driver) StorePlan(ctx context.Context, x proc.Executor, t *drivers.Target, pc *drivers.PlanCopy) error {
	_, err := r.runWriting(ctx, x, t, r.storePlanCommand(t, pc))
	return err
}

func (r Driver) StorePlanSteps(t *drivers.Target, pc *drivers.PlanCopy) []drivers.Step {
	c := r.storePlanCommand(t, pc)
	return []drivers.Step{{Phase: drivers.PhaseBackup, Command: &c}}
}

// resticSchemeRE: the backends only restic names this way (borg's
// ssh:// and user@host:path are not among them).
var resticSchemeRE = regexp.MustCompile(`^(local|sftp|rest|s3|b2|azure|gs|swift|rclone):`)

// Recognizes a restic backend's URL, or a local directory with restic's
// config file and keys directory.
func (Driver) Recognizes(location string) bool {
	if strings.HasPrefix(location, "local:") {
		return true
	}
	if resticSchemeRE.MatchString(location) {
		return true
	}
	if !filepath.IsAbs(location) {
		return false
	}
	config, err := os.Stat(filepath.Join(location, "config"))
	keys, kerr := os.Stat(filepath.Join(location, "keys"))
	return err == nil && config.Mode().IsRegular() && kerr == nil && keys.IsDir()
}

// fetchTarget is a target standing for a repository named on the command
// line, to build commands the way every other one is built.
func fetchTarget(from drivers.PlanSource) *drivers.Target {
	s := drivers.Values{"repository": from.Repository}
	if from.PasswordFile != "" {
		s["password_file"] = from.PasswordFile
	}
	return &drivers.Target{Name: drivers.PlanLabel, Settings: s}
}

// fetchPlanCommand prints the newest stored plan. Without a password
// file, restic's own RESTIC_PASSWORD_FILE, RESTIC_PASSWORD or
// RESTIC_PASSWORD_COMMAND reach it from our environment.
func (r Driver) fetchPlanCommand(from drivers.PlanSource) proc.Command {
	c := r.cmd(fetchTarget(from), "dump", "--quiet", "latest", "--tag="+drivers.PlanLabel, "/"+drivers.PlanFileName)
	if from.PasswordFile == "" {
		c.DropEnv = dropAllBut(c.DropEnv, "RESTIC_PASSWORD", "RESTIC_PASSWORD_FILE", "RESTIC_PASSWORD_COMMAND")
	}
	c.StdoutTail = drivers.MaxPlanSize
	return c
}

func dropAllBut(names []string, keep ...string) []string {
	var out []string
	for _, n := range names {
		if !slices.Contains(keep, n) {
			out = append(out, n)
		}
	}
	return out
}

// noSnapshotRE is restic 0.14's "no snapshot found" for `latest` with a
// filter that matches none.
var noSnapshotRE = regexp.MustCompile(`(?i)no snapshot(s)? found|no matching ID found`)

func (r Driver) FetchPlan(ctx context.Context, x proc.Executor, from drivers.PlanSource) ([]byte, error) {
	res, err := x.Run(ctx, r.fetchPlanCommand(from))
	if err != nil {
		if noSnapshotRE.Match(res.Stderr) {
			return nil, errors.Join(drivers.ErrNoStoredPlan, err)
		}
		return nil, err
	}
	if len(res.Stdout) >= drivers.MaxPlanSize {
		return nil, drivers.ErrPlanTooLarge
	}
	return res.Stdout, nil
}
