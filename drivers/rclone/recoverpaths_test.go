package rclone_test

import (
	"slices"
	"testing"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/drivers/rclone"
)

// recover puts back what a mirror's source was: a local library, never a
// remote's files, and never a restic repository an rclone target copies
// offsite (its files are packs, not books).
func TestRcloneRecoverPaths(t *testing.T) {
	repo := &drivers.Target{Name: "library", Driver: "restic"}
	for _, c := range []struct {
		name   string
		source string
		holds  []*drivers.Target
		want   []string
	}{
		{"a local library", "/srv/alexandria/library/", nil, []string{"/srv/alexandria/library"}},
		{"a remote source", "remote:library", nil, nil},
		{"a restic repository's copy", "/srv/backup/restic", []*drivers.Target{repo}, nil},
	} {
		tg := &drivers.Target{Name: "offsite", Driver: "rclone", Settings: drivers.Values{"source": c.source}, Holds: c.holds}
		if got := (rclone.Driver{}).RecoverPaths(tg); !slices.Equal(got, c.want) {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}
