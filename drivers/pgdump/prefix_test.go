package pgdump_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/alexandria-backup/alexandria-backup/plan"
)

// exec_prefix's shapes: what cannot run, what cannot cross into a
// container, and a password in argv, are each refused naming the key.
func TestExecPrefixValidation(t *testing.T) {
	base := `[targets.db]
driver = "pg_dump"
database = "postgres://app@localhost/app"
`
	dir := "\ndir = \"/var/backups/db\""
	docker := `exec_prefix = ["docker", "compose", "exec", "-T", "db"]`
	for _, tc := range []struct {
		body, key, want string
	}{
		{`exec_prefix = []` + dir, "exec_prefix", "must name a program"},
		{`exec_prefix = [""]` + dir, "exec_prefix", "must not be empty"},
		{`exec_prefix = ["  ", "exec"]` + dir, "exec_prefix", "must not be empty"},
		{`exec_prefix = ["-T", "db"]` + dir, "exec_prefix", `must not start with "-"`},
		{`exec_prefix = ["bin/docker", "exec"]` + dir, "exec_prefix", "relative path"},
		{`exec_prefix = "docker compose exec -T db"` + dir, "exec_prefix", "must be an array of strings"},
		{`exec_prefix = ["docker", 5]` + dir, "exec_prefix", "must be an array of strings"},
		{`exec_prefix = ["docker", "exec", "-e", "PGPASSWORD=hunter2", "db"]` + dir, "exec_prefix", "contains a password"},
		{`exec_prefix = ["docker", "exec", "--env=PGPASSWORD=hunter2", "db"]` + dir, "exec_prefix", "contains a password"},
		{`exec_prefix = ["env", "pgpassword=hunter2"]` + dir, "exec_prefix", "contains a password"},
		{`exec_prefix = ["docker", "-H", "tcp://admin:hunter2@host:2376", "exec", "db"]` + dir, "exec_prefix", "contains a password"},
		{docker + dir + "\nformat = \"directory\"", "format", `"directory" cannot be used with exec_prefix`},
		{docker + dir + "\npassword_file = \"/etc/alexandria/db.pass\"", "password_file", "cannot be used with exec_prefix"},
	} {
		path := filepath.Join(t.TempDir(), "plan.toml")
		os.WriteFile(path, []byte(base+tc.body+"\n"), 0o600)
		_, err := plan.Load(path)
		if err == nil || !strings.Contains(err.Error(), "targets.db."+tc.key) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s\nwant an error on %s with %q, got: %v", tc.body, tc.key, tc.want, err)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("the error repeats the password: %v", err)
		}
	}

	// What is accepted: a name found in PATH or an absolute path, the
	// streaming formats, a variable passed by name only.
	for _, body := range []string{
		docker + dir,
		docker + dir + "\nformat = \"tar\"",
		docker + dir + "\nformat = \"sql\"\ncompress = 6",
		`exec_prefix = ["/usr/bin/docker", "exec", "-i", "-e", "PGPASSWORD", "-e", "PGPASSFILE=/run/secrets/pgpass", "db"]` + dir,
		`exec_prefix = ["/usr/local/bin/in-db"]` + "\ninto = \"files\"\n\n[targets.files]\ndriver = \"restic\"\nrepository = \"/srv/restic\"\npassword_file = \"/etc/r.pass\"\npaths = [\"/srv\"]",
	} {
		path := filepath.Join(t.TempDir(), "plan.toml")
		os.WriteFile(path, []byte(base+body+"\n"), 0o600)
		if _, err := plan.Load(path); err != nil {
			t.Errorf("%s\nrefused: %v", body, err)
		}
	}
}
