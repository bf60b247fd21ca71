package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRestoreUsage(t *testing.T) {
	s := newSandbox(t, "")
	nonEmpty := t.TempDir()
	os.WriteFile(filepath.Join(nonEmpty, "keep.txt"), []byte("mine"), 0o644)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"restore", "library"}, "restore library: say where with --to DIR"},
		{[]string{"restore", "library", "--to", "/tmp/x", "--clean"}, "--database and --clean are for pg_dump targets"},
		{[]string{"restore", "database", "--to", "/tmp/x"}, "database is a database target; restore it with --database DSN"},
		{[]string{"restore", "database", "extra"}, "restore: expected TARGET"},
		{[]string{"restore", "nope", "--to", "/tmp/x"}, `no target "nope"`},
		// Destructive without --yes and without a terminal: refused, nothing touched.
		{[]string{"restore", "database"}, "restore database would overwrite database postgres://nobody@127.0.0.1:1/none (the plan's database); nothing was changed. Run it again with --yes"},
		{[]string{"restore", "library", "--to", nonEmpty, "--force"}, "would overwrite files in the non-empty directory " + nonEmpty},
	} {
		code, stdout, stderr := runCLI(t, append(tc.args, "-c", s.plan)...)
		if code != 2 || !strings.Contains(stdout+stderr, tc.want) {
			t.Errorf("%v: exit %d, want 2 and %q in:\n%s%s", tc.args, code, tc.want, stdout, stderr)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(nonEmpty, "keep.txt")); string(b) != "mine" {
		t.Fatal("a refused restore touched the directory")
	}
	if _, err := os.Stat(s.state); err == nil {
		t.Fatal("a refused restore created state")
	}
}

func TestRunbook(t *testing.T) {
	code, stdout, stderr := runCLI(t, "runbook", "-c", "alexandria-backup.toml.example")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{
		"## 1. Database corruption", "## 2. Complete server loss", "## 3. Migrating to a new server", "## 4. Testing the backups",
		"restore database --clean --yes",
		"pg_restore --exit-on-error --clean --if-exists --dbname=postgres://alexandria@localhost:5432/alexandria",
		"restic restore latest --host",
		"--tag=alexandria:library --target /",
		"'BORG_PASSCOMMAND=cat /etc/alexandria-backup/borg.pass'",
		"borg extract --lock-wait=600 '::library-borg@<ARCHIVE>'",
		"rsync --archive --hard-links --numeric-ids '--rsh=ssh -i /etc/alexandria-backup/id_ed25519 -o BatchMode=yes' -- backup@backup-server:/backups/alexandria/library/ /srv/alexandria/library/",
		"rclone copy --config=/etc/alexandria-backup/rclone.conf --ask-password=false --log-format= -- b2:alexandria-backups /srv/backup/restic",
		"restore offsite --to /srv/backup/restic",
		"alexandria-backup --config alexandria-backup.toml.example drill",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("runbook lacks %q", want)
		}
	}
	code, stdout, _ = runCLI(t, "runbook", "--plan", "daily", "-c", "alexandria-backup.toml.example")
	if code != 0 || strings.Contains(stdout, "restic restore") || !strings.Contains(stdout, "restore database") {
		t.Fatalf("runbook --plan daily: %d\n%s", code, stdout)
	}
}
