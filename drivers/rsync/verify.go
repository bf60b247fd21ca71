package rsync

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/drivers/internal/guard"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
	"github.com/dustin/go-humanize"
)

// Verification by change plus rotation. A verify runs rsync two or three
// times at most, whatever the number of files, and hands it every list of
// names in a file (--files-from, NUL-separated), never in argv:
//
//  1. The files: after a backup, its own record. The backup itemized
//     every file (--info=name2 names the unchanged ones too) after
//     comparing names, sizes, times, modes and link targets on both sides,
//     and made the mirror match: a file missing from the mirror, extra in
//     it (with delete) or differing in size, time or mode was sent,
//     deleted or fixed by it, and its record says which files it
//     sent and which it found unchanged. Listing the trees again would
//     find only the source's own change since. A verify with no backup
//     before it (the verify command) lists them instead: a dry run of the
//     mirror without --checksum that reads no file's contents, in which
//     any such difference is one.
//  2. The files this run sent: rsync reads the mirror's copies (a dry run
//     with the mirror as the sender, into an empty scratch directory, with
//     --checksum) and each checksum must be the one rsync sent the file
//     with, which Backup recorded. The source is not read: the mirror is
//     compared with what was sent, so a source that changed since is no
//     concern and a changed byte in the mirror always is.
//  3. The slice: of the other files, those in the scope's slice
//     (drivers.Scope.InSlice on the path) are compared with the source by
//     checksum (rsync -n --checksum --files-from). A file sent without a
//     recorded checksum (a far side older than protocol 30) is compared
//     so too, whatever the slice.
//
// A difference found against the source (1 and 3) is no damage when the
// source changed after the backup began: the path (or, for a file gone
// from the source, the nearest directory above it that is left) has a
// later ctime, which no program sets at will. The next run sends such a
// file again and verifies it as one it wrote.

var _ drivers.ScopedVerifier = Driver{}

const (
	// sentFormat itemizes a file with the checksum rsync computed of the
	// data as it sent it, or, with --checksum, of the sender's file (%C:
	// blank otherwise, and when the far side speaks a protocol older than
	// 30). "|" ends the checksum, which is hex or blank, so a name that
	// starts with a space stays whole.
	sentFormat = "%i %C|%n"
	// listFormat itemizes an entry by name.
	listFormat = "%i %n"
)

// itemized splits one line of --out-format "%i ..." into its flags (the
// update type, the file type and nine attribute columns, or "*deleting
// ") and the rest, after a space: `^([<>ch.*][fdLDS][-+.?a-zA-Z ]{9}) `,
// checked by hand, as a backup reads a line per file.
func itemized(line string) (flags, rest string, ok bool) {
	if len(line) < 12 || line[11] != ' ' || !strings.ContainsRune("<>ch.*", rune(line[0])) || !strings.ContainsRune("fdLDS", rune(line[1])) {
		return "", "", false
	}
	for i := 2; i < 11; i++ {
		c := line[i]
		if !(c == '-' || c == '+' || c == '.' || c == '?' || c == ' ' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return "", "", false
		}
	}
	return line[:11], line[12:], true
}

// The record (the ledger): Backup writes when it began, then a record per
// regular file rsync listed: "S" with the checksum rsync sent it with
// (blank when rsync did not say) for a file it sent, "U" for one it found
// unchanged, each "KIND SUM|PATH" and NUL-terminated (a name may hold a
// newline). Nothing of it is held in memory while the backup runs. It is
// written beside its place and renamed into it once the backup succeeded,
// so a failed run leaves the last one's. The verification that follows
// reads it (the Artifact's Written names it). Kept in KeepDir, it is also
// the index of the mirror's files the next run's guard reads (guard.go).

func recordName(t *drivers.Target) string { return "rsync-files-" + t.Name }

// recordPath is where Backup records the mirror's files: in KeepDir, or
// in TempDir when the target has none (nothing then survives the run);
// "" when it has neither.
func recordPath(t *drivers.Target) string {
	switch {
	case t.KeepDir != "":
		return filepath.Join(t.KeepDir, recordName(t))
	case t.TempDir != "":
		return filepath.Join(t.TempDir, recordName(t))
	}
	return ""
}

// recorded says whether Backup records the mirror's files: for the
// verification, or for the next run's guard.
func recorded(t *drivers.Target) bool {
	return (t.Verify || t.Settings.Bool("delete", false)) && recordPath(t) != ""
}

const sentLedgerHeader = "alexandria-backup rsync sent, started "

const (
	ledgerSent      = 'S'
	ledgerUnchanged = 'U'
)

// sentRecorder reads the backup's output a line at a time: each regular
// file into the record, and --stats' total size.
type sentRecorder struct {
	total int64
	path  string // the record's place, "" when none is kept
	f     *os.File
	w     *bufio.Writer
	err   error
	kept  bool
}

// newSentRecorder starts the record of a backup that began at started.
func newSentRecorder(t *drivers.Target, started time.Time) *sentRecorder {
	r := &sentRecorder{total: -1}
	if !recorded(t) {
		return r
	}
	r.path = recordPath(t)
	if r.err = os.MkdirAll(filepath.Dir(r.path), 0o700); r.err != nil {
		return r
	}
	if r.f, r.err = os.OpenFile(r.path+".new", os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600); r.err != nil {
		return r
	}
	r.w = bufio.NewWriter(r.f)
	fmt.Fprintf(r.w, "%s%d\n", sentLedgerHeader, started.UnixNano())
	return r
}

func (r *sentRecorder) line(b []byte) {
	l := strings.TrimRight(string(b), "\r")
	flags, rest, ok := itemized(l)
	if !ok {
		if n := rsyncTotalSize([]byte(l)); n >= 0 {
			r.total = n
		}
		return
	}
	if flags[1] != 'f' || flags[0] == '*' || r.w == nil {
		return
	}
	sum, name, ok := strings.Cut(rest, "|")
	if !ok {
		return
	}
	switch flags[0] {
	case '<', '>':
		r.w.WriteByte(ledgerSent)
		r.w.WriteString(strings.TrimSpace(sum))
	default: // unchanged, or its attributes alone changed: no data sent
		r.w.WriteByte(ledgerUnchanged)
	}
	r.w.WriteByte('|')
	r.w.WriteString(rsyncUnescape(name))
	r.w.WriteByte(0)
}

// finish closes the record and, after a backup that succeeded (ok), puts
// it in its place; an error says why there is none.
func (r *sentRecorder) finish(ok bool) error {
	if r.path == "" {
		return nil
	}
	err := r.err
	if r.f != nil {
		if ferr := r.w.Flush(); err == nil {
			err = ferr
		}
		if cerr := r.f.Close(); err == nil {
			err = cerr
		}
	}
	if err == nil && ok {
		err = os.Rename(r.path+".new", r.path)
		r.kept = err == nil
	}
	if !r.kept {
		os.Remove(r.path + ".new")
	}
	return err
}

// eachLedgerRecord reads the ledger at path: it returns when the backup
// began, and calls fn with each record's kind, checksum and path.
func eachLedgerRecord(path string, fn func(kind byte, sum, name string) error) (time.Time, error) {
	f, err := os.Open(path)
	if err != nil {
		return time.Time{}, err
	}
	defer f.Close()
	br := bufio.NewReader(f)
	head, err := br.ReadString('\n')
	nanos, perr := strconv.ParseInt(strings.TrimSuffix(strings.TrimPrefix(head, sentLedgerHeader), "\n"), 10, 64)
	if err != nil || !strings.HasPrefix(head, sentLedgerHeader) || perr != nil {
		return time.Time{}, fmt.Errorf("%s: not a record of files sent", path)
	}
	for {
		rec, err := br.ReadString('\x00')
		if rec != "" {
			sum, name, ok := strings.Cut(strings.TrimSuffix(rec, "\x00"), "|")
			if !ok || len(sum) == 0 || err == io.EOF {
				return time.Time{}, fmt.Errorf("%s: a damaged record %q", path, rec)
			}
			if ferr := fn(sum[0], sum[1:], name); ferr != nil {
				return time.Time{}, ferr
			}
		}
		if err == io.EOF {
			return time.Unix(0, nanos), nil
		}
		if err != nil {
			return time.Time{}, fmt.Errorf("%s: %w", path, err)
		}
	}
}

// listingCommand names every file of source and mirror, and itemizes what
// differs by size, time, mode, owner, link or presence, without reading
// any file's contents (no --checksum).
func (r Driver) listingCommand(t *drivers.Target) proc.Command {
	args := append(rsyncBaseArgs(), "--dry-run", "--info=name2", "--out-format="+listFormat)
	if t.Settings.Bool("delete", false) {
		args = append(args, "--delete")
	}
	c := r.cmd(t, append(args, rsyncTransfer(t)...)...)
	// 24: a file vanished while being listed; the lines say the rest.
	c.Codes = proc.ExitCodes{Warning: []int{24}}
	return c
}

// sentCheckCommand has rsync read the mirror's copies of the files named
// in list and print their checksums: a dry run with the mirror as the
// sender into an empty scratch directory, so nothing is written and the
// source is not read.
func (r Driver) sentCheckCommand(t *drivers.Target, list, empty string) proc.Command {
	args := append([]string{"--dry-run", "--checksum", "--from0", "--files-from=" + list, "--out-format=" + sentFormat}, rsyncRsh(t)...)
	c := r.cmd(t, append(args, "--", rsyncMirrorRoot(t), empty+"/")...)
	// 23: a named file is missing from the mirror or unreadable there, and
	// 24: it vanished; either way it has no line, which is the verdict.
	c.Codes = proc.ExitCodes{Warning: []int{23, 24}}
	return c
}

// sliceCommand compares the files named in list with the source by
// checksum, as the mirror copies them. Directories are the listing's
// (--no-implied-dirs); a file gone from the source since the listing is
// no error (--ignore-missing-args).
func (r Driver) sliceCommand(t *drivers.Target, list string) proc.Command {
	args := append(rsyncBaseArgs(), "--dry-run", "--checksum", "--no-implied-dirs", "--ignore-missing-args",
		"--from0", "--files-from="+list, "--out-format="+listFormat)
	c := r.cmd(t, append(args, rsyncTransfer(t)...)...)
	c.Codes = proc.ExitCodes{Warning: []int{24}}
	return c
}

// verifySteps is the verify phase of a run, for --dry-run: after a
// backup, the files come from its record (the verify command, with no
// backup before it, lists them first, with the listing command).
func (r Driver) verifySteps(t *drivers.Target) []drivers.Step {
	sent := r.sentCheckCommand(t, "<the files this run sent>", "<an empty scratch directory>")
	slice := r.sliceCommand(t, "<the slice of the other files>")
	return []drivers.Step{
		{Phase: drivers.PhaseVerify, Note: "the files from the backup's record of what it sent and what it found unchanged (the backup compared every name, size, time and mode of both trees, and made the mirror match); no listing of the trees"},
		{Phase: drivers.PhaseVerify, Command: &sent},
		{Phase: drivers.PhaseVerify, Note: "the mirror's copy of each file this run sent must have the checksum rsync sent it with"},
		{Phase: drivers.PhaseVerify, Command: &slice},
		{Phase: drivers.PhaseVerify, Note: "the other files of this run's slice (1/verify_cycle of them, the next slice each run; all with verify --full) by checksum against the source: any file rsync itemizes is a difference, unless the source changed after the backup began"},
	}
}

// Verify reads everything: every file of the mirror by checksum.
func (r Driver) Verify(ctx context.Context, x proc.Executor, t *drivers.Target, a drivers.Artifact) error {
	_, err := r.VerifyScoped(ctx, x, t, a, drivers.FullScope)
	return err
}

// VerifyScoped reads the mirror's copies of the files the backup a sent,
// and compares the scope's slice of the other files with the source (see
// the top of this file). The files come from the backup's own record
// (a.Written) when a is this run's backup, and from a listing of both
// trees otherwise. A directory whose time alone differs is no damage (a
// file added or removed under it on a live library changes it), nor is a
// file the backup saw vanish, nor a difference the source's own change
// since the backup began explains.
func (r Driver) VerifyScoped(ctx context.Context, x proc.Executor, t *drivers.Target, a drivers.Artifact, s drivers.Scope) (drivers.Coverage, error) {
	v := &verification{t: t, scope: s, source: filepath.Clean(t.Settings.Str("source")), since: time.Now(),
		vanished: map[string]bool{}, sent: newSentSums()}
	for _, p := range a.Vanished {
		v.vanished[p] = true
	}
	ledger := ""
	if a.ID != "" && len(a.Written) == 1 {
		if _, err := os.Stat(a.Written[0]); err == nil {
			ledger = a.Written[0]
		}
	}
	if a.ID != "" && ledger == "" {
		// This run's backup kept no record of what it sent: only reading
		// every file reads those.
		v.scope = drivers.FullScope
	}
	dir, err := verifyDir(t)
	if err != nil {
		return drivers.Coverage{}, err
	}
	defer os.RemoveAll(dir)
	sliceList, err := newNameList(filepath.Join(dir, "slice"))
	if err != nil {
		return drivers.Coverage{}, err
	}
	defer sliceList.f.Close()
	sentList, err := newNameList(filepath.Join(dir, "sent"))
	if err != nil {
		return drivers.Coverage{}, err
	}
	defer sentList.f.Close()

	if ledger != "" {
		if err := v.fromLedger(ledger, sentList, sliceList); err != nil {
			return drivers.Coverage{}, err
		}
	} else {
		listed := filepath.Join(dir, "listing")
		if _, err := runToFile(ctx, x, r.listingCommand(t), listed); err != nil {
			return drivers.Coverage{}, err
		}
		if err := eachLine(listed, func(l string) error { return v.listed(l, sliceList) }); err != nil {
			return drivers.Coverage{}, err
		}
	}
	if v.recorded > 0 {
		if err := v.checkSent(ctx, x, r, dir, sentList); err != nil {
			return drivers.Coverage{}, err
		}
	}
	if sliceList.n > 0 {
		if err := sliceList.close(); err != nil {
			return drivers.Coverage{}, err
		}
		out := filepath.Join(dir, "slice.out")
		if _, err := runToFile(ctx, x, r.sliceCommand(t, sliceList.path), out); err != nil {
			return drivers.Coverage{}, err
		}
		err := eachLine(out, func(l string) error {
			if flags, name, ok := itemized(l); ok {
				v.judge(l, flags, rsyncUnescape(name))
			} else {
				v.difference(l)
			}
			return nil
		})
		if err != nil {
			return drivers.Coverage{}, err
		}
	}
	cov := v.scope.Covered(v.detail())
	if v.others == 0 && v.files > 0 {
		// This run sent every file (a first backup): all were read.
		cov = drivers.Coverage{Full: true, Detail: cov.Detail}
	}
	if v.differences == 0 {
		return cov, nil
	}
	noun := "differences"
	if v.differences == 1 {
		noun = "difference"
	}
	return cov, fmt.Errorf("the mirror %s differs from %s or from what this run sent (%d %s): %s",
		t.Settings.Str("destination"), t.Settings.Str("source"), v.differences, noun, strings.Join(v.shown, " | "))
}

// fromLedger takes the files from the backup's record instead of a
// listing: the backup compared every name, size, time and mode of both
// trees and made the mirror match, so what a listing would find now is
// only the source's own change since. It reads the record twice, so as to
// hold no more than the files sent in memory: first the files sent (into
// the sent list, in rsync's own order), then the unchanged ones (into the
// slice list when they are in the scope's slice).
func (v *verification) fromLedger(path string, sentList, sliceList *nameList) error {
	v.ledger = path
	started, err := eachLedgerRecord(path, func(kind byte, sum, name string) error {
		switch {
		case kind != ledgerSent:
			return nil
		case sum == "":
			v.unrecorded = append(v.unrecorded, name)
			return nil
		}
		v.sent.add(name, sum)
		v.recorded++
		return sentList.add(name)
	})
	if err != nil {
		return err
	}
	v.since = started
	v.files = v.recorded + len(v.unrecorded)
	// A file sent without a checksum is compared with the source,
	// whatever the slice.
	for _, name := range v.unrecorded {
		v.writtenRead++
		if err := sliceList.add(name); err != nil {
			return err
		}
	}
	_, err = eachLedgerRecord(path, func(kind byte, _, name string) error {
		if kind != ledgerUnchanged {
			return nil
		}
		v.files++
		v.others++
		if !v.scope.InSlice(name) {
			return nil
		}
		v.othersRead++
		return sliceList.add(name)
	})
	return err
}

// verification is what one VerifyScoped has found so far.
type verification struct {
	t        *drivers.Target
	scope    drivers.Scope
	source   string
	since    time.Time       // the backup's start (or the verify's): later source changes are no damage
	vanished map[string]bool // paths the backup saw vanish
	// After a backup: its record (ledger), the checksums its files were
	// sent with (sent: recorded counts them) and the files it sent with
	// none (unrecorded: a far side older than protocol 30).
	ledger     string
	sent       *sentSums
	recorded   int
	unrecorded []string

	files       int // regular files in the listing
	others      int // of those, the ones this run did not send
	othersRead  int // of those, the ones compared by checksum (the slice)
	writtenRead int // files sent without a recorded checksum, compared with the source
	changed     int // differences the source's own change explains
	differences int
	shown       []string // the first few differences
}

func (v *verification) difference(what string) {
	v.differences++
	if len(v.shown) < 5 {
		v.shown = append(v.shown, what)
	}
}

// listed takes one line of the listing (a verify with no backup before
// it): a difference is judged; an unchanged regular file goes into the
// slice list when it is in the scope's slice.
func (v *verification) listed(line string, slice *nameList) error {
	flags, name, ok := itemized(line)
	if !ok {
		v.difference(line) // e.g. "created directory": the mirror is missing
		return nil
	}
	name = rsyncUnescape(name)
	file := flags[1] == 'f' && flags[0] != '*'
	if file {
		v.files++
		v.others++
	}
	// --info=name2 blanks the attribute columns of what is unchanged.
	if flags[0] == '*' || strings.TrimSpace(flags[2:]) != "" {
		v.judge(line, flags, name)
		return nil
	}
	if !file || !v.scope.InSlice(name) {
		return nil
	}
	v.othersRead++
	return slice.add(name)
}

// judge counts one itemized line as a difference unless it is harmless or
// the source's own change since the backup began explains it.
func (v *verification) judge(line, flags, name string) {
	switch {
	case rsyncHarmless(flags, name, v.vanished):
	case v.changedInSource(name):
		v.changed++
	default:
		v.difference(line)
	}
}

// rsyncHarmless says whether one itemized line of the verification is no
// sign of damage: a directory that exists on both sides and differs only
// in its modification time, or a path the backup saw vanish.
//
// The flags are "YXcstpoguax" (Y the update type, X the file type, then
// one letter per attribute, "." when unchanged) or "*deleting  ".
func rsyncHarmless(flags, name string, vanished map[string]bool) bool {
	if vanished[strings.TrimSuffix(name, "/")] {
		return true
	}
	if len(flags) != 11 || flags[0] != '.' || flags[1] != 'd' {
		return false
	}
	for i, f := range flags[2:] {
		if f != '.' && !(i == 2 && (f == 't' || f == 'T')) {
			return false
		}
	}
	return true
}

// changedInSource says whether the source changed at name after the
// backup began: its ctime, or for a path gone from the source that of the
// nearest directory above it that is left (removing an entry changes its
// directory), is not earlier than v.since. The ctime, unlike the mtime,
// cannot be set back by a program that copies files in.
func (v *verification) changedInSource(name string) bool {
	rel := filepath.FromSlash(strings.TrimSuffix(name, "/"))
	if !filepath.IsLocal(rel) && rel != "." {
		return false
	}
	for p := filepath.Join(v.source, rel); ; p = filepath.Dir(p) {
		var st syscall.Stat_t
		err := syscall.Lstat(p, &st)
		if err == nil {
			return !time.Unix(st.Ctim.Unix()).Before(v.since)
		}
		if !errors.Is(err, syscall.ENOENT) && !errors.Is(err, syscall.ENOTDIR) || p == v.source || len(p) <= len(v.source) {
			return false
		}
	}
}

// checkSent has rsync read the mirror's copies of the files this run sent
// with a recorded checksum (list), and compares each checksum with the
// recorded one. A file with no line is missing from the mirror or
// unreadable.
func (v *verification) checkSent(ctx context.Context, x proc.Executor, r Driver, dir string, list *nameList) error {
	if err := list.close(); err != nil {
		return err
	}
	empty := filepath.Join(dir, "empty")
	if err := os.Mkdir(empty, 0o700); err != nil {
		return err
	}
	out := filepath.Join(dir, "sent.out")
	res, err := runToFile(ctx, x, r.sentCheckCommand(v.t, list.path, empty), out)
	if err != nil {
		return err
	}
	// Each file's line marks it read: a file sent left unread had no line.
	err = eachLine(out, func(l string) error {
		flags, rest, ok := itemized(l)
		if !ok || flags[1] != 'f' {
			return nil
		}
		got, shown, ok := strings.Cut(rest, "|")
		if !ok {
			return nil
		}
		want, ok := v.sent.read(rsyncUnescape(shown))
		if !ok {
			return nil
		}
		if got = strings.TrimSpace(got); !want.matches(got) {
			v.difference(fmt.Sprintf("%s: the mirror's copy is not what this run sent (checksum %s, sent with %s)", shown, got, want))
		}
		return nil
	})
	if err != nil {
		return err
	}
	why := ""
	if res.ExitCode != 0 {
		why = fmt.Sprintf(" (rsync exited %d: %s)", res.ExitCode, proc.LastLines(res.Stderr, 2))
	}
	// The record names the files left unread, in rsync's order.
	_, err = eachLedgerRecord(v.ledger, func(kind byte, sum, name string) error {
		if kind == ledgerSent && sum != "" && v.sent.unread(name) {
			v.difference(fmt.Sprintf("%s: sent by this run, but missing from the mirror or unreadable there%s", rsyncEscape(name), why))
		}
		return nil
	})
	return err
}

// detail says what was read, in numbers.
func (v *verification) detail() string {
	s := v.scope
	var parts []string
	if n := v.recorded + v.writtenRead; n > 0 {
		parts = append(parts, "the "+guard.CountFiles(int64(n))+" this run sent")
	}
	others := humanize.Comma(int64(v.others))
	switch {
	case v.others == 0:
	case s.Full || s.Cycle <= 1:
		parts = append(parts, "all "+others+" others")
	case s.Slice == 0:
		parts = append(parts, "none of the "+others+" others")
	default:
		parts = append(parts, fmt.Sprintf("%s of the %s others (slice %d/%d)", humanize.Comma(int64(v.othersRead)), others, s.Slice, s.Cycle))
	}
	d := strings.Join(parts, " and ") + " by checksum, and the names, sizes and times of all " + guard.CountFiles(int64(v.files))
	if v.changed > 0 {
		d += fmt.Sprintf("; %s left to the next run, which sends them: the source changed after the backup began", humanize.Comma(int64(v.changed)))
	}
	return d
}

// verifyDir makes a private scratch directory for the lists and outputs
// of one verification.
func verifyDir(t *drivers.Target) (string, error) {
	parent := t.TempDir
	if parent == "" {
		parent = os.TempDir()
	}
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return "", fmt.Errorf("verify: scratch directory: %w", err)
	}
	dir, err := os.MkdirTemp(parent, "rsync-verify-"+t.Name+"-")
	if err != nil {
		return "", fmt.Errorf("verify: scratch directory: %w", err)
	}
	return dir, nil
}

// nameList is a --files-from file being written: NUL-separated names
// (--from0), so a name may hold a newline.
type nameList struct {
	path string
	f    *os.File
	w    *bufio.Writer
	n    int
}

func newNameList(path string) (*nameList, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	return &nameList{path: path, f: f, w: bufio.NewWriter(f)}, nil
}

func (l *nameList) add(name string) error {
	l.n++
	_, err := l.w.WriteString(name + "\x00")
	return err
}

func (l *nameList) close() error {
	if err := l.w.Flush(); err != nil {
		return err
	}
	return l.f.Close()
}

// runToFile runs c with its standard output going to a new file at path,
// which the caller then reads line by line: the listing of a large
// library is never held in memory.
func runToFile(ctx context.Context, x proc.Executor, c proc.Command, path string) (proc.Result, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return proc.Result{}, err
	}
	defer f.Close()
	c.Stdout = f
	return x.Run(ctx, c)
}

// eachLine calls fn with each non-empty line of the file at path. rsync
// escapes a newline in a name (\#012), so a line is one entry.
func eachLine(path string, fn func(string) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	r := bufio.NewReader(f)
	for {
		line, err := r.ReadString('\n')
		if line = strings.TrimRight(line, "\r\n"); line != "" {
			if ferr := fn(line); ferr != nil {
				return ferr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
