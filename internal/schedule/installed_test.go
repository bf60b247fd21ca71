package schedule

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FindInstalled counts only files written for this plan file, a timer
// only when it is linked into timers.target.wants, and a cron line only
// when it is not commented out.
func TestFindInstalled(t *testing.T) {
	const config = "/etc/alexandria-backup.toml"
	write := func(root, path, text string) {
		p := filepath.Join(root, path)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	unit := func(plan, cfg string) string {
		return "# " + UnitDir + "/" + UnitName(plan) + ".timer\n" + Marker(cfg) + "\n[Timer]\nOnCalendar=daily\n"
	}
	cron := "# " + CronFile + "\n" + Marker(config) + "\nSHELL=/bin/sh\n\n# Plan \"nightly\": every day\n0 3 * * * root alexandria-backup run nightly\n\n" +
		"# Plan \"weekly\": weekly\n#0 4 * * 0 root alexandria-backup run weekly\n"
	cases := []struct {
		name  string
		setup func(root string)
		want  string // plan=active;... sorted as found
	}{
		{"nothing", func(string) {}, ""},
		{"enabled timer", func(r string) {
			write(r, UnitDir+"/"+UnitName("nightly")+".timer", unit("nightly", config))
			os.MkdirAll(filepath.Join(r, UnitDir, "timers.target.wants"), 0o755)
			os.Symlink("../"+UnitName("nightly")+".timer", filepath.Join(r, UnitDir, "timers.target.wants", UnitName("nightly")+".timer"))
		}, "nightly=true"},
		{"timer not enabled", func(r string) { write(r, UnitDir+"/"+UnitName("nightly")+".timer", unit("nightly", config)) }, "nightly=false"},
		{"another plan file's timer", func(r string) {
			write(r, UnitDir+"/"+UnitName("nightly")+".timer", unit("nightly", "/other.toml"))
		}, ""},
		{"a hand-written timer", func(r string) { write(r, UnitDir+"/"+UnitName("nightly")+".timer", "[Timer]\nOnCalendar=daily\n") }, ""},
		{"cron file", func(r string) { write(r, CronFile, cron) }, "nightly=true;weekly=false"},
		{"another plan file's cron file", func(r string) { write(r, CronFile, strings.Replace(cron, Marker(config), Marker("/x.toml"), 1)) }, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			root := t.TempDir()
			c.setup(root)
			found, err := FindInstalled(root, config)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, plan := range []string{"nightly", "weekly"} {
				for _, in := range found[plan] {
					got = append(got, plan+"="+map[bool]string{true: "true", false: "false"}[in.Active])
					if in.Evidence == "" {
						t.Errorf("%s: no evidence", plan)
					}
				}
			}
			if strings.Join(got, ";") != c.want {
				t.Errorf("found %q, want %q (%+v)", strings.Join(got, ";"), c.want, found)
			}
		})
	}
}
