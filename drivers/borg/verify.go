package borg

// Verification by change plus rotation, in borg's terms.
//
//  1. What the run wrote: `borg create --list --filter=AMC` names each file
//     it stored new or changed; Backup writes those names, as they come, to
//     a patterns file in the target's temporary directory (one exact-path
//     pattern a file, never held whole in memory), and verify reads exactly
//     those files back with `borg extract --dry-run --patterns-from`. In
//     borg 1.2 a dry-run extract fetches every chunk of each selected file,
//     decrypts and authenticates it (key.decrypt checks the MAC, or the id
//     hash when unencrypted) and compares the sizes (archive.py
//     extract_item). No file stored: no extract.
//  2. The archive: `borg check --archives-only ::ARCHIVE`, its metadata and
//     that every chunk it references is in the repository.
//  3. The rotation: `borg check --repository-only --max-duration=D` reads
//     the segments on from where the last partial check stopped (borg keeps
//     last_segment_checked in the repository's config) and wraps around at
//     the end (repository.py check()). What it read is taken from its own
//     output, and mapped to the rotation's slices by position: slice k of
//     a cycle of C is the k-th C-th of the segments in borg's order. A
//     slice counts as read when the check passed its end in this run (it
//     reads on from where it stopped, so the slice's beginning was read by
//     the runs just before); a pass from the first segment to the last is
//     everything. D is the time to read about 1/C of the repository at the
//     rate earlier checks measured, kept in the target's memo.
//
// The full scope (verify --full, verify_cycle = 1) is one `borg check` of
// everything, as Verify always did.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
)

var _ drivers.ScopedVerifier = Driver{}

// borgListFilter: the file statuses `borg create --list` names, the files
// whose contents this run stored: A added, M modified, C changed while
// being read (stored all the same).
const borgListFilter = "--filter=AMC"

// borgDefaultRate is the read rate assumed before any check was measured:
// a fast one, so that the first partial check is short rather than one
// that runs for hours on a slow disk or link; the next run knows better.
const borgDefaultRate = 200 << 20 // bytes per second

// The record of what a backup stored is a borg patterns file: comments,
// one include pattern a file, and a last line excluding everything else.
const (
	writtenHeader  = "# alexandria-backup: the files borg create stored"
	writtenFiles   = "# files "
	writtenRepo    = "# repository-bytes "
	writtenExclude = "- re:^"
)

func writtenRecordPath(t *drivers.Target) string {
	if t.TempDir == "" {
		return ""
	}
	return filepath.Join(t.TempDir, "borg-written-"+t.Name)
}

// writtenRecord is the patterns file being written while borg create runs.
type writtenRecord struct {
	path string
	f    *os.File
	w    *bufio.Writer
	n    int64
	err  error
}

func newWrittenRecord(t *drivers.Target) (*writtenRecord, error) {
	p := writtenRecordPath(t)
	if p == "" {
		return nil, nil
	}
	if err := os.MkdirAll(t.TempDir, 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	r := &writtenRecord{path: p, f: f, w: bufio.NewWriter(f)}
	_, r.err = r.w.WriteString(writtenHeader + "\n")
	return r, nil
}

func (r *writtenRecord) add(archivePath string) {
	if r.err != nil || archivePath == "" {
		return
	}
	r.n++
	_, r.err = r.w.WriteString(borgIncludePattern(archivePath) + "\n")
}

// finish ends the file: the exclusion of everything else, the count and
// the repository's size (for the partial check's duration).
func (r *writtenRecord) finish(repoBytes int64) error {
	if r.err == nil {
		_, r.err = fmt.Fprintf(r.w, "%s\n%s%d\n%s%d\n", writtenExclude, writtenFiles, r.n, writtenRepo, repoBytes)
	}
	if r.err == nil {
		r.err = r.w.Flush()
	}
	if err := r.f.Close(); r.err == nil {
		r.err = err
	}
	if r.err != nil {
		os.Remove(r.path)
	}
	return r.err
}

func (r *writtenRecord) abandon() {
	r.f.Close()
	os.Remove(r.path)
}

// parse reads borg create's stderr: the file_status lines --list prints
// go to the record and nowhere else; the rest as parseBorgLogJSON reads
// it (progress only when someone watches).
func (r *writtenRecord) parse(watched bool) func([]byte) (proc.Progress, bool, []byte) {
	return func(line []byte) (proc.Progress, bool, []byte) {
		if bytes.Contains(line, []byte(`"file_status"`)) {
			var m struct {
				Type, Status, Path string
			}
			if json.Unmarshal(line, &m) == nil && m.Type == "file_status" {
				if r != nil && strings.Contains("AMC", m.Status) && m.Status != "" {
					r.add(m.Path)
				}
				return proc.Progress{}, false, nil
			}
		}
		p, ok, keep := parseBorgLogJSON(line)
		if ok && !watched {
			return proc.Progress{}, false, nil
		}
		return p, ok, keep
	}
}

// writtenInfo is what a record says: where it is, how many files, and the
// repository's size after the backup (0: unknown).
type writtenInfo struct {
	path      string
	files     int64
	repoBytes int64
}

// readWrittenRecord checks that p is a complete record and reads its
// numbers (the patterns themselves are borg's to read).
func readWrittenRecord(p string) (writtenInfo, error) {
	f, err := os.Open(p)
	if err != nil {
		return writtenInfo{}, err
	}
	defer f.Close()
	info := writtenInfo{path: p, files: -1}
	r := bufio.NewReader(f)
	first := true
	for {
		line, err := r.ReadString('\n')
		line = strings.TrimSuffix(line, "\n")
		switch {
		case first && line != writtenHeader:
			return writtenInfo{}, fmt.Errorf("%s is not a record of the files borg stored", p)
		case strings.HasPrefix(line, writtenFiles):
			info.files, _ = strconv.ParseInt(strings.TrimPrefix(line, writtenFiles), 10, 64)
		case strings.HasPrefix(line, writtenRepo):
			info.repoBytes, _ = strconv.ParseInt(strings.TrimPrefix(line, writtenRepo), 10, 64)
		}
		first = false
		if err != nil {
			break
		}
	}
	if info.files < 0 {
		return writtenInfo{}, fmt.Errorf("%s is incomplete: the backup that wrote it did not finish", p)
	}
	return info, nil
}

// borgArchivePath is the path borg stores for a path create names (as
// given, /srv/books/a.epub): without its leading slashes and ../
// (helpers make_path_safe).
func borgArchivePath(p string) string {
	return borgUnsafeRE.ReplaceAllString(p, "")
}

var borgUnsafeRE = regexp.MustCompile(`^((\.\.)?/+)+`)

// borgIncludePattern selects exactly the file create named p in a
// --patterns-from file. pf: is an exact
// match looked up in a table, so 100,000 of them cost no more than one;
// but borg strips each line's leading and trailing whitespace, splits
// lines at \r as well as \n, and normalises a pf: path, so a name those
// would change becomes a regular expression instead (re:, matched with
// Python's re.search), every character but letters, digits, '/' and '_'
// escaped. borg create names a file whose name has bytes that are not
// UTF-8 with a '?' for each (remove_surrogates): a '?' becomes '.', which
// matches the one character borg stores there, or a real '?' (a sibling
// whose name differs only there would be read too, which does no harm).
func borgIncludePattern(p string) string {
	p = borgArchivePath(p)
	if !borgNeedsRegex(p) {
		return "+ pf:" + p
	}
	var b strings.Builder
	b.WriteString("+ re:^")
	for _, c := range p {
		switch {
		case c == '?' || c == utf8.RuneError:
			b.WriteString(".")
		case c < utf8.RuneSelf && (c == '/' || c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'):
			b.WriteRune(c)
		case c < utf8.RuneSelf:
			fmt.Fprintf(&b, `\x%02x`, c)
		case unicode.IsPrint(c):
			b.WriteRune(c)
		default:
			fmt.Fprintf(&b, `\U%08x`, c)
		}
	}
	b.WriteString(`\Z`)
	return b.String()
}

func borgNeedsRegex(p string) bool {
	if p != path.Clean(p) || strings.HasPrefix(p, "/") || strings.ContainsAny(p, "?\ufffd") {
		return true
	}
	for _, c := range p {
		// Control characters (\n, \r, and Python's other line and
		// whitespace characters among them) and anything unprintable.
		if c < 0x20 || c == 0x7f || !unicode.IsPrint(c) && c != ' ' {
			return true
		}
	}
	first, _ := utf8.DecodeRuneInString(p)
	last, _ := utf8.DecodeLastRuneInString(p)
	return unicode.IsSpace(first) || unicode.IsSpace(last)
}

// readBackCommand reads back the files the patterns file selects from the
// archive, writing nothing.
func (b Driver) readBackCommand(t *drivers.Target, patterns, archive string) proc.Command {
	c := b.cmd(t, "extract", "--dry-run", borgLockWait(t), "--patterns-from="+patterns, "--", "::"+archive)
	return c
}

// archiveCheckCommand checks the archive's metadata and that every chunk
// it references is in the repository, reading no data chunk.
func (b Driver) archiveCheckCommand(t *drivers.Target, archive string) proc.Command {
	return b.cmd(t, "check", "--archives-only", borgLockWait(t), "--", "::"+archive)
}

// segmentCheckCommand checks the repository's segments for at most
// duration (borg's unit is whole seconds) from where the last partial
// check stopped. --debug is what names each segment as it is read
// ("checking segment file ..."): with --info, a segment skipped and one
// read give the same progress line, and the start would be unknown.
func (b Driver) segmentCheckCommand(t *drivers.Target, duration string) proc.Command {
	c := b.cmd(t, "check", "--repository-only", "--max-duration="+duration, "--debug", "--log-json", "--progress", borgLockWait(t))
	return c
}

// borgCycle is the target's cycle; a target built without a plan has none
// set and gets the default.
func borgCycle(t *drivers.Target) int {
	if t.VerifyCycle >= 1 {
		return t.VerifyCycle
	}
	return drivers.DefaultVerifyCycle
}

func borgFullScope(s drivers.Scope) bool { return s.Full || s.Cycle == 1 }

// verifySteps is the verify phase for --dry-run.
func (b Driver) verifySteps(t *drivers.Target) []drivers.Step {
	archive := borgArchivePrefix(t) + "<the archive just made>"
	if borgCycle(t) == 1 {
		check := b.checkCommand(t, archive)
		return []drivers.Step{{Phase: drivers.PhaseVerify, Command: &check}}
	}
	extract := b.readBackCommand(t, "<the files this run stored>", archive)
	archives := b.archiveCheckCommand(t, archive)
	segments := b.segmentCheckCommand(t, "D")
	return []drivers.Step{
		{Phase: drivers.PhaseVerify, Command: &extract},
		{Phase: drivers.PhaseVerify, Note: "reads back every chunk of the files this run stored new or changed (borg create --list --filter=AMC names them); none: no extract"},
		{Phase: drivers.PhaseVerify, Command: &archives},
		{Phase: drivers.PhaseVerify, Command: &segments},
		{Phase: drivers.PhaseVerify, Note: fmt.Sprintf("D: seconds to read about 1/%d of the repository at the rate earlier checks measured; borg reads on from where the last check stopped, so %d runs read every segment; verify --full: one borg check of everything", borgCycle(t), borgCycle(t))},
	}
}

func (b Driver) Verify(ctx context.Context, x proc.Executor, t *drivers.Target, a drivers.Artifact) error {
	_, err := b.VerifyScoped(ctx, x, t, a, drivers.FullScope)
	return err
}

// VerifyScoped reads back the files the backup a stored, checks its
// archive, and has borg check the next segments of the repository for
// about a slice's worth of time (see the top of this file); the full scope
// is one borg check of everything.
func (b Driver) VerifyScoped(ctx context.Context, x proc.Executor, t *drivers.Target, a drivers.Artifact, s drivers.Scope) (drivers.Coverage, error) {
	if err := b.ready(t); err != nil {
		return drivers.Coverage{}, err
	}
	var written *writtenInfo
	if a.ID != "" && len(a.Written) > 0 {
		defer os.Remove(a.Written[0])
	}
	// A full check reads every chunk's segment anyway: no record needed.
	if a.ID != "" && len(a.Written) > 0 && !borgFullScope(s) {
		info, err := readWrittenRecord(a.Written[0])
		if err != nil {
			return drivers.Coverage{}, err
		}
		written = &info
	}
	name := a.ID
	if name == "" {
		archives, err := b.list(ctx, x, t, 1)
		if err != nil {
			return drivers.Coverage{}, err
		}
		if len(archives) == 0 {
			return drivers.Coverage{}, fmt.Errorf("no archive of target %s (%s*) in the repository to verify", t.Name, borgArchivePrefix(t))
		}
		name = archives[len(archives)-1].Name
	}
	if borgFullScope(s) {
		res, err := x.Run(ctx, b.checkCommand(t, name))
		if err != nil {
			return drivers.Coverage{}, borgDamage("borg check of "+name, res, err)
		}
		what := "every segment of the repository"
		if t.Settings.Bool("check_verify_data", false) {
			what += " and every chunk's data"
		}
		cov := s.Covered(what + " and the archive (borg check)")
		cov.Memo = s.Memo
		return cov, nil
	}

	var parts []string
	var errs []error
	if written != nil {
		if written.files == 0 {
			parts = append(parts, "no file (this run stored none)")
		} else {
			res, err := x.Run(ctx, b.readBackCommand(t, written.path, name))
			if err != nil {
				errs = append(errs, borgDamage("borg extract --dry-run of the files this run stored in "+name, res, err))
			}
			parts = append(parts, fmt.Sprintf("the %s this run stored (borg extract --dry-run)", countFiles(written.files)))
		}
	}
	if err := ctx.Err(); err != nil {
		return drivers.Coverage{}, err
	}
	res, err := x.Run(ctx, b.archiveCheckCommand(t, name))
	if err != nil {
		errs = append(errs, borgDamage("borg check --archives-only of "+name, res, err))
	}
	parts = append(parts, "the archive's metadata and chunk list (borg check --archives-only)")
	if err := ctx.Err(); err != nil {
		return drivers.Coverage{}, err
	}

	cov := drivers.Coverage{Cycle: s.Cycle, Memo: s.Memo}
	if s.Slice > 0 {
		repoBytes := int64(0)
		if written != nil {
			repoBytes = written.repoBytes
		}
		if repoBytes <= 0 {
			repoBytes = b.repositoryBytes(ctx, x, t)
		}
		memo := parseBorgMemo(s.Memo)
		secs := borgCheckSeconds(repoBytes, s.Cycle, memo.rate())
		scan := &segmentScan{start: -1, watched: t.Progress}
		c := b.segmentCheckCommand(t, strconv.Itoa(secs))
		c.Progress = &proc.ProgressReader{Stderr: true, Parse: scan.parse}
		res, err := x.Run(ctx, c)
		if err != nil {
			errs = append(errs, borgDamage("borg check --repository-only", res, err))
		} else if !scan.finished() {
			errs = append(errs, fmt.Errorf("borg check --repository-only did not say where it stopped (%s)", proc.LastLines(res.Stderr, 3)))
		}
		read := scan.read()
		if r := scan.rate(repoBytes); r > 0 {
			memo.BytesPerSecond = r
		}
		cov.Memo = memo.String()
		cov.Full = read.full
		cov.Slices = read.slices(s.Cycle)
		parts = append(parts, read.detail(cov.Slices, s.Cycle, secs))
	}
	if err := errors.Join(errs...); err != nil {
		return drivers.Coverage{}, err
	}
	cov.Detail = strings.Join(parts, ", ")
	return cov, nil
}

func countFiles(n int64) string {
	if n == 1 {
		return "1 file"
	}
	return strconv.FormatInt(n, 10) + " files"
}

// borgDamage words a failed command: exit 1 of check or extract is what
// borg found wrong, named by the first lines that say so.
func borgDamage(what string, res proc.Result, err error) error {
	// A chunk that fails its MAC or id check stops extract with a
	// traceback (exit 2), not a finding.
	if res.ExitCode == 1 || borgIntegrityRE.Match(res.Stderr) {
		return fmt.Errorf("%s found damage (%s): %w", what, borgCheckFindings(res.Stderr), err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

var borgIntegrityRE = regexp.MustCompile(`IntegrityError|Data integrity error|Size inconsistency`)

// repositoryBytes is the repository's size when no backup said it: the
// segments of a local repository, else what `borg info --json` says; 0
// when neither can tell (the check then runs the shortest time).
func (b Driver) repositoryBytes(ctx context.Context, x proc.Executor, t *drivers.Target) int64 {
	repo := t.Settings.Str("repository")
	if filepath.IsAbs(repo) {
		var total int64
		err := filepath.WalkDir(filepath.Join(repo, "data"), func(p string, e fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if e.Type().IsRegular() {
				if fi, err := e.Info(); err == nil {
					total += fi.Size()
				}
			}
			return nil
		})
		if err == nil {
			return total
		}
	}
	res, err := x.Run(ctx, b.cmd(t, "info", "--json", borgLockWait(t)))
	if err != nil {
		return 0
	}
	return borgCacheBytes(res.Stdout)
}

// borgCacheBytes reads the repository's stored size (deduplicated,
// compressed) from the cache stats borg create --json and borg info
// --json print.
func borgCacheBytes(stdout []byte) int64 {
	var out struct {
		Cache struct {
			Stats struct {
				UniqueCSize int64 `json:"unique_csize"`
			} `json:"stats"`
		} `json:"cache"`
	}
	if json.Unmarshal(stdout, &out) != nil {
		return 0
	}
	return out.Cache.Stats.UniqueCSize
}

// borgCheckSeconds is how long a partial check reads: about 1/cycle of
// the repository at rate, in whole seconds and at least one.
func borgCheckSeconds(repoBytes int64, cycle int, rate float64) int {
	if repoBytes <= 0 || rate <= 0 || cycle < 1 {
		return 1
	}
	secs := math.Ceil(float64(repoBytes) / float64(cycle) / rate)
	if secs < 1 || math.IsNaN(secs) {
		return 1
	}
	if secs > 1e7 {
		return 1e7
	}
	return int(secs)
}

// borgMemo is what the driver keeps between a target's verifies: the rate
// the last partial check read at. It is JSON in the memo; nothing outside
// this driver reads it.
type borgMemo struct {
	BytesPerSecond float64 `json:"bytes_per_second,omitempty"`
}

func parseBorgMemo(s string) borgMemo {
	var m borgMemo
	if json.Unmarshal([]byte(s), &m) != nil || m.BytesPerSecond < 0 || math.IsInf(m.BytesPerSecond, 0) || math.IsNaN(m.BytesPerSecond) {
		return borgMemo{}
	}
	return m
}

func (m borgMemo) rate() float64 {
	if m.BytesPerSecond > 0 {
		return m.BytesPerSecond
	}
	return borgDefaultRate
}

func (m borgMemo) String() string {
	if m.BytesPerSecond <= 0 {
		return ""
	}
	b, _ := json.Marshal(m)
	return string(b)
}

var (
	borgSkipRE     = regexp.MustCompile(`^skipping to segments >= (\d+)$`)
	borgSegmentRE  = regexp.MustCompile(`^checking segment file .*\.\.\.$`)
	borgPartialRE  = regexp.MustCompile(`^finished partial segment check, last segment checked is (-?\d+)$`)
	borgFinishedRE = regexp.MustCompile(`^finished segment check at segment (-?\d+)$`)
)

// segmentScan follows `borg check --repository-only --max-duration --debug
// --log-json --progress` line by line (repository.py check()): for each
// segment i in borg's order, a progress line with current = i+1 (every
// 0.1%, so for most segments when there are many), then, when the segment
// is read rather than skipped as checked before, "checking segment file".
// The segments read are consecutive positions, from start to start+n.
type segmentScan struct {
	watched bool
	total   int // segments, from the progress lines
	n       int // segments read
	// start is the position of the first segment read (-1: not known yet):
	// 0 when borg skipped to segment 0; otherwise the first progress line
	// after the reading began, at position i, says that the n segments
	// read since the line before were start..i-1.
	start        int
	sinceLine    int  // segments read since the last progress line
	wrapped      bool // read to the last segment
	partial      bool // stopped at the time limit
	began, ended float64
}

func (s *segmentScan) parse(line []byte) (proc.Progress, bool, []byte) {
	var m struct {
		Type      string  `json:"type"`
		Message   string  `json:"message"`
		Levelname string  `json:"levelname"`
		Msgid     string  `json:"msgid"`
		Current   int     `json:"current"`
		Total     int     `json:"total"`
		Finished  bool    `json:"finished"`
		Time      float64 `json:"time"`
	}
	if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &m) != nil {
		return proc.Progress{}, false, line
	}
	// A remote repository's lines come through the client with "Remote: ".
	msg := strings.TrimPrefix(m.Message, "Remote: ")
	switch {
	case m.Type == "progress_percent" && strings.HasSuffix(m.Msgid, "repository.check") && !m.Finished:
		if s.start < 0 && s.n > 0 && s.n == s.sinceLine {
			s.start = m.Current - 1 - s.n
		}
		s.total, s.sinceLine = m.Total, 0
	case m.Type != "log_message":
	case borgSegmentRE.MatchString(msg):
		s.n++
		s.sinceLine++
		return proc.Progress{}, false, nil
	case borgSkipRE.MatchString(msg):
		if borgSkipRE.FindStringSubmatch(msg)[1] == "0" {
			s.start = 0
		}
		s.began = m.Time
	case borgPartialRE.MatchString(msg):
		s.partial, s.ended = true, m.Time
	case borgFinishedRE.MatchString(msg):
		s.wrapped, s.ended = true, m.Time
	case m.Levelname == "DEBUG":
		return proc.Progress{}, false, nil
	}
	p, ok, keep := parseBorgLogJSON(line)
	if ok && !s.watched {
		return proc.Progress{}, false, nil
	}
	return p, ok, keep
}

func (s *segmentScan) finished() bool { return s.partial || s.wrapped }

// segmentsRead is what a partial check read: positions [from, to) of
// total segments (from < 0: not known), and whether that was everything.
type segmentsRead struct {
	from, to, total int
	full            bool
}

func (s *segmentScan) read() segmentsRead {
	r := segmentsRead{from: s.start, total: s.total}
	switch {
	case s.wrapped:
		// To the end. The last segments may be skipped rather than read
		// when they are above the last commit (an interrupted write left
		// them, holding nothing), so start is counted from the end only
		// when it is not known: it can only come out later than it was.
		r.to = s.total
		if r.from < 0 {
			r.from = max(s.total-s.n, 0)
		}
		r.full = r.from == 0
	case s.partial && r.from >= 0:
		r.to = min(r.from+s.n, s.total)
	default:
		// Stopped before a progress line placed the segments read (fewer
		// than a 0.1% step): nothing is claimed.
		r.from, r.to = -1, -1
	}
	return r
}

// slices are the slices of cycle whose end the check passed: slice k ends
// at position ⌊k·total/cycle⌋ (an empty slice, with fewer segments than
// slices, counts once the check passed where it would be).
func (r segmentsRead) slices(cycle int) []int {
	if r.full {
		out := make([]int, cycle)
		for i := range out {
			out[i] = i + 1
		}
		return out
	}
	if r.from < 0 || r.to <= r.from || cycle < 1 {
		return nil
	}
	var out []int
	for k := 1; k <= cycle; k++ {
		start, end := (k-1)*r.total/cycle, k*r.total/cycle
		if r.from < end && end <= r.to || start == end && r.from <= end && end <= r.to {
			out = append(out, k)
		}
	}
	return out
}

func (r segmentsRead) detail(slices []int, cycle, secs int) string {
	limit := fmt.Sprintf("borg check --repository-only --max-duration=%d", secs)
	switch {
	case r.full:
		return fmt.Sprintf("every one of the %d segments of the repository (%s)", r.total, limit)
	case r.from < 0 || r.to <= r.from:
		return fmt.Sprintf("no whole segment that can be placed (%s)", limit)
	}
	what := fmt.Sprintf("segments %d to %d of %d", r.from+1, r.to, r.total)
	if len(slices) == 0 {
		return fmt.Sprintf("%s, ending no slice of %d (%s)", what, cycle, limit)
	}
	names := make([]string, len(slices))
	for i, k := range slices {
		names[i] = strconv.Itoa(k)
	}
	noun := "slice"
	if len(slices) > 1 {
		noun = "slices"
	}
	return fmt.Sprintf("%s, ending %s %s of %d (%s)", what, noun, strings.Join(names, ", "), cycle, limit)
}

// rate is how fast the check read, in bytes per second, counting each
// segment as an equal share of repoBytes; 0 when it cannot tell.
func (s *segmentScan) rate(repoBytes int64) float64 {
	secs := s.ended - s.began
	if s.n == 0 || s.total == 0 || repoBytes <= 0 || s.began == 0 || secs <= 0 {
		return 0
	}
	// A check shorter than a hundredth of a second says little.
	secs = max(secs, 0.01)
	return float64(repoBytes) * float64(s.n) / float64(s.total) / secs
}
