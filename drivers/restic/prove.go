package restic

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/drivers/internal/drill"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
)

var _ drivers.RestoreProver = Driver{}

// dumpCommand writes the whole snapshot id as a tar stream to w: restic
// reads every blob out of the repository and checks its hash as it does
// (entries are named by their path without the leading "/").
func (r Driver) dumpCommand(t *drivers.Target, id string, w io.Writer) proc.Command {
	c := r.cmd(t, "dump", "--archive=tar", "--", id, "/")
	c.Stdout = w
	return c
}

// ProveRestore compares every regular file (and symlink) of snapshot
// req.From, only those below req.Paths when given, with the file at its
// path below req.To: size and SHA-256 of the content restic reads out of
// the repository now (`restic dump`), not what the restore reported. It
// reads the snapshot's data once more; the files in place once.
func (r Driver) ProveRestore(ctx context.Context, x proc.Executor, t *drivers.Target, req drivers.RestoreRequest) (drivers.RestoreProof, error) {
	if err := drivers.CheckSecrets(t); err != nil {
		return drivers.RestoreProof{}, err
	}
	snap, err := r.findSnapshot(ctx, x, t, req.From)
	if err != nil {
		return drivers.RestoreProof{}, err
	}
	p := &drill.Prover{Tool: "restic", Backup: "snapshot " + snap.ShortID, Root: req.To, Paths: req.Paths}
	if req.ContentVerified {
		return r.proveVerifiedRestore(ctx, x, t, snap, p, req.VerifiedFiles)
	}
	pr, pw := io.Pipe()
	proved := make(chan error, 1)
	go func() {
		err := p.Tar(pr)
		// Whatever is left (after a mismatch) makes restic's writes fail.
		pr.CloseWithError(errors.New("proof ended"))
		proved <- err
	}()
	_, runErr := x.Run(ctx, r.dumpCommand(t, snap.ID, pw))
	pw.Close()
	if err := <-proved; err != nil {
		return drivers.RestoreProof{}, err
	}
	if runErr != nil {
		return drivers.RestoreProof{}, fmt.Errorf("restic dump of snapshot %s: %w", snap.ShortID, runErr)
	}
	if p.Files == 0 {
		return drivers.RestoreProof{}, fmt.Errorf("restic: snapshot %s holds no regular file below %s: nothing was proven", snap.ShortID, strings.Join(req.Paths, ", "))
	}
	return drivers.RestoreProof{Checked: p.Files,
		Detail: fmt.Sprintf("%d files match snapshot %s (size and SHA-256 of what restic dump reads from the repository)", p.Files, snap.ShortID)}, nil
}

// proveVerifiedRestore proves a restore that restic's --verify already
// checked, file by file, against the snapshot's blob ids as it wrote it
// (the content is proven): every node of the snapshot below p.Paths must
// now be in place with its type and size (nothing was lost moving it
// into place), and the files restic verified must be exactly as many as
// the snapshot holds there. It reads the snapshot's trees (`restic ls`,
// a line per node, streamed), never its data: half what a recovery reads.
func (r Driver) proveVerifiedRestore(ctx context.Context, x proc.Executor, t *drivers.Target, snap resticSnapshot, p *drill.Prover, verified int) (drivers.RestoreProof, error) {
	var first error
	lines := &proc.Lines{Fn: func(line []byte) {
		if first != nil || len(line) == 0 {
			return
		}
		var n resticNode
		if err := json.Unmarshal(line, &n); err != nil {
			first = fmt.Errorf("restic ls: unreadable JSON line %.80q: %v", line, err)
			return
		}
		if n.StructType != "node" || !p.Wants(n.Path) {
			return
		}
		first = p.InPlace(n.Path, n.Type, n.Size)
	}}
	c := r.cmd(t, "ls", "--json", "--", snap.ID)
	c.Stdout = lines
	_, runErr := x.Run(ctx, c)
	lines.Close()
	if first != nil {
		return drivers.RestoreProof{}, first
	}
	if runErr != nil {
		return drivers.RestoreProof{}, fmt.Errorf("restic ls of snapshot %s: %w", snap.ShortID, runErr)
	}
	if p.Files == 0 {
		return drivers.RestoreProof{}, fmt.Errorf("restic: snapshot %s holds no regular file below %s: nothing was proven", snap.ShortID, strings.Join(p.Paths, ", "))
	}
	if verified != p.Files {
		return drivers.RestoreProof{}, fmt.Errorf("restic: its restore verified %d files, but snapshot %s holds %d below %s", verified, snap.ShortID, p.Files, strings.Join(p.Paths, ", "))
	}
	return drivers.RestoreProof{Checked: p.Files,
		Detail: fmt.Sprintf("%d files match snapshot %s (restic's --verify checked each one's content against the snapshot's SHA-256 blob ids as it restored it; each is in place with its size)", p.Files, snap.ShortID)}, nil
}

var _ drivers.FileRecoverer = Driver{}

// RecoverPaths are the target's `paths`: a snapshot holds them at their
// absolute paths. A copy (copy_from) has none of its own: its snapshots
// are its source's, with the source's paths.
func (Driver) RecoverPaths(t *drivers.Target) []string {
	if t.CopyFrom != nil {
		return t.CopyFrom.Settings.List("paths")
	}
	return t.Settings.List("paths")
}

// RecoverRank: restic first. Its snapshots are content-addressed (every
// blob's SHA-256 is its id, checked as it is read) and carry their point.
func (Driver) RecoverRank() int { return 1 }
