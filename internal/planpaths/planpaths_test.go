package planpaths

import (
	"reflect"
	"testing"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/drivers/pgdump"
	"github.com/alexandria-backup/alexandria-backup/drivers/rclone"
	"github.com/alexandria-backup/alexandria-backup/drivers/restic"
	"github.com/alexandria-backup/alexandria-backup/drivers/rsync"
)

func TestSSHIdentities(t *testing.T) {
	for cmd, want := range map[string][]string{
		"ssh -i /k/a -o BatchMode=yes":                      {"/k/a"},
		"ssh -i/k/b":                                        {"/k/b"},
		"ssh -o IdentityFile=/k/c -p 2222":                  {"/k/c"},
		"ssh -oidentityfile=/k/d":                           {"/k/d"},
		"ssh -p 2222 -i /k/e -o IdentitiesOnly=yes -i /k/f": {"/k/e", "/k/f"},
		"ssh -o BatchMode=yes":                              nil,
		"":                                                  nil,
	} {
		if got := sshIdentities(cmd); !reflect.DeepEqual(got, want) {
			t.Errorf("%q: %q, want %q", cmd, got, want)
		}
	}
}

func TestSecretsAndLocals(t *testing.T) {
	restic := &drivers.Target{Name: "library", Driver: "restic", Impl: restic.Driver{}, Settings: drivers.Values{
		"repository": "local:/srv/backup/restic", "password_file": "/etc/ab/restic.pass", "paths": []string{"/srv/library", "/srv/library/covers"},
	}, Env: map[string]string{"GOOGLE_APPLICATION_CREDENTIALS": "/etc/ab/gcs.json", "AWS_REGION": "eu"}}
	dump := &drivers.Target{Name: "db", Driver: "pg_dump", Impl: pgdump.Driver{}, Settings: drivers.Values{"dir": "/var/backups/db", "password_file": "/etc/ab/db.pass"}}
	streamed := &drivers.Target{Name: "db2", Driver: "pg_dump", Impl: pgdump.Driver{}, Into: restic, Settings: drivers.Values{"into": "library"}}
	mirror := &drivers.Target{Name: "mirror", Driver: "rsync", Impl: rsync.Driver{}, Settings: drivers.Values{
		"source": "/srv/library/", "destination": "backup@host:/m/", "ssh_command": "ssh -i /etc/ab/id"}}
	offsite := &drivers.Target{Name: "offsite", Driver: "rclone", Impl: rclone.Driver{}, Settings: drivers.Values{
		"source": "/srv/backup/restic", "destination": "b2:bucket", "config": "/etc/ab/rclone.conf", "config_password_file": "/etc/ab/rclone.pass"}}
	targets := []*drivers.Target{restic, dump, streamed, mirror, offsite}

	var got []string
	for _, s := range Secrets(targets) {
		got = append(got, s.Target+" "+s.Key+" "+s.Path)
	}
	want := []string{
		"library password_file /etc/ab/restic.pass",
		"library env.GOOGLE_APPLICATION_CREDENTIALS /etc/ab/gcs.json",
		"db password_file /etc/ab/db.pass",
		"mirror ssh_command /etc/ab/id",
		"offsite config /etc/ab/rclone.conf",
		"offsite config_password_file /etc/ab/rclone.pass",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("secrets:\n%q\nwant\n%q", got, want)
	}

	wantLocals := []Local{
		{Path: "/srv/backup/restic", Write: true, Why: "repository of library; source of offsite"},
		{Path: "/srv/library", Why: "backed up by library; source of mirror"},
		{Path: "/srv/library/covers", Why: "backed up by library"},
		{Path: "/var/backups/db", Write: true, Dumps: true, Why: "dumps of db"},
		{Path: "/var/lib/ab", Write: true, Why: "state_dir"},
	}
	if got := Locals("/var/lib/ab", targets); !reflect.DeepEqual(got, wantLocals) {
		t.Errorf("locals:\n%+v\nwant\n%+v", got, wantLocals)
	}
}

func TestWithin(t *testing.T) {
	for _, tc := range []struct {
		path, dir string
		want      bool
	}{
		{"/tmp/x", "/tmp", true}, {"/tmp", "/tmp", true}, {"/tmpfoo", "/tmp", false}, {"/var/tmp", "/tmp", false}, {"/etc/a/b", "/etc", true},
	} {
		if got := Within(tc.path, tc.dir); got != tc.want {
			t.Errorf("Within(%q, %q) = %v", tc.path, tc.dir, got)
		}
	}
}
