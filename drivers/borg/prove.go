package borg

import (
	"context"
	"fmt"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/drivers/internal/drill"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
)

var _ drivers.RestoreProver = Driver{}

// ProveRestore compares every regular file (and symlink) of archive
// req.From, only those below req.Paths when given, with the file at its
// path below req.To: its size and the SHA-256 borg 1.2 computes from the
// archive's chunks (`borg list --format={size}{sha256}` reads each
// chunk out of the repository and checks its id and MAC), not what the
// extract reported. A hard link is compared with its source's content.
func (b Driver) ProveRestore(ctx context.Context, x proc.Executor, t *drivers.Target, req drivers.RestoreRequest) (drivers.RestoreProof, error) {
	if err := b.ready(t); err != nil {
		return drivers.RestoreProof{}, err
	}
	archive, err := b.findArchive(ctx, x, t, req.From)
	if err != nil {
		return drivers.RestoreProof{}, err
	}
	items, err := b.listItems(ctx, x, t, archive, "{size}{sha256}{linktarget}", borgArchivePaths(req.Paths))
	if err != nil {
		return drivers.RestoreProof{}, err
	}
	p := &drill.Prover{Tool: "borg", Backup: "archive " + archive, Root: req.To}
	content := map[string]borgItem{}
	for _, it := range items {
		if borgRegular(it) {
			content[it.Path] = it
		}
	}
	for _, it := range items {
		switch {
		case it.Type == "-":
			src := it
			if it.Source != "" { // a hard link: borg lists its content under its source
				src = content[it.Source]
			}
			if src.SHA256 == "" {
				return drivers.RestoreProof{}, fmt.Errorf("borg list of %s gave no SHA-256 for %s", archive, it.Path)
			}
			if err := p.File(it.Path, src.Size, src.SHA256); err != nil {
				return drivers.RestoreProof{}, err
			}
		case it.Type == "l":
			if err := p.Symlink(it.Path, it.LinkTarget); err != nil {
				return drivers.RestoreProof{}, err
			}
		}
	}
	if p.Files == 0 {
		return drivers.RestoreProof{}, fmt.Errorf("borg: archive %s holds no regular file to prove", archive)
	}
	return drivers.RestoreProof{Checked: p.Files,
		Detail: fmt.Sprintf("%d files match archive %s (size and the SHA-256 borg computes from its chunks)", p.Files, archive)}, nil
}

var _ drivers.FileRecoverer = Driver{}

// RecoverPaths are the target's `paths`: an archive holds them at their
// absolute paths (without the leading "/").
func (Driver) RecoverPaths(t *drivers.Target) []string { return t.Settings.List("paths") }

// RecoverRank: borg after restic. Its chunks are checked by id and MAC
// too, and its archives carry their point in their comment.
func (Driver) RecoverRank() int { return 2 }
