package rclone

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
)

// Verification by change plus rotation. A verify hashes, with rclone
// check (cryptcheck for a crypt remote, check --download when asked), the
// files this run sent and the scope's slice of the others, named in a
// file (--files-from-raw), never in argv. The full scope hashes
// everything in one check, as verification always did.
//
// Which files are "the others" comes, after a backup, from the backup's
// own sync: it logged every file it copied or found unchanged, and the
// record of those (record.go) is the destination's files; the others are
// those minus the ones sent.
// A verify without a backup (verify on its own) lists both sides instead
// and compares every file's size (cheap: no file is read). The listing
// is not needed after a backup: it would find what differs in size, is
// missing or is extra, and the sync, which compared the same two sides
// by size and modification time a moment before, has just made them
// agree in all three (it sent what differed or was missing, and those
// are hashed; it deleted what was extra, or the run failed before this
// verify). What a listing could still find is what changed in the
// moments since, on either side. Damage that keeps a file's size and
// time is found only by hashing, listing or not: the rotation's slice,
// which reads every file within a cycle. Damage that changes them is
// what the next sync sees, and sends the file again.
//
// A difference is judged against what was sent, not against the source
// as it is now: rclone gives each file it sends the source's modification
// time, so a source file whose modification time is later than the
// destination's (beyond the remote's precision) has changed since it was
// sent, and the next run sends it again; a file only in the source that
// this run did not send was added since (or lost from the destination: a
// listing cannot tell, and the next run sends it either way); a file only
// in the destination was deleted from the source since. None of those is
// damage. Everything else that differs is: a changed byte or size in a
// file the source still holds as it was sent, or a file this run sent
// that is gone.

var _ drivers.ScopedVerifier = Driver{}

// Verify reads everything: check hashes every file (see VerifyScoped).
func (r Driver) Verify(ctx context.Context, x proc.Executor, t *drivers.Target, a drivers.Artifact) error {
	_, err := r.VerifyScoped(ctx, x, t, a, drivers.FullScope)
	return err
}

// rcloneFullScope reports whether s asks for everything.
func rcloneFullScope(s drivers.Scope) bool { return s.Full || s.Cycle == 1 }

// hashCommand compares the destination with the source by hash, writing
// a line per file to report. Plain check compares sizes and a hash both
// sides have; on a crypt remote no hash is shared and it passes damaged
// ciphertext, so crypt uses cryptcheck, which hashes the source through
// the remote's encryption. --download reads both sides whole. For copy,
// only the source's files must be in the destination. With list, only
// the files named there (one per line, taken as they are): rclone wants
// --files-from-raw alone, and the names were listed with the excludes.
func (r Driver) hashCommand(t *drivers.Target, env []proc.EnvVar, report, list string) proc.Command {
	var flags []string
	if t.Settings.Bool("check_download", false) {
		flags = append(flags, "--download")
	}
	if rcloneMode(t) == "copy" {
		flags = append(flags, "--one-way")
	}
	flags = append(append(flags, "--combined="+report), rcloneBwlimit(t)...)
	if list != "" {
		flags = append(flags, "--files-from-raw="+list)
		if !rcloneIsRemote(t.Settings.Str("source")) && !rcloneIsRemote(t.Settings.Str("destination")) {
			// Both sides on local disks: look each named file up (a stat)
			// rather than list every directory that holds one, which a
			// slice spread over the library makes all of them (100,000
			// files: 1.0 s against 2.0 s). On a remote a lookup is a
			// request per file, a listing one per thousand: it lists.
			flags = append(flags, "--no-traverse")
		}
	} else {
		flags = append(flags, rcloneExcludes(t)...)
	}
	return r.cmd(t, env, rcloneHashSub(t), flags, t.Settings.Str("source"), t.Settings.Str("destination"))
}

// rcloneHashSub is the rclone command that compares hashes: check, or
// cryptcheck for a crypt remote (unless check --download reads it all).
func rcloneHashSub(t *drivers.Target) string {
	if t.Settings.Bool("crypt", false) && !t.Settings.Bool("check_download", false) {
		return "cryptcheck"
	}
	return "check"
}

// sizesCommand lists both sides and compares every file by size
// (--size-only: nothing is read or hashed), writing a line per file to
// report: what the destination holds, and what differs at a glance.
func (r Driver) sizesCommand(t *drivers.Target, env []proc.EnvVar, report string) proc.Command {
	flags := []string{"--size-only"}
	if rcloneMode(t) == "copy" {
		flags = append(flags, "--one-way")
	}
	flags = append(append(flags, "--combined="+report), rcloneExcludes(t)...)
	return r.cmd(t, env, "check", flags, t.Settings.Str("source"), t.Settings.Str("destination"))
}

// entriesCommand lists the files named in list on one side, with their
// sizes and modification times.
func (r Driver) entriesCommand(t *drivers.Target, env []proc.EnvVar, list, place string) proc.Command {
	c := r.cmd(t, env, "lsjson", []string{"--recursive", "--files-only", "--no-mimetype", "--files-from-raw=" + list}, place)
	c.StdoutTail = 64 << 20
	return c
}

// verifySteps is what --dry-run shows of a verify after a backup: the
// scope is the target's verify_cycle.
func (r Driver) verifySteps(t *drivers.Target, env []proc.EnvVar) []drivers.Step {
	const report = "<temporary report>"
	cycle := t.VerifyCycle
	if cycle == 0 {
		cycle = drivers.DefaultVerifyCycle
	}
	var steps []drivers.Step
	step := func(c proc.Command) { steps = append(steps, drivers.Step{Phase: drivers.PhaseVerify, Command: &c}) }
	note := func(n string) { steps = append(steps, drivers.Step{Phase: drivers.PhaseVerify, Note: n}) }
	if cycle == 1 {
		step(r.hashCommand(t, env, report, ""))
		note("every file, every run (verify_cycle = 1)")
	} else {
		step(r.hashCommand(t, env, report, fmt.Sprintf("<the files this run sent, and 1/%d of the others>", cycle)))
		note(fmt.Sprintf("hash the files this run sent and a different 1/%d of the others each run, so that %d runs hash them all (verify --full: all at once); "+
			"the others are the files the sync found unchanged, by size and modification time (verify on its own lists both sides with rclone check --size-only instead)", cycle, cycle))
	}
	note("a file that differs is damage unless the source changed it since the copy: a later modification time than the destination's (rclone backend features and lsjson of those files tell), or a file added or deleted there; the next run sends those")
	if !t.Settings.Bool("check_download", false) {
		note("fail when rclone reports hashes that could not be checked (only sizes were compared)")
	}
	return steps
}

// rcloneHashesNotCheckedRE finds rclone's notice that it compared only sizes.
var rcloneHashesNotCheckedRE = regexp.MustCompile(`(\d+) hashes could not be checked`)

// VerifyScoped hashes the files a sent plus the scope's slice of the
// others (the full scope: every file, in one check): the others from the
// backup's record of the destination's files, or, without one, from a
// listing that compares every file of both sides by size. Differences the source made
// since the copy are not damage (see the top of this file); any other
// fails, naming the files. A check that could not compare hashes (no hash
// type in common, e.g. a crypt remote checked without cryptcheck)
// compared sizes only and proves nothing about the bytes, so it fails too.
func (r Driver) VerifyScoped(ctx context.Context, x proc.Executor, t *drivers.Target, a drivers.Artifact, s drivers.Scope) (drivers.Coverage, error) {
	env, err := rcloneSecrets(t)
	if err != nil {
		return drivers.Coverage{}, err
	}
	dir, err := rcloneScratchDir(t)
	if err != nil {
		return drivers.Coverage{}, err
	}
	defer os.RemoveAll(dir)

	// What a sent: the files its record names as copied (its Written
	// names the record), or the files Written names (a backup that could
	// not start a record). The record names the destination's other
	// files too (the top of this file says why they need no listing);
	// it stays, as the next run's guard. A record gone or cut short
	// tells nothing: everything is hashed. A verify without a backup
	// (Written nil) lists the destination.
	written := newPathSet(nil)
	record, detail := "", ""
	if recorded(t) && len(a.Written) == 1 && a.Written[0] == recordPath(t) {
		record = a.Written[0]
		err := readRcloneRecord(record, nil, func(kind byte, p string) error {
			if kind == recordCopied {
				written.add(p)
			}
			return nil
		})
		if err != nil {
			record, written = "", newPathSet(nil)
			s = drivers.FullScope
			detail = fmt.Sprintf(" (this run's record of what it sent could not be read: %v)", err)
		}
	} else {
		for _, p := range a.Written {
			written.add(p)
		}
	}
	hashReport := filepath.Join(dir, "hashed")
	var hash *proc.Command // nil: nothing to hash
	var found rcloneReport
	var scope *rcloneHashList // nil: the full scope hashes everything
	if rcloneFullScope(s) {
		c := r.hashCommand(t, env, hashReport, "")
		hash = &c
	} else {
		if scope, err = newRcloneHashList(dir, written, s); err != nil {
			return drivers.Coverage{}, fmt.Errorf("rclone verify: %w", err)
		}
		var list string
		if record != "" {
			// The files the sync copied, then a slice of those it found
			// unchanged.
			err := readRcloneRecord(record, nil, func(kind byte, p string) error {
				if kind == recordCopied {
					scope.add(p)
					return nil
				}
				return scope.visit('=', p)
			})
			if list, err = scope.closeAfter(err); err != nil {
				return drivers.Coverage{}, fmt.Errorf("rclone verify: the record of the destination's files: %w", err)
			}
			detail = scope.detailAfterSync(rcloneReadHow(t))
		} else {
			for _, p := range a.Written {
				scope.add(p)
			}
			sizesReport := filepath.Join(dir, "sizes")
			sizes, err := r.runCheck(ctx, x, r.sizesCommand(t, env, sizesReport), sizesReport, scope.visit)
			var cerr error
			list, cerr = scope.closeAfter(nil)
			if err != nil {
				return drivers.Coverage{}, err
			}
			if cerr != nil {
				return drivers.Coverage{}, fmt.Errorf("rclone verify: %w", cerr)
			}
			found.add(sizes)
			detail = scope.detail(sizes, a.Written != nil, rcloneReadHow(t))
		}
		if list != "" {
			c := r.hashCommand(t, env, hashReport, list)
			hash = &c
		}
	}
	sub := rcloneHashSub(t)
	var hashed rcloneReport
	if hash != nil {
		if hashed, err = r.runCheck(ctx, x, *hash, hashReport, nil); err != nil {
			return drivers.Coverage{}, err
		}
		found.add(hashed)
	}
	if rcloneFullScope(s) {
		detail = fmt.Sprintf("all %s %s", rcloneFiles(hashed.count()), rcloneReadHow(t)) + detail
	}
	if err := r.judge(ctx, x, t, env, dir, sub, found, written); err != nil {
		return drivers.Coverage{}, err
	}
	if !t.Settings.Bool("check_download", false) {
		if m := rcloneHashesNotCheckedRE.FindSubmatch(hashed.stderr); m != nil && string(m[1]) != "0" {
			hint := "set check_download = true to compare the bytes"
			if !t.Settings.Bool("crypt", false) {
				hint = "set crypt = true if the destination is a crypt remote, or check_download = true to compare the bytes"
			}
			return drivers.Coverage{}, fmt.Errorf("rclone %s compared only sizes: %s hashes could not be checked (the source and the destination share no hash type); %s", sub, m[1], hint)
		}
	}
	cov := s.Covered(detail + found.forgivenDetail(written))
	if scope != nil && scope.others == 0 && written.len() > 0 {
		// This run sent every file (a first backup): all were read.
		cov = drivers.Coverage{Full: true, Detail: cov.Detail}
	}
	return cov, nil
}

// rcloneReadHow says how the hashing check compares a file, for the
// detail.
func rcloneReadHow(t *drivers.Target) string {
	if t.Settings.Bool("check_download", false) {
		return "byte for byte"
	}
	return "by hash"
}

// rcloneScratchDir makes a private directory for a verify's file lists
// and reports, under the target's TempDir (the system's when unset).
func rcloneScratchDir(t *drivers.Target) (string, error) {
	parent := t.TempDir
	if parent == "" {
		parent = os.TempDir()
	}
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return "", fmt.Errorf("rclone verify: %w", err)
	}
	dir, err := os.MkdirTemp(parent, "rclone-verify-"+t.Name+"-")
	if err != nil {
		return "", fmt.Errorf("rclone verify: %w", err)
	}
	return dir, nil
}

// rcloneHashList is the private file, in dir, of the files a scoped
// verify hashes, one per line: every file this run sent, and the scope's
// slice of the others (what the destination holds, as the sizes report
// lists it, that this run did not send). The report's lines reach it one
// at a time (visit), so it never holds the listing.
type rcloneHashList struct {
	path    string
	f       *os.File
	w       *bufio.Writer
	written *pathSet
	s       drivers.Scope
	// names is how many files the list holds; others how many files of
	// the destination this run did not send, sliced how many of them it
	// holds.
	names, others, sliced int
}

func newRcloneHashList(dir string, written *pathSet, s drivers.Scope) (*rcloneHashList, error) {
	l := &rcloneHashList{path: filepath.Join(dir, "scope"), written: written, s: s}
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	l.f, l.w = f, bufio.NewWriter(f)
	return l, nil
}

// add lists a file this run sent (--files-from-raw takes one name per
// line: a name holding a line break cannot be listed, and rclone's log
// never shows one).
func (l *rcloneHashList) add(p string) {
	if strings.Contains(p, "\n") {
		return
	}
	l.names++
	l.w.WriteString(p + "\n")
}

// visit takes one line of the sizes report.
func (l *rcloneHashList) visit(kind byte, p string) error {
	inDestination := kind == '=' || kind == '*' || kind == '-'
	if !inDestination || l.written.has(p) || strings.Contains(p, "\n") {
		return nil
	}
	l.others++
	if l.s.Slice >= 1 && l.s.InSlice(p) {
		l.sliced++
		l.add(p)
	}
	return nil
}

// closeAfter ends the list and returns its path, "" when it names no
// file; err is how filling it ended (nil: well).
func (l *rcloneHashList) closeAfter(err error) (string, error) {
	if ferr := l.w.Flush(); err == nil {
		err = ferr
	}
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	if err != nil || l.names == 0 {
		os.Remove(l.path)
		return "", err
	}
	return l.path, nil
}

// detail says what the list and the sizes report read, in numbers, read
// how.
func (l *rcloneHashList) detail(sizes rcloneReport, afterBackup bool, how string) string {
	hashed := fmt.Sprintf("%s of the %s", rcloneCount(l.sliced), rcloneFiles(l.others))
	if afterBackup {
		hashed = fmt.Sprintf("the %s this run sent and %s of the %s others", rcloneFiles(l.written.len()), rcloneCount(l.sliced), rcloneCount(l.others))
	}
	return fmt.Sprintf("%s %s, and the sizes of all %s", hashed, how, rcloneCount(sizes.count()))
}

// detailAfterSync says what the list read after a backup, whose sync
// compared every file by size and modification time.
func (l *rcloneHashList) detailAfterSync(how string) string {
	return fmt.Sprintf("the %s this run sent and %s of the %s others %s; the sync compared the sizes and modification times of all %s",
		rcloneFiles(l.written.len()), rcloneCount(l.sliced), rcloneCount(l.others), how, rcloneCount(l.written.len()+l.others))
}

// rcloneReport is what rclone check's --combined report says, by kind:
// the files that differ by name, the files found the same only by number
// (a line per file: at 100,000 files a list of them would be megabytes
// held for nothing).
type rcloneReport struct {
	same                                 int
	differ, srcOnly, dstOnly, unreadable []string
	stderr                               []byte // the check's own messages
}

func (r *rcloneReport) add(o rcloneReport) {
	r.same += o.same
	r.differ = append(r.differ, o.differ...)
	r.srcOnly = append(r.srcOnly, o.srcOnly...)
	r.dstOnly = append(r.dstOnly, o.dstOnly...)
	r.unreadable = append(r.unreadable, o.unreadable...)
}

// count is how many files one report names (each once).
func (r rcloneReport) count() int {
	return r.same + len(r.differ) + len(r.srcOnly) + len(r.dstOnly) + len(r.unreadable)
}

// readRcloneReport reads a --combined report, one line at a time: it has
// a line for every file, however many. visit, when set, sees every line.
func readRcloneReport(path string, visit func(kind byte, p string) error) (rcloneReport, error) {
	var r rcloneReport
	f, err := os.Open(path)
	if err != nil {
		return r, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if sc.Text() == "" {
			continue
		}
		kind, p, err := rcloneCombinedLine(sc.Text())
		if err != nil {
			return r, err
		}
		if visit != nil {
			if err := visit(kind, p); err != nil {
				return r, err
			}
		}
		switch kind {
		case '=':
			r.same++
		case '*':
			r.differ = append(r.differ, p)
		case '+':
			r.srcOnly = append(r.srcOnly, p)
		case '-':
			r.dstOnly = append(r.dstOnly, p)
		case '!':
			r.unreadable = append(r.unreadable, p)
		}
	}
	return r, sc.Err()
}

// runCheck runs a check that writes its --combined report to report, and
// reads the report. rclone exits 1 when it found differences (judged by
// the caller) and when it could not read files (a failure, with rclone's
// own lines about them); any other failure is returned as it is.
func (r Driver) runCheck(ctx context.Context, x proc.Executor, c proc.Command, report string, visit func(kind byte, p string) error) (rcloneReport, error) {
	sub := c.Args[0]
	res, err := x.Run(ctx, c)
	var te *proc.ToolError
	if err != nil && (!errors.As(err, &te) || res.ExitCode != 1 || !strings.Contains(string(res.Stderr), "differences found")) {
		return rcloneReport{}, rcloneCheckFailure(sub, res, err)
	}
	found, rerr := readRcloneReport(report, visit)
	switch {
	case rerr != nil:
		return rcloneReport{}, fmt.Errorf("rclone %s: reading its report: %v", sub, rerr)
	case len(found.unreadable) > 0:
		return rcloneReport{}, rcloneCheckFailure(sub, res, err)
	case err != nil && len(found.differ)+len(found.srcOnly)+len(found.dstOnly) == 0:
		// Exit 1 with nothing in the report: an error it did not
		// attach to a file.
		return rcloneReport{}, rcloneCheckFailure(sub, res, err)
	}
	found.stderr = res.Stderr
	return found, nil
}

// judge fails when what differs is damage: a file that differs while the
// source still holds the version sent, or a file this run sent that the
// destination lacks.
func (r Driver) judge(ctx context.Context, x proc.Executor, t *drivers.Target, env []proc.EnvVar, dir, sub string, found rcloneReport, written *pathSet) error {
	var lost []string
	for _, p := range rcloneUnique(found.srcOnly) {
		if written.has(p) {
			lost = append(lost, p)
		}
	}
	differ := rcloneUnique(found.differ)
	newer, err := r.newerInSource(ctx, x, t, env, dir, differ)
	if err != nil {
		return fmt.Errorf("rclone %s: %s differ between the source and the destination, and whether the source changed them since the copy cannot be told: %v", sub, rcloneFiles(len(differ)), err)
	}
	var damaged []string
	for _, p := range differ {
		if !newer[p] {
			damaged = append(damaged, p)
		}
	}
	if len(damaged) == 0 && len(lost) == 0 {
		return nil
	}
	var parts []string
	if len(damaged) > 0 {
		parts = append(parts, fmt.Sprintf("%s %s from what was sent (%s)", rcloneFiles(len(damaged)), rcloneVerb(len(damaged), "differs", "differ"), rcloneSome(damaged)))
	}
	if len(lost) > 0 {
		parts = append(parts, fmt.Sprintf("%s this run sent %s missing (%s)", rcloneFiles(len(lost)), rcloneVerb(len(lost), "is", "are"), rcloneSome(lost)))
	}
	return fmt.Errorf("rclone %s: the destination is damaged: %s", sub, strings.Join(parts, "; "))
}

// forgivenDetail says which differences were the source's own changes
// since the copy, for the coverage's detail.
func (r rcloneReport) forgivenDetail(written *pathSet) string {
	added := 0
	for _, p := range rcloneUnique(r.srcOnly) {
		if !written.has(p) {
			added++
		}
	}
	var parts []string
	// What differs and was not damage (judge passed) changed in the source.
	if n := len(rcloneUnique(r.differ)); n > 0 {
		parts = append(parts, fmt.Sprintf("%s changed in the source since sent", rcloneFiles(n)))
	}
	if added > 0 {
		parts = append(parts, fmt.Sprintf("%s only in the source (added since, or lost from the destination)", rcloneFiles(added)))
	}
	if n := len(rcloneUnique(r.dstOnly)); n > 0 {
		parts = append(parts, fmt.Sprintf("%s only in the destination (deleted from the source since)", rcloneFiles(n)))
	}
	if len(parts) == 0 {
		return ""
	}
	return "; not damage (the next run brings them up to date): " + strings.Join(parts, ", ")
}

// rcloneEntry is a file as rclone lsjson lists it.
type rcloneEntry struct {
	Path    string    `json:"Path"`
	Size    int64     `json:"Size"`
	ModTime time.Time `json:"ModTime"`
}

// newerInSource tells which of the files named in paths the source has
// changed since they were sent: the source's file is gone, or its
// modification time is later than the destination's by at least the
// destination's precision (rclone set the destination's to the source's
// when it sent the file). On a remote that keeps no modification times,
// none can be shown to be newer.
func (r Driver) newerInSource(ctx context.Context, x proc.Executor, t *drivers.Target, env []proc.EnvVar, dir string, paths []string) (map[string]bool, error) {
	newer := map[string]bool{}
	if len(paths) == 0 {
		return newer, nil
	}
	dest := t.Settings.Str("destination")
	feats, err := r.features(ctx, x, t, env, dest)
	if err != nil {
		return nil, err
	}
	if feats.Precision >= rcloneModTimeUnsupported {
		return newer, nil
	}
	precision := max(feats.Precision, time.Nanosecond)
	list := filepath.Join(dir, "differ")
	if err := os.WriteFile(list, []byte(strings.Join(paths, "\n")+"\n"), 0o600); err != nil {
		return nil, err
	}
	src, err := r.entries(ctx, x, t, env, list, t.Settings.Str("source"))
	if err != nil {
		return nil, err
	}
	dst, err := r.entries(ctx, x, t, env, list, dest)
	if err != nil {
		return nil, err
	}
	for _, p := range paths {
		s, inSrc := src[p]
		d, inDst := dst[p]
		switch {
		case !inSrc:
			newer[p] = true // deleted from the source since
		case inDst && s.ModTime.Sub(d.ModTime) >= precision:
			newer[p] = true
		}
	}
	return newer, nil
}

func (r Driver) entries(ctx context.Context, x proc.Executor, t *drivers.Target, env []proc.EnvVar, list, place string) (map[string]rcloneEntry, error) {
	c := r.entriesCommand(t, env, list, place)
	res, err := x.Run(ctx, c)
	if err != nil {
		return nil, err
	}
	if len(res.Stdout) >= c.StdoutTail {
		return nil, fmt.Errorf("rclone lsjson: more than the %d MiB of listing it reads", c.StdoutTail>>20)
	}
	var listed []rcloneEntry
	if err := json.Unmarshal(res.Stdout, &listed); err != nil {
		return nil, fmt.Errorf("rclone lsjson: unreadable JSON: %v", err)
	}
	out := make(map[string]rcloneEntry, len(listed))
	for _, e := range listed {
		out[e.Path] = e
	}
	return out, nil
}

// rcloneUnique sorts paths and drops repeats (a file can be in both the
// size and the hash report).
func rcloneUnique(paths []string) []string {
	out := append([]string{}, paths...)
	sort.Strings(out)
	return slices.Compact(out)
}

// rcloneSome names the first few of paths.
func rcloneSome(paths []string) string {
	const shown = 5
	if len(paths) <= shown {
		return strings.Join(paths, ", ")
	}
	return strings.Join(paths[:shown], ", ") + fmt.Sprintf(" and %d more", len(paths)-shown)
}

func rcloneVerb(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// rcloneFiles is "1 file", "3,310 files".
func rcloneFiles(n int) string {
	return rcloneCount(n) + " " + rcloneVerb(n, "file", "files")
}

// rcloneCount writes n with thousands separators: 100,000.
func rcloneCount(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
