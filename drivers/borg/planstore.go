package borg

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
)

// The plan in a borg repository (drivers.PlanStore): an archive
// "alexandria-plan@<point>" holding one file, alexandria-backup.toml,
// read from standard input, with the run's point as its comment. Every
// selection of a target's archives is the glob "<target>@*", and the
// plan loader reserves the target name alexandria-plan: no retention,
// listing or check of a target ever includes it.

// planArchivePrefix starts the name of every archive holding the plan.
const planArchivePrefix = drivers.PlanLabel + borgSep

// planArchive names the archive of pc: its point, or the time (borg
// expands the placeholder) outside a run.
func planArchive(pc *drivers.PlanCopy) string {
	if pc.Point != "" {
		return planArchivePrefix + pc.Point
	}
	return planArchivePrefix + borgDefaultArchive
}

func (b Driver) storePlanCommand(t *drivers.Target, pc *drivers.PlanCopy) proc.Command {
	args := []string{"create", borgLockWait(t)}
	if pc.Point != "" {
		args = append(args, "--comment="+drivers.PointLabel(pc.Point))
	}
	args = append(args, "--stdin-name="+drivers.PlanFileName, "--stdin-mode=0600", "--", "::"+planArchive(pc), "-")
	c := b.cmd(t, args...)
	c.Stdin = bytes.NewReader(pc.Text)
	return c
}

func (b Driver) StorePlan(ctx context.Context, x proc.Executor, t *drivers.Target, pc *drivers.PlanCopy) error {
	if err := b.ready(t); err != nil {
		return err
	}
	_, err := x.Run(ctx, b.storePlanCommand(t, pc))
	return err
}

func (b Driver) StorePlanSteps(t *drivers.Target, pc *drivers.PlanCopy) []drivers.Step {
	c := b.storePlanCommand(t, pc)
	return []drivers.Step{{Phase: drivers.PhaseBackup, Command: &c}}
}

// borgUserHostRE is borg's scp-like user@host:path, which restic never
// takes without its sftp: prefix.
var borgUserHostRE = regexp.MustCompile(`^[^/:@]+@[^/:]+:`)

// Recognizes ssh:// and user@host:path, and a local directory whose
// config file has borg's [repository] section.
func (Driver) Recognizes(location string) bool {
	if strings.HasPrefix(location, "ssh://") || borgUserHostRE.MatchString(location) {
		return true
	}
	if !filepath.IsAbs(location) {
		return false
	}
	f, err := os.Open(filepath.Join(location, "config"))
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == "[repository]" {
			return true
		}
	}
	return false
}

// fetchTarget is a target standing for a repository named on the command
// line, to build commands the way every other one is built: the same
// answers to borg's questions (an unknown unencrypted repository is
// refused: it could be anyone's).
func fetchTarget(from drivers.PlanSource) *drivers.Target {
	s := drivers.Values{"repository": from.Repository}
	if from.PasswordFile != "" {
		s["passphrase_file"] = from.PasswordFile
	}
	return &drivers.Target{Name: drivers.PlanLabel, Settings: s}
}

// fetchCmd: without a passphrase file, borg's own BORG_PASSPHRASE or
// BORG_PASSCOMMAND reach it from our environment.
func (b Driver) fetchCmd(from drivers.PlanSource, args ...string) proc.Command {
	c := b.cmd(fetchTarget(from), args...)
	if from.PasswordFile == "" {
		c.DropEnv = slices.DeleteFunc(slices.Clone(c.DropEnv), func(n string) bool {
			return n == "BORG_PASSPHRASE" || n == "BORG_PASSCOMMAND"
		})
	}
	return c
}

func (b Driver) FetchPlan(ctx context.Context, x proc.Executor, from drivers.PlanSource) ([]byte, error) {
	t := fetchTarget(from)
	list := b.fetchCmd(from, "list", "--json", borgLockWait(t), "--glob-archives="+planArchivePrefix+"*", "--last=1")
	res, err := x.Run(ctx, list)
	if err != nil {
		return nil, err
	}
	var out struct {
		Archives []borgArchive `json:"archives"`
	}
	if err := json.Unmarshal(res.Stdout, &out); err != nil {
		return nil, fmt.Errorf("borg list: unreadable JSON: %v", err)
	}
	if len(out.Archives) == 0 {
		return nil, drivers.ErrNoStoredPlan
	}
	extract := b.fetchCmd(from, "extract", "--stdout", borgLockWait(t), "--", "::"+out.Archives[0].Name, drivers.PlanFileName)
	extract.StdoutTail = drivers.MaxPlanSize
	res, err = x.Run(ctx, extract)
	if err != nil {
		return nil, err
	}
	if len(res.Stdout) >= drivers.MaxPlanSize {
		return nil, drivers.ErrPlanTooLarge
	}
	return res.Stdout, nil
}
