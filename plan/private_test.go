package plan

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A plan file others may read must not hold a secret: each secret-bearing
// key written in it is refused, naming its key and line; the same key as
// ${VAR} is fine, and so is the file at mode 0600.
func TestExposedSecrets(t *testing.T) {
	const db = "[targets.db]\ndriver = \"pg_dump\"\ndatabase = \"a\"\ndir = \"/b\"\n"
	const restic = "[targets.r]\ndriver = \"restic\"\npassword_file = \"/p\"\npaths = [\"/l\"]\n"
	for _, tc := range []struct {
		name, src string
		want      []string // "line: key"; none: no secret in the file
	}{
		{"env inline", db + "env = { AWS_SECRET_ACCESS_KEY = \"k\", PGSSLMODE = \"verify-full\" }\n",
			[]string{":5: targets.db.env.AWS_SECRET_ACCESS_KEY", ":5: targets.db.env.PGSSLMODE"}},
		{"env table", db + "[targets.db.env]\nAWS_SECRET_ACCESS_KEY = \"k\"\n", []string{":6: targets.db.env.AWS_SECRET_ACCESS_KEY"}},
		{"ping url", db + "[notify]\nping_url = \"https://hc-ping.com/0b8f\"\n", []string{":6: notify.ping_url"}},
		{"from the environment", db + "env = { AWS_SECRET_ACCESS_KEY = \"${AWS_KEY}\" }\n[notify]\nping_url = \"https://hc-ping.com/${HC_UUID}\"\n", nil},
		{"no secret", db + "[notify]\nmetrics_file = \"/m/x.prom\"\non_failure = [[\"/bin/page\"]]\n", nil},
		{"repository without password", restic + "repository = \"rest:https://host/repo\"\n", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "plan.toml")
			os.WriteFile(path, []byte(tc.src), 0o600)
			lookup := env(map[string]string{"AWS_KEY": "k", "HC_UUID": "u"})
			p, err := Parse(path, []byte(tc.src), lookup)
			if err != nil {
				t.Fatal(err)
			}
			for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o600, 0o400} {
				os.Chmod(path, mode)
				err := p.CheckPrivate()
				if len(tc.want) == 0 || mode&0o044 == 0 {
					if err != nil {
						t.Errorf("mode %04o: %v", mode, err)
					}
					continue
				}
				var pe *Error
				if !errors.As(err, &pe) || len(pe.Problems()) != len(tc.want) {
					t.Fatalf("mode %04o: want %d problems, got %v", mode, len(tc.want), err)
				}
				for _, w := range tc.want {
					if !strings.Contains(err.Error(), path+w+": a secret in a plan file that group or others may read") {
						t.Errorf("mode %04o: want %q in:\n%v", mode, w, err)
					}
				}
				for _, secret := range []string{"0b8f", "u:pw"} {
					if strings.Contains(err.Error(), secret) {
						t.Errorf("the error shows the secret %q:\n%v", secret, err)
					}
				}
			}
		})
	}
}
