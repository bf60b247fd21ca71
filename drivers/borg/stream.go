package borg

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/drivers/internal/stamped"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
)

// borgStore is the borg side of streamed dumps (stream.go): a pg_dump
// target's dumps and their manifests in a borg repository.
type borgStore struct{}

func (borgStore) Tool() string { return "borg" }

func (borgStore) Ready(t *drivers.Target) error {
	if err := (Driver{}).ready(t.Into); err != nil {
		return fmt.Errorf("target %s: %w", t.Into.Name, err)
	}
	return nil
}

func borgStreamArchive(t *drivers.Target, m *drivers.DumpManifest) string {
	return borgArchivePrefix(t) + m.CreatedAt.UTC().Format(stamped.Layout)
}

// StoreCommand: borg create of standard input, then the manifest file the
// tap writes before the end of the dump. No checkpoints
// (--checkpoint-interval=0): a partial dump is worthless, and a checkpoint
// archive would outlive a stream that failed. Every exit but 0 is an
// error: with only these two inputs, borg's warning (1) means one of them
// was not stored whole.
func (borgStore) StoreCommand(t *drivers.Target, m *drivers.DumpManifest, dir string) proc.Command {
	args := append([]string{"create", "--json"}, borgProgressArgs(t)...)
	args = append(args, borgLockWait(t.Into), "--checkpoint-interval=0")
	args = append(args, pointComment(t)...)
	if c := t.Into.Settings.Str("compression"); c != "" {
		args = append(args, "--compression="+c)
	}
	args = append(args, "--stdin-name="+drivers.StreamDumpName(t), "--stdin-mode=0600",
		"--", "::"+borgStreamArchive(t, m), "-", drivers.StreamManifestName(t))
	c := Driver{}.cmd(t.Into, args...)
	c.Dir = dir
	c.Progress = borgProgress(t)
	return c
}

func (borgStore) StoredID(t *drivers.Target, res proc.Result, m *drivers.DumpManifest) (string, error) {
	return borgStreamArchive(t, m), nil
}

// KeepManifest has nothing to do: the manifest is in the archive.
func (borgStore) KeepManifest(ctx context.Context, x proc.Executor, t *drivers.Target, id string, m *drivers.DumpManifest) error {
	return nil
}

// discard: borg stopped mid-stream commits nothing (and writes no
// checkpoint, see StoreCommand). An archive it did commit before failing
// (an exit 1, or stopped while committing) printed its name: that one,
// made by this run, is removed. Nothing is removed by name alone: a name
// that already existed makes borg fail without touching it.
func (borgStore) Discard(ctx context.Context, x proc.Executor, t *drivers.Target, res proc.Result, m *drivers.DumpManifest) error {
	var out struct {
		Archive struct {
			Name string `json:"name"`
		} `json:"archive"`
	}
	if json.Unmarshal(res.Stdout, &out) != nil || out.Archive.Name == "" {
		return nil
	}
	name := out.Archive.Name
	if _, err := x.Run(ctx, Driver{}.cmd(t.Into, "delete", borgLockWait(t.Into), "--", "::"+name)); err != nil {
		return fmt.Errorf("removing archive %s of the failed dump: %w (remove it by hand: borg delete ::%s)", name, err, name)
	}
	return nil
}

// borgView is a borg target that selects the pg_dump target's archives
// (its name) in the borg target's repository (its settings), with the
// pg_dump target's retention: Borg's own list, prune and compact then
// work on the dumps unchanged.
func borgView(t *drivers.Target) *drivers.Target {
	v := *t.Into
	v.Name = t.Name
	v.Settings = drivers.Values{}
	for k, val := range t.Into.Settings {
		if strings.HasPrefix(k, "keep_") {
			continue
		}
		v.Settings[k] = val
	}
	if n := t.Settings.Int("keep_last", 0); n > 0 {
		v.Settings["keep_last"] = n
	}
	if n := t.Settings.Int("keep_days", 0); n > 0 {
		v.Settings["keep_within"] = strconv.Itoa(n) + "d"
	}
	return &v
}

func (borgStore) List(ctx context.Context, x proc.Executor, t *drivers.Target) ([]drivers.StreamedDump, error) {
	snaps, err := Driver{}.Snapshots(ctx, x, borgView(t))
	if err != nil {
		return nil, err
	}
	out := make([]drivers.StreamedDump, 0, len(snaps))
	for _, s := range snaps {
		out = append(out, drivers.StreamedDump{ID: s.ID, Time: s.Time, Manifest: s.ID, Point: s.Point})
	}
	return out, nil
}

func (borgStore) ReadManifest(ctx context.Context, x proc.Executor, t *drivers.Target, d drivers.StreamedDump) (*drivers.DumpManifest, error) {
	cmd := Driver{}.cmd(t.Into, "extract", "--stdout", borgLockWait(t.Into), "--", "::"+d.ID, drivers.StreamManifestName(t))
	cmd.StdoutTail = 64 << 20
	res, err := x.Run(ctx, cmd)
	if err != nil {
		return nil, fmt.Errorf("reading the manifest of %s: %w", d.ID, err)
	}
	m, err := drivers.ParseDumpManifest(res.Stdout)
	if err != nil {
		return nil, fmt.Errorf("the manifest in %s: %w", d.ID, err)
	}
	return m, nil
}

func (borgStore) StreamCommand(t *drivers.Target, d drivers.StreamedDump) proc.Command {
	return Driver{}.cmd(t.Into, "extract", "--stdout", borgLockWait(t.Into), "--", "::"+d.ID, drivers.StreamDumpName(t))
}

func (borgStore) Extract(ctx context.Context, x proc.Executor, t *drivers.Target, d drivers.StreamedDump, dir string) (string, error) {
	c := Driver{}.cmd(t.Into, "extract", borgLockWait(t.Into), "--", "::"+d.ID, drivers.StreamDumpName(t))
	c.Dir = dir
	_, err := x.Run(ctx, c)
	return filepath.Join(dir, drivers.StreamDumpName(t)), err
}

func (borgStore) Prune(ctx context.Context, x proc.Executor, t *drivers.Target, dryRun bool) (drivers.PruneResult, error) {
	return Driver{}.prune(ctx, x, borgView(t), dryRun, t.Into)
}

func (borgStore) PruneSteps(t *drivers.Target) []drivers.Step {
	return Driver{}.pruneSteps(borgView(t), t.Into)
}

// One archive holds the dump and its manifest: one commit.
func (borgStore) ManifestInArchive() bool { return true }

// The archive name (UTC) holds the time; golden tests pin it.
func (borgStore) DryRunManifest(t *drivers.Target) *drivers.DumpManifest {
	return &drivers.DumpManifest{Target: t.Name, CreatedAt: drivers.Now().UTC().Truncate(time.Second)}
}

func (borgStore) PreflightSteps(*drivers.Target) []drivers.Step { return nil }

func (borgStore) ManifestSteps(*drivers.Target, *drivers.DumpManifest) []drivers.Step { return nil }
