package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/alexandria-backup/alexandria-backup/internal/testenv/benchdata"
)

// report is everything the benchmark prints.
type report struct {
	c                         config
	version, machine, load0   string
	work                      string
	libBytes, libBytes2       int64
	db                        benchdata.Database
	changeFiles, modulus      int
	changedBytes              []int64
	started, finished         time.Time
	first, unchanged, changed map[string][]sample
	grown, scaled             map[string][]sample
	// fixed: the fixed-cost pairs (run and bare set).
	fixed []sample
	// recovery: the recovery scenario (nil when not run).
	recovery *recoveryResult
}

// fileTools are the targets issue 11's everyday and scaling targets name.
var fileTools = []string{"restic", "borg", "rsync", "rclone"}

// targetRows evaluates issue 11's targets on what was measured.
func (r report) targetRows() []targetRow {
	c := r.c
	var rows []targetRow
	for _, t := range fileTools {
		rows = append(rows,
			everydayRow(t+": everyday run, nothing changed", r.unchanged[t]),
			everydayRow(fmt.Sprintf("%s: everyday run, %.3g%% changed", t, c.changePct), r.changed[t]))
	}
	for _, t := range fileTools {
		rows = append(rows,
			sameWorkRow(t+": everyday run against the same work, nothing changed", r.unchanged[t]),
			sameWorkRow(fmt.Sprintf("%s: everyday run against the same work, %.3g%% changed", t, c.changePct), r.changed[t]))
	}
	for _, t := range fileTools {
		rows = append(rows, scalingRow(fmt.Sprintf("%s: everyday run (%.3g%% of N changed) at 2N = %s files over N = %s", t, c.changePct, thousands(2*c.files), thousands(c.files)),
			r.changed[t], r.scaled[t]))
	}
	rows = append(rows,
		dumpRow("pg_dump into restic, read back whole: nothing changed", r.unchanged["db-into-restic"], r.db.Bytes),
		dumpRow(fmt.Sprintf("pg_dump into restic, read back whole: %.3g%% of the book rows changed", c.changePct), r.changed["db-into-restic"], r.db.Bytes))
	var peaks []peakRun
	add := func(s map[string][]sample, files int) {
		for name, ss := range s {
			for _, x := range ss {
				peaks = append(peaks, peakRun{target: name, files: files, peak: x.run.selfPeakRSS})
			}
		}
	}
	add(r.first, c.files)
	add(r.unchanged, c.files)
	add(r.changed, c.files)
	add(r.grown, 2*c.files)
	add(r.scaled, 2*c.files)
	rows = append(rows,
		memoryRow("the wrapper's own peak memory (VmHWM), every run of every target", peaks),
		fixedRow("fixed cost of a run: a one-command plan against bash running the command", r.fixed))
	return rows
}

func (r report) print(w io.Writer, ts []target) {
	c := r.c
	fmt.Fprintf(w, "## End-to-end benchmark (`make bench`)\n\n")
	fmt.Fprintf(w, "%s, alexandria-backup %s, %s.  \n", r.started.UTC().Format("2006-01-02 15:04 MST"), r.version, runtime.Version())
	fmt.Fprintf(w, "%s  \n", r.machine)
	fmt.Fprintf(w, "Load average %s at the start, %s at the end (%s in all).  \n", r.load0, loadavg(), r.finished.Sub(r.started).Round(time.Second))
	fmt.Fprintf(w, "Tools: %s.  \n", toolVersions())
	fmt.Fprintf(w, "Data: a library of %d files of %d–%d KiB (%s) and a PostgreSQL database of %s (%d book rows, %d event rows); %d pairs per target and scenario (`-preset %s -files %d -db-mb %d -pairs %d -seed %d`).\n\n",
		c.files, c.minKiB, c.maxKiB, bytesStr(r.libBytes), bytesStr(r.db.Bytes), r.db.Books, r.db.Events, c.pairs, c.preset, c.files, c.dbMB, c.pairs, c.seed)
	if c.pairs%3 != 0 {
		fmt.Fprintf(w, "(Pairs not a multiple of 3: the sides did not go first, second and third equally often.)\n\n")
	}

	fmt.Fprintf(w, "### Targets\n\n")
	fmt.Fprintf(w, "Issue 11's targets, each with what was measured here and whether it is met. Everyday runs: the median (min–max) of the per-pair ratios of wall time, `alexandria-backup run` (verification at verify_cycle %d and retention included) over the bare backup command alone (*backup* below). Scaling: the median at 2N over the median at N (range: the fastest at 2N over the slowest at N, to the slowest at 2N over the fastest at N). pg_dump into restic: the run over the same work done by the bare tools (*bare* below): `pg_dump | restic backup --stdin`, then `restic dump` of it into `pg_restore --file=/dev/null` (read to the end, as the run reads it back), then the same retention as the run's (`restic forget --prune`); the issue named the first two alone, shown beside it, but the run prunes too. Memory: the largest own peak of any run (every target, every scenario) with a library of %s files or more. Fixed cost: %d pairs of a run of a plan whose only target is a command target printing \"x\" against bash running that command into a file; the median of the per-pair differences.\n\n",
		verifyCycle, thousands(peakFiles), len(r.fixed))
	printTargets(w, r.targetRows())

	fmt.Fprintf(w, "### First backup (everything new; one sample)\n\n")
	table(w, ts, r.first)
	fmt.Fprintf(w, "### Nothing changed\n\n")
	table(w, ts, r.unchanged)
	fmt.Fprintf(w, "### %.3g%% changed\n\n", c.changePct)
	fmt.Fprintf(w, "Before each pair: %d files rewritten (new content and size, %s in all on average) and one book row in %d updated.\n\n",
		r.changeFiles, bytesStr(mean(r.changedBytes)), r.modulus)
	table(w, ts, r.changed)
	if r.scaled != nil {
		fmt.Fprintf(w, "### Scaling: the same change at N = %d and 2N = %d files\n\n", c.files, 2*c.files)
		fmt.Fprintf(w, "The library grown to %d files (%s); before each pair the same %d files changed as at N (so only what exists doubles, not what changed). A run that costs what changed has 2N/N ≈ 1; one that costs what exists, ≈ 2. N and 2N are measured minutes apart, so on a busy machine the CPU ratio is the steadier one. The database targets are not in this run (a dump is always whole).\n\n",
			2*c.files, bytesStr(r.libBytes2), r.changeFiles)
		scalingTable(w, ts, r.changed, r.scaled)
	}
	if r.recovery != nil {
		r.recovery.print(w)
	}
	fmt.Fprint(w, notes)
	fmt.Fprintf(w, "\n### What each side runs\n\n")
	fmt.Fprintf(w, "run: `alexandria-backup --config PLAN --no-progress run bench --target NAME`; bare and backup: `bash -c 'set -euo pipefail; SCRIPT'` with `$LIB` the library, `$DB` the database URL, `$HOST` the host name, on repositories of their own under `$WORK/bare` and `$WORK/backup` (the run's are under `$WORK/run`). Every run also takes the run lock and writes its report and state; what else it does besides the bare commands is listed under each.\n\n")
	for _, t := range ts {
		fmt.Fprintf(w, "**%s** (bare env: `%s`)\n\n```sh\n%s```\n\n", t.name, envNames(t.env, r.work), t.script)
		fmt.Fprintf(w, "backup (env: `%s`):\n\n```sh\n%s```\n\n", envNames(t.backupEnv, r.work), t.backup)
		if t.backupAfter != "" {
			fmt.Fprintf(w, "then, not measured (the same retention as bare's):\n\n```sh\n%s```\n\n", t.backupAfter)
		}
		fmt.Fprintf(w, "The run also: %s.\n\n", t.extra)
	}
	fmt.Fprintf(w, "**fixed cost**: run: `alexandria-backup --config FIXED-PLAN --no-progress run fixed --target fixed` of\n\n```toml\n%s```\n\nbare (env: `ECHO=` echo's path, `FIXED=$WORK/bare/fixed`):\n\n```sh\n%s```\n\n",
		strings.ReplaceAll(fixedPlanTOML(newLayout(r.work)), r.work, "$WORK"), fixedBare)
}

const notes = `
Columns: *backup*, *bare* and *run* are wall-clock seconds, median (min–max) over the pairs, of
the bare backup command alone, of the bare tool commands doing what the run does (backup, verify,
retention) and of ` + "`alexandria-backup run`" + ` for the target; *run/backup* and *run/bare* are the
median (min–max) of the per-pair ratios of wall time, *CPU run/bare* that of user+system CPU time
(the whole process tree's, from wait4). *read* and *written* are the median bytes the whole
process tree passed through read and write system calls (rchar and wchar of /proc/PID/io: files
and pipes, from the page cache or not; a socket read with recv, as libpq reads the server's rows,
is not counted); *disk read* is the part that came from storage (read_bytes; near zero when the
data sits in the page cache). *RSS* is the peak resident memory of the alexandria-backup process alone (its own
VmHWM, the largest over the pairs), not of the tools it runs.

How: each step is a child of the benchmark; when it exits, the benchmark waits for it without
reaping it (waitid WNOWAIT) and reads its /proc/PID/io, which then holds the counters of the
process and of every descendant it reaped, i.e. every tool the step ran; wait4 then reaps it and
gives the CPU time. The three sides of a pair run back to back in a rotating order (run, bare,
backup; bare, backup, run; backup, run, bare; then the three reversed orders: each side goes first,
second and third once in every three pairs), each on its own repositories and destinations that
saw the same backups, after the same change (the backup side's retention runs after its backup,
not measured). borg (its segments) and rclone (every file it reads) drop what they read from the
page cache, so whichever side reads a tree first after them reads it from storage: that is the
*disk read* column's spread, and why the order rotates. Wall times on a shared
machine are noisy (see the load average above); the CPU ratio and the byte counts are steadier.
`

// table prints one scenario's table.
func table(w io.Writer, ts []target, s map[string][]sample) {
	fmt.Fprintln(w, "| target | backup s | bare s | run s | run/backup | run/bare | CPU run/bare | read bare | read run | written bare | written run | disk read bare / run | RSS |")
	fmt.Fprintln(w, "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
	for _, t := range ts {
		ss, ok := s[t.name]
		if !ok {
			continue
		}
		col := func(f func(sample) float64, format string) string { return spread(collect(ss, f), format) }
		bytesMed := func(f func(sample) float64) string { return bytesStr(int64(median(collect(ss, f)))) }
		var peak int64
		for _, x := range ss {
			peak = max(peak, x.run.selfPeakRSS)
		}
		warn := ""
		if n := countFunc(ss, func(x sample) bool { return x.runCode == 3 }); n > 0 {
			warn = fmt.Sprintf(" (exit 3, warnings, in %d of %d)", n, len(ss))
		}
		fmt.Fprintf(w, "| %s%s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s / %s | %s |\n", t.name, warn,
			col(func(x sample) float64 { return x.backup.wall.Seconds() }, "%.2f"),
			col(func(x sample) float64 { return x.bare.wall.Seconds() }, "%.2f"),
			col(func(x sample) float64 { return x.run.wall.Seconds() }, "%.2f"),
			col(func(x sample) float64 { return x.run.wall.Seconds() / x.backup.wall.Seconds() }, "%.2f"),
			col(func(x sample) float64 { return x.run.wall.Seconds() / x.bare.wall.Seconds() }, "%.2f"),
			col(func(x sample) float64 { return x.run.cpu.Seconds() / x.bare.cpu.Seconds() }, "%.2f"),
			bytesMed(func(x sample) float64 { return float64(x.bare.rchar) }),
			bytesMed(func(x sample) float64 { return float64(x.run.rchar) }),
			bytesMed(func(x sample) float64 { return float64(x.bare.wchar) }),
			bytesMed(func(x sample) float64 { return float64(x.run.wchar) }),
			bytesMed(func(x sample) float64 { return float64(x.bare.readBytes) }),
			bytesMed(func(x sample) float64 { return float64(x.run.readBytes) }),
			bytesStr(peak))
	}
	fmt.Fprintln(w)
}

// scalingTable compares the changed scenario at N with the same at 2N.
func scalingTable(w io.Writer, ts []target, atN, at2N map[string][]sample) {
	fmt.Fprintln(w, "| target | backup s at N | backup s at 2N | backup 2N/N | bare s at N | bare s at 2N | bare 2N/N | run s at N | run s at 2N | run 2N/N | CPU 2N/N bare / run | read run N → 2N | RSS N → 2N |")
	fmt.Fprintln(w, "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
	for _, t := range ts {
		a, b := atN[t.name], at2N[t.name]
		if a == nil || b == nil {
			continue
		}
		med := func(ss []sample, f func(sample) float64) float64 { return median(collect(ss, f)) }
		backup := func(x sample) float64 { return x.backup.wall.Seconds() }
		bare := func(x sample) float64 { return x.bare.wall.Seconds() }
		run := func(x sample) float64 { return x.run.wall.Seconds() }
		read := func(x sample) float64 { return float64(x.run.rchar) }
		bareCPU := func(x sample) float64 { return x.bare.cpu.Seconds() }
		runCPU := func(x sample) float64 { return x.run.cpu.Seconds() }
		peak := func(ss []sample) int64 {
			var p int64
			for _, x := range ss {
				p = max(p, x.run.selfPeakRSS)
			}
			return p
		}
		fmt.Fprintf(w, "| %s | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f / %.2f | %s → %s | %s → %s |\n", t.name,
			med(a, backup), med(b, backup), med(b, backup)/med(a, backup),
			med(a, bare), med(b, bare), med(b, bare)/med(a, bare),
			med(a, run), med(b, run), med(b, run)/med(a, run),
			med(b, bareCPU)/med(a, bareCPU), med(b, runCPU)/med(a, runCPU),
			bytesStr(int64(med(a, read))), bytesStr(int64(med(b, read))),
			bytesStr(peak(a)), bytesStr(peak(b)))
	}
	fmt.Fprintln(w)
}

func collect(ss []sample, f func(sample) float64) []float64 {
	v := make([]float64, len(ss))
	for i, s := range ss {
		v[i] = f(s)
	}
	return v
}

func countFunc[T any](s []T, f func(T) bool) int {
	n := 0
	for _, x := range s {
		if f(x) {
			n++
		}
	}
	return n
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// spread is "median (min–max)", or the value alone for one sample.
func spread(v []float64, format string) string {
	if len(v) == 1 {
		return fmt.Sprintf(format, v[0])
	}
	return fmt.Sprintf(format+" ("+format+"–"+format+")", median(v), slices.Min(v), slices.Max(v))
}

func mean(v []int64) int64 {
	if len(v) == 0 {
		return 0
	}
	var s int64
	for _, x := range v {
		s += x
	}
	return s / int64(len(v))
}

// bytesStr is n in binary units, three significant digits.
func bytesStr(n int64) string {
	const units = "KMGTP"
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	f := float64(n)
	i := -1
	for f >= 1024 && i < len(units)-1 {
		f /= 1024
		i++
	}
	switch {
	case f >= 100:
		return fmt.Sprintf("%.0f %ciB", f, units[i])
	case f >= 10:
		return fmt.Sprintf("%.1f %ciB", f, units[i])
	default:
		return fmt.Sprintf("%.2f %ciB", f, units[i])
	}
}

// envNames is env with the work directory shown as $WORK.
func envNames(env []string, work string) string {
	return strings.ReplaceAll(strings.Join(env, " "), work, "$WORK")
}

// machine describes where the benchmark ran: CPU, cores, memory, kernel,
// the disk holding dir.
func machine(dir string) string {
	cpu := "unknown CPU"
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		s := bufio.NewScanner(f)
		for s.Scan() {
			if k, v, ok := strings.Cut(s.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	var mem string
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				if f := strings.Fields(rest); len(f) == 2 {
					if kb, err := strconv.ParseInt(f[0], 10, 64); err == nil {
						mem = bytesStr(kb<<10) + " RAM, "
					}
				}
			}
		}
	}
	var uts syscall.Utsname
	kernel := "Linux"
	if syscall.Uname(&uts) == nil {
		kernel = "Linux " + utsString(uts.Release[:])
	}
	return fmt.Sprintf("Machine: %s, %d CPUs, %s%s, %s.", cpu, runtime.NumCPU(), mem, kernel, disk(dir))
}

func utsString(b []int8) string {
	var s []byte
	for _, c := range b {
		if c == 0 {
			break
		}
		s = append(s, byte(c))
	}
	return string(s)
}

// disk names the block device holding dir and whether the kernel calls it
// rotational (a virtual disk's flag says little about what is under it).
func disk(dir string) string {
	var st syscall.Stat_t
	if err := syscall.Stat(dir, &st); err != nil {
		return "disk unknown"
	}
	major, minor := (st.Dev>>8)&0xfff|(st.Dev>>32)&^0xfff, st.Dev&0xff|(st.Dev>>12)&^0xff
	p, err := filepath.EvalSymlinks(fmt.Sprintf("/sys/dev/block/%d:%d", major, minor))
	if err != nil {
		return fmt.Sprintf("work directory on device %d:%d (tmpfs or overlay?)", major, minor)
	}
	if _, err := os.Stat(filepath.Join(p, "partition")); err == nil {
		p = filepath.Dir(p)
	}
	name := filepath.Base(p)
	kind := "rotational"
	if b, err := os.ReadFile(filepath.Join(p, "queue", "rotational")); err == nil && strings.TrimSpace(string(b)) == "0" {
		kind = "non-rotational"
	}
	if strings.HasPrefix(name, "vd") || strings.HasPrefix(name, "xvd") {
		kind = "virtual disk, reported " + kind
	}
	return fmt.Sprintf("work directory on %s (%s)", name, kind)
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// toolVersions is each tool's first line of its version output.
func toolVersions() string {
	var out []string
	for _, argv := range [][]string{{"restic", "version"}, {"borg", "--version"}, {"rsync", "--version"}, {"rclone", "version"}, {"pg_dump", "--version"}} {
		b, err := exec.Command(argv[0], argv[1:]...).Output()
		line, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
		if err != nil || line == "" {
			line = argv[0] + " (version unknown)"
		}
		if i := strings.Index(line, " compiled with"); i > 0 {
			line = line[:i]
		}
		line = strings.TrimSuffix(strings.Join(strings.Fields(line), " "), ",")
		out = append(out, line)
	}
	return strings.Join(out, ", ")
}

// checkSpace refuses to start when the work directory's file system has
// clearly too little room: the library and twelve copies of it (restic,
// borg, mirror and rclone, run, bare and backup), twice over with the
// scaling run, and the dumps.
func checkSpace(dir string, c config) error {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return nil
	}
	free := int64(st.Bavail) * st.Bsize
	lib := int64(c.files) * int64(c.minKiB+c.maxKiB) << 9
	if c.scaling {
		lib *= 2
	}
	need := 13*lib + 28*int64(c.dbMB)*1e6
	if need > free*9/10 {
		return fmt.Errorf("the benchmark needs about %s of disk in %s and %s is free: fewer -files, a smaller -max-kib, -scaling=false, or another -workdir", bytesStr(need), dir, bytesStr(free))
	}
	logf("disk: about %s needed, %s free", bytesStr(need), bytesStr(free))
	return nil
}
