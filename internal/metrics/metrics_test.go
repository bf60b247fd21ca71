package metrics

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

func int64p(n int64) *int64 { return &n }

var (
	t0 = time.Date(2026, 11, 26, 2, 0, 0, 0, time.UTC)
	t1 = time.Date(2026, 11, 26, 2, 13, 32, 400_000_000, time.UTC)
)

// sample covers each outcome, a target whose size is unknown, one that
// never succeeded, and label values needing every escape.
var sample = []Target{
	{Plan: "weekly", Target: "library", Driver: "restic", LastRun: t1, LastSuccess: t1, DurationSeconds: 771.2, Status: StatusOK, Bytes: int64p(10737418240),
		Verify: &VerifyCoverage{SlicesRead: 30, Cycle: 30, WholeReadAt: t0}},
	{Plan: "weekly", Target: "database", Driver: "pg_dump", LastRun: t1, LastSuccess: t0, DurationSeconds: 41.25, Status: StatusFailed, Bytes: int64p(73400320)},
	{Plan: "daily", Target: "mirror", Driver: "rsync", LastRun: t0, LastSuccess: t0, DurationSeconds: 3, Status: StatusWarning,
		Verify: &VerifyCoverage{SlicesRead: 3, Cycle: 30}},
	{Plan: "monthly", Target: "offsite", Driver: "rclone", LastRun: t0, DurationSeconds: 0.5, Status: StatusFailed},
	{Plan: `we"ird\plan` + "\n", Target: "x", Driver: "borg", LastRun: t0, LastSuccess: t0, Status: StatusOK, Bytes: int64p(0)},
}

func TestGoldenTextfile(t *testing.T) {
	got := Format(sample)
	golden := filepath.Join("testdata", "textfile.golden")
	if *update {
		os.MkdirAll("testdata", 0o755)
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("textfile differs from %s (rerun with -update if intended):\n%s", golden, got)
	}
}

// parsed is one sample read back.
type parsed struct {
	name   string
	labels map[string]string
	value  float64
}

var (
	nameRE   = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	sampleRE = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)\{(.*)\} (\S+)$`)
)

// parse reads the text exposition format strictly: every sample's metric
// has its HELP and TYPE first, a metric's samples are together, label
// values are unescaped, no series appears twice.
func parse(t *testing.T, data []byte) []parsed {
	t.Helper()
	var out []parsed
	help, typ := map[string]bool{}, map[string]string{}
	done := map[string]bool{} // families whose samples ended
	seen := map[string]bool{}
	current := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "# HELP "):
			f := strings.SplitN(strings.TrimPrefix(line, "# HELP "), " ", 2)
			if len(f) != 2 || !nameRE.MatchString(f[0]) || help[f[0]] {
				t.Fatalf("line %d: bad or repeated HELP: %q", n, line)
			}
			help[f[0]] = true
		case strings.HasPrefix(line, "# TYPE "):
			f := strings.Fields(strings.TrimPrefix(line, "# TYPE "))
			if len(f) != 2 || f[1] != "gauge" || typ[f[0]] != "" {
				t.Fatalf("line %d: bad or repeated TYPE: %q", n, line)
			}
			typ[f[0]] = f[1]
		default:
			m := sampleRE.FindStringSubmatch(line)
			if m == nil {
				t.Fatalf("line %d: not a sample: %q", n, line)
			}
			name := m[1]
			if !help[name] || typ[name] == "" {
				t.Fatalf("line %d: %s has no HELP or TYPE before its samples", n, name)
			}
			if name != current {
				if done[name] {
					t.Fatalf("line %d: samples of %s are not together", n, name)
				}
				done[current], current = true, name
			}
			labels := parseLabels(t, n, m[2])
			v, err := strconv.ParseFloat(m[3], 64)
			if err != nil {
				t.Fatalf("line %d: value %q: %v", n, m[3], err)
			}
			key := fmt.Sprint(name, labels)
			if seen[key] {
				t.Fatalf("line %d: series repeated: %s", n, key)
			}
			seen[key] = true
			out = append(out, parsed{name, labels, v})
		}
	}
	if len(data) > 0 && data[len(data)-1] != '\n' {
		t.Fatal("the file does not end in a line feed")
	}
	return out
}

func parseLabels(t *testing.T, n int, s string) map[string]string {
	labels := map[string]string{}
	for s != "" {
		eq := strings.Index(s, `="`)
		if eq < 0 {
			t.Fatalf("line %d: bad labels at %q", n, s)
		}
		name := s[:eq]
		s = s[eq+2:]
		var v strings.Builder
		i := 0
		for ; i < len(s) && s[i] != '"'; i++ {
			if s[i] == '\\' {
				i++
				switch s[i] {
				case '\\', '"':
					v.WriteByte(s[i])
				case 'n':
					v.WriteByte('\n')
				default:
					t.Fatalf("line %d: bad escape \\%c", n, s[i])
				}
				continue
			}
			v.WriteByte(s[i])
		}
		if i == len(s) {
			t.Fatalf("line %d: unterminated label value", n)
		}
		labels[name] = v.String()
		s = strings.TrimPrefix(s[i+1:], ",")
	}
	return labels
}

func TestTextfileParsesBack(t *testing.T) {
	samples := parse(t, Format(sample))
	type key struct{ name, plan, target string }
	got := map[key]float64{}
	for _, s := range samples {
		if len(s.labels) != 3 || s.labels["driver"] == "" {
			t.Fatalf("%s: labels %v, want exactly plan, target, driver", s.name, s.labels)
		}
		got[key{s.name, s.labels["plan"], s.labels["target"]}] = s.value
	}
	for _, tg := range sample {
		want := map[string]float64{
			"alexandria_backup_last_run_timestamp_seconds":     unix(tg.LastRun),
			"alexandria_backup_last_success_timestamp_seconds": unix(tg.LastSuccess),
			"alexandria_backup_duration_seconds":               tg.DurationSeconds,
			"alexandria_backup_status":                         float64(tg.Status),
		}
		if tg.Bytes != nil {
			want["alexandria_backup_bytes"] = float64(*tg.Bytes)
		} else if _, ok := got[key{"alexandria_backup_bytes", tg.Plan, tg.Target}]; ok {
			t.Errorf("%s/%s: a bytes sample for a size nobody reported", tg.Plan, tg.Target)
		}
		whole, ratio := "alexandria_backup_verify_whole_read_timestamp_seconds", "alexandria_backup_verify_cycle_read_ratio"
		if tg.Verify != nil {
			want[whole] = unix(tg.Verify.WholeReadAt)
			want[ratio] = float64(tg.Verify.SlicesRead) / float64(tg.Verify.Cycle)
		} else {
			for _, name := range []string{whole, ratio} {
				if _, ok := got[key{name, tg.Plan, tg.Target}]; ok {
					t.Errorf("%s/%s: %s for a target without a rotation", tg.Plan, tg.Target, name)
				}
			}
		}
		for name, v := range want {
			if g, ok := got[key{name, tg.Plan, tg.Target}]; !ok || g != v {
				t.Errorf("%s{plan=%q,target=%q} = %v (present %v), want %v", name, tg.Plan, tg.Target, g, ok, v)
			}
		}
	}
	// One timestamp checked against date(1): date -u -d 2026-11-26T02:13:32.4Z +%s.%N
	if v := got[key{"alexandria_backup_last_run_timestamp_seconds", "weekly", "library"}]; v != 1795659212.4 {
		t.Errorf("last run of weekly/library = %v, want 1795659212.4", v)
	}
	if v := got[key{"alexandria_backup_verify_cycle_read_ratio", "daily", "mirror"}]; v != 0.1 {
		t.Errorf("3 slices of 30 read: ratio %v, want 0.1", v)
	}
	if v := got[key{"alexandria_backup_verify_whole_read_timestamp_seconds", "daily", "mirror"}]; v != 0 {
		t.Errorf("first cycle not complete: whole read at %v, want 0", v)
	}
	if v := got[key{"alexandria_backup_last_success_timestamp_seconds", "monthly", "offsite"}]; v != 0 {
		t.Errorf("never succeeded: last success = %v, want 0", v)
	}
}

func TestWriteIsAtomicAndReadable(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "alexandria_backup.prom")
	os.WriteFile(path, []byte("old\n"), 0o600)
	if err := Write(path, sample); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o644 {
		t.Fatalf("mode %v, %v; want 0644 so node_exporter can read it", fi.Mode(), err)
	}
	data, _ := os.ReadFile(path)
	if !bytes.Equal(data, Format(sample)) {
		t.Errorf("file content:\n%s", data)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("left behind: %v", entries)
	}
	if err := Write(filepath.Join(dir, "missing", "x.prom"), sample); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("a metrics file in a missing directory: %v", err)
	}
}
