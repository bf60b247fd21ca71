package pgdump

// exec_prefix: the PostgreSQL client tools run inside the database's
// container (or anywhere a wrapper reaches), as prefix + the tool's argv:
//
//	docker compose -f /srv/alexandria/compose.yaml exec -T db pg_dump --format=custom ...
//
// What crosses into the container is argv, standard input and standard
// output, and the exit code (docker exec passes it through); nothing else.
// So with a prefix:
//   - no tool gets a host path: pg_dump writes the dump to its standard
//     output, which alexandria-backup puts into the file it created (0600);
//     pg_restore and psql read a dump from standard input. The directory
//     format, which pg_dump can only write as files, is refused
//     (Validate), and so is restoring a directory dump.
//   - no tool gets the host's environment: `docker exec` does not pass its
//     own environment on, so neither the private pgpass made from
//     password_file (a host file, named by PGPASSFILE) nor the target's
//     `env` reaches the tool. password_file is refused rather than half
//     applied: the container's own environment or a pgpass file inside
//     it gives the tools their password (the target's `env` still goes to
//     the prefix's program, such as DOCKER_HOST). A password never goes
//     into the prefix either (exec_prefix refuses "PASSWORD=" words).
//   - what the driver does with pgx (the preflight's server version, the
//     exported snapshot, the row counts, a restore's and a drill's checks,
//     creating and dropping a drill's scratch database) still connects
//     from the host: the database must be reachable from both, with the
//     same `database` string.

import (
	"errors"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
)

// execPrefix is the target's exec_prefix, or nil.
func execPrefix(t *drivers.Target) []string { return t.Settings.List("exec_prefix") }

// pgTool is c run behind the target's exec_prefix, when it has one:
// the prefix's program, then its words, the tool's name and the tool's
// arguments. Every PostgreSQL client tool the driver runs goes through it.
func pgTool(t *drivers.Target, c proc.Command) proc.Command {
	prefix := execPrefix(t)
	if len(prefix) == 0 {
		return c
	}
	args := make([]string, 0, len(prefix)+len(c.Args))
	args = append(append(append(args, prefix[1:]...), c.Program), c.Args...)
	c.Program, c.Args = prefix[0], args
	return c
}

// prefixPassword finds a word that assigns a password (-e PGPASSWORD=...,
// --env=PGPASSWORD=..., PGPASSWORD=...): argv is visible to every user
// of the machine. (-e PGPASSFILE=/run/secrets/pgpass names a file: fine.)
var prefixPassword = regexp.MustCompile(`(?i)password[a-z_]*=.`)

// checkExecPrefix is exec_prefix's shape: a program, then its words, none
// of them a password.
func checkExecPrefix(v any) error {
	prefix := v.([]string)
	if len(prefix) == 0 {
		return errors.New("must name a program, then its arguments (such as [\"docker\", \"compose\", \"exec\", \"-T\", \"db\"]); leave it out to run the tools here")
	}
	switch prog := prefix[0]; {
	case strings.TrimSpace(prog) == "":
		return errors.New("the program (the first word) must not be empty")
	case strings.HasPrefix(prog, "-"):
		return errors.New("the program (the first word) must not start with \"-\": it names a program, not an option")
	case strings.Contains(prog, "/") && !filepath.IsAbs(prog):
		return errors.New("the program (the first word) is a relative path, which depends on the directory the run starts in: give an absolute path, or a name found in PATH")
	}
	for _, w := range prefix {
		if prefixPassword.MatchString(w) || drivers.HasPassword(w, false) {
			return drivers.PasswordErr("pass the variable's name only (docker exec -e PGPASSWORD takes the value from its own environment), or give the container its password itself")
		}
	}
	return nil
}

// validateExecPrefix refuses what cannot cross into a container.
func validateExecPrefix(t *drivers.Target) error {
	if len(execPrefix(t)) == 0 {
		return nil
	}
	if pgFormat(t) == "directory" {
		return drivers.KeyErr("format", "\"directory\" cannot be used with exec_prefix: pg_dump would write the dump's files inside the container, where alexandria-backup cannot read them; use custom, sql or tar, which stream through standard output")
	}
	if t.Settings.Has("password_file") {
		return drivers.KeyErr("password_file", "cannot be used with exec_prefix: the tools run inside the container, which sees neither the host's files nor its environment; give the container the password itself (its environment, or a pgpass file inside it), and alexandria-backup's own connection PGPASSFILE or ~/.pgpass")
	}
	return nil
}

// errPrefixDirectory refuses to restore a directory dump behind a prefix.
var errPrefixDirectory = errors.New("a directory-format dump cannot be restored through exec_prefix (pg_restore inside the container cannot see the host's directory, nor read a directory from standard input); restore it with pg_restore on the host")
