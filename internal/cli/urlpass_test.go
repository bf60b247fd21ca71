package cli

import (
	"os"
	"strings"
	"testing"
)

// A plan with a password in a repository or destination URL is refused
// whole (exit 2, nothing run, no state written) by every command that
// loads it, with errors naming each key, and the password appears nowhere
// in what the command prints.
func TestURLPasswordInPlanRefused(t *testing.T) {
	s := newSandbox(t, `
[targets.borgrepo]
driver = "borg"
repository = "ssh://backup:Borg-S3cr3t@backup.example:2222/./alexandria"
passphrase_file = "/etc/borg.pass"
paths = ["/srv/library"]

[targets.rest]
driver = "restic"
repository = "rest:https://backup:Rest-S3cr3t@[::1]:8000/alexandria/"
password_file = "/etc/restic.pass"
paths = ["/srv/library"]

[targets.mirror]
driver = "rsync"
source = "/srv/library/"
destination = "backup:Rsync-S3cr3t@backup.example:/mirror/"

[targets.offsite]
driver = "rclone"
source = "/srv/library"
destination = ":webdav,url='https://backup:Dav-S3cr3t@dav.example/':alexandria"

[plans.leaky]
targets = ["borgrepo", "rest", "mirror", "offsite"]
`)
	marker := shims(t)
	for _, args := range [][]string{
		{"validate"},
		{"run", "leaky"},
		{"run", "leaky", "--dry-run"},
		{"run", "leaky", "--json"},
		{"snapshots", "borgrepo"},
	} {
		code, stdout, stderr := runCLI(t, append(args, "-c", s.plan)...)
		if code != 2 {
			t.Errorf("%v: exit %d, want 2\n%s%s", args, code, stdout, stderr)
		}
		for _, want := range []string{"targets.borgrepo.repository: contains a password", "targets.rest.repository: contains a password",
			"targets.mirror.destination: contains a password", "targets.offsite.destination: contains a password"} {
			if !strings.Contains(stderr, want) {
				t.Errorf("%v: stderr lacks %q:\n%s", args, want, stderr)
			}
		}
		if strings.Contains(stdout+stderr, "S3cr3t") {
			t.Errorf("%v: the password shows:\n%s%s", args, stdout, stderr)
		}
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("a tool ran for a refused plan")
	}
	if _, err := os.Stat(s.state); err == nil {
		t.Error("a refused plan wrote to the state directory")
	}
}
