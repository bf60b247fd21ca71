package restic

import (
	"strings"
	"testing"

	"github.com/alexandria-backup/alexandria-backup/drivers"
)

// Every restic retention keeps the snapshots of the points it is told to
// keep whole: a target's own forget, and the forget of the dumps a
// pg_dump target streams into the repository (dump and manifest carry
// the point alike). TestResticRetentionKeepsTheRecoverablePoint proves
// what --keep-tag does on the real tool.
func TestRetentionKeepsThePointsItIsGiven(t *testing.T) {
	kept := []string{"20261207T031500Z-4f1c", "20261201T031500Z-0a0b"}
	lib := &drivers.Target{Name: "library", Driver: "restic", Settings: drivers.Values{
		"repository": "/srv/restic", "password_file": "/etc/p", "paths": []string{"/srv/lib"}, "keep_daily": 7}, KeepPoints: kept}
	db := &drivers.Target{Name: "database", Driver: "pg_dump", Settings: drivers.Values{"keep_last": 2}, Into: lib, KeepPoints: kept}
	own, _ := Driver{}.forgetCommand(lib, false, true)
	for name, args := range map[string][]string{
		"the target's forget":         own.Args,
		"the streamed dumps' forget":  resticStore{}.forgetCommand(db, false, true).Args,
		"the streamed dumps' dry run": resticStore{}.forgetCommand(db, true, false).Args,
	} {
		line := strings.Join(args, " ")
		for _, id := range kept {
			if !strings.Contains(line, "--keep-tag=alexandria-point="+id) {
				t.Errorf("%s keeps no snapshot of point %s: %s", name, id, line)
			}
		}
	}
	lib.KeepPoints = nil
	if own, _ := (Driver{}).forgetCommand(lib, false, true); strings.Contains(strings.Join(own.Args, " "), "--keep-tag") {
		t.Errorf("no point to keep, but: %v", own.Args)
	}
}
