package restic

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/internal/humanize"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
)

// resticStore is the restic side of streamed dumps (stream.go): a pg_dump
// target's dumps and their manifests in a restic repository.
type resticStore struct{}

func (resticStore) Tool() string { return "restic" }

func (resticStore) Ready(t *drivers.Target) error {
	if err := drivers.CheckSecrets(t.Into); err != nil {
		return fmt.Errorf("target %s: %w", t.Into.Name, err)
	}
	return nil
}

// resticTime is restic's --time: local time, whole seconds.
func resticTime(ts time.Time) string { return ts.Local().Format("2006-01-02 15:04:05") }

// resticStreamArgs are the flags both snapshots of a dump share: the
// restic target's host, the pg_dump target's tag, the dump's time.
func resticStreamArgs(t *drivers.Target, m *drivers.DumpManifest, name string) []string {
	when := "<dump start, local time>"
	if !m.CreatedAt.IsZero() {
		when = resticTime(m.CreatedAt)
	}
	args := []string{"backup", "--json"}
	if !t.Progress || name != drivers.StreamDumpName(t) {
		args = append(args, "--quiet") // restic reports progress only without it
	}
	args = append(args, "--stdin", "--stdin-filename="+name,
		"--host="+resticHost(t.Into), "--tag="+resticTag(t), "--time="+when)
	return append(args, pointTags(t)...)
}

// StoreCommand: restic backup --stdin. Any exit but 0 is an error (3 would
// mean restic could not read all of its input).
func (resticStore) StoreCommand(t *drivers.Target, m *drivers.DumpManifest, dir string) proc.Command {
	c := Driver{}.cmd(t.Into, resticStreamArgs(t, m, drivers.StreamDumpName(t))...)
	c.Progress = &proc.ProgressReader{Parse: parseResticStatus}
	return c
}

// manifestCommand stores the manifest of dump snapshot shortID (from data).
func (resticStore) manifestCommand(t *drivers.Target, m *drivers.DumpManifest, shortID string, data []byte) proc.Command {
	args := append(resticStreamArgs(t, m, drivers.StreamManifestName(t)), "--tag="+drivers.StreamManifestTag+shortID)
	c := Driver{}.cmd(t.Into, args...)
	if data != nil {
		c.Stdin = bytes.NewReader(data)
	}
	return c
}

func resticShortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

func (resticStore) StoredID(t *drivers.Target, res proc.Result, m *drivers.DumpManifest) (string, error) {
	sum, err := resticSummary(res.Stdout)
	if err != nil {
		return "", fmt.Errorf("restic backup exited %d but %v", res.ExitCode, err)
	}
	return resticShortID(sum.SnapshotID), nil
}

// KeepManifest stores the manifest as a snapshot of its own (see
// ManifestInArchive), with restic backup's shared lock.
func (s resticStore) KeepManifest(ctx context.Context, x proc.Executor, t *drivers.Target, id string, m *drivers.DumpManifest) error {
	data, err := m.Marshal()
	if err == nil {
		_, err = x.Run(ctx, s.manifestCommand(t, m, id, data))
	}
	if err != nil {
		return fmt.Errorf("storing the manifest of dump %s failed: %w", id, err)
	}
	return nil
}

func (resticStore) forgetIDs(t *drivers.Target, ids ...string) proc.Command {
	return Driver{}.cmd(t.Into, append([]string{"forget", "--prune", "--"}, ids...)...)
}

// discard: a restic stopped mid-stream commits nothing. Stopped with
// SIGINT (Restic.cmd), 0.14 removes its lock and exits 130, except that a
// SIGINT arriving while it is still taking the lock leaves that lock (seen
// when pg_dump fails at once); killed (SIGKILL after the grace period) it
// always leaves it. So after either, the lock policy removes locks of
// processes on this host that are gone (and nothing it promised to keep).
// A snapshot it did commit (it read the whole dump but then failed) is
// removed.
func (s resticStore) Discard(ctx context.Context, x proc.Executor, t *drivers.Target, res proc.Result, m *drivers.DumpManifest) error {
	var errs []error
	if resticStopped(res) {
		if _, err := (Driver{}).applyLockPolicy(ctx, x, t.Into); err != nil {
			errs = append(errs, fmt.Errorf("removing the stopped restic's lock: %w", err))
		}
	}
	if sum, err := resticSummary(res.Stdout); err == nil {
		if _, err := x.Run(ctx, s.forgetIDs(t, sum.SnapshotID)); err != nil {
			errs = append(errs, fmt.Errorf("removing snapshot %s of the failed dump: %w (remove it by hand: restic forget --prune %s)", sum.SnapshotID, err, sum.SnapshotID))
		}
	}
	return errors.Join(errs...)
}

type resticStreamSnapshot struct {
	Time    time.Time `json:"time"`
	ID      string    `json:"id"`
	ShortID string    `json:"short_id"`
	Paths   []string  `json:"paths"`
	Tags    []string  `json:"tags"`
}

func (resticStore) List(ctx context.Context, x proc.Executor, t *drivers.Target) ([]drivers.StreamedDump, error) {
	cmd := Driver{}.cmd(t.Into, append(append([]string{"snapshots", "--json"}, noLock(t)...), "--host="+resticHost(t.Into), "--tag="+resticTag(t))...)
	cmd.StdoutTail = 64 << 20
	res, err := x.Run(ctx, cmd)
	if err != nil {
		return nil, err
	}
	var snaps []resticStreamSnapshot
	if err := json.Unmarshal(res.Stdout, &snaps); err != nil {
		return nil, fmt.Errorf("restic snapshots: unreadable JSON: %v", err)
	}
	manifests := map[string]string{} // dump short id → manifest short id
	for _, s := range snaps {
		for _, tag := range s.Tags {
			if dump, ok := strings.CutPrefix(tag, drivers.StreamManifestTag); ok && len(s.Paths) == 1 && s.Paths[0] == "/"+drivers.StreamManifestName(t) {
				manifests[dump] = s.ShortID
			}
		}
	}
	var out []drivers.StreamedDump
	for _, s := range snaps {
		if len(s.Paths) == 1 && s.Paths[0] == "/"+drivers.StreamDumpName(t) {
			out = append(out, drivers.StreamedDump{ID: s.ShortID, FullID: s.ID, Time: s.Time, Manifest: manifests[resticShortID(s.ShortID)], Point: drivers.PointFromLabels(s.Tags...)})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.After(out[j].Time) })
	return out, nil
}

func (resticStore) ReadManifest(ctx context.Context, x proc.Executor, t *drivers.Target, d drivers.StreamedDump) (*drivers.DumpManifest, error) {
	if d.Manifest == "" {
		return nil, fmt.Errorf("dump %s has no manifest snapshot (tag %s%s) in %s", d.ID, drivers.StreamManifestTag, d.ID, t.Into.Name)
	}
	cmd := Driver{}.cmd(t.Into, "dump", "--", d.Manifest, "/"+drivers.StreamManifestName(t))
	cmd.StdoutTail = 64 << 20
	res, err := x.Run(ctx, cmd)
	if err != nil {
		return nil, err
	}
	m, err := drivers.ParseDumpManifest(res.Stdout)
	if err != nil {
		return nil, fmt.Errorf("the manifest of dump %s (snapshot %s): %w", d.ID, d.Manifest, err)
	}
	return m, nil
}

func (resticStore) StreamCommand(t *drivers.Target, d drivers.StreamedDump) proc.Command {
	return Driver{}.cmd(t.Into, "dump", "--", d.ID, "/"+drivers.StreamDumpName(t))
}

func (resticStore) Extract(ctx context.Context, x proc.Executor, t *drivers.Target, d drivers.StreamedDump, dir string) (string, error) {
	_, err := x.Run(ctx, Driver{}.cmd(t.Into, "restore", "--target="+dir, "--include=/"+drivers.StreamDumpName(t), "--", d.ID))
	return filepath.Join(dir, drivers.StreamDumpName(t)), err
}

// forgetCommand: --group-by host,paths makes the dumps one group and their
// manifests another, thinned by the same rules at the same times.
// keep_days is restic's --keep-within, counted back from the newest dump,
// so the newest is always kept.
func (resticStore) forgetCommand(t *drivers.Target, dryRun, reclaim bool) proc.Command {
	args := []string{"forget", "--json", "--host=" + resticHost(t.Into), "--tag=" + resticTag(t), "--group-by=host,paths"}
	if n := t.Settings.Int("keep_last", 0); n > 0 {
		args = append(args, "--keep-last="+strconv.Itoa(n))
	}
	if n := t.Settings.Int("keep_days", 0); n > 0 {
		args = append(args, "--keep-within="+strconv.Itoa(n)+"d")
	}
	args = append(args, keepPointArgs(t)...) // the dump and its manifest carry the point
	if dryRun {
		args = append(args, "--dry-run")
	} else if reclaim {
		args = append(args, "--prune")
	}
	return Driver{}.cmd(t.Into, args...)
}

func (s resticStore) PruneSteps(t *drivers.Target) []drivers.Step {
	if t.Settings.Int("keep_last", 0) == 0 && t.Settings.Int("keep_days", 0) == 0 {
		return nil
	}
	c := s.forgetCommand(t, false, true)
	return append([]drivers.Step{{Phase: drivers.PhasePrune, Command: &c}}, reclaimNote(t.Into)...)
}

func (s resticStore) Prune(ctx context.Context, x proc.Executor, t *drivers.Target, dryRun bool) (drivers.PruneResult, error) {
	// The repository is the restic target's: so is its reclaim policy.
	reclaim := drivers.ReclaimDue(t, t.Into)
	cmd := s.forgetCommand(t, dryRun, reclaim)
	cmd.StdoutTail = 32 << 20
	res, err := x.Run(ctx, cmd)
	if err != nil {
		return drivers.PruneResult{}, err
	}
	first, _, _ := bytes.Cut(res.Stdout, []byte("\n"))
	var groups []struct {
		Paths  []string         `json:"paths"`
		Keep   []resticSnapshot `json:"keep"`
		Remove []resticSnapshot `json:"remove"`
	}
	if err := json.Unmarshal(first, &groups); err != nil {
		return drivers.PruneResult{}, fmt.Errorf("restic forget: unreadable JSON: %v", err)
	}
	out := drivers.PruneResult{Policy: true}
	for _, g := range groups {
		// Only the dumps count; their manifests go with them.
		if len(g.Paths) != 1 || g.Paths[0] != "/"+drivers.StreamDumpName(t) {
			continue
		}
		out.Kept += len(g.Keep)
		for _, r := range g.Remove {
			out.Removed = append(out.Removed, r.ShortID)
		}
	}
	if !dryRun && reclaim && len(out.Removed) > 0 {
		out.Reclaimed = t.Into.Name
	}
	return out, nil
}

// The manifest is a second snapshot beside the dump's, not a file in the
// same one: restic 0.14's backup --stdin stores exactly one file and
// refuses paths beside it ("--stdin was specified and files/dirs were
// listed as arguments"), and the manifest's SHA-256 and size are known
// only once the stream has ended. Tags instead (restic tag) would cost a
// process all the same, and rewrite the dump's snapshot under a new id.
func (resticStore) ManifestInArchive() bool { return false }

// restic's --time is local time, shown as a placeholder.
func (resticStore) DryRunManifest(t *drivers.Target) *drivers.DumpManifest {
	return &drivers.DumpManifest{Target: t.Name}
}

func (resticStore) PreflightSteps(t *drivers.Target) []drivers.Step {
	return []drivers.Step{{Phase: drivers.PhasePreflight, Note: "apply restic target " + t.Into.Name + "'s stale-lock policy to its repository (stale_lock_age " + humanize.Duration(staleLockAge(t.Into)) + ")"}}
}

func (resticStore) ManifestSteps(t *drivers.Target, m *drivers.DumpManifest) []drivers.Step {
	manifest := resticStore{}.manifestCommand(t, m, "<dump id>", nil)
	return []drivers.Step{{Phase: drivers.PhaseBackup, Command: &manifest},
		{Phase: drivers.PhaseBackup, Note: "(standard input: the manifest; if it cannot be stored, the dump snapshot is removed again)"}}
}
