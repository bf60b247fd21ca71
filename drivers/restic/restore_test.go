package restic

import "testing"

func TestResticPattern(t *testing.T) {
	for in, want := range map[string]string{
		"/srv/lib/a.epub":   "/srv/lib/a.epub",
		"/srv/we[ir]d *?.x": `/srv/we\[ir]d \*\?.x`,
		`/srv/back\slash`:   `/srv/back\\slash`,
	} {
		if got := resticPattern(in); got != want {
			t.Errorf("resticPattern(%q) = %q, want %q", in, got, want)
		}
	}
}
