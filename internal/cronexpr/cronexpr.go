// Package cronexpr reads the 5-field cron expressions of plan schedules
// with robfig/cron's parser, keeping to what Debian's cron, Kubernetes
// CronJobs and systemd timers all understand alike. What robfig/cron does
// not do is kept here: the schedule words, the refusal of forms the three
// read differently, the shortest gap between runs, and the translation
// into systemd OnCalendar= values.
package cronexpr

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// Words are the schedule words a plan may use instead of a cron expression,
// and the times they stand for. The plans start at different hours so the
// example's daily, weekly and monthly plans do not all want the run lock
// at 02:00 on the first Sunday of a month.
var Words = map[string]string{
	"hourly":  "15 * * * *",
	"daily":   "0 2 * * *",
	"weekly":  "0 3 * * 0",
	"monthly": "0 4 1 * *",
}

// Expr is a parsed 5-field cron expression, restricted to what Debian's
// cron, Kubernetes CronJobs and systemd timers all read the same way.
type Expr struct {
	// Source is the expression as cron and Kubernetes get it.
	Source string
	// Word is the schedule word it came from, or "".
	Word string
	// spec is robfig/cron's reading of Source: the parser Kubernetes
	// itself uses for CronJobs, so the next runs are the ones it computes.
	spec *cron.SpecSchedule
	// minute, hour, dom, month, dow hold the matching values (dow: 0 for
	// Sunday), read from spec's bit sets.
	minute, hour, dom, month, dow []bool
	// domStar and dowStar: the field was "*", which decides how cron
	// combines the two day fields.
	domStar, dowStar bool
}

type field struct {
	name     string
	min, max int
}

var fields = [5]field{
	{name: "minute", min: 0, max: 59},
	{name: "hour", min: 0, max: 23},
	{name: "day of month", min: 1, max: 31},
	{name: "month", min: 1, max: 12},
	{name: "day of week", min: 0, max: 6},
}

// parser reads the five standard fields and nothing else: no seconds, no
// @descriptors (the plan's words are ours, at hours of our choosing), no
// CRON_TZ= prefix.
var parser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow)

// starBit is robfig/cron's mark of a field written "*" (or "*/1").
const starBit = 1 << 63

// Parse reads a plan's schedule: a schedule word or a 5-field cron
// expression (minute hour day-of-month month day-of-week) made of *, values,
// ranges a-b, steps */n and a-b/n, and comma lists; months and weekdays may
// be named (jan, mon). robfig/cron reads the fields; Parse refuses first
// what one of cron, Kubernetes or systemd would read differently or not at
// all, saying what to write instead.
func Parse(s string) (*Expr, error) {
	word := ""
	if src, ok := Words[s]; ok {
		word, s = s, src
	}
	parts := strings.Fields(s)
	if len(parts) != 5 {
		return nil, fmt.Errorf("%q is not hourly, daily, weekly, monthly or a 5-field cron expression (minute hour day-of-month month day-of-week)", s)
	}
	e := &Expr{Source: strings.Join(parts, " "), Word: word}
	for i, p := range parts {
		if err := portable(fields[i], p); err != nil {
			return nil, fmt.Errorf("%q: %s field %q: %v", e.Source, fields[i].name, p, err)
		}
		// The field alone among stars, so that robfig's error can name it.
		alone := []string{"*", "*", "*", "*", "*"}
		alone[i] = p
		if _, err := parser.Parse(strings.Join(alone, " ")); err != nil {
			return nil, fmt.Errorf("%q: %s field %q: %v", e.Source, fields[i].name, p, err)
		}
	}
	sched, err := parser.Parse(e.Source)
	if err != nil {
		return nil, fmt.Errorf("%q: %v", e.Source, err)
	}
	e.spec = sched.(*cron.SpecSchedule)
	// Kubernetes (robfig/cron) counts a day field as unrestricted only when
	// it is "*" itself; Debian's cron counts any field starting with "*"
	// (such as "*/2"). Both then run a job when both day fields match, and
	// when either does if both are restricted.
	e.domStar, e.dowStar = e.spec.Dom&starBit != 0, e.spec.Dow&starBit != 0
	cronStar := strings.HasPrefix(parts[2], "*") || strings.HasPrefix(parts[4], "*")
	if cronStar != (e.domStar || e.dowStar) {
		return nil, fmt.Errorf("%q: cron and Kubernetes read \"*/n\" in a day field differently; write the days out (e.g. 1-31/2 instead of */2)", e.Source)
	}
	e.minute, e.hour, e.dom = bits(e.spec.Minute, fields[0]), bits(e.spec.Hour, fields[1]), bits(e.spec.Dom, fields[2])
	e.month, e.dow = bits(e.spec.Month, fields[3]), bits(e.spec.Dow, fields[4])
	if _, ok := e.Next(refTime); !ok {
		return nil, fmt.Errorf("%q never runs (no such date)", e.Source)
	}
	return e, nil
}

// portable refuses what robfig/cron (and so Kubernetes) accepts but
// Debian's cron or systemd reads otherwise or not at all.
func portable(f field, s string) error {
	if strings.Contains(s, "=") {
		return fmt.Errorf("a CRON_TZ= or TZ= prefix is Kubernetes' alone: times are the machine's (or the CronJob's timeZone)")
	}
	items := strings.Split(s, ",")
	for _, item := range items {
		if item == "" {
			return fmt.Errorf("empty list item") // robfig skips it; cron refuses
		}
		if strings.HasPrefix(item, "*") && len(items) > 1 {
			// Debian's cron and Kubernetes disagree on what it does to
			// the day fields.
			return fmt.Errorf("* cannot be part of a list")
		}
		rng, step, hasStep := strings.Cut(item, "/")
		switch {
		case rng == "?":
			return fmt.Errorf("\"?\" is Kubernetes' alone: write *")
		case f.name == "day of week" && rng == "7":
			return fmt.Errorf("7 for Sunday is not understood by Kubernetes; write 0 or sun")
		case hasStep && rng != "*" && !strings.Contains(rng, "-"):
			// Kubernetes reads "5/10" as 5-max/10; Debian's cron refuses it.
			return fmt.Errorf("a step needs * or a range before it: write %s-%d/%s", rng, f.max, step)
		}
	}
	return nil
}

// bits turns one of robfig's bit sets into a slice indexed by value.
func bits(set uint64, f field) []bool {
	out := make([]bool, f.max+1)
	for v := f.min; v <= f.max; v++ {
		out[v] = set&(1<<uint(v)) != 0
	}
	return out
}

// refTime is where the search for runs starts: a fixed instant, so the
// output is the same whenever it is generated.
var refTime = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// dayMatch is cron's rule for the two day fields: both must match when
// either is "*", one is enough when both are restricted.
func (e *Expr) dayMatch(t time.Time) bool {
	dom, dow := e.dom[t.Day()], e.dow[int(t.Weekday())]
	if e.domStar || e.dowStar {
		return dom && dow
	}
	return dom || dow
}

// Next returns the first minute strictly after t that the job runs in, as
// robfig/cron (Kubernetes) computes it, looking up to five years ahead.
func (e *Expr) Next(t time.Time) (time.Time, bool) {
	at := e.spec.Next(t)
	return at, !at.IsZero()
}

// MinGap is the shortest time between two runs over two years from a
// fixed date (long enough to meet February 29); a schedule that runs once
// in that span gives a year.
func (e *Expr) MinGap() time.Duration {
	// Every matching day has the same runs: the hour and minute sets.
	var times []int // minutes after midnight
	for h := 0; h < 24; h++ {
		for m := 0; m < 60; m++ {
			if e.hour[h] && e.minute[m] {
				times = append(times, h*60+m)
			}
		}
	}
	gap := 366 * 24 * 60
	for i := 1; i < len(times); i++ {
		gap = min(gap, times[i]-times[i-1])
	}
	prev := -1 // the previous matching day, counted from refTime (UTC: every day has 1440 minutes)
	for d := 0; d < 2*366; d++ {
		date := refTime.AddDate(0, 0, d)
		if !e.month[int(date.Month())] || !e.dayMatch(date) {
			continue
		}
		if prev >= 0 {
			gap = min(gap, (d-prev)*24*60+times[0]-times[len(times)-1])
		}
		prev = d
	}
	return time.Duration(gap) * time.Minute
}

// OnCalendar translates the expression into systemd OnCalendar= values,
// which together fire in exactly the minutes cron would. systemd requires
// every component to match, so cron's "either day field" rule becomes two
// values.
func (e *Expr) OnCalendar() []string {
	clock := fmt.Sprintf("%s:%s:00", calendarField(e.hour, 0, 23), calendarField(e.minute, 0, 59))
	month := calendarField(e.month, 1, 12)
	day := func(dow []bool, dom []bool) string {
		s := fmt.Sprintf("*-%s-%s %s", month, calendarField(dom, 1, 31), clock)
		if w := weekdays(dow); w != "" {
			s = w + " " + s
		}
		return s
	}
	all := func(n int) []bool { // every value allowed
		s := make([]bool, n)
		for i := range s {
			s[i] = true
		}
		return s
	}
	if e.domStar || e.dowStar {
		return []string{day(e.dow, e.dom)}
	}
	return []string{day(all(7), e.dom), day(e.dow, all(32))}
}

// calendarField writes a set of values the way systemd reads them: "*",
// "start/step" for a step that runs to the end, else a list of values and
// a..b ranges. Values are two digits wide, as systemd normalises them.
func calendarField(set []bool, min, max int) string {
	var vals []int
	for v := min; v <= max; v++ {
		if set[v] {
			vals = append(vals, v)
		}
	}
	if len(vals) == max-min+1 {
		return "*"
	}
	if len(vals) >= 3 {
		step := vals[1] - vals[0]
		regular := true
		for i := 1; i < len(vals); i++ {
			regular = regular && vals[i]-vals[i-1] == step
		}
		// "a/n" means a, a+n, ... up to the field's end.
		if regular && step > 1 && vals[len(vals)-1]+step > max {
			return fmt.Sprintf("%02d/%d", vals[0], step)
		}
	}
	return joinRuns(vals, func(v int) string { return fmt.Sprintf("%02d", v) })
}

var dayNames = []string{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"}

// weekdays writes a cron day-of-week set in systemd's Monday-first order,
// or "" when every day is allowed.
func weekdays(set []bool) string {
	var vals []int
	for _, d := range []int{1, 2, 3, 4, 5, 6, 0} {
		if set[d] {
			vals = append(vals, (d+6)%7) // Monday 0 ... Sunday 6
		}
	}
	if len(vals) == 7 {
		return ""
	}
	sort.Ints(vals)
	return joinRuns(vals, func(v int) string { return dayNames[(v+1)%7] })
}

// joinRuns writes sorted values as a comma list, runs of three or more
// as a..b.
func joinRuns(vals []int, name func(int) string) string {
	var out []string
	for i := 0; i < len(vals); {
		j := i
		for j+1 < len(vals) && vals[j+1] == vals[j]+1 {
			j++
		}
		switch {
		case j-i >= 2:
			out = append(out, name(vals[i])+".."+name(vals[j]))
		case j == i+1:
			out = append(out, name(vals[i]), name(vals[j]))
		default:
			out = append(out, name(vals[i]))
		}
		i = j + 1
	}
	return strings.Join(out, ",")
}
