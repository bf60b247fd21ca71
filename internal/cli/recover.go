package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/internal/notify"
	"github.com/alexandria-backup/alexandria-backup/internal/points"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
	"github.com/alexandria-backup/alexandria-backup/internal/recovery"
	"github.com/alexandria-backup/alexandria-backup/plan"
)

func recoverCommand() *cli.Command {
	return &cli.Command{
		Name:  "recover",
		Usage: "after losing the server: restore the database and the files of ONE recovery point into their places, and prove both",
		Description: "Picks the newest recovery point (or --point ID) that holds a database target and a files target, " +
			"runs before_restore, restores the database (creating it when the server has none) and puts the files back at their " +
			"original paths (or below --root DIR), never over existing files, proves every table's row count against the dump's " +
			"manifest and every file against the backup, then runs after_restore. Exit 0 only when everything was restored and proven. " +
			"On a machine without the plan, --from-repository REPO first fetches the plan a run stored in a restic or borg repository " +
			"(secrets masked), writes it where --config says (never over a file) and names whatever must be set again before recover can use it.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "point", Usage: "the recovery point `ID` to recover, as `points` lists it (default: the newest that holds a database and files)"},
			&cli.StringFlag{Name: "root", Usage: "put the files below `DIR`, each at its original path (default: the original paths themselves)"},
			&cli.StringFlag{Name: "files-from", Usage: "restore the files from this `TARGET` of the point (default: the most trustworthy: restic, then borg, then an rsync mirror, then an rclone one)"},
			planFlag(),
			&cli.StringFlag{Name: "from-repository", Usage: "on a machine without the plan: fetch the plan a run stored in this restic or borg `REPO`, write it where --config (or the default) says, never over a file, then recover with it"},
			&cli.StringFlag{Name: "password-file", Usage: "with --from-repository: the `FILE` holding the repository's password (default: the tool's own RESTIC_PASSWORD_FILE, RESTIC_PASSWORD, BORG_PASSPHRASE, BORG_PASSCOMMAND)"},
			&cli.StringFlag{Name: "repository-driver", Usage: "with --from-repository: `DRIVER` of the repository (restic or borg), when its location does not say"},
			&cli.BoolFlag{Name: "clean", Usage: "drop the database's existing objects first (without it, a database with tables is refused)"},
			&cli.BoolFlag{Name: "yes", Aliases: []string{"y"}, Usage: "confirm without asking"},
			&cli.BoolFlag{Name: "json", Usage: "print a JSON report"},
			waitFlag(),
		},
		Action: cmdRecover,
	}
}

// recoverReport is what `recover --json` prints.
type recoverReport struct {
	Point    string       `json:"point"`
	From     string       `json:"from"` // where the point was read: state or repositories
	Plan     string       `json:"plan,omitempty"`
	Root     string       `json:"root"`
	Database *recoverPart `json:"database"`
	Files    *recoverPart `json:"files"`
	// AfterRestore: "ran", "failed", "skipped" (the recovery failed) or
	// "none" (no after_restore in the plan).
	AfterRestore string  `json:"after_restore"`
	Status       string  `json:"status"` // ok or failed
	Error        string  `json:"error,omitempty"`
	Seconds      float64 `json:"seconds"`
}

// recoverPart is one target's part of a recovery.
type recoverPart struct {
	Target   string   `json:"target"`
	Driver   string   `json:"driver"`
	Artifact string   `json:"artifact"`
	Why      string   `json:"why"`
	Into     []string `json:"into"` // the database, or the files' places
	Restored bool     `json:"restored"`
	Proven   bool     `json:"proven"`
	Checked  int      `json:"checked"` // tables or files proven
	Proof    string   `json:"proof,omitempty"`
}

func cmdRecover(c *cli.Context) error {
	start := time.Now()
	if _, err := args(c, 0, 0); err != nil {
		return err
	}
	if err := fetchPlan(c); err != nil {
		return err
	}
	e, err := setup(c)
	if err != nil {
		return err
	}
	group, id := c.String("plan"), c.String("point")
	if group != "" {
		if _, ok := e.plan.Plans[group]; !ok {
			return usage("--plan: no plan %q in %s", group, e.plan.Path)
		}
	}
	if id != "" && !drivers.ValidPoint(id) {
		return usage("--point %q is not a recovery point id (like 20261207T031500Z-4f1c); `points` lists them", id)
	}
	root := "/"
	if r := c.String("root"); r != "" {
		if root, err = filepath.Abs(r); err != nil {
			return usage("--root: %v", err)
		}
	}

	// 1. The point, its database target and its files target.
	p, err := findRecoveryPoint(c, e, group, id)
	if err != nil {
		return err
	}
	db, files, err := chooseRecoveryTargets(e, p, c.String("files-from"))
	if err != nil {
		return err
	}
	fr := files.target.Impl.(drivers.FileRecoverer)
	places, err := recovery.Places(fr.RecoverPaths(files.target), root)
	if err != nil {
		return err
	}
	r := &recoverReport{Point: p.ID, From: p.Source, Plan: group, Root: root, AfterRestore: "none",
		Database: &recoverPart{Target: db.target.Name, Driver: db.target.Driver, Artifact: db.artifact, Why: db.why,
			Into: []string{proc.MaskURLPasswords(db.target.Settings.Str("database"))}},
		Files: &recoverPart{Target: files.target.Name, Driver: files.target.Driver, Artifact: files.artifact, Why: files.why}}
	for _, pl := range places {
		r.Files.Into = append(r.Files.Into, pl.Dest)
	}
	say := func(format string, args ...any) {
		if !c.Bool("json") {
			fmt.Fprintf(c.App.Writer, format+"\n", args...)
		}
	}
	say("recovery point %s (%s, read from %s)", p.ID, p.Time.UTC().Format(time.RFC3339), p.Source)
	say("database: %s, %s (%s)", db.target.Name, db.artifact, db.why)
	say("files: %s, %s (%s)", files.target.Name, files.artifact, files.why)

	// 2. Nothing is overwritten: checked before anything is touched.
	if err := recovery.CheckFree(places); err != nil {
		return usage("recover: %v; nothing was changed", err)
	}
	if rc, ok := db.target.Impl.(drivers.RestoreChecker); ok {
		req := drivers.RestoreRequest{From: db.artifact, Clean: c.Bool("clean"), CreateDatabase: true}
		if err := rc.CheckRestore(c.Context, e.rt.Exec, db.target, req); err != nil {
			err = fmt.Errorf("recover: database target %s: %w; nothing was changed", db.target.Name, err)
			req.Clean = true
			if !c.Bool("clean") && rc.CheckRestore(c.Context, e.rt.Exec, db.target, req) == nil {
				return usage("%v", err) // refused for what the database holds: --clean decides
			}
			return &exitError{code: exitFailed, err: err}
		}
	}
	// A mirror holds only its newest point: refused here when it holds
	// another, before anything is touched.
	if rc, ok := files.target.Impl.(drivers.RestoreChecker); ok {
		req := drivers.RestoreRequest{From: files.artifact, To: root, Paths: placePaths(places), Point: files.point}
		if err := rc.CheckRestore(c.Context, e.rt.Exec, files.target, req); err != nil {
			return &exitError{code: exitFailed, err: fmt.Errorf("recover: files target %s: %w; nothing was changed", files.target.Name, err)}
		}
	}
	word := group
	if word == "" {
		word = "recover"
	}
	destroys := fmt.Sprintf("database %s (%s)", proc.MaskURLPasswords(db.target.Settings.Str("database")),
		map[bool]string{true: "dropping its existing objects first", false: "refused if it has tables"}[c.Bool("clean")]) +
		" and creates " + strings.Join(r.Files.Into, ", ")
	if !c.Bool("yes") {
		if err := confirmTyping(c, "recover", "This recovery", word, destroys); err != nil {
			return err
		}
	}
	unlock, err := lockRun(c, e)
	if err != nil {
		return err
	}
	defer unlock()

	hooks := notify.Hooks{Exec: e.rt.Exec, Timeout: hookTimeout, Log: e.log}
	outcome := notify.Outcome{Plan: group, Status: plan.StatusOK}
	finish := func(err error) error {
		r.Seconds = time.Since(start).Seconds()
		r.Status = "ok"
		if err != nil {
			r.Status, r.Error = "failed", err.Error()
			if len(e.plan.AfterRestore) > 0 {
				r.AfterRestore = "skipped"
				say("after_restore skipped: the recovery did not finish proven")
			}
		}
		if c.Bool("json") {
			out, _ := json.MarshalIndent(r, "", "  ")
			fmt.Fprintln(c.App.Writer, string(out))
		} else {
			printRecoverSummary(c, r)
		}
		if err != nil {
			return &exitError{code: exitFailed, err: err}
		}
		return nil
	}

	// 3. before_restore: its failure stops everything, nothing touched.
	for _, argv := range e.plan.BeforeRestore {
		if err := hooks.Run(c.Context, "before_restore", [][]string{argv}, outcome); err != nil {
			return finish(fmt.Errorf("%w; nothing was restored", err))
		}
	}
	say("before_restore: done")

	// 4. The database: one transaction, created when the server has none.
	dbReq := drivers.RestoreRequest{From: db.artifact, Clean: c.Bool("clean"), CreateDatabase: true}
	res, err := e.plan.Restore(c.Context, db.target, dbReq, e.rt)
	if err != nil {
		return finish(fmt.Errorf("restoring database target %s: %w", db.target.Name, err))
	}
	r.Database.Restored = true
	say("%s: restored %s into %s (%d tables)", db.target.Name, res.From, proc.MaskURLPasswords(res.Where), res.Files)

	// 5. The files: each path into a staging directory beside its place,
	// then renamed into it.
	// Whether the restores checked every file's content as they wrote it
	// (restic's --verify): the proof then need not read the data again.
	verified, verifiedFiles := true, 0
	for _, pl := range places {
		res, err := recoverPlace(c, e, files, pl)
		if err != nil {
			return finish(err)
		}
		verified, verifiedFiles = verified && res.ContentVerified, verifiedFiles+res.Files
		say("%s: restored %s into %s", files.target.Name, pl.Path, pl.Dest)
	}
	r.Files.Restored = true
	filesReq := drivers.RestoreRequest{From: files.artifact, To: root, Paths: placePaths(places), Point: files.point}
	if verified {
		filesReq.ContentVerified, filesReq.VerifiedFiles = true, verifiedFiles
	}

	// 6. Proof, against the backups themselves.
	var proofErrs []error
	for _, part := range []struct {
		rep *recoverPart
		t   *drivers.Target
		req drivers.RestoreRequest
	}{
		{r.Database, db.target, drivers.RestoreRequest{From: db.artifact}},
		{r.Files, files.target, filesReq},
	} {
		prover, ok := part.t.Impl.(drivers.RestoreProver)
		if !ok {
			part.rep.Proof = "not proven: the " + part.t.Driver + " driver cannot compare a restore with its backup"
			proofErrs = append(proofErrs, fmt.Errorf("%s: %s", part.t.Name, part.rep.Proof))
			continue
		}
		proof, err := prover.ProveRestore(c.Context, e.rt.Exec, part.t, part.req)
		if err != nil {
			part.rep.Proof = "NOT PROVEN: " + err.Error()
			proofErrs = append(proofErrs, fmt.Errorf("%s: the restore differs from its backup: %w", part.t.Name, err))
			continue
		}
		part.rep.Proven, part.rep.Checked, part.rep.Proof = true, proof.Checked, proof.Detail
		say("%s: proven: %s", part.t.Name, proof.Detail)
	}
	if err := errors.Join(proofErrs...); err != nil {
		return finish(err)
	}

	// 7. after_restore, only after everything was restored and proven.
	if len(e.plan.AfterRestore) > 0 {
		r.AfterRestore = "ran"
		if err := hooks.Run(c.Context, "after_restore", e.plan.AfterRestore, outcome); err != nil {
			r.AfterRestore = "failed"
			return finish(fmt.Errorf("everything was restored and proven, but %w", err))
		}
		say("after_restore: done")
	}
	return finish(nil)
}

// recoverPlace restores one backed-up path of the files target into a
// staging directory on the same filesystem as its place, moves it into
// place, and always removes the staging directory.
func recoverPlace(c *cli.Context, e *env, files recoverChoice, pl recovery.Place) (res drivers.RestoreResult, err error) {
	// Found free before the confirmation; the database restore and
	// before_restore took time since (a mount, another recover): again.
	if err := recovery.CheckFree([]recovery.Place{pl}); err != nil {
		return res, fmt.Errorf("recover: %w; the files were not touched", err)
	}
	staging, err := recovery.Stage(pl)
	if err != nil {
		return res, err
	}
	defer func() {
		if rerr := recovery.RemoveStage(staging); rerr != nil {
			err = errors.Join(err, fmt.Errorf("removing the staging directory %s: %w", staging, rerr))
		}
	}()
	req := drivers.RestoreRequest{From: files.artifact, To: staging, Paths: []string{pl.Path}, Point: files.point}
	if res, err = e.plan.Restore(c.Context, files.target, req, e.rt); err != nil {
		return res, fmt.Errorf("restoring %s from %s: %w", pl.Path, files.target.Name, err)
	}
	return res, recovery.MoveIntoPlace(staging, pl)
}

func placePaths(places []recovery.Place) []string {
	out := make([]string, len(places))
	for i, p := range places {
		out[i] = p.Path
	}
	return out
}

func printRecoverSummary(c *cli.Context, r *recoverReport) {
	w := c.App.Writer
	fmt.Fprintf(w, "\nrecovery of point %s: %s in %s\n", r.Point, r.Status, time.Duration(r.Seconds*float64(time.Second)).Round(time.Second))
	for _, part := range []struct {
		what string
		p    *recoverPart
	}{{"database", r.Database}, {"files", r.Files}} {
		state := "not restored"
		switch {
		case part.p.Proven:
			state = fmt.Sprintf("restored and proven: %s", part.p.Proof)
		case part.p.Restored && part.p.Proof != "":
			state = "restored, " + part.p.Proof
		case part.p.Restored:
			state = "restored, not proven"
		}
		fmt.Fprintf(w, "  %-8s %s (%s %s) into %s: %s\n", part.what, part.p.Target, part.p.Driver, part.p.Artifact, strings.Join(part.p.Into, ", "), state)
	}
	if r.AfterRestore != "none" {
		fmt.Fprintf(w, "  after_restore: %s\n", r.AfterRestore)
	}
}

// recoverChoice is a target of the point chosen for the recovery.
type recoverChoice struct {
	target   *drivers.Target
	artifact string
	why      string
	point    string // the point it is chosen from: a mirror must still hold it
}

// usableInPoint reports whether a target's backup in a point can be
// recovered: it was made (state) or found (repositories).
func usableInPoint(pt points.Target) bool {
	return pt.Artifact != "" && (pt.Status == plan.StatusOK || pt.Status == plan.StatusWarning || pt.Status == points.StatusFound)
}

// findRecoveryPoint reads the points (state_dir, else the repositories)
// and returns point id, or the newest one that holds a database and a
// files target recover can use, limited to group's targets when set.
func findRecoveryPoint(c *cli.Context, e *env, group, id string) (points.Point, error) {
	keep := func(ps []points.Point) []points.Point {
		var out []points.Point
		for _, p := range ps {
			p.Targets = slices.DeleteFunc(p.Targets, func(t points.Target) bool {
				pt, ok := e.plan.Targets[t.Name]
				if !ok {
					return true // the plan no longer has it
				}
				return group != "" && !slices.Contains(e.plan.Plans[group].Targets, pt.Name)
			})
			out = append(out, p)
		}
		return out
	}
	ps, err := points.ReadState(e.plan.StateDir, group, skipReport(e))
	if err != nil {
		return points.Point{}, err
	}
	ps = keep(ps)
	found := func(ps []points.Point) (points.Point, bool) {
		for _, p := range ps {
			if id != "" && p.ID == id {
				return p, true
			}
			if id == "" && recoverable(e, p) {
				return p, true
			}
		}
		return points.Point{}, false
	}
	if p, ok := found(ps); ok {
		return p, nil
	}
	// A new machine has no state_dir; the backups carry their points.
	e.log.Info("state_dir records no usable recovery point: asking the repositories", "state_dir", e.plan.StateDir)
	repo, listErr := fromRepositories(c, e, group)
	if p, ok := found(keep(repo)); ok {
		if listErr != nil {
			e.log.Warn("some targets' backups could not be listed", "error", listErr)
		}
		return p, nil
	}
	among := ""
	if group != "" {
		among = " among plan " + group + "'s targets"
	}
	if id != "" {
		return points.Point{}, usage("no recovery point %s%s, in state_dir or in the repositories; `points` lists them%s", id, among, listed(listErr))
	}
	return points.Point{}, fmt.Errorf("no recovery point holds both a database target and a files target (restic, borg, or an rsync or rclone mirror) that recover can use%s; `points` lists them%s", among, listed(listErr))
}

// newestRecoverablePoint is the id of the newest point in state_dir that
// recover could use (a database and files from one run), which a run's
// retention keeps whole (plan.RunOptions.KeepPoints); "" when none.
func newestRecoverablePoint(e *env) string {
	ps, err := points.ReadState(e.plan.StateDir, "", skipReport(e))
	if err != nil {
		e.log.Warn("the run reports in state_dir could not be read: retention keeps no recovery point whole", "error", err)
		return ""
	}
	for _, p := range ps {
		p.Targets = slices.DeleteFunc(p.Targets, func(t points.Target) bool { return e.plan.Targets[t.Name] == nil })
		if recoverable(e, p) {
			return p.ID
		}
	}
	return ""
}

// recoverable: the point's run succeeded (or its backups were found in
// the repositories) and it holds a usable database and files backup.
func recoverable(e *env, p points.Point) bool {
	if p.Status != plan.StatusOK && p.Status != plan.StatusWarning && p.Status != points.StatusFound {
		return false
	}
	_, _, err := chooseRecoveryTargets(e, p, "")
	return err == nil
}

// recoverySources is the rule by which recover chooses, among candidates
// (targets in plan order), what it restores: the first database target,
// and the most trustworthy files target recover can put back
// (FileRecoverer.RecoverRank), ties in plan order; nil when there is
// none. files also lists the other files targets it could have used.
// The runbook prints the same choice.
func recoverySources(candidates []*drivers.Target) (db, files *drivers.Target, otherFiles []*drivers.Target) {
	for _, t := range candidates {
		if db == nil && t.Facts().Role == drivers.RoleDatabase {
			db = t
		}
		fr, ok := t.Impl.(drivers.FileRecoverer)
		if !ok || len(fr.RecoverPaths(t)) == 0 {
			continue // e.g. an rclone copy of a remote: nothing to put back here
		}
		if files == nil || fr.RecoverRank() < files.Impl.(drivers.FileRecoverer).RecoverRank() {
			if files != nil {
				otherFiles = append(otherFiles, files)
			}
			files = t
		} else {
			otherFiles = append(otherFiles, t)
		}
	}
	slices.SortStableFunc(otherFiles, func(a, b *drivers.Target) int {
		return slices.Index(candidates, a) - slices.Index(candidates, b)
	})
	return db, files, otherFiles
}

// chooseRecoveryTargets picks the point's database target and its files
// target (recoverySources), the files target filesFrom when set.
func chooseRecoveryTargets(e *env, p points.Point, filesFrom string) (db, files recoverChoice, err error) {
	var usable []*drivers.Target
	artifacts := map[*drivers.Target]string{}
	var dbCount int
	for _, name := range e.plan.Order {
		pt, ok := p.Target(name)
		t := e.plan.Targets[name]
		if !ok || t == nil || !usableInPoint(pt) {
			continue
		}
		usable = append(usable, t)
		artifacts[t] = pt.Artifact
		if t.Facts().Role == drivers.RoleDatabase {
			dbCount++
		}
	}
	dbT, filesT, others := recoverySources(usable)
	if dbT == nil {
		return db, files, usage("recovery point %s holds no usable backup of a database target; `points` lists what each holds", p.ID)
	}
	db = recoverChoice{target: dbT, artifact: artifacts[dbT], why: "the point's database target"}
	if dbCount > 1 {
		db.why = fmt.Sprintf("the first of the point's %d database targets in plan order", dbCount)
	}
	if filesFrom != "" {
		i := slices.IndexFunc(usable, func(t *drivers.Target) bool {
			_, ok := t.Impl.(drivers.FileRecoverer)
			return ok && t.Name == filesFrom
		})
		if i < 0 {
			if _, in := p.Target(filesFrom); in {
				return db, files, usage("--files-from %s: its backup in point %s cannot be recovered (recover puts back the restic and borg backups, and the rsync and rclone mirrors of a local source, that the run made)", filesFrom, p.ID)
			}
			return db, files, usage("--files-from %s: recovery point %s holds no backup of target %s; `points` lists what each holds", filesFrom, p.ID, filesFrom)
		}
		files = recoverChoice{target: usable[i], artifact: artifacts[usable[i]], why: "chosen with --files-from", point: p.ID}
		return db, files, nil
	}
	if filesT == nil {
		return db, files, usage("recovery point %s holds no backup of the files that recover can put back (restic, borg, or an rsync or rclone mirror); `points` lists what each holds", p.ID)
	}
	files = recoverChoice{target: filesT, artifact: artifacts[filesT], why: "the point's only files backup", point: p.ID}
	if len(others) > 0 {
		var names []string
		for _, f := range others {
			names = append(names, f.Name+" ("+f.Driver+")")
		}
		files.why = fmt.Sprintf("the most trustworthy of the point's files backups (content-addressed, checked snapshots first); also there: %s", strings.Join(names, ", "))
	}
	return db, files, nil
}

// listed adds to a message why some targets' backups were not listed.
func listed(err error) string {
	if err == nil {
		return ""
	}
	return " (not every target's backups could be listed: " + err.Error() + ")"
}
