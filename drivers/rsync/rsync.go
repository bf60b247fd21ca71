// Package rsync is the rsync driver: a mirror of a directory to a local
// or ssh destination, guarded against emptying the mirror, verified by
// checksum, restored and drilled from the mirror.
package rsync

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/drivers/internal/guard"
	"github.com/alexandria-backup/alexandria-backup/drivers/internal/pointmark"
	"github.com/alexandria-backup/alexandria-backup/drivers/internal/toolversion"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
)

// Driver mirrors a local directory to a local or remote (ssh) destination.
// A mirror has no history: the destination is the one and only backup, so
// the driver guards it. It refuses to run from a missing source, and with
// `delete` a run that would empty the mirror or delete most of it (an
// unmounted disk would wipe the mirror; rsync exits 0 doing that; see
// mirrorguard.go), honours max_delete, and verifies by checksum what each
// run sent plus a rotating slice of the rest (verify.go).
//
// Flags, chosen for a book library mirror:
//   - --archive: permissions, times, symlinks, owner and group (owner only
//     when the receiving side runs as root), devices and specials.
//   - --hard-links: a mirror should not turn one linked file into several
//     copies; rsync only tracks files whose link count is above 1.
//   - --numeric-ids: owners are kept as uid/gid, not mapped by name, so a
//     restore onto the original host gets them back exactly, whatever users
//     the backup server has.
//   - --delete-delay (with delete): deletions happen after the transfer, so
//     a run that dies half way has deleted nothing yet (a renamed folder is
//     in the mirror twice, not missing).
//   - --stats: the size of the mirrored tree, for the report.
//
// Not used: -A/-X (a library needs no ACLs or xattrs, and both fail when
// the far side lacks support), --delete-excluded (files excluded later stay
// in the mirror until removed by hand), --partial and --inplace (rsync's
// default write-to-temp-then-rename keeps a half-sent file out of the
// mirror).
type Driver struct{}

func (Driver) Name() string { return "rsync" }

func (Driver) Options() []drivers.Option {
	return append([]drivers.Option{
		{Name: "source", Kind: drivers.String, Required: true, Check: checkRsyncPlace,
			Help: "Local directory to mirror, an absolute path ending in \"/\": its contents are mirrored into destination. A missing source is refused; with delete, so is one that would empty the mirror or delete most of it (see allow_empty_source and max_delete_percent)."},
		{Name: "destination", Kind: drivers.String, Required: true, Check: checkRsyncPlace,
			Help: "Where the mirror lives: an absolute local path, or [user@]host:path reached over ssh. A password here is rejected."},
		{Name: "ssh_command", Kind: drivers.String, Default: "ssh (or $RSYNC_RSH)",
			Help: "The ssh command for a remote destination, passed to rsync as one --rsh word and split by rsync (no shell), e.g. \"ssh -p 2222 -i /etc/alexandria-backup/id_ed25519 -o BatchMode=yes\"."},
		{Name: "delete", Kind: drivers.Bool, Default: "false",
			Help: "Delete files from the mirror that are gone from the source (rsync --delete, applied after the transfer). Refused while the source holds no file after excludes, or when most of the mirror would go."},
		{Name: "max_delete", Kind: drivers.Int, Min: 1, Max: 1 << 30,
			Help: "With delete: refuse to delete more than this many files in one run; reaching it fails the target (rsync --max-delete, exit 25)."},
		{Name: "bwlimit", Kind: drivers.String, Check: checkBwlimit,
			Help: "Bandwidth limit per second, such as \"10M\" or \"500K\" (rsync --bwlimit; a bare number is KiB)."},
		{Name: "exclude", Kind: drivers.StringList,
			Help: "rsync --exclude patterns; a leading \"/\" anchors a pattern at the source directory, not at the file system root."},
	}, guard.MirrorOptions("delete = true")...)
}

// checkRsyncPlace refuses user:password@host:path (and a URL with a
// password) before Validate, whose messages repeat the value.
var checkRsyncPlace = drivers.NoPassword(true, "rsync logs in over ssh with an ssh key (ssh_command = \"ssh -i KEY\")")

var bwlimitRE = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?([KMGTPkmgtp]([Ii]?[Bb])?)?$`)

func checkBwlimit(v any) error {
	if !bwlimitRE.MatchString(v.(string)) {
		return fmt.Errorf("must be a rate such as \"10M\", \"500K\" or \"1.5M\", not %q", v)
	}
	return nil
}

// remoteRE splits [user@]host:path. The user and host may not start with
// "-" (ssh would take them as options) and the host may be a bracketed IPv6
// address.
var remoteRE = regexp.MustCompile(`^(?:([A-Za-z0-9_][A-Za-z0-9._-]*)@)?([A-Za-z0-9_][A-Za-z0-9._-]*|\[[0-9A-Fa-f:.]+\]):(.*)$`)

// rsyncRemote is a parsed remote destination.
type rsyncRemote struct{ user, host, path string }

func parseRemote(dest string) (rsyncRemote, bool) {
	m := remoteRE.FindStringSubmatch(dest)
	if m == nil {
		return rsyncRemote{}, false
	}
	return rsyncRemote{user: m[1], host: m[2], path: m[3]}, true
}

// remotePathOK says whether a remote path is safe to hand to the remote
// shell, which interprets it: rsync before 3.2.4 sends it unescaped, and
// even 3.2.4+ leaves wildcards alone. Letters, digits and a few punctuation
// marks mean the same to every rsync and every shell.
func remotePathOK(p string) bool {
	for _, r := range p {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && !strings.ContainsRune("/._-+,=@%:", r) {
			return false
		}
	}
	return true
}

func (Driver) Validate(t *drivers.Target) error {
	src := t.Settings.Str("source")
	if !filepath.IsAbs(src) {
		return drivers.KeyErr("source", "must be an absolute local path, not %q", src)
	}
	if !strings.HasSuffix(src, "/") {
		return drivers.KeyErr("source", "must end with \"/\" (%q): the directory's contents are mirrored into destination; without the slash rsync would create destination/%s inside the mirror", src+"/", filepath.Base(src))
	}
	dst := t.Settings.Str("destination")
	local := filepath.IsAbs(dst)
	switch {
	case strings.HasPrefix(dst, "rsync://"):
		return drivers.KeyErr("destination", "rsync daemon destinations are not supported; use an absolute path or [user@]host:path over ssh")
	case local:
		s, d := filepath.Clean(src), filepath.Clean(dst)
		if s == d || within(d, s) || within(s, d) {
			// A destination above the source would have --delete remove
			// everything beside it, the source included.
			return drivers.KeyErr("destination", "%q must be outside the source %q, and the source outside it", dst, src)
		}
	default:
		r, ok := parseRemote(dst)
		switch {
		case !ok:
			return drivers.KeyErr("destination", "must be an absolute local path or [user@]host:path, not %q", dst)
		case strings.HasPrefix(r.path, ":"):
			return drivers.KeyErr("destination", "rsync daemon destinations (host::module) are not supported; use [user@]host:path over ssh")
		case r.path == "" || filepath.Clean(r.path) == "/":
			return drivers.KeyErr("destination", "name a directory after the colon (%q would mirror into the login directory or the root)", dst)
		case strings.HasPrefix(r.path, "-"):
			return drivers.KeyErr("destination", "the remote path %q must not start with \"-\" (the remote rsync would read it as an option)", r.path)
		case !remotePathOK(r.path):
			return drivers.KeyErr("destination", "the remote path %q may only use letters, digits and / . _ - + , = @ %% : (the remote shell interprets it)", r.path)
		}
	}
	if t.Settings.Has("ssh_command") {
		if local {
			return drivers.KeyErr("ssh_command", "only applies to a remote destination ([user@]host:path)")
		}
		if strings.TrimSpace(t.Settings.Str("ssh_command")) == "" {
			return drivers.KeyErr("ssh_command", "must not be empty")
		}
	}
	if !t.Settings.Bool("delete", false) {
		for _, k := range []string{"max_delete", "max_delete_percent", "allow_empty_source"} {
			if t.Settings.Has(k) {
				return drivers.KeyErr(k, "only applies with delete = true")
			}
		}
	}
	for _, e := range t.Settings.List("exclude") {
		if e == "" {
			return drivers.KeyErr("exclude", "a pattern must not be empty")
		}
		// restic and borg excludes are absolute paths; in rsync a leading
		// "/" means the source directory, so a copied list would silently
		// exclude nothing.
		if rest, ok := strings.CutPrefix(e, src); ok {
			return drivers.KeyErr("exclude", "%q would match nothing: rsync anchors a leading \"/\" at the source directory; write %q", e, "/"+rest)
		}
	}
	return nil
}

// within reports whether path p lies strictly inside dir (both clean).
func within(p, dir string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != "." && filepath.IsLocal(rel)
}

// rsyncBaseArgs are the flags the mirror and its verification share, so
// the verification compares exactly what the mirror copies.
func rsyncBaseArgs() []string {
	return []string{"--archive", "--hard-links", "--numeric-ids"}
}

// rsyncRsh is the remote shell, as one word: rsync splits it itself.
func rsyncRsh(t *drivers.Target) []string {
	if c := t.Settings.Str("ssh_command"); c != "" {
		return []string{"--rsh=" + c}
	}
	return nil
}

// rsyncTransfer ends a mirror or verify command: remote shell, excludes
// (first the recovery-point marker's, marker.go), then "--" and source and
// destination, so no path can become an option.
func rsyncTransfer(t *drivers.Target) []string {
	args := append(rsyncRsh(t), markerExclude)
	for _, e := range t.Settings.List("exclude") {
		args = append(args, "--exclude="+e)
	}
	return append(args, "--", t.Settings.Str("source"), t.Settings.Str("destination"))
}

func (Driver) cmd(t *drivers.Target, args ...string) proc.Command {
	// rsync cleans up (removes its temporary files, exits 20) on SIGTERM,
	// SIGINT and SIGHUP alike.
	return proc.Command{Program: "rsync", Args: args, Env: t.EnvVars(), Stop: syscall.SIGTERM}
}

// backupCommand is the mirror run. listAll (--info=name2) names the
// unchanged files too: that listing is the verification's list of files
// to draw its slice from, with no walk of the trees of its own.
func (r Driver) backupCommand(t *drivers.Target, listAll bool) proc.Command {
	args := rsyncBaseArgs()
	if t.Settings.Bool("delete", false) {
		args = append(args, "--delete", "--delete-delay")
		if t.Settings.Has("max_delete") {
			args = append(args, "--max-delete="+strconv.Itoa(t.Settings.Int("max_delete", 0)))
		}
	}
	if b := t.Settings.Str("bwlimit"); b != "" {
		args = append(args, "--bwlimit="+b)
	}
	args = append(args, "--stats", "--out-format="+sentFormat)
	if listAll {
		args = append(args, "--info=name2")
	}
	if t.Progress {
		args = append(args, "--info=progress2")
	}
	c := r.cmd(t, append(args, rsyncTransfer(t)...)...)
	// 24: files vanished between listing and sending (a live library);
	// the rest is mirrored. 23 (partial transfer, and also a missing
	// source root) and 25 (max_delete reached) are failures.
	c.Codes = proc.ExitCodes{Warning: []int{24}}.Override(t.ExitCodes)
	if t.Progress {
		c.Progress = &proc.ProgressReader{Parse: parseRsyncProgress}
	}
	return c
}

// listCommand lists the destination directory itself: without a trailing
// slash rsync prints one line for it, not its contents. (Validate refused
// "/" and "host:" as destinations.)
func (r Driver) listCommand(t *drivers.Target) proc.Command {
	dst := strings.TrimRight(t.Settings.Str("destination"), "/")
	args := append(append([]string{"--list-only"}, rsyncRsh(t)...), "--", dst)
	return r.cmd(t, args...)
}

func (r Driver) Steps(t *drivers.Target) []drivers.Step {
	backup := r.backupCommand(t, recorded(t))
	steps := []drivers.Step{{Phase: drivers.PhasePreflight, Note: "refuse when " + t.Settings.Str("source") + " is missing or not a directory"}}
	if t.Settings.Bool("delete", false) {
		guardCmd := r.guardCommand(t)
		steps = append(steps,
			drivers.Step{Phase: drivers.PhasePreflight, Note: fmt.Sprintf("look up in the source each file of the mirror the last run's index (%s) lists, an lstat each: when not all and no more than %d%% are gone, go ahead; else (or with no index) count with rsync's dry run:",
				recordName(t), t.Settings.Int("max_delete_percent", guard.DefaultMaxDeletePercent))},
			drivers.Step{Phase: drivers.PhasePreflight, Command: &guardCmd},
			drivers.Step{Phase: drivers.PhasePreflight, Note: guard.MirrorNote(t, "source")})
	}
	take := r.takeMarkerCommand(t, "<a private temporary directory>")
	steps = append(steps,
		drivers.Step{Phase: drivers.PhaseBackup, Note: "take the mirror out of any recovery point before changing it: move its marker " + pointmark.Name + " out"},
		drivers.Step{Phase: drivers.PhaseBackup, Command: &take},
		drivers.Step{Phase: drivers.PhaseBackup, Command: &backup})
	if recorded(t) {
		steps = append(steps, drivers.Step{Phase: drivers.PhaseBackup,
			Note: "record when the backup began, the checksum rsync sent each file with and the names of the files it found unchanged (" + recordName(t) + "), for the verification and the next run's guard"})
	}
	seal := r.writeMarkerCommand(t, "<temporary directory>/"+pointmark.Name)
	return append(append(steps, r.verifySteps(t)...),
		drivers.Step{Phase: drivers.PhaseVerify, Note: "once verified, record the run's recovery point in the mirror (a marker; without verification the mirror stays in no point):"},
		drivers.Step{Phase: drivers.PhaseVerify, Command: &seal})
}

// Init creates a local destination (mode 0700 until the first run gives it
// the source's mode). Backup never creates it, so a missing destination,
// e.g. an unmounted backup disk, fails instead of filling the root file
// system. A remote destination is left alone: rsync creates its last
// component, and its parent must exist on the server.
func (d Driver) Init(ctx context.Context, x proc.Executor, t *drivers.Target) error {
	_, err := d.InitReport(ctx, x, t)
	return err
}

// InitReport creates a local destination, or finds it; a remote one
// (host:path) is rsync's to create on the first sync.
func (Driver) InitReport(ctx context.Context, x proc.Executor, t *drivers.Target) (drivers.InitResult, error) {
	dst := t.Settings.Str("destination")
	if !filepath.IsAbs(dst) {
		return drivers.InitResult{Nothing: true}, nil
	}
	return drivers.MkdirInit(dst)
}

func (Driver) CheckTools(ctx context.Context, x proc.Executor, t *drivers.Target) error {
	v, err := rsyncVersion(ctx, x)
	if err != nil {
		return err
	}
	if v.Less(3, 1) {
		return fmt.Errorf("rsync %s is too old; 3.1 or newer is needed", v)
	}
	return nil
}

var rsyncVersionRE = regexp.MustCompile(`rsync\s+version\s+v?(\d+)\.(\d+)\.(\d+)`)

func rsyncVersion(ctx context.Context, x proc.Executor) (toolversion.Version, error) {
	return toolversion.Probe(ctx, x, rsyncVersionRE, "rsync", "--version")
}

// checkSource refuses a source that is missing or not a directory: rsync
// would exit 23 after --delete had nothing to compare with.
func checkSource(t *drivers.Target) error {
	src := t.Settings.Str("source")
	fi, err := os.Stat(src)
	if err != nil {
		return drivers.KeyErr("source", "%s: %v (refusing to mirror without it)", src, errors.Unwrap(err))
	}
	if !fi.IsDir() {
		return drivers.KeyErr("source", "%s is not a directory", src)
	}
	return nil
}

// Backup mirrors the source after checking it, and reports the size of
// the mirrored tree from rsync's --stats. With verification on, it
// records in the target's temporary directory the checksum rsync sent
// each file with and the names of the files it found unchanged (the
// Artifact's Written names the record), so the verification compares the
// mirror with what was sent, not with a source that may have changed
// since, and draws its slice without listing the trees again.
func (r Driver) Backup(ctx context.Context, x proc.Executor, t *drivers.Target) (drivers.Artifact, error) {
	if err := checkSource(t); err != nil {
		return drivers.Artifact{}, err
	}
	if t.Settings.Bool("delete", false) {
		if err := r.guard(ctx, x, t); err != nil {
			return drivers.Artifact{}, err
		}
	}
	// From here on the mirror changes: it holds no point until this run
	// is verified and sealed (Seal).
	if err := r.takeMarker(ctx, x, t); err != nil {
		return drivers.Artifact{}, err
	}
	// rsync prints a line per file (with --info=name2, the unchanged ones
	// too), read as it comes: 100,000 files are megabytes of lines.
	rec := newSentRecorder(t, time.Now())
	c := r.backupCommand(t, recorded(t))
	lines := &proc.Lines{Fn: rec.line}
	c.Stdout = lines
	res, err := x.Run(ctx, c)
	lines.Close()
	ledgerErr := rec.finish(err == nil)
	if err != nil {
		return drivers.Artifact{}, err
	}
	a := drivers.Artifact{ID: t.Settings.Str("destination"), Bytes: rec.total}
	if rec.kept {
		a.Written = []string{rec.path}
	}
	if res.Class == proc.ClassWarning {
		a.Vanished = rsyncVanished(res.Stderr, t.Settings.Str("source"))
		detail := proc.LastLines(res.Stderr, 5)
		if len(a.Vanished) > 0 {
			detail = fmt.Sprintf("%s vanished while being mirrored (the rest is mirrored): %s",
				guard.CountFiles(int64(len(a.Vanished))), listSome(a.Vanished, 10))
		}
		a.Warnings = append(a.Warnings, fmt.Sprintf("rsync exited %d%s: %s", res.ExitCode, rsyncCodeMeaning(res.ExitCode), detail))
	}
	if ledgerErr != nil {
		a.Warnings = append(a.Warnings, fmt.Sprintf("could not record the files sent (%v): the verification reads every file instead", ledgerErr))
	}
	return a, nil
}

// rsyncVanishedRE is rsync's line for a file deleted between listing and
// sending: `file has vanished: "/srv/library/x.epub"` (after a prefix
// such as "rsync: [sender] " in newer versions).
var rsyncVanishedRE = regexp.MustCompile(`(?m)file has vanished: "(.*)"\s*$`)

// rsyncVanished lists the vanished files rsync named on stderr, relative
// to the source directory as its itemized lines show them.
func rsyncVanished(stderr []byte, source string) []string {
	var out []string
	for _, m := range rsyncVanishedRE.FindAllSubmatch(stderr, -1) {
		p := string(m[1])
		if rel, ok := strings.CutPrefix(p, source); ok {
			p = rel
		}
		out = append(out, p)
	}
	return out
}

// listSome joins the first n of names, saying how many more there are.
func listSome(names []string, n int) string {
	if len(names) <= n {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:n], ", "), len(names)-n)
}

func rsyncCodeMeaning(code int) string {
	switch code {
	case 23:
		return " (partial transfer due to errors)"
	case 24:
		return " (source files vanished during the transfer)"
	case 25:
		return " (the max_delete limit stopped deletions)"
	}
	return ""
}

var totalSizeRE = regexp.MustCompile(`(?m)^Total file size: ([0-9][0-9,.]*) bytes`)

// rsyncTotalSize reads "Total file size: 1,234,567 bytes" from --stats
// output (or one line of it)
// (digits grouped by "," or "." depending on the locale), or -1.
func rsyncTotalSize(stdout []byte) int64 {
	m := totalSizeRE.FindSubmatch(stdout)
	if m == nil {
		return -1
	}
	n, err := strconv.ParseInt(strings.NewReplacer(",", "", ".", "").Replace(string(m[1])), 10, 64)
	if err != nil {
		return -1
	}
	return n
}

// Prune has nothing to do: a mirror keeps no history to thin out.
func (Driver) Prune(ctx context.Context, x proc.Executor, t *drivers.Target, dryRun bool) (drivers.PruneResult, error) {
	return drivers.PruneResult{}, nil
}

// Snapshots lists the one thing a mirror has: the destination, in the
// recovery point its marker names (marker.go), at the time its last
// verified sync ended. Without a marker it is in no point and its time is
// unknown: the destination's modification time is the source's, copied by
// rsync, not when the mirror was made. The listing proves the mirror is
// reachable. No mirror yet is an empty list.
func (r Driver) Snapshots(ctx context.Context, x proc.Executor, t *drivers.Target) ([]drivers.Snapshot, error) {
	res, err := x.Run(ctx, r.listCommand(t))
	if err != nil {
		if res.ExitCode == 23 && strings.Contains(string(res.Stderr), "No such file or directory") {
			return nil, nil
		}
		return nil, err
	}
	mark, note, err := r.readMarker(ctx, x, t)
	if err != nil {
		return nil, err
	}
	what := "mirror (no history)"
	if note != "" {
		what += " (" + note + ")"
	}
	return []drivers.Snapshot{pointmark.Snapshot(t.Settings.Str("destination"), mark, -1, what)}, nil
}

func (Driver) Facts() drivers.Facts {
	return drivers.Facts{
		Role:     drivers.RoleFiles,
		Programs: []drivers.Program{{Name: "rsync", Package: "rsync"}},
		// 10, 12, 30, 35: socket, stream, timeouts; 255: ssh could not
		// connect.
		TransientCodes: []int{10, 12, 30, 35, 255},
	}
}

func (Driver) Resources(t *drivers.Target) drivers.Resources {
	s := t.Settings
	// A destination that is not an absolute path is host:path, over ssh.
	local := filepath.IsAbs(s.Str("destination"))
	r := drivers.Resources{SSH: !local, SetsOwners: local}
	for _, id := range drivers.SSHIdentities(s.Str("ssh_command")) {
		r.Secrets = append(r.Secrets, drivers.SecretFile{Key: "ssh_command", Path: id, Kind: drivers.SSHKey})
	}
	r.Paths = []drivers.Path{
		drivers.SourcePath(t, "source", s.Str("source"), "source of "+t.Name),
		{Path: s.Str("destination"), Write: true, Why: "destination of " + t.Name},
	}
	return r
}

func (Driver) PlainRestore(t *drivers.Target) []drivers.Step {
	args := []string{"--archive", "--hard-links", "--numeric-ids", markerExclude}
	args = append(append(args, rsyncRsh(t)...), "--", rsyncMirrorRoot(t), t.Settings.Str("source"))
	return []drivers.Step{drivers.RestoreCmd(proc.Command{Program: "rsync", Args: args})}
}

func parseRsyncProgress(line []byte) (proc.Progress, bool, []byte) {
	m := rsyncProgress2.FindSubmatch(line)
	if m == nil {
		return proc.Progress{}, false, line
	}
	p := proc.Progress{Percent: -1, ETA: -1}
	p.Bytes, _ = strconv.ParseInt(strings.ReplaceAll(string(m[1]), ",", ""), 10, 64)
	rate, _ := strconv.ParseFloat(string(m[3]), 64)
	p.Rate = rate * float64(map[string]int64{"B": 1, "kB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40}[string(m[4])])
	if m[8] != nil {
		p.Files, _ = strconv.ParseInt(string(m[8]), 10, 64)
	}
	if string(m[9]) == "to" {
		p.Percent, _ = strconv.ParseFloat(string(m[2]), 64)
		h, _ := strconv.Atoi(string(m[5]))
		mi, _ := strconv.Atoi(string(m[6]))
		s, _ := strconv.Atoi(string(m[7]))
		p.ETA = time.Duration(h)*time.Hour + time.Duration(mi)*time.Minute + time.Duration(s)*time.Second
	}
	return p, true, nil
}

// rsyncProgress2 matches a line of `rsync --info=progress2`:
// "  110,000,000 100%  330.83MB/s    0:00:00 (xfr#4, to-chk=0/5)". While
// rsync still scans (ir-chk), its percentage is of what it has found so
// far, not of the whole, so it is only believed with to-chk.
var rsyncProgress2 = regexp.MustCompile(`^\s*([\d,]+)\s+(\d+)%\s+([\d.]+)([kMGT]?B)/s\s+(\d+):(\d\d):(\d\d)(?:\s+\(xfr#(\d+), (ir|to)-chk=(\d+)/(\d+)\))?`)

// Custody: a destination that is not an absolute path is host:path, on
// another machine. rsync's mirror is plain files there: ssh encrypts the
// transfer, nothing encrypts what stays.
func (Driver) Custody(t *drivers.Target) drivers.Custody {
	dst := t.Settings.Str("destination")
	c := drivers.Custody{Offsite: drivers.Yes, Place: dst, Encrypted: drivers.No,
		Why: "rsync keeps plain files: over ssh it is encrypted in transit only, not at rest",
		Fix: "use restic/borg or an rclone crypt remote for offsite"}
	if filepath.IsAbs(dst) {
		c.Offsite = drivers.No
	}
	return c
}
