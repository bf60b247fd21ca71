package restic

// Verification by change plus rotation, in restic's terms.
//
// What a restic backup writes is packs: new files under data/, each named
// by the SHA-256 of its bytes (plus an index file and a snapshot file,
// which every `restic check` reads). A changed file whose chunks are
// already stored adds nothing; what it shares with older snapshots lives in
// older packs, which the rotation reads. So "what this run wrote" is the
// packs that appeared in the repository during the backup, and reading
// them back means hashing each and comparing with its name: the first
// thing `restic check --read-data` does with a pack ("Pack ID does not
// match"). restic 0.14 has no command that reads a chosen set of packs
// (--read-data-subset picks by ID, and restore/dump work per file with no
// file list to take the paths from), so the driver reads them itself: from
// disk for a local repository, through `restic cat pack` (one process, and
// one key derivation, per pack) for any other.
//
// The rest is restic's own rotation: `check --read-data-subset=n/t` reads
// the packs whose ID's first byte is n-1 modulo t, decrypting every blob
// and checking it against the index, so slices 1..t read every pack once.
// It also checks the structure (index, snapshots, trees) every time.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/internal/humanize"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
)

var _ drivers.ScopedVerifier = Driver{}

// resticGroupsMax: restic groups packs by the first byte of their ID, so
// --read-data-subset=n/t takes t up to 256.
const resticGroupsMax = 256

// resticGroup is the group of packs `restic check --read-data-subset=n/t`
// reads for slice s (n == 0: none, the slice is empty). Up to 256 slices
// are restic's groups one to one. A longer cycle cannot be split finer, so
// restic's 256 groups are spread over its slices: slice s reads group
// ⌈256·s/Cycle⌉ when slice s-1 did not, and nothing otherwise; each group
// still comes exactly once a cycle, and no run reads more than asked.
func resticGroup(s drivers.Scope) (n, t int) {
	if s.Slice < 1 || s.Slice > s.Cycle {
		return 0, 0
	}
	if s.Cycle <= resticGroupsMax {
		return s.Slice, s.Cycle
	}
	group := func(slice int) int { return (resticGroupsMax*slice + s.Cycle - 1) / s.Cycle }
	if group(s.Slice) == group(s.Slice-1) {
		return 0, 0
	}
	return group(s.Slice), resticGroupsMax
}

// fullScope: everything is read.
func fullScope(s drivers.Scope) bool { return s.Full || s.Cycle == 1 }

// checkFlag is what `restic check` reads beyond the structure for s.
func checkFlag(s drivers.Scope) string {
	if fullScope(s) {
		return "--read-data"
	}
	if n, t := resticGroup(s); n > 0 {
		return fmt.Sprintf("--read-data-subset=%d/%d", n, t)
	}
	return ""
}

// checkCommand: `restic check` of the structure, plus the data flag.
func (r Driver) checkCommand(t *drivers.Target, flag string) proc.Command {
	args := []string{"check"}
	if flag != "" {
		args = append(args, flag)
	}
	return r.cmd(t, args...)
}

// verifyCycle is the target's cycle; a target built without a plan has
// none set and gets the default.
func verifyCycle(t *drivers.Target) int {
	if t.VerifyCycle >= 1 {
		return t.VerifyCycle
	}
	return drivers.DefaultVerifyCycle
}

// verifySteps is the verify phase of a run, for --dry-run: the slice is
// the runner's choice at run time, so the command shows it as N.
func (r Driver) verifySteps(t *drivers.Target) []drivers.Step {
	cycle := verifyCycle(t)
	var steps []drivers.Step
	if t.Settings.Str("check_read_data_subset") != "" {
		steps = append(steps, drivers.Step{Phase: drivers.PhaseVerify, Note: "check_read_data_subset is no longer used: verify_cycle decides how much of the data each verify reads"})
	}
	if cycle == 1 {
		check := r.checkCommand(t, "--read-data")
		return append(steps, drivers.Step{Phase: drivers.PhaseVerify, Command: &check})
	}
	how := "with `restic cat pack <id>`"
	if dir := localRepo(t); dir != "" {
		how = "from " + filepath.Join(dir, "data")
	}
	groups := cycle
	if groups > resticGroupsMax {
		groups = resticGroupsMax
	}
	check := r.checkCommand(t, "--read-data-subset=N/"+strconv.Itoa(groups))
	return append(steps,
		drivers.Step{Phase: drivers.PhaseVerify, Note: "read back each pack this backup added (" + how + ") and check that its SHA-256 is its name; " +
			"when they are half the repository's packs or more, restic check --read-data reads everything instead of what follows"},
		drivers.Step{Phase: drivers.PhaseVerify, Command: &check},
		drivers.Step{Phase: drivers.PhaseVerify, Note: fmt.Sprintf("N: a different group of packs each run (the one read longest ago), so %d runs read every pack; verify --full: restic check --read-data", cycle)})
}

func (r Driver) Verify(ctx context.Context, x proc.Executor, t *drivers.Target, a drivers.Artifact) error {
	_, err := r.VerifyScoped(ctx, x, t, a, drivers.FullScope)
	return err
}

// VerifyScoped reads back the packs the backup a added (a.Written), then
// runs `restic check` of the structure and of the scope's group of packs;
// the full scope is one `restic check --read-data`, which reads every
// pack, the new ones too.
func (r Driver) VerifyScoped(ctx context.Context, x proc.Executor, t *drivers.Target, a drivers.Artifact, s drivers.Scope) (drivers.Coverage, error) {
	written, err := writtenPacks(a.Written)
	if err != nil {
		return drivers.Coverage{}, err
	}
	why := ""
	if !fullScope(s) && len(written) > 0 {
		// The first backup of a library, or a large import: reading most
		// of the repository one pack at a time costs more than reading all
		// of it in one check (remotely, a key derivation per pack).
		all, err := r.listPacks(ctx, x, t)
		if err != nil {
			return drivers.Coverage{}, err
		}
		if 2*len(written) >= len(all) {
			s = drivers.FullScope
			why = fmt.Sprintf(" (this backup added %d of the %d, so all of them were read at once)", len(written), len(all))
		}
	}
	if fullScope(s) {
		res, err := x.Run(ctx, r.checkCommand(t, checkFlag(s)))
		if err != nil {
			return drivers.Coverage{}, err
		}
		return s.Covered("the structure and " + readAllDetail(res.Stdout) + " (restic check --read-data)" + why), nil
	}

	// The detail follows "read" in the run's log and in verify's output.
	detail := ""
	var errs []error
	if len(written) > 0 {
		n, err := r.readPacks(ctx, x, t, written)
		detail = fmt.Sprintf("the %d packs (%s) this backup added, each hashed against its name, and ", len(written), humanize.Bytes(n))
		errs = append(errs, err)
	} else if a.ID != "" {
		detail = "no new pack (this backup added none), and "
	}
	flag := checkFlag(s)
	res, err := x.Run(ctx, r.checkCommand(t, flag))
	errs = append(errs, err)
	detail += "with restic check the structure"
	if flag != "" {
		detail += " and " + subsetDetail(flag, res.Stdout)
	}
	if err := errors.Join(errs...); err != nil {
		return drivers.Coverage{}, err
	}
	return s.Covered(detail), nil
}

var (
	resticGroupRE = regexp.MustCompile(`read group #(\d+) of (\d+) (?:\S+ )?data packs \(out of total (\d+) packs in (\d+) groups`)
	resticPacksRE = regexp.MustCompile(`(\d+) / (\d+) packs`)
)

// subsetDetail says what `restic check --read-data-subset` read, in the
// numbers it printed when it printed them.
func subsetDetail(flag string, stdout []byte) string {
	if m := resticGroupRE.FindSubmatch(stdout); m != nil {
		return fmt.Sprintf("group %s of %s (%s of the %s packs)", m[1], m[4], m[2], m[3])
	}
	return "packs " + strings.TrimPrefix(flag, "--read-data-subset=")
}

func readAllDetail(stdout []byte) string {
	if m := resticPacksRE.FindAllSubmatch(stdout, -1); m != nil {
		return "all " + string(m[len(m)-1][2]) + " packs"
	}
	return "all packs"
}

// packIDRE is a pack's name: the SHA-256 of its bytes.
var packIDRE = regexp.MustCompile(`^[0-9a-f]{64}$`)

// writtenPacks checks what Backup put in Artifact.Written: the paths of
// the new packs relative to the repository, data/xx/ID.
func writtenPacks(written []string) ([]string, error) {
	for _, p := range written {
		if !packIDRE.MatchString(path.Base(p)) || !strings.HasPrefix(p, "data/") || !filepath.IsLocal(p) {
			return nil, fmt.Errorf("restic verify: %q is not a pack of the repository (data/xx/ID)", p)
		}
	}
	return written, nil
}

// listPacks lists the repository's packs as paths relative to it,
// data/xx/ID. A local repository's data/ is read directly (no key
// derivation), following whatever layout it has; a missing data/ is an
// empty list: no repository there yet, which restic reports itself.
func (r Driver) listPacks(ctx context.Context, x proc.Executor, t *drivers.Target) ([]string, error) {
	var packs []string
	if dir := localRepo(t); dir != "" {
		err := filepath.WalkDir(filepath.Join(dir, "data"), func(p string, e fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			// restic saves under a temporary name and renames: only a
			// complete pack has an ID for a name.
			if e.Type().IsRegular() && packIDRE.MatchString(e.Name()) {
				rel, err := filepath.Rel(dir, p)
				if err != nil {
					return err
				}
				packs = append(packs, filepath.ToSlash(rel))
			}
			return nil
		})
		if errors.Is(err, fs.ErrNotExist) && len(packs) == 0 {
			return nil, nil
		}
		return packs, err
	}
	c := r.cmd(t, "list", "packs", "--no-lock")
	c.StdoutTail = 64 << 20 // 65 bytes a pack: a million packs, 16 TiB at restic's default size
	res, err := x.Run(ctx, c)
	if err != nil {
		return nil, err
	}
	for _, line := range strings.Split(string(res.Stdout), "\n") {
		if id := strings.TrimSpace(line); packIDRE.MatchString(id) {
			packs = append(packs, "data/"+id[:2]+"/"+id)
		}
	}
	return packs, nil
}

// newPacks are the packs in after and not in before, sorted.
func newPacks(before, after []string) []string {
	had := make(map[string]bool, len(before))
	for _, p := range before {
		had[path.Base(p)] = true
	}
	var added []string
	for _, p := range after {
		if !had[path.Base(p)] {
			added = append(added, p)
		}
	}
	sort.Strings(added)
	return added
}

// readPacks reads every pack back and compares its SHA-256 with its name.
// It reads them all, so the error names every damaged one, and returns
// how many bytes it read.
func (r Driver) readPacks(ctx context.Context, x proc.Executor, t *drivers.Target, packs []string) (int64, error) {
	var total int64
	var errs []error
	dir := localRepo(t)
	for _, p := range packs {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		id := path.Base(p)
		h := sha256.New()
		n, err := r.readPack(ctx, x, t, dir, p, h)
		total += n
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("pack %s this backup added could not be read: %w", id, err))
		case hex.EncodeToString(h.Sum(nil)) != id:
			errs = append(errs, fmt.Errorf("pack %s this backup added is damaged: its %d bytes hash to %x, not its name", id, n, h.Sum(nil)))
		}
	}
	return total, errors.Join(errs...)
}

// readPack copies one pack into w: from the local repository dir, or
// through `restic cat pack`, which prints the pack's bytes as stored.
// --no-cache: restic keeps a copy of every pack of trees it wrote in its
// cache and `cat pack` would print that copy, not the repository's.
func (r Driver) readPack(ctx context.Context, x proc.Executor, t *drivers.Target, dir, p string, w io.Writer) (int64, error) {
	cw := &countingWriter{w: w}
	if dir != "" {
		f, err := os.Open(filepath.Join(dir, filepath.FromSlash(p)))
		if err != nil {
			return 0, err
		}
		defer f.Close()
		_, err = io.Copy(cw, f)
		return cw.n, err
	}
	c := r.cmd(t, "cat", "pack", path.Base(p), "--no-lock", "--no-cache")
	c.Stdout = cw
	_, err := x.Run(ctx, c)
	return cw.n, err
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += int64(n)
	return n, err
}
