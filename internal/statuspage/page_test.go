package statuspage

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/alexandria-backup/alexandria-backup/internal/state"
	"github.com/alexandria-backup/alexandria-backup/plan"
)

var t0 = time.Date(2026, 12, 1, 2, 0, 0, 0, time.UTC)

func ptr[T any](v T) *T { return &v }

// writeRuns writes one run report per entry of runs (each a map of target
// to its outcome), a day apart from t0, as `run` does.
func writeRuns(t *testing.T, stateDir, planName string, runs []map[string]plan.TargetReport) {
	t.Helper()
	for i, targets := range runs {
		rep := &plan.Report{Command: "run", Plan: planName, Status: plan.StatusOK, StartedAt: t0.Add(time.Duration(i) * 24 * time.Hour)}
		for name, tr := range targets {
			tr.Name = name
			rep.Targets = append(rep.Targets, tr)
		}
		if _, err := rep.Write(stateDir); err != nil {
			t.Fatal(err)
		}
	}
}

func okRun(bytes int64, secs float64) plan.TargetReport {
	return plan.TargetReport{Status: plan.StatusOK, Bytes: ptr(bytes), DurationSeconds: secs}
}

func failedRun(secs float64, msg string) plan.TargetReport {
	return plan.TargetReport{Status: plan.StatusFailed, DurationSeconds: secs, Error: ptr(msg)}
}

// summary is a status summary of the named targets, each last ok.
func summary(names ...string) *state.Summary {
	sum := &state.Summary{CheckedAt: t0.Add(100 * 24 * time.Hour)}
	for _, n := range names {
		at := t0
		sum.Targets = append(sum.Targets, state.TargetStatus{Target: n, Driver: "x", Plans: []string{"daily"}, Status: plan.StatusOK,
			LastRunAt: &at, LastSuccessAt: &at, Plan: "daily"})
	}
	return sum
}

func render(t *testing.T, p *Page) string {
	t.Helper()
	var b bytes.Buffer
	if err := p.Render(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func newPage(t *testing.T, sum *state.Summary, stateDir string) *Page {
	t.Helper()
	p, err := New(sum, "/etc/plan.toml", stateDir, func(err error) { t.Errorf("skipped: %v", err) })
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var rectRE = regexp.MustCompile(`<rect x="([0-9.]+)" y="([0-9.]+)" width="([0-9.]+)" height="([0-9.]+)" fill="(#[0-9a-f]{6})">`)

type drawn struct {
	x, y, w, h float64
	fill       string
}

// charts returns the bars of each chart of target's section, in order:
// the size chart's, then the duration chart's.
func charts(t *testing.T, page, target string) (size, duration []drawn) {
	t.Helper()
	start := strings.Index(page, `data-target="`+target+`"`)
	if start < 0 {
		t.Fatalf("no section for %s", target)
	}
	sec := page[start:]
	sec = sec[:strings.Index(sec, "</section>")]
	durAt := strings.Index(sec, `<figure class="duration">`)
	parse := func(s string) []drawn {
		var out []drawn
		for _, m := range rectRE.FindAllStringSubmatch(s, -1) {
			f := func(i int) float64 { v, _ := strconv.ParseFloat(m[i], 64); return v }
			out = append(out, drawn{f(1), f(2), f(3), f(4), m[5]})
		}
		return out
	}
	return parse(sec[:durAt]), parse(sec[durAt:])
}

// Target names, errors, artifacts, paths and commands are hostile text:
// each must come out as text, never as markup.
func TestHostileTextIsEscaped(t *testing.T) {
	for _, hostile := range []string{
		`<script>alert(1)</script>`,
		`"><img src=x onerror=alert(1)>`,
		`'><svg onload=alert(1)>`,
		`</title><script>alert(1)</script>`,
		`</rect></svg><script>alert(1)</script>`,
		`<!--`,
		`javascript:alert(1)`,
		`&lt;b&gt; already escaped & not`,
		`{{.Title}}`,
	} {
		t.Run(hostile, func(t *testing.T) {
			dir := t.TempDir()
			writeRuns(t, dir, "daily", []map[string]plan.TargetReport{
				{hostile: okRun(10, 1)},
				{hostile: failedRun(2, "pg_dump: "+hostile)},
			})
			sum := summary(hostile)
			ts := &sum.Targets[0]
			ts.Status, ts.Error, ts.Artifact, ts.Problem = plan.StatusFailed, ptr("error: "+hostile), ptr("/srv/"+hostile), state.ProblemFailed
			ts.Drill = &state.DrillStatus{Status: plan.StatusFailed, LastDrillAt: t0, Error: ptr("drill: " + hostile)}
			ts.Verify = &state.VerifyStatus{LastFailedAt: &t0, Error: ptr("verify: " + hostile), Problem: state.ProblemFailed}
			sum.Problems = []string{"target " + hostile + ": failed"}
			sum.Running = &state.Running{PID: 1, Command: "run " + hostile}
			p, err := New(sum, "/etc/"+hostile+".toml", dir, func(err error) { t.Error(err) })
			if err != nil {
				t.Fatal(err)
			}
			p.Audit = []AuditItem{{Title: hostile, Status: "failed", Evidence: []string{hostile}, Fix: []string{hostile}}}
			page := render(t, p)
			if strings.Contains(page, hostile) && strings.ContainsAny(hostile, `<>"'&`) {
				t.Errorf("%q appears unescaped:\n%s", hostile, page)
			}
			// The only markup is the template's own: every tag and
			// attribute the page holds is one the template writes.
			checkMarkup(t, page)
			if n := strings.Count(page, "<section"); n != 2 {
				t.Errorf("%d sections, want the target's and the audit's", n)
			}
		})
	}
}

var (
	// tagRE is a start or end tag; html/template writes every attribute
	// value quoted with no raw quote inside, and text has no raw "<".
	tagRE  = regexp.MustCompile(`^<(/?)([a-zA-Z][a-zA-Z0-9]*)((?:\s+[a-zA-Z:-]+="[^"<>]*")*)\s*>`)
	attrRE = regexp.MustCompile(`\s([a-zA-Z:-]+)="`)
	// The template's own tags and attributes, and nothing else.
	ownTags  = strings.Fields("html head meta title style body h1 h2 p code strong ul li div section span dl dt dd pre figure figcaption svg rect table tr th td")
	ownAttrs = strings.Fields("lang charset name content class id data-target width height viewBox role x y fill")
)

// checkMarkup fails unless every "<" of page opens a tag the template
// writes, with attributes it writes: hostile text made no markup.
func checkMarkup(t *testing.T, page string) {
	t.Helper()
	rest := strings.TrimPrefix(page, "<!DOCTYPE html>")
	style := strings.Index(rest, "<style>")
	end := strings.Index(rest, "</style>")
	rest = rest[:style+len("<style>")] + rest[end:] // CSS is the template's, and has no "<"
	for i := strings.Index(rest, "<"); i >= 0; i = strings.Index(rest, "<") {
		rest = rest[i:]
		m := tagRE.FindStringSubmatch(rest)
		if m == nil {
			t.Errorf("not a tag of the template: %.80q", rest)
			return
		}
		if !slices.Contains(ownTags, m[2]) {
			t.Errorf("tag <%s> is not the template's", m[2])
		}
		for _, a := range attrRE.FindAllStringSubmatch(m[3], -1) {
			if !slices.Contains(ownAttrs, a[1]) {
				t.Errorf("<%s %s=...> is not the template's", m[2], a[1])
			}
		}
		rest = rest[len(m[0]):]
	}
}

func TestEmptyHistory(t *testing.T) {
	// A new install: no reports directory at all.
	sum := summary("db")
	sum.NoBackupsYet = true
	sum.Targets[0] = state.TargetStatus{Target: "db", Status: "never ran", Plans: []string{}}
	page := render(t, newPage(t, sum, filepath.Join(t.TempDir(), "missing")))
	if strings.Contains(page, "<rect") || strings.Count(page, "no runs on record") != 2 || !strings.Contains(page, "No backups yet") {
		t.Errorf("an empty history:\n%s", page)
	}
	// No targets at all still renders a page.
	page = render(t, newPage(t, &state.Summary{CheckedAt: t0}, t.TempDir()))
	if !strings.Contains(page, "</html>") || strings.Contains(page, "<section") {
		t.Errorf("no targets:\n%s", page)
	}
}

func TestOneRun(t *testing.T) {
	dir := t.TempDir()
	writeRuns(t, dir, "daily", []map[string]plan.TargetReport{{"db": okRun(4096, 3)}})
	size, dur := charts(t, render(t, newPage(t, summary("db"), dir)), "db")
	for _, c := range [][]drawn{size, dur} {
		if len(c) != 1 || c[0].h != ChartHeight || c[0].y != 0 || c[0].fill != ColourOK || c[0].w > maxBarWidth {
			t.Errorf("one run: %+v, want one full-height green bar", c)
		}
	}
}

// Many runs: the newest MaxRuns are drawn, within the chart's width, each
// bar's height in proportion to its value.
func TestManyRunsScale(t *testing.T) {
	dir := t.TempDir()
	var runs []map[string]plan.TargetReport
	const n = MaxRuns + 30
	for i := 1; i <= n; i++ {
		runs = append(runs, map[string]plan.TargetReport{"lib": okRun(int64(i)<<20, float64(i))})
	}
	// Half in each of two plans: one history, in time order.
	writeRuns(t, dir, "daily", runs[:n/2])
	writeRuns(t, filepath.Join(dir, "other"), "x", nil)
	for i, r := range runs[n/2:] {
		rep := &plan.Report{Command: "run", Plan: "weekly", StartedAt: t0.Add(time.Duration(n/2+i) * 24 * time.Hour)}
		tr := r["lib"]
		tr.Name = "lib"
		rep.Targets = []plan.TargetReport{tr}
		if _, err := rep.Write(dir); err != nil {
			t.Fatal(err)
		}
	}
	size, dur := charts(t, render(t, newPage(t, summary("lib"), dir)), "lib")
	for name, c := range map[string][]drawn{"size": size, "duration": dur} {
		if len(c) != MaxRuns {
			t.Fatalf("%s: %d bars, want %d", name, len(c), MaxRuns)
		}
		for i, b := range c {
			value := float64(n - MaxRuns + 1 + i) // the oldest drawn is run n-MaxRuns+1
			want := value / n * ChartHeight
			if diff := b.h - want; diff > 0.01 || diff < -0.01 || b.y+b.h < ChartHeight-0.01 || b.x+b.w > ChartWidth || b.w <= 0 {
				t.Errorf("%s bar %d: %+v, want height %.2f (value %v of %d) standing on the axis, within %d", name, i, b, want, value, n, ChartWidth)
			}
			if i > 0 && b.x <= c[i-1].x+c[i-1].w {
				t.Errorf("%s bar %d overlaps the one before", name, i)
			}
		}
	}
}

// A target that only ever failed: red bars only, and a stub in the size
// chart where no backup was made.
func TestOnlyFailures(t *testing.T) {
	dir := t.TempDir()
	writeRuns(t, dir, "daily", []map[string]plan.TargetReport{
		{"db": failedRun(1, "connection refused")},
		{"db": failedRun(4, "connection refused")},
		{"db": {Status: plan.StatusInterrupted, DurationSeconds: 2}},
	})
	sum := summary("db")
	sum.Targets[0].Status, sum.Targets[0].LastSuccessAt, sum.Targets[0].Error = plan.StatusFailed, nil, ptr("connection refused")
	page := render(t, newPage(t, sum, dir))
	size, dur := charts(t, page, "db")
	if len(size) != 3 || len(dur) != 3 {
		t.Fatalf("bars: %v %v", size, dur)
	}
	for i := range size {
		if size[i].fill != ColourFailed || dur[i].fill != ColourFailed || size[i].h != minBar {
			t.Errorf("run %d: size %+v duration %+v, want red, size a stub", i, size[i], dur[i])
		}
	}
	if dur[1].h != ChartHeight || dur[0].h != ChartHeight/4 {
		t.Errorf("durations 1s, 4s: heights %v, %v", dur[0].h, dur[1].h)
	}
	if !strings.Contains(page, "last success</dt><dd>never") || !strings.Contains(page, `<pre class="error">connection refused</pre>`) {
		t.Errorf("page:\n%s", page)
	}
}

// Each outcome has its colour; a warning is not a failure.
func TestBarColours(t *testing.T) {
	dir := t.TempDir()
	writeRuns(t, dir, "daily", []map[string]plan.TargetReport{
		{"a": okRun(1, 1)},
		{"a": {Status: plan.StatusWarning, Bytes: ptr(int64(1)), DurationSeconds: 1}},
		{"a": failedRun(1, "x")},
		{"a": {Status: plan.StatusSkipped}},
	})
	_, dur := charts(t, render(t, newPage(t, summary("a"), dir)), "a")
	var got []string
	for _, b := range dur {
		got = append(got, b.fill)
	}
	if want := []string{ColourOK, ColourWarning, ColourFailed, ColourSkipped}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("colours %v, want %v", got, want)
	}
}

// URL passwords in errors, artifacts and the lock holder's command are
// masked, as in the reports: the page is 0644.
func TestSecretsMasked(t *testing.T) {
	dir := t.TempDir()
	const secret = "hunter2-never-shown"
	writeRuns(t, dir, "daily", []map[string]plan.TargetReport{{"db": failedRun(1, "dial https://u:"+secret+"@db.example/x: refused")}})
	sum := summary("db")
	sum.Targets[0].Status, sum.Targets[0].Error = plan.StatusFailed, ptr("postgres://u:"+secret+"@h/db: refused")
	sum.Targets[0].Artifact = ptr("sftp://u:" + secret + "@h/x")
	sum.Targets[0].Drill = &state.DrillStatus{Status: plan.StatusFailed, LastDrillAt: t0, Error: ptr("rclone: s3://k:" + secret + "@h")}
	sum.Targets[0].Verify = &state.VerifyStatus{LastFailedAt: &t0, Error: ptr("rclone check: s3://k:" + secret + "@h: 2 differences"), Problem: state.ProblemFailed}
	sum.Problems = []string{"postgres://u:" + secret + "@h/db"}
	sum.Running = &state.Running{PID: 7, Command: "run --x postgres://u:" + secret + "@h/db"}
	page := render(t, newPage(t, sum, dir))
	if strings.Contains(page, secret) {
		t.Errorf("the page shows a password:\n%s", page)
	}
	if !strings.Contains(page, "refused") || !strings.Contains(page, "2 differences") || !strings.Contains(page, `<span class="badge failed">failed `) {
		t.Errorf("the error itself is gone:\n%s", page)
	}
}

// The page loads nothing: no URL an engine would fetch.
func TestNothingExternal(t *testing.T) {
	dir := t.TempDir()
	writeRuns(t, dir, "daily", []map[string]plan.TargetReport{{"db": okRun(1, 1)}, {"db": failedRun(1, "x")}})
	sum := summary("db")
	sum.Running = &state.Running{PID: 1, Command: "run daily"}
	p := newPage(t, sum, dir)
	p.Audit = []AuditItem{{Title: "offsite copy", Status: "ok", Evidence: []string{"x"}, Fix: []string{"y"}}}
	page := render(t, p)
	for _, re := range []string{`(?i)\b(src|href|action|srcset|poster|xlink:href)\s*=`, `(?i)url\s*\(`, `(?i)@import`, `(?i)https?:`, `(?i)<script`, `(?i)<(link|iframe|object|embed|img)\b`, `(?i)\son[a-z]+\s*=`} {
		if regexp.MustCompile(re).MatchString(page) {
			t.Errorf("page matches %s:\n%s", re, page)
		}
	}
}

// The audit hook: no section until a caller fills it.
func TestAuditHook(t *testing.T) {
	p := newPage(t, summary("db"), t.TempDir())
	if page := render(t, p); strings.Contains(page, `id="audit"`) {
		t.Error("an audit section with no items")
	}
	p.Audit = []AuditItem{{Title: "restore drill within 30 days", Status: "failed", Evidence: []string{"last drill 40d ago"}, Fix: []string{"alexandria-backup drill daily"}}}
	page := render(t, p)
	if !strings.Contains(page, `id="audit"`) || !strings.Contains(page, `<span class="badge failed">failed</span>`) || !strings.Contains(page, "alexandria-backup drill daily") {
		t.Errorf("audit section:\n%s", page)
	}
}

// A damaged report is named and left out; the rest are drawn.
func TestDamagedReportSkipped(t *testing.T) {
	dir := t.TempDir()
	writeRuns(t, dir, "daily", []map[string]plan.TargetReport{{"db": okRun(1, 1)}})
	bad := filepath.Join(dir, "reports", "daily-20261130T020000.000Z.json")
	if err := os.WriteFile(bad, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A report being written (a dot file) and a drill's are not runs.
	os.WriteFile(filepath.Join(dir, "reports", ".daily-x.json.tmp"), []byte("{"), 0o600)
	drill := &plan.Report{Command: "drill", Plan: "daily", StartedAt: t0, Targets: []plan.TargetReport{okRun(5, 5)}}
	drill.Targets[0].Name = "db"
	if _, err := drill.Write(dir); err != nil {
		t.Fatal(err)
	}
	var skipped []error
	p, err := New(summary("db"), "plan.toml", dir, func(err error) { skipped = append(skipped, err) })
	if err != nil {
		t.Fatal(err)
	}
	if len(skipped) != 1 || !strings.Contains(skipped[0].Error(), bad) {
		t.Fatalf("skipped %v, want the damaged report named", skipped)
	}
	page := render(t, p)
	size, _ := charts(t, page, "db")
	if len(size) != 1 || !strings.Contains(page, `id="skipped"`) {
		t.Errorf("bars %v; page:\n%s", size, page)
	}
	// An unreadable reports directory is an error, not an empty page.
	if os.Geteuid() != 0 {
		os.Chmod(filepath.Join(dir, "reports"), 0)
		defer os.Chmod(filepath.Join(dir, "reports"), 0o700)
		if _, err := New(summary("db"), "plan.toml", dir, func(error) {}); err == nil {
			t.Error("an unreadable reports directory gave no error")
		}
	}
}

func TestWriteFileAtomic0644(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "status.html")
	if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := newPage(t, summary("db"), t.TempDir())
	if err := p.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o644 {
		t.Fatalf("mode %v, %v", fi.Mode(), err)
	}
	data, _ := os.ReadFile(path)
	if !bytes.HasPrefix(data, []byte("<!DOCTYPE html>")) {
		t.Errorf("file:\n%s", data)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("left behind: %v", entries)
	}
	// A place that cannot be written: an error, the directory untouched.
	err = p.WriteFile(filepath.Join(dir, "no", "such", "dir", "x.html"))
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("writing into a missing directory: %v", err)
	}
}
