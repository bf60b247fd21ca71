package main

import (
	"strings"
	"testing"
	"time"
)

const ms = time.Millisecond

// pairsOf builds samples from (run, backup) wall times, bare set to the
// backup's (the everyday and dump verdicts must not read it).
func pairsOf(runBackup ...time.Duration) []sample {
	var ss []sample
	for i := 0; i+1 < len(runBackup); i += 2 {
		ss = append(ss, sample{run: usage{wall: runBackup[i]}, backup: usage{wall: runBackup[i+1]}, bare: usage{wall: time.Hour}})
	}
	return ss
}

func TestEverydayVerdict(t *testing.T) {
	for _, c := range []struct {
		name    string
		ss      []sample
		verdict string // prefix
	}{
		{"well under the ratio", pairsOf(1100*ms, 1000*ms), verdictMet},
		{"exactly the ratio", pairsOf(1300*ms, 1000*ms), verdictMet},
		{"just over the ratio, a slow backup", pairsOf(1301*ms, 1000*ms), verdictNotMet},
		{"over the ratio, within 50 ms of a backup under 170 ms", pairsOf(140*ms, 100*ms), verdictMet + " (by the 50 ms allowance"},
		{"exactly 50 ms more than a backup under 170 ms", pairsOf(210*ms, 160*ms), verdictMet + " (by the 50 ms allowance"},
		{"51 ms more than a backup under 170 ms", pairsOf(211*ms, 160*ms), verdictNotMet},
		{"within 50 ms but the backup takes 170 ms", pairsOf(230*ms, 170*ms), verdictNotMet},
		{"the median ratio decides, not the worst pair", pairsOf(1100*ms, 1000*ms, 2000*ms, 1000*ms, 1200*ms, 1000*ms), verdictMet},
		{"the median ratio decides, not the best pair", pairsOf(1000*ms, 1000*ms, 1400*ms, 1000*ms, 1500*ms, 1000*ms), verdictNotMet},
		// Allowance on medians: backups 100, 120, 300 ms (median 120),
		// differences +40, +45, +400 (median +45).
		{"the allowance on the medians", pairsOf(140*ms, 100*ms, 165*ms, 120*ms, 700*ms, 300*ms), verdictMet + " (by the 50 ms allowance"},
		// Backups 100, 170, 300 ms (median 170), differences +40, +50,
		// +700 (median +50), ratios 1.40, 1.29, 3.33 (median 1.40).
		{"the allowance needs the backup under 170 ms, not at it", pairsOf(140*ms, 100*ms, 220*ms, 170*ms, 1000*ms, 300*ms), verdictNotMet},
		{"no sample", nil, "not measured"},
	} {
		t.Run(c.name, func(t *testing.T) {
			row := everydayRow("x", c.ss)
			if !strings.HasPrefix(row.verdict, c.verdict) || (c.verdict == verdictMet && row.verdict != verdictMet) {
				t.Errorf("verdict %q, want %q (measured: %s)", row.verdict, c.verdict, row.measured)
			}
		})
	}
}

func TestEverydayMeasuredShowsMedianAndRange(t *testing.T) {
	row := everydayRow("x", pairsOf(1100*ms, 1000*ms, 1500*ms, 1000*ms, 1200*ms, 1000*ms))
	for _, want := range []string{"run/backup 1.20 (1.10–1.50)", "run 1.20 s", "backup 1.00 s", "+200 ms (+100 to +500)"} {
		if !strings.Contains(row.measured, want) {
			t.Errorf("measured %q lacks %q", row.measured, want)
		}
	}
}

func TestScalingVerdict(t *testing.T) {
	atN := pairsOf(1000*ms, 500*ms, 1000*ms, 500*ms, 1000*ms, 500*ms)
	for _, c := range []struct {
		name    string
		at2N    []sample
		verdict string
	}{
		{"flat", pairsOf(1000*ms, 900*ms, 1000*ms, 900*ms, 1000*ms, 900*ms), verdictMet},
		{"exactly 1.15", pairsOf(1150*ms, 500*ms, 1150*ms, 500*ms, 1150*ms, 500*ms), verdictMet},
		{"doubled", pairsOf(2000*ms, 500*ms, 2000*ms, 500*ms, 2000*ms, 500*ms), verdictNotMet},
		{"one slow pair of three", pairsOf(1000*ms, 500*ms, 3000*ms, 500*ms, 1100*ms, 500*ms), verdictMet},
		{"two slow pairs of three", pairsOf(1200*ms, 500*ms, 3000*ms, 500*ms, 1100*ms, 500*ms), verdictNotMet},
		{"not measured", nil, "not measured"},
	} {
		t.Run(c.name, func(t *testing.T) {
			row := scalingRow("x", atN, c.at2N)
			if !strings.HasPrefix(row.verdict, c.verdict) || (c.verdict == verdictMet && row.verdict != verdictMet) {
				t.Errorf("verdict %q, want %q (measured: %s)", row.verdict, c.verdict, row.measured)
			}
		})
	}
	// The bare backup's own growth is shown beside the run's: 900/500.
	row := scalingRow("x", atN, pairsOf(1000*ms, 900*ms, 1000*ms, 900*ms, 1000*ms, 900*ms))
	if !strings.Contains(row.measured, "run 2N/N 1.00 (1.00–1.00)") || !strings.Contains(row.measured, "alone 2N/N 1.80 (1.80–1.80)") {
		t.Errorf("measured %q: want the run's 1.00 and the backup's 1.80", row.measured)
	}
	// The ratio of the medians (1100/1000), within the widest range the
	// samples allow: 1000/1200 to 3000/900.
	row = scalingRow("x", pairsOf(900*ms, 1*ms, 1000*ms, 1*ms, 1200*ms, 1*ms), pairsOf(1000*ms, 1*ms, 3000*ms, 1*ms, 1100*ms, 1*ms))
	if !strings.Contains(row.measured, "run 2N/N 1.10 (0.83–3.33)") {
		t.Errorf("measured %q: want run 2N/N 1.10 (0.83–3.33)", row.measured)
	}
}

// dumpPairsOf makes samples of the run against bare (pipe, read-back and
// retention); the pipe and read-back alone take half of bare.
func dumpPairsOf(runBare ...time.Duration) []sample {
	var ss []sample
	for i := 0; i+1 < len(runBare); i += 2 {
		ss = append(ss, sample{run: usage{wall: runBare[i]}, bare: usage{wall: runBare[i+1]}, backup: usage{wall: runBare[i+1] / 2}})
	}
	return ss
}

// The proposed limit holds the run to the bare commands doing the same
// work, and shows the bytes each read.
func TestSameWorkVerdict(t *testing.T) {
	for _, c := range []struct {
		name    string
		ss      []sample
		verdict string
	}{
		{"under the ratio", dumpPairsOf(1100*ms, 1000*ms), verdictMet},
		{"exactly the ratio", dumpPairsOf(1300*ms, 1000*ms), verdictMet},
		{"over the ratio", dumpPairsOf(1400*ms, 1000*ms), verdictNotMet},
		{"no sample", nil, "not measured (not in -targets)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			row := sameWorkRow("x", c.ss)
			if row.verdict != c.verdict {
				t.Errorf("verdict %q, want %q (measured: %s)", row.verdict, c.verdict, row.measured)
			}
		})
	}
}

func TestDumpVerdict(t *testing.T) {
	for _, c := range []struct {
		name    string
		ss      []sample
		db      int64
		verdict string
	}{
		{"under the ratio, a big enough database", dumpPairsOf(1100*ms, 1000*ms), 80_000_000, verdictMet},
		{"exactly the ratio", dumpPairsOf(1200*ms, 1000*ms), 400_000_000, verdictMet},
		{"over the ratio", dumpPairsOf(1250*ms, 1000*ms), 80_000_000, verdictNotMet},
		{"a database too small to show it, whatever the ratio", dumpPairsOf(1100*ms, 1000*ms), 79_000_000, "not measured at this preset (the database is 79.0 MB: use -preset standard or -db-mb 80)"},
		{"a small database over the ratio", dumpPairsOf(2000*ms, 1000*ms), 20_000_000, "not measured at this preset"},
		{"no sample", nil, 80_000_000, "not measured (not in -targets)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			row := dumpRow("x", c.ss, c.db)
			if !strings.HasPrefix(row.verdict, c.verdict) || (c.verdict == verdictMet && row.verdict != verdictMet) {
				t.Errorf("verdict %q, want %q (measured: %s)", row.verdict, c.verdict, row.measured)
			}
			if len(c.ss) > 0 && !strings.Contains(row.measured, "run/that") {
				t.Errorf("measured %q does not show the ratio to the pipe and read-back alone", row.measured)
			}
		})
	}
}

func TestMemoryVerdict(t *testing.T) {
	for _, c := range []struct {
		name     string
		runs     []peakRun
		verdict  string
		measured string // a part of it
	}{
		{"under the limit at 100,000 files", []peakRun{{"restic", 100_000, 25e6}, {"borg", 200_000, 29e6}}, verdictMet, "largest 29.0 MB (borg) over 2 runs at 100,000 and 200,000 files"},
		{"exactly the limit", []peakRun{{"restic", 100_000, 30e6}}, verdictMet, "30.0 MB"},
		{"one run over it", []peakRun{{"restic", 100_000, 20e6}, {"rsync", 100_000, 31e6}, {"borg", 100_000, 20e6}}, verdictNotMet, "largest 31.0 MB (rsync)"},
		// A run over the limit at fewer files does not count at 100,000.
		{"the smaller library's runs left out", []peakRun{{"restic", 50_000, 90e6}, {"restic", 100_000, 20e6}}, verdictMet, "largest 20.0 MB (restic) over 1 runs at 100,000 files"},
		{"too few files: not measured, the largest library's peak shown", []peakRun{{"restic", 2000, 12e6}, {"rclone", 4000, 14e6}, {"borg", 4000, 13e6}},
			"not measured at this preset (4,000 files at most: use -preset full or -files 100000)", "largest 14.0 MB (rclone) over 2 runs at 4,000 files"},
		{"too few files, even when under the limit", []peakRun{{"restic", 99_999, 1e6}}, "not measured at this preset", ""},
		{"no run", nil, "not measured (no run)", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			row := memoryRow("x", c.runs)
			if !strings.HasPrefix(row.verdict, c.verdict) || (c.verdict == verdictMet && row.verdict != verdictMet) {
				t.Errorf("verdict %q, want %q (measured: %s)", row.verdict, c.verdict, row.measured)
			}
			if !strings.Contains(row.measured, c.measured) {
				t.Errorf("measured %q lacks %q", row.measured, c.measured)
			}
		})
	}
}

// fixedPairs builds fixed-cost samples from (run, bash) wall times.
func fixedPairs(runBare ...time.Duration) []sample {
	var ss []sample
	for i := 0; i+1 < len(runBare); i += 2 {
		ss = append(ss, sample{run: usage{wall: runBare[i]}, bare: usage{wall: runBare[i+1]}})
	}
	return ss
}

func TestFixedCostVerdict(t *testing.T) {
	for _, c := range []struct {
		name    string
		ss      []sample
		verdict string
	}{
		{"well under", fixedPairs(12*ms, 2*ms), verdictMet},
		{"exactly 30 ms", fixedPairs(33*ms, 3*ms), verdictMet},
		{"over", fixedPairs(34*ms, 3*ms), verdictNotMet},
		{"one slow run of three is noise", fixedPairs(12*ms, 2*ms, 300*ms, 2*ms, 14*ms, 3*ms), verdictMet},
		{"two slow runs of three are not", fixedPairs(40*ms, 2*ms, 300*ms, 2*ms, 14*ms, 3*ms), verdictNotMet},
		{"no sample", nil, "not measured"},
	} {
		t.Run(c.name, func(t *testing.T) {
			row := fixedRow("x", c.ss)
			if !strings.HasPrefix(row.verdict, c.verdict) || (c.verdict == verdictMet && row.verdict != verdictMet) {
				t.Errorf("verdict %q, want %q (measured: %s)", row.verdict, c.verdict, row.measured)
			}
		})
	}
}

// The rotation: in every three pairs from a multiple of 3 on, each side
// goes first, second and third once; over six, each side directly follows
// each other side equally often.
func TestSideOrderIsBalanced(t *testing.T) {
	for start := 0; start < 12; start += 3 {
		for pos := range 3 {
			seen := map[string]bool{}
			for p := start; p < start+3; p++ {
				seen[sideOrder(p)[pos]] = true
			}
			if len(seen) != 3 {
				t.Errorf("pairs %d–%d: position %d held %v, want all three sides", start, start+2, pos, seen)
			}
		}
	}
	follows := map[[2]string]int{}
	for p := range 6 {
		o := sideOrder(p)
		for i := 1; i < 3; i++ {
			follows[[2]string{o[i-1], o[i]}]++
		}
	}
	if len(follows) != 6 {
		t.Errorf("over six pairs: %v, want all six orderings of two sides", follows)
	}
	for k, n := range follows {
		if n != 2 {
			t.Errorf("%s then %s: %d times in six pairs, want 2", k[0], k[1], n)
		}
	}
}

func TestThousands(t *testing.T) {
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 100000: "100,000", 1234567: "1,234,567", -1000: "-1,000"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}
