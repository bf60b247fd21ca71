package schedule

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alexandria-backup/alexandria-backup/plan"
)

// requireTool skips a test when a program is missing, except under CI,
// where a missing program is a broken image.
func requireTool(t *testing.T, name string) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: skipping a test of a real program")
	}
	if _, err := exec.LookPath(name); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not installed", name)
		}
		t.Skipf("%s is not installed", name)
	}
}

var update = flag.Bool("update", false, "rewrite the golden files")

const examplePath = "../../alexandria-backup.toml.example"

// examplePlan loads the example plan with no environment: its ${VAR:-default}
// values take their defaults.
func examplePlan(t *testing.T) *plan.Plan {
	t.Helper()
	src, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	p, err := plan.Parse(examplePath, src, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var goldenOptions = Options{
	Binary:   "/usr/local/bin/alexandria-backup",
	Config:   "/etc/alexandria-backup/alexandria-backup.toml",
	Wait:     2 * time.Hour,
	Image:    "alexandria-backup:1.0",
	TimeZone: "Europe/Berlin",
}

func render(t *testing.T, format string, s *Set) string {
	t.Helper()
	o, err := Formats[format](s)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if _, err := o.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// The example plan's schedules in each format, pinned. After an intended
// change: go test ./internal/schedule -run TestGolden -update
func TestGolden(t *testing.T) {
	s, err := Jobs(examplePlan(t), "", goldenOptions)
	if err != nil {
		t.Fatal(err)
	}
	for _, format := range FormatNames {
		got := render(t, format, s)
		path := filepath.Join("testdata", "example."+format)
		if *update {
			if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if got != string(want) {
			t.Errorf("%s output differs from %s (go test ./internal/schedule -run TestGolden -update):\n%s", format, path, got)
		}
	}
}

func TestJobs(t *testing.T) {
	p := examplePlan(t)
	s, err := Jobs(p, "weekly", goldenOptions)
	if err != nil || len(s.Jobs) != 1 || s.Jobs[0].Plan != "weekly" {
		t.Fatalf("--plan weekly: %v %+v", err, s)
	}
	// database 1h + library 8h + library-borg and mirror 6h each (no
	// timeout), the 2h lock wait and 10 minutes.
	if want := 23*time.Hour + 10*time.Minute; s.Jobs[0].Budget != want {
		t.Errorf("budget %s, want %s", s.Jobs[0].Budget, want)
	}
	if got := s.args(s.Jobs[0]); !reflect.DeepEqual(got, []string{"--config", goldenOptions.Config, "run", "--wait", "2h", "weekly"}) {
		t.Errorf("args %q", got)
	}

	p.Plans["adhoc"] = &plan.Group{Name: "adhoc", Targets: []string{"database"}}
	s, err = Jobs(p, "", goldenOptions)
	if err != nil || !reflect.DeepEqual(s.Skipped, []string{"adhoc"}) || len(s.Jobs) != 3 {
		t.Fatalf("a plan without schedule: %v, skipped %v", err, s.Skipped)
	}
	for _, format := range FormatNames {
		if out := render(t, format, s); !strings.Contains(out, `# Plan "adhoc" has no schedule key`) {
			t.Errorf("%s output does not say that adhoc is not scheduled:\n%s", format, out)
		}
	}

	for _, tc := range []struct {
		change func(*plan.Plan)
		only   string
		want   string
	}{
		{nil, "adhoc", `plan "adhoc" has no schedule: set plans.adhoc.schedule`},
		{nil, "nope", `no plan "nope"`},
		{func(p *plan.Plan) { p.Plans["daily"].Schedule = "0 0 * * 7" }, "", "plans.daily.schedule: \"0 0 * * 7\": day of week field \"7\": 7 for Sunday"},
		{func(p *plan.Plan) { p.Plans["my plan"] = &plan.Group{Name: "my plan", Schedule: "daily"} }, "", "plans.my plan: a scheduled plan's name may only use"},
		{func(p *plan.Plan) {
			for _, g := range p.Plans {
				g.Schedule = ""
			}
		}, "", "no plan in ../../alexandria-backup.toml.example has a schedule"},
	} {
		p := examplePlan(t)
		p.Plans["adhoc"] = &plan.Group{Name: "adhoc", Targets: []string{"database"}}
		if tc.change != nil {
			tc.change(p)
		}
		if _, err := Jobs(p, tc.only, goldenOptions); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %v, want %q", err, tc.want)
		}
	}
}

// systemd itself must accept the units without a single complaint.
func TestSystemdVerify(t *testing.T) {
	requireTool(t, "systemd-analyze")
	o := goldenOptions
	exe, err := os.Executable() // ExecStart must name a program that exists
	if err != nil {
		t.Fatal(err)
	}
	o.Binary = exe
	s, err := Jobs(examplePlan(t), "", o)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	units := splitFiles(t, render(t, "systemd", s), UnitDir+"/", dir)
	if len(units) != 7 {
		t.Fatalf("%d units, want a service and a timer for each of 3 plans and the OnFailure= template", len(units))
	}
	// Every OnFailure= names a template unit that is among them.
	for _, u := range units {
		src, _ := os.ReadFile(u)
		for _, m := range regexp.MustCompile(`(?m)^OnFailure=(.+)@%n\.service$`).FindAllStringSubmatch(string(src), -1) {
			if _, err := os.Stat(filepath.Join(dir, m[1]+"@.service")); err != nil {
				t.Errorf("%s: OnFailure= names %s@.service, which is not written", u, m[1])
			}
		}
		if strings.HasSuffix(u, ".service") && !strings.Contains(u, "@") && !strings.Contains(string(src), "\nOnFailure=") {
			t.Errorf("%s has no OnFailure=", u)
		}
	}
	out, err := exec.Command("systemd-analyze", append([]string{"verify"}, units...)...).CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// splitFiles writes each "# PREFIXNAME" section of out to dir/NAME and
// returns the paths, as an operator splitting the output would.
func splitFiles(t *testing.T, out, prefix, dir string) []string {
	t.Helper()
	var paths []string
	var cur *bytes.Buffer
	flush := func() {
		if cur != nil {
			if err := os.WriteFile(paths[len(paths)-1], cur.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, line := range strings.SplitAfter(out, "\n") {
		if name, ok := strings.CutPrefix(strings.TrimSpace(line), "# "+prefix); ok {
			flush()
			paths = append(paths, filepath.Join(dir, name))
			cur = &bytes.Buffer{}
			continue
		}
		if cur != nil {
			cur.WriteString(line)
		}
	}
	flush()
	return paths
}

func TestSystemdUnits(t *testing.T) {
	s, err := Jobs(examplePlan(t), "", goldenOptions)
	if err != nil {
		t.Fatal(err)
	}
	out := render(t, "systemd", s)
	for _, want := range []string{
		"ExecStart=/usr/local/bin/alexandria-backup --config /etc/alexandria-backup/alexandria-backup.toml run --wait 2h daily\n",
		"Type=oneshot\n", "Nice=19\n", "IOSchedulingClass=best-effort\n", "IOSchedulingPriority=7\n", "CPUSchedulingPolicy=batch\n",
		"NoNewPrivileges=yes\n", "PrivateTmp=yes\n", "ProtectSystem=full\n",
		"TimeoutStartSec=3h10min\n", // database's 1h, the 2h wait, 10 minutes
		"OnCalendar=*-*-* 02:00:00\n", "OnCalendar=Sun *-*-* 03:00:00\n", "OnCalendar=*-*-01 04:00:00\n",
		"Persistent=true\n", "RandomizedDelaySec=30min\n", "WantedBy=timers.target\n",
		// rclone (plan monthly) rewrites its config in /etc/alexandria-backup.
		"ReadWritePaths=-/etc/alexandria-backup\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("systemd output lacks %q", want)
		}
	}

	// A plan that keeps anything under /tmp must not get a private /tmp,
	// which would hide it; paths with spaces and % are quoted and escaped.
	p := examplePlan(t)
	p.Targets["database"].Settings["dir"] = "/tmp/dumps"
	o := goldenOptions
	o.Config = "/etc/alexandria backup/100%.toml"
	s, err = Jobs(p, "daily", o)
	if err != nil {
		t.Fatal(err)
	}
	out = render(t, "systemd", s)
	if strings.Contains(out, "\nPrivateTmp=yes") || !strings.Contains(out, "# No PrivateTmp=yes: /tmp/dumps is under /tmp") {
		t.Errorf("dumps in /tmp and PrivateTmp:\n%s", out)
	}
	if !strings.Contains(out, `ExecStart=/usr/local/bin/alexandria-backup --config "/etc/alexandria backup/100%%.toml" run`) {
		t.Errorf("ExecStart quoting:\n%s", out)
	}
	// Nor may the program or the plan file be there.
	for _, o := range []Options{{Binary: "/tmp/alexandria-backup", Config: "/etc/p.toml"}, {Binary: "/usr/bin/alexandria-backup", Config: "/var/tmp/p.toml"}} {
		s, _ := Jobs(examplePlan(t), "daily", o)
		if out := render(t, "systemd", s); strings.Contains(out, "\nPrivateTmp=yes") {
			t.Errorf("PrivateTmp=yes with %+v", o)
		}
	}
	// Hourly runs spread over a tenth of the hour.
	p.Plans["daily"].Schedule = "hourly"
	s, _ = Jobs(p, "daily", o)
	if out = render(t, "systemd", s); !strings.Contains(out, "RandomizedDelaySec=6min\n") {
		t.Errorf("hourly: %s", out)
	}
}

// The cron line's command goes through cron (which turns % into a line
// break) and /bin/sh: odd paths must reach the program as the same words.
func TestCronLine(t *testing.T) {
	s, err := Jobs(examplePlan(t), "", goldenOptions)
	if err != nil {
		t.Fatal(err)
	}
	out := render(t, "cron", s)
	for _, want := range []string{
		"SHELL=/bin/sh\n", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n", "MAILTO=root\n",
		"0 2 * * * root timeout --kill-after=2m 190m /usr/local/bin/alexandria-backup --config /etc/alexandria-backup/alexandria-backup.toml run --wait 2h daily\n",
		"0 3 * * 0 root timeout --kill-after=2m 1390m /usr/local/bin/alexandria-backup",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("cron output lacks %q:\n%s", want, out)
		}
	}

	odd := "/etc/alexandria backup/it's 100% $HOME `x`.toml"
	line, err := cronCommand([]string{"/usr/bin/printf", "[%s]", odd})
	if err != nil {
		t.Fatal(err)
	}
	// What cron does to the command: "\%" becomes "%"; then /bin/sh runs it.
	shLine := strings.ReplaceAll(line, `\%`, "%")
	if strings.Contains(strings.ReplaceAll(line, `\%`, ""), "%") {
		t.Fatalf("an unescaped %% in %s", line)
	}
	got, err := exec.Command("/bin/sh", "-c", shLine).Output()
	if err != nil || string(got) != "["+odd+"]" {
		t.Fatalf("sh got %q (%v) from %s", got, err, line)
	}
	if _, err := cronCommand([]string{`C:\path`}); err == nil {
		t.Error("a backslash was accepted")
	}
}

// requireYAML finds a YAML parser that is not ours to check the manifests
// with: Python's PyYAML (Debian: python3-yaml).
func requireYAML(t *testing.T) {
	t.Helper()
	requireTool(t, "python3")
	if err := exec.Command("python3", "-c", "import yaml").Run(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("python3-yaml is not installed")
		}
		t.Skip("python3-yaml is not installed")
	}
}

// parseYAML reads every document of a YAML stream with PyYAML, as JSON
// values.
func parseYAML(t *testing.T, src string) []any {
	t.Helper()
	cmd := exec.Command("python3", "-c", "import sys, json, yaml; json.dump(list(yaml.safe_load_all(sys.stdin)), sys.stdout)")
	cmd.Stdin = strings.NewReader(src)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("YAML does not parse: %v\n%s\n%s", err, stderr.String(), src)
	}
	var docs []any
	if err := json.Unmarshal(out, &docs); err != nil {
		t.Fatal(err)
	}
	return docs
}

// jsonValue is what a YAML value of ours should parse to.
func jsonValue(v any) any {
	switch v := v.(type) {
	case yMap:
		m := map[string]any{}
		for _, kv := range v {
			m[kv.Key] = jsonValue(kv.Value)
		}
		return m
	case ySeq:
		s := []any{}
		for _, x := range v {
			s = append(s, jsonValue(x))
		}
		return s
	case yBlock:
		return string(v)
	case int:
		return float64(v)
	}
	return v
}

// Every string that YAML could read as something else comes back as the
// same string; blocks keep their exact bytes.
func TestYAMLRoundTrip(t *testing.T) {
	requireYAML(t)
	tricky := []string{"", "yes", "No", "on", "OFF", "y", "n", "true", "null", "~", "0400", "1.5", "1e3", ".inf", "0x1F",
		"1:20", "2001-12-14", "a: b", "#x", "x #y", "-x", "- x", "--config", "---", "...", "*ref", "&a", "!tag", "@x", "`x`",
		"%x", "{a}", "[a]", "a,b", "'q'", `"q"`, "back\\slash", "tab\there", "line\nbreak", "ünïcödé", " lead", "trail ", "2h",
		"/etc/x", "alexandria-backup:1.0", "0 2 * * *", "app.kubernetes.io/name"}
	var items ySeq
	m := yMap{}
	for i, s := range tricky {
		items = append(items, s)
		m = append(m, yKV{Key: s, Value: i, Comment: "comment\nover two lines"})
	}
	blocks := []string{"a\nb\n", "no newline", "two\n\n", "three\n\n\n", "  leading spaces\nx\n", "\nleading newline\n",
		"inner\n\n\nblank lines\n", "tab\tinside\n\tand first\n", "   \n", "# not a comment\n---\n...\n", "x:\n  - y\n"}
	var bl ySeq
	for _, b := range blocks {
		bl = append(bl, yMap{{Key: "content", Value: yBlock(b)}})
	}
	doc := yMap{
		{Key: "strings", Value: items},
		{Key: "keys", Value: m},
		{Key: "blocks", Value: bl},
		{Key: "empty", Value: yMap{{Key: "map", Value: yMap{}}, {Key: "seq", Value: ySeq{}}}},
		{Key: "nested", Value: ySeq{ySeq{1, 2}, yMap{{Key: "a", Value: ySeq{yMap{{Key: "b", Value: true}}}}}}},
	}
	var b bytes.Buffer
	if err := writeYAML(&b, doc); err != nil {
		t.Fatal(err)
	}
	got := parseYAML(t, b.String())
	if want := []any{jsonValue(doc)}; !reflect.DeepEqual(got, want) {
		g, _ := json.MarshalIndent(got, "", " ")
		w, _ := json.MarshalIndent(want, "", " ")
		t.Fatalf("YAML read back differently:\n%s\ngot  %s\nwant %s", b.String(), g, w)
	}
}

// The manifests parse, carry the plan file byte for byte, and mount each
// secret file where the plan names it.
func TestKubernetesManifests(t *testing.T) {
	requireYAML(t)
	s, err := Jobs(examplePlan(t), "", goldenOptions)
	if err != nil {
		t.Fatal(err)
	}
	out := render(t, "kubernetes", s)
	if regexp.MustCompile(`(?i)pass(word|phrase)\s*[:=]\s*\S`).MatchString(strings.SplitN(out, "kind: CronJob", 2)[1]) {
		t.Error("a secret value in the manifests?")
	}
	docs := parseYAML(t, out)
	if len(docs) != 9 {
		t.Fatalf("%d documents, want a ConfigMap, 5 PersistentVolumeClaims and 3 CronJobs", len(docs))
	}
	src, _ := os.ReadFile(examplePath)
	cm := docs[0].(map[string]any)
	if cm["kind"] != "ConfigMap" || dig(cm, "data", "alexandria-backup.toml") != string(src) {
		t.Fatalf("the ConfigMap does not hold the plan file as it is: %v", cm["data"])
	}
	checkClaims(t, docs)
	weekly := docs[8].(map[string]any)
	spec := weekly["spec"].(map[string]any)
	job := dig(weekly, "spec", "jobTemplate", "spec").(map[string]any)
	pod := dig(job, "template", "spec").(map[string]any)
	ctr := pod["containers"].([]any)[0].(map[string]any)
	for _, c := range []struct {
		got, want any
	}{
		{weekly["apiVersion"], "batch/v1"},
		{weekly["kind"], "CronJob"},
		{dig(weekly, "metadata", "name"), "alexandria-backup-weekly"},
		{spec["schedule"], "0 3 * * 0"},
		{spec["timeZone"], "Europe/Berlin"},
		{spec["concurrencyPolicy"], "Forbid"},
		{job["backoffLimit"], 0.0},
		{job["activeDeadlineSeconds"], float64((23*time.Hour + 10*time.Minute) / time.Second)},
		{pod["restartPolicy"], "Never"},
		// Secret files: root, every capability dropped but reading.
		{pod["securityContext"], map[string]any{"runAsUser": 0.0, "seccompProfile": map[string]any{"type": "RuntimeDefault"}}},
		{ctr["securityContext"], map[string]any{"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true,
			"capabilities": map[string]any{"drop": []any{"ALL"}, "add": []any{"DAC_READ_SEARCH"}}}},
		{ctr["resources"], map[string]any{"requests": map[string]any{"cpu": "100m", "memory": "256Mi"}, "limits": map[string]any{"memory": "4Gi"}}},
		{ctr["env"], []any{map[string]any{"name": "HOME", "value": "/var/lib/alexandria-backup/home"}}},
		{pod["hostname"], "alexandria-backup"},
		{ctr["args"], []any{"--config", "/etc/alexandria-backup/alexandria-backup.toml", "run", "--wait", "2h", "weekly"}},
		{dig(job, "podFailurePolicy", "rules"), []any{
			map[string]any{"action": "Ignore", "onPodConditions": []any{map[string]any{"type": "DisruptionTarget"}}},
			map[string]any{"action": "FailJob", "onExitCodes": map[string]any{"containerName": "alexandria-backup", "operator": "In", "values": []any{2.0}}},
		}},
	} {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("got %#v, want %#v", c.got, c.want)
		}
	}
	mounts := map[string]map[string]any{}
	for _, m := range ctr["volumeMounts"].([]any) {
		m := m.(map[string]any)
		mounts[m["mountPath"].(string)] = m
	}
	for path, want := range map[string]map[string]any{
		"/etc/alexandria-backup/alexandria-backup.toml": {"name": "plan", "subPath": "alexandria-backup.toml", "readOnly": true},
		"/etc/alexandria-backup/db.pass":                {"name": "secrets", "subPath": "db.pass", "readOnly": true},
		"/etc/alexandria-backup/restic.pass":            {"name": "secrets", "subPath": "restic.pass", "readOnly": true},
		"/etc/alexandria-backup/borg.pass":              {"name": "secrets", "subPath": "borg.pass", "readOnly": true},
		"/etc/alexandria-backup/id_ed25519":             {"name": "secrets", "subPath": "id_ed25519", "readOnly": true},
		"/srv/alexandria/library":                       {"name": "srv-alexandria-library", "readOnly": true},
		"/srv/backup/restic":                            {"name": "srv-backup-restic"},
		"/srv/backup/borg":                              {"name": "srv-backup-borg"},
		"/var/backups/alexandria/db":                    {"name": "var-backups-alexandria-db"},
		"/var/lib/alexandria-backup":                    {"name": "var-lib-alexandria-backup"},
		"/tmp":                                          {"name": "tmp"},
	} {
		want["mountPath"] = path
		if !reflect.DeepEqual(mounts[path], want) {
			t.Errorf("mount %s: %v, want %v", path, mounts[path], want)
		}
	}
	if len(mounts) != 11 {
		t.Errorf("%d mounts: %v", len(mounts), mounts)
	}
	for _, v := range pod["volumes"].([]any) {
		v := v.(map[string]any)
		if v["name"] == "secrets" && dig(v, "secret", "defaultMode") != 256.0 {
			t.Errorf("secret volume mode %v, want 0400", dig(v, "secret", "defaultMode"))
		}
	}
	for _, key := range []string{"db.pass", "restic.pass", "borg.pass", "rclone.conf", "id_ed25519"} {
		if !strings.Contains(out, "--from-file="+key+"=/etc/alexandria-backup/"+key) {
			t.Errorf("the Secret's creation command lacks %s", key)
		}
	}
}

func dig(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// A check plan (action = verify, verify-full, drill) is scheduled like a
// backup plan, running its own command with --plan, in every format.
func TestCheckPlans(t *testing.T) {
	p := examplePlan(t)
	p.Plans["check"] = &plan.Group{Name: "check", Targets: []string{"database", "library"}, Schedule: "0 5 * * 6", Action: plan.ActionDrill}
	p.Plans["deep"] = &plan.Group{Name: "deep", Targets: []string{"library-borg"}, Schedule: "monthly", Action: plan.ActionVerifyFull}
	p.Plans["slice"] = &plan.Group{Name: "slice", Targets: []string{"mirror"}, Schedule: "daily", Action: plan.ActionVerify}
	s, err := Jobs(p, "", goldenOptions)
	if err != nil {
		t.Fatal(err)
	}
	const prog = "/usr/local/bin/alexandria-backup --config /etc/alexandria-backup/alexandria-backup.toml "
	for format, wants := range map[string][]string{
		"systemd": {
			"ExecStart=" + prog + "drill --wait 2h --plan check\n",
			"ExecStart=" + prog + "verify --full --wait 2h --plan deep\n",
			"ExecStart=" + prog + "verify --wait 2h --plan slice\n",
			"ExecStart=" + prog + "run --wait 2h daily\n",
			"Description=alexandria-backup: drill plan check\n",
			"Description=alexandria-backup: verify all of plan deep\n",
			"Description=alexandria-backup: back up plan daily\n",
			"OnCalendar=Sat *-*-* 05:00:00\n",
		},
		"cron": {
			"0 5 * * 6 root timeout --kill-after=2m 3010m " + prog + "drill --wait 2h --plan check\n",
			"0 4 1 * * root timeout --kill-after=2m 1570m " + prog + "verify --full --wait 2h --plan deep\n",
			"# A check plan's line (verify, drill) prints a line per target",
		},
		"kubernetes": {
			"name: alexandria-backup-check\n",
			"- drill\n", "- --full\n", "- --plan\n", "- check\n",
		},
	} {
		out := render(t, format, s)
		for _, want := range wants {
			if !strings.Contains(out, want) {
				t.Errorf("%s output lacks %q", format, want)
			}
		}
		if strings.Contains(out, "run --wait 2h check") || strings.Contains(out, "run --wait 2h deep") {
			t.Errorf("%s runs a check plan as a backup", format)
		}
	}
	// Without a check plan the cron file says nothing about them.
	s, _ = Jobs(examplePlan(t), "", goldenOptions)
	if out := render(t, "cron", s); strings.Contains(out, "check plan") {
		t.Error("the cron file mentions check plans without one")
	}
}

// checkClaims: every claim a CronJob mounts is among the manifests'
// PersistentVolumeClaims, with a size and an access mode, and every claim
// is mounted by some CronJob.
func checkClaims(t *testing.T, docs []any) {
	t.Helper()
	claims := map[string]bool{}
	mounted := map[string]bool{}
	for _, d := range docs {
		d := d.(map[string]any)
		switch d["kind"] {
		case "PersistentVolumeClaim":
			name := dig(d, "metadata", "name").(string)
			claims[name] = true
			size, _ := dig(d, "spec", "resources", "requests", "storage").(string)
			modes, _ := dig(d, "spec", "accessModes").([]any)
			if !regexp.MustCompile(`^[0-9]+[MGT]i$`).MatchString(size) || len(modes) != 1 {
				t.Errorf("claim %s: size %q, access modes %v", name, size, modes)
			}
		case "CronJob":
			for _, v := range dig(d, "spec", "jobTemplate", "spec", "template", "spec", "volumes").([]any) {
				if c, ok := dig(v, "persistentVolumeClaim", "claimName").(string); ok {
					mounted[c] = true
				}
			}
		}
	}
	for c := range mounted {
		if !claims[c] {
			t.Errorf("a CronJob mounts claim %s, which no manifest creates", c)
		}
	}
	for c := range claims {
		if !mounted[c] {
			t.Errorf("claim %s is mounted by no CronJob", c)
		}
	}
}

// The pods' security context and volumes over plans of other shapes: no
// secret file (a user other than root), a local rsync mirror (root may set
// owners), and paths one plan nests in another's (one claim for both).
func TestKubernetesSecurityAndVolumes(t *testing.T) {
	requireYAML(t)
	const head = `state_dir = "/var/lib/ab"
[targets.db]
driver = "pg_dump"
database = "postgres://alexandria@db.example.org/alexandria"
dir = "/srv/backup/db"
keep_last = 3
[targets.mirror]
driver = "rsync"
source = "/srv/library/"
destination = "/srv/backup/mirror/"
[targets.repo]
driver = "restic"
repository = "/srv/backup/restic"
password_file = "/etc/ab/restic.pass"
paths = ["/srv/library"]
keep_daily = 7
`
	nonRoot := map[string]any{"runAsNonRoot": true, "runAsUser": 10001.0, "runAsGroup": 10001.0, "fsGroup": 10001.0,
		"fsGroupChangePolicy": "OnRootMismatch", "seccompProfile": map[string]any{"type": "RuntimeDefault"}}
	root := map[string]any{"runAsUser": 0.0, "seccompProfile": map[string]any{"type": "RuntimeDefault"}}
	for _, tc := range []struct {
		name, plans string
		pod         map[string]map[string]any // CronJob -> pod securityContext
		caps        map[string][]any          // CronJob -> capabilities added
		claims      []string
	}{
		{"no secret file: not root", `[plans.nightly]
targets = ["db", "mirror"]
schedule = "daily"`,
			map[string]map[string]any{"alexandria-backup-nightly": nonRoot}, map[string][]any{"alexandria-backup-nightly": nil},
			[]string{"srv-backup-db", "srv-backup-mirror", "srv-library", "var-lib-ab"}},
		{"secrets and a local mirror: root that may set owners", `[plans.all]
targets = ["mirror", "repo"]
schedule = "daily"`,
			map[string]map[string]any{"alexandria-backup-all": root}, map[string][]any{"alexandria-backup-all": {"CHOWN", "DAC_OVERRIDE", "FOWNER"}},
			[]string{"srv-backup-mirror", "srv-backup-restic", "srv-library", "var-lib-ab"}},
		{"each plan its own", `[plans.a]
targets = ["db"]
schedule = "daily"
[plans.b]
targets = ["repo"]
schedule = "weekly"
[plans.check]
targets = ["repo"]
action = "verify-full"
schedule = "monthly"`,
			map[string]map[string]any{"alexandria-backup-a": nonRoot, "alexandria-backup-b": root, "alexandria-backup-check": root},
			map[string][]any{"alexandria-backup-a": nil, "alexandria-backup-b": {"DAC_READ_SEARCH"}, "alexandria-backup-check": {"DAC_READ_SEARCH"}},
			[]string{"srv-backup-db", "srv-backup-restic", "srv-library", "var-lib-ab"}},
		// /srv/backup (a borg repository) holds the other plan's dumps
		// and restic repository: one claim, mounted by both plans.
		{"nested paths", `[targets.borg]
driver = "borg"
repository = "/srv/backup"
passphrase_file = "/etc/ab/borg.pass"
paths = ["/srv/library"]
keep_daily = 7
[plans.a]
targets = ["db", "repo"]
schedule = "daily"
[plans.b]
targets = ["borg"]
schedule = "weekly"`,
			map[string]map[string]any{"alexandria-backup-a": root, "alexandria-backup-b": root},
			map[string][]any{"alexandria-backup-a": {"DAC_READ_SEARCH"}, "alexandria-backup-b": {"DAC_READ_SEARCH"}},
			[]string{"srv-backup", "srv-library", "var-lib-ab"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "plan.toml")
			src := head + tc.plans + "\n"
			if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
				t.Fatal(err)
			}
			p, err := plan.Parse(path, []byte(src), func(string) (string, bool) { return "", false })
			if err != nil {
				t.Fatal(err)
			}
			s, err := Jobs(p, "", goldenOptions)
			if err != nil {
				t.Fatal(err)
			}
			docs := parseYAML(t, render(t, "kubernetes", s))
			checkClaims(t, docs)
			var claims []string
			for _, d := range docs {
				d := d.(map[string]any)
				switch d["kind"] {
				case "PersistentVolumeClaim":
					claims = append(claims, strings.TrimPrefix(dig(d, "metadata", "name").(string), "alexandria-backup-"))
				case "CronJob":
					name := dig(d, "metadata", "name").(string)
					pod := dig(d, "spec", "jobTemplate", "spec", "template", "spec").(map[string]any)
					ctr := pod["containers"].([]any)[0].(map[string]any)
					if !reflect.DeepEqual(pod["securityContext"], tc.pod[name]) {
						t.Errorf("%s: pod securityContext %v, want %v", name, pod["securityContext"], tc.pod[name])
					}
					sc := ctr["securityContext"].(map[string]any)
					if sc["allowPrivilegeEscalation"] != false || sc["readOnlyRootFilesystem"] != true ||
						!reflect.DeepEqual(dig(sc, "capabilities", "drop"), []any{"ALL"}) {
						t.Errorf("%s: container securityContext %v", name, sc)
					}
					if add, _ := dig(sc, "capabilities", "add").([]any); !reflect.DeepEqual(add, tc.caps[name]) {
						t.Errorf("%s: capabilities added %v, want %v", name, add, tc.caps[name])
					}
					if dig(ctr, "resources", "limits", "memory") == nil || dig(ctr, "resources", "requests", "memory") == nil {
						t.Errorf("%s: resources %v", name, ctr["resources"])
					}
				}
			}
			if !reflect.DeepEqual(claims, tc.claims) {
				t.Errorf("claims %q, want %q", claims, tc.claims)
			}
		})
	}
}

// A pod that is not root finds the state_dir the manifests mount, also
// when the plan names none: its default for a user other than root is
// $XDG_STATE_HOME/alexandria-backup.
func TestKubernetesStateDirForAUser(t *testing.T) {
	requireYAML(t)
	for stateDir, wantXDG := range map[string]any{
		"/var/lib/alexandria-backup":   "/var/lib",
		"/srv/state/alexandria-backup": "/srv/state",
		"/var/lib/ab":                  nil, // only a plan's own state_dir: nothing to find
	} {
		src := "state_dir = \"" + stateDir + "\"\n[targets.db]\ndriver = \"pg_dump\"\ndatabase = \"postgres://a@db.example.org/a\"\ndir = \"/srv/dumps\"\nkeep_last = 3\n[plans.p]\ntargets = [\"db\"]\nschedule = \"daily\"\n"
		path := filepath.Join(t.TempDir(), "plan.toml")
		if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
		p, err := plan.Parse(path, []byte(src), func(string) (string, bool) { return "", false })
		if err != nil {
			t.Fatal(err)
		}
		s, err := Jobs(p, "", goldenOptions)
		if err != nil {
			t.Fatal(err)
		}
		docs := parseYAML(t, render(t, "kubernetes", s))
		env := map[string]any{}
		for _, e := range dig(docs[len(docs)-1], "spec", "jobTemplate", "spec", "template", "spec").(map[string]any)["containers"].([]any)[0].(map[string]any)["env"].([]any) {
			env[e.(map[string]any)["name"].(string)] = e.(map[string]any)["value"]
		}
		if env["XDG_STATE_HOME"] != wantXDG || env["HOME"] != stateDir+"/home" {
			t.Errorf("state_dir %s: env %v, want XDG_STATE_HOME %v", stateDir, env, wantXDG)
		}
	}
}

// Every scheduled run ends with its notifications: the files [notify]
// reads (a channel's token, the e-mail password and CA file) are mounted
// in the pod with the targets' secrets, and named in the Secret's
// command; a unit's sandbox leaves them readable as it does the targets'.
func TestScheduledRunsReadTheNotifyFiles(t *testing.T) {
	requireYAML(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "plan.toml")
	src := `state_dir = "/var/lib/ab"
[notify.ntfy]
url = "https://ntfy.example.org/backups"
token_file = "/etc/ab/ntfy.token"
[notify.email]
smtp = "smtp.example.org:587"
from = "backup@example.org"
to = ["ops@example.org"]
username = "backup"
password_file = "/etc/ab/smtp.pass"
ca_file = "/etc/ab/smtp-ca.pem"
[targets.db]
driver = "pg_dump"
database = "postgres://alexandria@db.example.org/alexandria"
dir = "/srv/backup/db"
[plans.nightly]
targets = ["db"]
schedule = "daily"
`
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := plan.Parse(path, []byte(src), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	s, err := Jobs(p, "", goldenOptions)
	if err != nil {
		t.Fatal(err)
	}
	out := render(t, "kubernetes", s)
	var mounted []string
	for _, d := range parseYAML(t, out) {
		d := d.(map[string]any)
		if d["kind"] != "CronJob" {
			continue
		}
		ctr := dig(d, "spec", "jobTemplate", "spec", "template", "spec", "containers").([]any)[0].(map[string]any)
		for _, m := range ctr["volumeMounts"].([]any) {
			if m := m.(map[string]any); m["name"] == "secrets" {
				mounted = append(mounted, m["mountPath"].(string))
			}
		}
	}
	slices.Sort(mounted)
	if want := []string{"/etc/ab/ntfy.token", "/etc/ab/smtp-ca.pem", "/etc/ab/smtp.pass"}; !slices.Equal(mounted, want) {
		t.Errorf("the CronJob mounts %q, want the notify files %q", mounted, want)
	}
	for _, f := range []string{"=/etc/ab/ntfy.token", "=/etc/ab/smtp.pass"} {
		if !strings.Contains(out, "--from-file=") || !strings.Contains(out, f) {
			t.Errorf("the Secret's command does not take %s:\n%s", f, out)
		}
	}
	if !strings.Contains(out, "notify.ntfy.url") {
		t.Errorf("the ConfigMap warning does not name the ntfy URL, a secret in the file:\n%s", out)
	}

	// Generated by a user other than root from a plan naming no
	// state_dir: the pods (root, to read the Secret's files) would use
	// another directory than the one mounted. Refused, saying why.
	p.StateDir, p.StateDirDefault = "/home/u/.local/state/alexandria-backup", true
	if _, err := Kubernetes(s); err == nil || !strings.Contains(err.Error(), "set state_dir in the plan") {
		t.Errorf("a user's default state_dir for root's pods: %v", err)
	}
}
