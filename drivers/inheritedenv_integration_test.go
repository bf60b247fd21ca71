package drivers_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/drivers/borg"
	"github.com/alexandria-backup/alexandria-backup/drivers/restic"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
	"github.com/alexandria-backup/alexandria-backup/internal/testenv/drivertest"
)

// A command's DropEnv names inherited variables the child must not see;
// its own Env still reaches it, whatever the name.
func TestDropEnvRemovesOnlyInheritedVariables(t *testing.T) {
	t.Setenv("ALEXANDRIA_TEST_DROP", "inherited-secret")
	t.Setenv("ALEXANDRIA_TEST_DROP_OWN", "inherited")
	t.Setenv("ALEXANDRIA_TEST_KEEP", "kept")
	res, err := proc.ProcessExecutor{}.Run(context.Background(), proc.Command{Program: "env",
		Env:     []proc.EnvVar{{Name: "ALEXANDRIA_TEST_DROP_OWN", Value: "ours"}},
		DropEnv: []string{"ALEXANDRIA_TEST_DROP", "ALEXANDRIA_TEST_DROP_OWN"}})
	if err != nil {
		t.Fatal(err)
	}
	env := "\n" + string(res.Stdout)
	if strings.Contains(env, "\nALEXANDRIA_TEST_DROP=") || strings.Contains(env, "=inherited\n") ||
		!strings.Contains(env, "\nALEXANDRIA_TEST_DROP_OWN=ours\n") || !strings.Contains(env, "\nALEXANDRIA_TEST_KEEP=kept\n") {
		t.Fatalf("child environment:%s", env)
	}
}

// restic: a password or repository variable inherited from the shell or a
// unit file would conflict with the plan's own (RESTIC_PASSWORD_COMMAND
// and RESTIC_PASSWORD_FILE are "mutually exclusive") or send the backup
// elsewhere. They are dropped and named, and the backup goes where the
// plan says with the plan's password.
func TestResticIgnoresInheritedSecrets(t *testing.T) {
	f := drivertest.NewResticFixture(t)
	ctx := context.Background()
	r := restic.Driver{}
	tg := f.Target("library", nil)
	if err := r.Init(ctx, f.X, tg); err != nil {
		t.Fatal(err)
	}
	elsewhere := filepath.Join(f.Dir, "elsewhere")
	for name, v := range map[string]string{
		"RESTIC_PASSWORD": "wrong", "RESTIC_PASSWORD_COMMAND": "echo wrong", "RESTIC_PASSWORD_FILE": "/nonexistent",
		"RESTIC_REPOSITORY": elsewhere, "RESTIC_REPOSITORY_FILE": "/nonexistent",
	} {
		t.Setenv(name, v)
	}
	if got := drivers.InheritedEnv(tg); strings.Join(got, ",") != "RESTIC_PASSWORD,RESTIC_PASSWORD_COMMAND,RESTIC_PASSWORD_FILE,RESTIC_REPOSITORY,RESTIC_REPOSITORY_FILE" {
		t.Errorf("InheritedEnv = %v", got)
	}
	a, err := r.Backup(ctx, f.X, tg)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Verify(ctx, f.X, tg, a); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(elsewhere); err == nil {
		t.Fatal("the inherited RESTIC_REPOSITORY was used")
	}
}

// borg reads BORG_PASSPHRASE before the plan's passphrase descriptor, and
// BORG_REPO would name another repository: inherited, both are dropped.
func TestBorgIgnoresInheritedSecrets(t *testing.T) {
	// Not NewBorgFixture: it runs in parallel, and this test sets the
	// process environment.
	drivertest.RequireTool(t, "borg")
	dir := t.TempDir()
	drivertest.WriteFile(t, dir, "library/book.epub", "a book", 0o644)
	f := struct {
		dir string
		x   proc.Executor
	}{dir, proc.ProcessExecutor{}}
	tg := &drivers.Target{Name: "library", Driver: "borg", Impl: borg.Driver{}, Verify: true, TempDir: dir,
		Settings: drivers.Values{"repository": filepath.Join(dir, "repo"), "paths": []string{filepath.Join(dir, "library")},
			"passphrase_file": drivertest.WriteFile(t, dir, "borg.pass", drivertest.BorgPassphrase+"\n", 0o600), "lock_wait": 30 * time.Second},
		Env: map[string]string{"BORG_BASE_DIR": filepath.Join(dir, "borg-base")}}
	ctx := context.Background()
	b := borg.Driver{}
	if err := b.Init(ctx, f.x, tg); err != nil {
		t.Fatal(err)
	}
	elsewhere := filepath.Join(f.dir, "elsewhere")
	for name, v := range map[string]string{
		"BORG_PASSPHRASE": "wrong", "BORG_PASSCOMMAND": "echo wrong", "BORG_PASSPHRASE_FD": "7",
		"BORG_NEW_PASSPHRASE": "wrong", "BORG_REPO": elsewhere,
	} {
		t.Setenv(name, v)
	}
	a, err := b.Backup(ctx, f.x, tg)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Verify(ctx, f.x, tg, a); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(elsewhere); err == nil {
		t.Fatal("the inherited BORG_REPO was used")
	}
}
