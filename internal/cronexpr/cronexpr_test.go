package cronexpr

import (
	"os"
	"os/exec"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
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

var calendarCases = []struct {
	cron string
	want []string
}{
	{"daily", []string{"*-*-* 02:00:00"}},
	{"hourly", []string{"*-*-* *:15:00"}},
	{"weekly", []string{"Sun *-*-* 03:00:00"}},
	{"monthly", []string{"*-*-01 04:00:00"}},
	{"*/15 * * * *", []string{"*-*-* *:00/15:00"}},
	{"5 */2 * * *", []string{"*-*-* 00/2:05:00"}},
	{"30 3 * * 1-5", []string{"Mon..Fri *-*-* 03:30:00"}},
	{"0 9-17 * * mon-fri", []string{"Mon..Fri *-*-* 09..17:00:00"}},
	{"0 0 * * 6,0", []string{"Sat,Sun *-*-* 00:00:00"}},
	{"0 0 * * 1,3,5", []string{"Mon,Wed,Fri *-*-* 00:00:00"}},
	{"0 0 * * sun-sat", []string{"*-*-* 00:00:00"}},
	{"0 0 * JAN,jul *", []string{"*-01,07-* 00:00:00"}},
	{"0,30 8-10,14 * * *", []string{"*-*-* 08..10,14:00,30:00"}},
	{"10-50/20 * * * *", []string{"*-*-* *:10/20:00"}},
	{"0 1-23/2 * * *", []string{"*-*-* 01/2:00:00"}},
	{"0 0 */2 * *", []string{"*-*-01/2 00:00:00"}},
	{"0 0 1-31/2 * *", []string{"*-*-01/2 00:00:00"}},
	{"0 0 29 2 *", []string{"*-02-29 00:00:00"}},
	{"59 23 31 12 *", []string{"*-12-31 23:59:00"}},
	{"0 12 1-7 * *", []string{"*-*-01..07 12:00:00"}},
	{"*/1 * * * *", []string{"*-*-* *:*:00"}},
	// Both day fields restricted: cron runs on either, so systemd gets two.
	{"0 0 1,15 * 5", []string{"*-*-01,15 00:00:00", "Fri *-*-* 00:00:00"}},
	{"15 6 13 * fri", []string{"*-*-13 06:15:00", "Fri *-*-* 06:15:00"}},
}

func TestOnCalendar(t *testing.T) {
	for _, tc := range calendarCases {
		e, err := Parse(tc.cron)
		if err != nil {
			t.Errorf("%q: %v", tc.cron, err)
			continue
		}
		if got := e.OnCalendar(); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q: OnCalendar %q, want %q", tc.cron, got, tc.want)
		}
	}
}

// systemd must read each translation as written (its normalised form)
// and fire in exactly the minutes cron would, around a leap day and a
// year's end.
func TestOnCalendarFiresWhenCronWould(t *testing.T) {
	requireTool(t, "systemd-analyze")
	const n = 40
	for _, tc := range calendarCases {
		e, err := Parse(tc.cron)
		if err != nil {
			t.Fatal(err)
		}
		for _, base := range []time.Time{
			time.Date(2024, 2, 27, 22, 7, 0, 0, time.UTC),
			time.Date(2025, 12, 30, 23, 59, 0, 0, time.UTC),
		} {
			var want []time.Time
			for at, ok := e.Next(base); ok && len(want) < n; at, ok = e.Next(at) {
				want = append(want, at)
			}
			got, normalized := systemdElapses(t, e.OnCalendar(), base, n)
			if len(want) < n && len(got) > len(want) {
				// robfig/cron looks five years ahead: from 2096, the next
				// February 29 (2104) is beyond it. Compare what it found.
				got = got[:len(want)]
			}
			if !reflect.DeepEqual(normalized, e.OnCalendar()) {
				t.Errorf("%q: systemd normalises %q to %q", tc.cron, e.OnCalendar(), normalized)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%q from %s: systemd fires at\n%v\ncron at\n%v", tc.cron, base, got, want)
			}
		}
	}
}

var elapseRE = regexp.MustCompile(`(?m)^\s+(?:Next elapse|Iter\. #\d+): \w+ (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC$`)

// systemdElapses asks systemd when the OnCalendar values fire after base:
// the first n times of all of them together.
func systemdElapses(t *testing.T, calendars []string, base time.Time, n int) ([]time.Time, []string) {
	t.Helper()
	args := append([]string{"calendar", "--iterations", strconv.Itoa(n), "--base-time", "@" + strconv.FormatInt(base.Unix(), 10)}, calendars...)
	cmd := exec.Command("systemd-analyze", args...)
	cmd.Env = append(os.Environ(), "TZ=UTC")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze %q: %v\n%s", args, err, out)
	}
	seen := map[time.Time]bool{}
	var times []time.Time
	for _, m := range elapseRE.FindAllStringSubmatch(string(out), -1) {
		at, err := time.Parse("2006-01-02 15:04:05", m[1])
		if err != nil {
			t.Fatal(err)
		}
		if !seen[at] {
			seen[at] = true
			times = append(times, at)
		}
	}
	sort.Slice(times, func(i, j int) bool { return times[i].Before(times[j]) })
	if len(times) > n {
		times = times[:n]
	}
	var normalized []string
	for _, m := range regexp.MustCompile(`(?m)^Normalized form: (.*)$`).FindAllStringSubmatch(string(out), -1) {
		normalized = append(normalized, m[1])
	}
	return times, normalized
}

func TestParseRefuses(t *testing.T) {
	for _, tc := range []struct{ cron, want string }{
		{"0 0 * * 7", "7 for Sunday is not understood by Kubernetes"},
		{"5/10 * * * *", "a step needs * or a range before it: write 5-59/10"},
		{"0 0 */2 * 1", `read "*/n" in a day field differently`},
		{"0 0 1 * */2", `read "*/n" in a day field differently`},
		{"0 0 31 2 *", "never runs"},
		{"60 * * * *", `minute field "60": end of range (60) above maximum (59)`},
		{"0 24 * * *", `hour field "24": end of range (24) above maximum (23)`},
		{"0 0 0 * *", `day of month field "0": beginning of range (0) below minimum (1)`},
		{"0 0 * 13 *", `month field "13": end of range (13) above maximum (12)`},
		{"0 0 * * funday", `day of week field "funday": failed to parse int from funday`},
		{"* * * *", "not hourly, daily, weekly, monthly or a 5-field cron expression"},
		{"@daily", "not hourly, daily, weekly, monthly or a 5-field cron expression"},
		{"*,5 * * * *", "* cannot be part of a list"},
		{"5-1 * * * *", "beginning of range (5) beyond end of range (1)"},
		{"*/0 * * * *", "step of range should be a positive number"},
		{"0 0 L * *", `day of month field "L": failed to parse int from L`},
		{"0 0 ? * *", `"?" is Kubernetes' alone: write *`},
		{"0 0 * * MON,?", `"?" is Kubernetes' alone`},
		{"0 0 * * 1-7", "end of range (7) above maximum (6)"},
		{"0 0 1 * *,mon", "* cannot be part of a list"},
		{"CRON_TZ=UTC 0 0 * *", "CRON_TZ= or TZ= prefix is Kubernetes' alone"},
		{"0 0 0 0 0 0", "not hourly, daily, weekly, monthly"},
		{"1-2-3 * * * *", "too many hyphens"},
		{"*/5/2 * * * *", "too many slashes"},
		{"0 0 * * mon/2", "a step needs * or a range before it: write mon-6/2"},
		{"0 0 1,,2 * *", "empty list item"},
	} {
		_, err := Parse(tc.cron)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.cron, err, tc.want)
		}
	}
}

func TestMinGap(t *testing.T) {
	for cron, want := range map[string]time.Duration{
		"daily":         24 * time.Hour,
		"hourly":        time.Hour,
		"weekly":        7 * 24 * time.Hour,
		"monthly":       28 * 24 * time.Hour,
		"*/15 * * * *":  15 * time.Minute,
		"0,5 * * * *":   5 * time.Minute,
		"0 0 1,15 * 5":  24 * time.Hour, // a Friday the 14th or 15th
		"0 0 29 2 *":    366 * 24 * time.Hour,
		"0 2 * * 1-5":   24 * time.Hour,
		"30 23 * * sun": 7 * 24 * time.Hour,
	} {
		e, err := Parse(cron)
		if err != nil {
			t.Fatal(err)
		}
		if got := e.MinGap(); got != want {
			t.Errorf("%q: MinGap %s, want %s", cron, got, want)
		}
	}
}
