package drivers_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/drivers/all"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
)

func TestTransient(t *testing.T) {
	tool := func(code int, stderr string) error {
		return &proc.ToolError{Result: proc.Result{Command: "x", ExitCode: code, Stderr: []byte(stderr)}}
	}
	for _, tc := range []struct {
		driver string
		err    error
		want   bool
	}{
		{"restic", tool(1, "unable to create lock in backend: repository is already locked exclusively by PID 7145"), true},
		{"restic", tool(11, "Fatal: failed to lock repository"), true},
		{"restic", tool(1, "Fatal: wrong password or no key found"), false},
		{"restic", tool(1, "Fatal: unable to open config file: Is there a repository at the following location?"), false},
		{"restic", tool(1, "unexpected HTTP response (401): 401 Unauthorized | Is there a repository"), false},
		{"borg", tool(2, "Failed to create/acquire the lock /srv/borg/lock.exclusive (timeout)."), true},
		{"borg", tool(2, "passphrase supplied in BORG_PASSPHRASE_FD is incorrect."), false},
		{"rsync", tool(255, "ssh: connect to host backup port 22: Connection refused"), true},
		{"rsync", tool(30, "timeout in data send/receive"), true},
		{"rsync", tool(23, "change_dir \"/srv/library\" failed: No such file or directory (2)"), false},
		{"rsync", tool(25, "Deletions stopped due to --max-delete limit"), false},
		{"rclone", tool(5, "temporary error"), true},
		{"rclone", tool(1, "couldn't decrypt config: most likely wrong password"), false},
		{"pg_dump", fmt.Errorf("connecting to the database: %w", errors.New("dial tcp 127.0.0.1:5432: connect: connection refused")), true},
		{"pg_dump", tool(1, "pg_dump: error: connection to server failed: FATAL:  the database system is starting up"), true},
		{"pg_dump", tool(1, `FATAL:  password authentication failed for user "backup"`), false},
		{"pg_dump", tool(1, `FATAL:  database "nope" does not exist`), false},
		{"restic", &drivers.SettingsError{Key: "paths", Msg: "/srv/x: no such file"}, false},
		{"restic", fmt.Errorf("%w (restic stopped)", context.Canceled), false},
	} {
		d, _ := all.Lookup(tc.driver)
		if got := drivers.Transient(d, tc.err); got != tc.want {
			t.Errorf("Transient(%s, %q) = %v, want %v", tc.driver, tc.err, got, tc.want)
		}
	}
}
