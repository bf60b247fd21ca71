package drivers

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/alexandria-backup/alexandria-backup/internal/proc"
)

// PlainRestore lists the plain tool commands that bring a target's latest
// backup back to where it came from, for the runbook: they work on a
// machine where alexandria-backup is not installed. Secrets stay in the
// files and commands the plan names; nothing secret is printed.
func PlainRestore(t *Target) []Step {
	note := func(format string, args ...any) Step {
		return Step{Phase: "restore", Note: fmt.Sprintf(format, args...)}
	}
	cmd := func(c Command) Step { return Step{Phase: "restore", Command: &c} }
	switch t.Driver {
	case "pg_dump":
		if t.Into != nil {
			return []Step{note("the dump is streamed into %s's repository: restore it with `alexandria-backup restore %s`, or take it out of that repository as shown there", t.Into.Name, t.Name)}
		}
		var env []EnvVar
		if f := t.Settings.Str("password_file"); f != "" {
			env = append(env, EnvVar{Name: "PGPASSFILE", Value: "<a pgpass file with the password from " + f + ">"})
		}
		dir, format := t.Settings.Str("dir"), pgFormat(t)
		dump := filepath.Join(dir, t.Name+"-<TIME>."+pgExt(t))
		steps := []Step{note("the newest dump: ls -1 %s | tail -n 1", proc.ShellQuote(filepath.Join(dir, t.Name+"-"))+"*."+pgExt(t))}
		db := "--dbname=" + t.Settings.Str("database")
		switch {
		case format == "sql" && strings.HasSuffix(dump, ".gz"):
			steps = append(steps, note("gunzip -c %s | psql -X -v ON_ERROR_STOP=1 --single-transaction %s  (into an empty database)", dump, proc.ShellQuote(db)))
		case format == "sql":
			steps = append(steps, cmd(Command{Program: "psql", Args: []string{"-X", "-v", "ON_ERROR_STOP=1", "--single-transaction", db, "--file=" + dump}, Env: env}))
		default:
			steps = append(steps, cmd(Command{Program: "pg_restore", Args: []string{"--exit-on-error", "--clean", "--if-exists", db, dump}, Env: env}))
		}
		return steps
	case "restic":
		c := Restic{}.cmd(t, append([]string{"restore", "latest"}, append(selectArgs(t), "--target", "/")...)...)
		return []Step{cmd(c), note("restores %s to where they were; use --target DIR to restore somewhere else first", strings.Join(t.Settings.List("paths"), ", "))}
	case "borg":
		env := borgRunbookEnv(t)
		list := Command{Program: "borg", Args: []string{"list", "--last=1", "--short", borgGlob(t)}, Env: env}
		extract := Command{Program: "borg", Args: []string{"extract", borgLockWait(t), "::" + borgArchivePrefix(t) + "<ARCHIVE>"}, Env: env}
		return []Step{cmd(list), note("then, in / (borg extracts relative to the current directory):"), cmd(extract)}
	case "rsync":
		args := []string{"--archive", "--hard-links", "--numeric-ids"}
		args = append(append(args, rsyncRsh(t)...), "--", t.Settings.Str("destination"), t.Settings.Str("source"))
		return []Step{cmd(Command{Program: "rsync", Args: args})}
	case "rclone":
		c := Rclone{}.cmd(t, rcloneStepsEnv(t), "copy", nil, t.Settings.Str("destination"), t.Settings.Str("source"))
		return []Step{cmd(c)}
	}
	return []Step{note("no plain restore recipe for driver %s", t.Driver)}
}

// borgRunbookEnv is borg's environment for a person at a shell: a
// passphrase file becomes a passcommand that reads it (the descriptor the
// driver uses cannot be typed).
func borgRunbookEnv(t *Target) []EnvVar {
	var out []EnvVar
	for _, e := range borgEnv(t) {
		if e.Name == "BORG_PASSPHRASE_FD" {
			e = EnvVar{Name: "BORG_PASSCOMMAND", Value: "cat " + t.Settings.Str("passphrase_file")}
		}
		out = append(out, e)
	}
	return out
}
