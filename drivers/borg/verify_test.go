package borg

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/alexandria-backup/alexandria-backup/drivers"
)

// borgCheckLines is what `borg check --repository-only --max-duration
// --debug --log-json --progress` prints (lines as borg 1.2.4 prints them)
// when it skips the segments before position from and reads n, of total:
// repository.py check() with ProgressIndicatorPercent(step=0.1), whose
// float arithmetic this repeats. remote: as a client shows a remote
// repository's lines.
func borgCheckLines(total, from, n int, remote bool) []string {
	pre := ""
	if remote {
		pre = "Remote: "
	}
	log := func(level, msg string) string {
		return fmt.Sprintf(`{"type": "log_message", "time": 1796611501.5, "message": %q, "levelname": %q, "name": "borg.repository"}`, pre+msg, level)
	}
	seg := func(i int) int { return 3*i + 1 } // segment numbers have gaps
	skipTo := 0
	if from > 0 {
		skipTo = seg(from-1) + 1
	}
	out := []string{log("INFO", "Starting repository check"), log("DEBUG", fmt.Sprintf("Found %d segments", total)),
		log("INFO", fmt.Sprintf("skipping to segments >= %d", skipTo))}
	trigger := 0.0
	i := 0
	for ; i < total; i++ {
		if pct := float64(i*100) / float64(total); pct >= trigger {
			trigger += 0.1
			out = append(out, fmt.Sprintf(`{"message": "%sChecking segments %.1f%%", "current": %d, "total": %d, "info": null, "operation": 1, "msgid": "repository.check", "type": "progress_percent", "finished": false, "time": 1796611501.6}`, pre, pct, i+1, total))
		}
		if i < from {
			continue
		}
		out = append(out, log("DEBUG", fmt.Sprintf("checking segment file /srv/repo/data/0/%d...", seg(i))))
		if i == from+n-1 && i < total-1 {
			out = append(out, log("INFO", fmt.Sprintf("finished partial segment check, last segment checked is %d", seg(i))))
			break
		}
	}
	if i == total {
		out = append(out, log("INFO", fmt.Sprintf("finished segment check at segment %d", seg(total-1))))
	}
	return append(out, `{"operation": 1, "msgid": "repository.check", "type": "progress_percent", "finished": true, "time": 1796611502.5}`)
}

// The segments a partial check read are placed exactly from its lines,
// whether or not a progress line fell on the first segment read (with
// more than a thousand segments most do not), locally and remotely; a
// check that read too few to place claims nothing.
func TestSegmentScanPlacesWhatBorgRead(t *testing.T) {
	for _, c := range []struct{ total, from, n int }{
		{10, 0, 3}, {10, 3, 4}, {10, 7, 3}, {10, 0, 10}, {80, 25, 49}, {500, 123, 200},
		{9777, 0, 1407}, {9777, 1407, 1031}, {9777, 2438, 1233}, {9777, 9000, 777}, {12345, 4321, 5000},
		{1, 0, 1}, {3000, 2999, 1},
	} {
		for _, remote := range []bool{false, true} {
			s := &segmentScan{start: -1}
			for _, l := range borgCheckLines(c.total, c.from, c.n, remote) {
				s.parse([]byte(l))
			}
			r := s.read()
			if !s.finished() || s.n != c.n {
				t.Fatalf("%+v remote=%v: finished %v, read %d", c, remote, s.finished(), s.n)
			}
			want := segmentsRead{from: c.from, to: c.from + c.n, total: c.total, full: c.from == 0 && c.n == c.total}
			if r != want {
				t.Errorf("%+v remote=%v: placed %+v, want %+v", c, remote, r, want)
			}
		}
	}
	// Two segments read between two progress lines 10 apart, the check
	// stopping before the next: where they were is not known.
	s := &segmentScan{start: -1}
	for _, l := range borgCheckLines(9777, 5003, 2, false) {
		s.parse([]byte(l))
	}
	if r := s.read(); r.from >= 0 || r.slices(3) != nil || !strings.Contains(r.detail(nil, 3, 1), "no whole segment") {
		t.Fatalf("an unplaceable read claims %+v", r)
	}
}

// A slice counts when the check passed its end in this run; a pass from
// the first segment is everything.
func TestSegmentsReadSlices(t *testing.T) {
	for _, c := range []struct {
		r     segmentsRead
		cycle int
		want  []int
	}{
		{segmentsRead{from: 0, to: 25, total: 80}, 3, nil},
		{segmentsRead{from: 0, to: 26, total: 80}, 3, []int{1}},
		{segmentsRead{from: 25, to: 74, total: 86}, 3, []int{1, 2}},
		{segmentsRead{from: 74, to: 92, total: 92}, 3, []int{3}},
		{segmentsRead{from: 0, to: 92, total: 92, full: true}, 3, []int{1, 2, 3}},
		{segmentsRead{from: 1, to: 2, total: 2}, 5, []int{4, 5}}, // fewer segments than slices: the empty ones once passed
		{segmentsRead{from: -1, to: -1, total: 2000}, 30, nil},   // not placed
		{segmentsRead{from: 1407, to: 2438, total: 9777}, 30, []int{5, 6, 7}},
	} {
		if got := c.r.slices(c.cycle); !slices.Equal(got, c.want) {
			t.Errorf("%+v of %d: slices %v, want %v", c.r, c.cycle, got, c.want)
		}
	}
}

// D is about 1/cycle of the repository at the memo's rate, whole seconds,
// at least one; the memo round-trips, and a damaged one is the default.
func TestBorgCheckSecondsAndMemo(t *testing.T) {
	for _, c := range []struct {
		bytes int64
		cycle int
		rate  float64
		want  int
	}{
		{1 << 40, 30, 200 << 20, 175}, {1 << 40, 30, 50 << 20, 700}, {1 << 20, 30, 200 << 20, 1}, {0, 30, 1, 1}, {1 << 40, 1, 1e-300, 1e7},
	} {
		if got := borgCheckSeconds(c.bytes, c.cycle, c.rate); got != c.want {
			t.Errorf("%d bytes / %d at %v B/s: %d s, want %d", c.bytes, c.cycle, c.rate, got, c.want)
		}
	}
	m := borgMemo{BytesPerSecond: 123456.5}
	if back := parseBorgMemo(m.String()); back != m {
		t.Fatalf("memo %q came back as %+v", m.String(), back)
	}
	for _, bad := range []string{"", "{", `{"bytes_per_second": -1}`, "rate=5"} {
		if parseBorgMemo(bad).rate() != borgDefaultRate {
			t.Errorf("memo %q: rate %v, want the default", bad, parseBorgMemo(bad).rate())
		}
	}
	// The scope's memo comes back unchanged from a full verify (nothing
	// measured).
	if s := (drivers.Scope{Full: true, Memo: m.String()}); s.Memo != m.String() {
		t.Fatal(s)
	}
}

// Names borg's patterns file would change become regular expressions;
// the rest exact paths, without the leading slash borg does not store.
func TestBorgIncludePattern(t *testing.T) {
	for _, c := range []struct{ path, want string }{
		{"/srv/books/a.epub", "+ pf:srv/books/a.epub"},
		{"/srv/books/with space.epub", "+ pf:srv/books/with space.epub"},
		{"/srv/books/star*[x]", "+ pf:srv/books/star*[x]"},
		{"/srv/books/-dash", "+ pf:srv/books/-dash"},
		{"/srv/books/new\nline", `+ re:^srv/books/new\x0aline\Z`},
		{"/srv/books/trailing ", `+ re:^srv/books/trailing\x20\Z`},
		{"/srv/books/q?", `+ re:^srv/books/q.\Z`},
		{"/srv/books/ü.epub", "+ pf:srv/books/ü.epub"},
		{"/srv/books/\u00a0nbsp", `+ re:^srv/books/\U000000a0nbsp\Z`}, // Python's re knows \U
		{"relative/x", "+ pf:relative/x"},
	} {
		if got := borgIncludePattern(c.path); got != c.want {
			t.Errorf("%q: %q, want %q", c.path, got, c.want)
		}
	}
}
