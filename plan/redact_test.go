package plan

import (
	"os"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

// Every secret written in a plan file, in each shape a plan can hold it,
// is gone from the redacted plan; every reference to the environment and
// everything that is no secret stays; MaskedKeys names each masked key.
func TestRedactLeavesNoSecret(t *testing.T) {
	const head = `state_dir = "/var/lib/ab"
`
	for _, tc := range []struct {
		name    string
		src     string
		secrets []string // must not appear in the redacted text
		keep    []string // must appear
		masked  []string // MaskedKeys, with no variable set
	}{
		{"env in several targets", head + `
[targets.a]
driver = "restic"
env = { AWS_SECRET_ACCESS_KEY = "s3cr3t-aws", AWS_ACCESS_KEY_ID = "AKIAEXAMPLE" }
[targets.b]
driver = "borg"
[targets.b.env]
BORG_RSH = "ssh -i /root/key-b0rg"
`, []string{"s3cr3t-aws", "AKIAEXAMPLE", "key-b0rg"}, []string{"/var/lib/ab", `driver = "borg"`},
			[]string{"targets.a.env.AWS_ACCESS_KEY_ID", "targets.a.env.AWS_SECRET_ACCESS_KEY", "targets.b.env.BORG_RSH"}},
		{"a target and a plan named env are not env tables", head + `
[targets.env]
driver = "restic"
repository = "/srv/restic-env"
paths = ["/srv/library-env"]
env = { KEY = "envs-own-s3cret" }
[plans.env]
targets = ["env"]
`, []string{"envs-own-s3cret"}, []string{`repository = "/srv/restic-env"`, `"/srv/library-env"`, `targets = ["env"]`},
			[]string{"targets.env.env.KEY"}},
		{"reference kept, literal masked", head + `
[targets.a]
driver = "restic"
env = { KEY = "${AWS_SECRET}", BOTH = "${A}${B}", MIXED = "pre-${A}-l1teral", DOLLAR = "$${NOTVAR}hunter2" }
`, []string{"l1teral", "hunter2"}, []string{`"${AWS_SECRET}"`, `"${A}${B}"`},
			[]string{"targets.a.env.DOLLAR", "targets.a.env.MIXED"}},
		{"a reference's default is literal text", head + `
[targets.a]
driver = "restic"
env = { KEY = "${AWS_SECRET:-defaultS3cret}", EMPTY = "${X:-}" }
`, []string{"defaultS3cret"}, []string{"${AWS_SECRET:-" + MaskedValue + "}", `"${X:-}"`},
			[]string{"targets.a.env.KEY"}},
		{"multi-line strings", head + `
[targets.a]
driver = "restic"
env = { CERT = """
-----BEGIN KEY-----
mult1line-s3cret
-----END KEY-----
""", LIT = '''
l1teral-multi
''' }
`, []string{"mult1line-s3cret", "l1teral-multi", "BEGIN KEY"}, nil,
			[]string{"targets.a.env.CERT", "targets.a.env.LIT"}},
		{"not strings in env", head + `
[targets.a]
driver = "restic"
env = { PIN = 987654321, ON = true, NESTED = { DEEP = "d33p" }, LIST = ["l1st-secret"] }
`, []string{"987654321", "d33p", "l1st-secret"}, nil,
			[]string{"targets.a.env.LIST.0", "targets.a.env.NESTED.DEEP", "targets.a.env.ON", "targets.a.env.PIN"}},
		{"ping_url", head + `
[notify]
ping_url = "https://hc-ping.com/tok3n-uuid"
metrics_file = "/var/lib/m.prom"
`, []string{"tok3n-uuid"}, []string{"/var/lib/m.prom"}, []string{"notify.ping_url"}},
		{"ping_url as a reference", head + `
[notify]
ping_url = "${PING_URL}"
`, nil, []string{`"${PING_URL}"`}, nil},
		{"ping_url with a reference inside is still masked", head + `
[notify]
ping_url = "https://hc.example/p1ng-${UUID}"
`, []string{"p1ng-"}, nil, []string{"notify.ping_url"}},
		{"passwords in URLs anywhere", head + `
before_restore = [["curl", "https://user:hookpa55@example.org/stop"]]
[targets.d]
driver = "pg_dump"
database = "postgres://app:dbpa55@db:5432/app"
[targets.r]
driver = "rclone"
remote = "webdav://u:rc10ne-pw@host/path"
[notify]
on_failure = [["notify", "smtp://mail:m4ilpw@smtp.example"]]
`, []string{"hookpa55", "dbpa55", "rc10ne-pw", "m4ilpw"}, []string{"postgres://app:" + MaskedValue + "@db:5432/app", "https://user:"},
			[]string{"before_restore.0.1", "notify.on_failure.0.1", "targets.d.database", "targets.r.remote"}},
		{"an array of tables", head + `
[[extra]]
env = { K = "arr4y-secret" }
url = "https://a:arr4y-pw@h/"
`, []string{"arr4y-secret", "arr4y-pw"}, nil, []string{"extra.0.env.K", "extra.0.url"}},
		{"quoted keys", head + `
[targets."we.ird"]
driver = "restic"
"env" = { "A.B" = "qu0ted-secret" }
`, []string{"qu0ted-secret"}, []string{"we.ird"}, []string{`targets."we.ird".env."A.B"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := Redact([]byte(tc.src))
			if err != nil {
				t.Fatal(err)
			}
			text := string(out)
			for _, s := range tc.secrets {
				if strings.Contains(text, s) {
					t.Errorf("secret %q survived:\n%s", s, text)
				}
			}
			for _, s := range tc.keep {
				if !strings.Contains(text, s) {
					t.Errorf("%q was lost:\n%s", s, text)
				}
			}
			var again map[string]any
			if _, err := toml.Decode(text, &again); err != nil {
				t.Fatalf("the redacted plan is no TOML: %v\n%s", err, text)
			}
			masked, err := MaskedKeys(out, func(string) (string, bool) { return "", false })
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(masked, " ") != strings.Join(tc.masked, " ") {
				t.Errorf("MaskedKeys = %q, want %q\n%s", masked, tc.masked, text)
			}
		})
	}
}

// A masked default stops counting as masked once its variable is set on
// the machine: the reference then wins.
func TestMaskedKeysExpandsReferences(t *testing.T) {
	out, err := Redact([]byte(`[x]
env = { KEY = "${SECRET_KEY:-literal}" }
`))
	if err != nil {
		t.Fatal(err)
	}
	set := func(name string) (string, bool) { return "from-env", name == "SECRET_KEY" }
	if keys, _ := MaskedKeys(out, set); len(keys) != 0 {
		t.Errorf("with SECRET_KEY set: %q", keys)
	}
	unset := func(string) (string, bool) { return "", false }
	if keys, _ := MaskedKeys(out, unset); len(keys) != 1 {
		t.Errorf("with SECRET_KEY unset: %q", keys)
	}
}

// The example plan, stored: it loads again as the same targets and
// plans, and its header names the point; the sum ignores the header.
func TestStoredPlanOfTheExampleLoads(t *testing.T) {
	src, err := os.ReadFile("../alexandria-backup.toml.example")
	if err != nil {
		t.Fatal(err)
	}
	lookup := func(string) (string, bool) { return "", false }
	p, err := Parse("/etc/alexandria-backup/alexandria-backup.toml", src, lookup)
	if err != nil {
		t.Fatal(err)
	}
	a, err := p.StoredPlan("20261207T031500Z-4f1c")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := p.StoredPlan("20261208T031500Z-0000")
	if a.Sum != b.Sum || string(a.Text) == string(b.Text) || !strings.Contains(string(a.Text), "stored by recovery point 20261207T031500Z-4f1c") {
		t.Errorf("sums %s, %s; header:\n%s", a.Sum, b.Sum, a.Text[:200])
	}
	q, err := Parse("stored.toml", a.Text, lookup)
	if err != nil {
		t.Fatalf("the stored example does not load: %v\n%s", err, a.Text)
	}
	if strings.Join(q.Order, ",") != strings.Join(p.Order, ",") || len(q.Targets) != len(p.Targets) || len(q.Plans) != len(p.Plans) {
		t.Errorf("stored plan has targets %v and %d plans, the example %v and %d", q.Order, len(q.Plans), p.Order, len(p.Plans))
	}
	for name, pt := range p.Targets {
		if qt := q.Targets[name]; qt == nil || qt.Driver != pt.Driver || len(qt.Settings) != len(pt.Settings) {
			t.Errorf("target %s changed: %+v, was %+v", name, qt, pt)
		}
	}
}

func TestPlanLabelIsNoTargetName(t *testing.T) {
	_, err := Parse("p.toml", []byte(`[targets.alexandria-plan]
driver = "restic"
repository = "/r"
password_file = "/p"
paths = ["/x"]
`), func(string) (string, bool) { return "", false })
	if err == nil || !strings.Contains(err.Error(), "reserved") {
		t.Fatalf("target alexandria-plan: %v", err)
	}
}
