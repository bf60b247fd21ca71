package drivers_test

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/drivers/borg"
	"github.com/alexandria-backup/alexandria-backup/drivers/rclone"
	"github.com/alexandria-backup/alexandria-backup/drivers/restic"
	"github.com/alexandria-backup/alexandria-backup/drivers/rsync"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
	"github.com/alexandria-backup/alexandria-backup/internal/testenv/drivertest"
)

// The guide's large library is 100,000 books. Each files driver's everyday
// run there (a backup that finds 100 books changed, then the verify of
// what it wrote plus one slice of the rest) must cost what changed, not
// what exists, in what the wrapper itself does: the same commands as at
// 1,000 books (no process per file), short command lines (no file list in
// an argv), and a heap that does not grow with the library (no listing of
// the tree held whole in memory). The books are tiny: the file count is
// what is under test, not the bytes.
func TestEverydayRunAt100000Files(t *testing.T) {
	if testing.Short() {
		t.Skip("builds libraries of 1,000 and 100,000 files")
	}
	drivertest.RequireTool(t, "rsync", "rclone", "restic", "borg")
	const small, large, changed = 1000, 100000, 100
	libs := map[int]*scaleLibrary{}
	for _, n := range []int{small, large} {
		start := time.Now()
		libs[n] = newScaleLibrary(t, n)
		t.Logf("a library of %d files made in %s", n, time.Since(start).Round(time.Millisecond))
	}
	// A low GC target keeps garbage out of the heap figure, so what it
	// shows is what the run holds.
	defer debug.SetGCPercent(debug.SetGCPercent(20))

	for _, d := range scaleDrivers() {
		t.Run(d.name, func(t *testing.T) {
			runs := map[int]scaleRun{}
			for _, n := range []int{small, large} {
				lib := libs[n]
				work := t.TempDir()
				tg := d.target(t, work, lib.dir)
				x := &argvLog{}
				ctx := context.Background()
				if in, ok := tg.Impl.(interface {
					Init(context.Context, proc.Executor, *drivers.Target) error
				}); ok {
					if err := in.Init(ctx, x, tg); err != nil {
						t.Fatal(err)
					}
				}
				if _, err := tg.Impl.Backup(ctx, x, tg); err != nil {
					t.Fatalf("first backup of %d files: %v", n, err)
				}
				lib.change(t, changed)
				x.reset()
				start := time.Now()
				var cov drivers.Coverage
				var err error
				peak := peakHeap(func() {
					var a drivers.Artifact
					if a, err = tg.Impl.Backup(ctx, x, tg); err != nil {
						return
					}
					if sv, ok := tg.Impl.(drivers.ScopedVerifier); ok {
						cov, err = sv.VerifyScoped(ctx, x, tg, a, drivers.Scope{Slice: 1, Cycle: 30})
					} else {
						err = tg.Impl.Verify(ctx, x, tg, a)
					}
				})
				if err != nil {
					t.Fatalf("everyday run at %d files: %v", n, err)
				}
				r := scaleRun{commands: x.names(), longest: x.longest, peak: peak}
				t.Logf("%d files: %s, heap +%.1f MiB, longest argv %d bytes; ran %s; read %s",
					n, time.Since(start).Round(time.Millisecond), float64(peak)/(1<<20), r.longest, strings.Join(r.commands, ", "), cov.Detail)
				runs[n] = r
			}
			s, l := runs[small], runs[large]
			if strings.Join(s.commands, " ") != strings.Join(l.commands, " ") {
				t.Errorf("the commands depend on the file count:\n%d files: %s\n%d files: %s", small, s.commands, large, l.commands)
			}
			if l.longest > 4096 {
				t.Errorf("a command line of %d bytes at %d files", l.longest, large)
			}
			// 100,000 paths of about 80 bytes are 8 MB as text and more as
			// Go strings; holding the tree's listing, even once, shows.
			if grow := int64(l.peak) - int64(s.peak); grow > 3<<20 {
				t.Errorf("the heap grew by %.1f MiB from %d to %d files (%.1f → %.1f MiB)", float64(grow)/(1<<20),
					small, large, float64(s.peak)/(1<<20), float64(l.peak)/(1<<20))
			}
		})
	}
}

type scaleRun struct {
	commands []string
	longest  int
	peak     uint64
}

type scaleDriver struct {
	name   string
	target func(t *testing.T, work, lib string) *drivers.Target
}

// scaleDrivers are the drivers that back up the library, each with a
// target writing under work. The borg target is made here, not by its
// fixture, which runs in parallel: the heap figure is the process's.
func scaleDrivers() []scaleDriver {
	return []scaleDriver{
		{"rsync", func(t *testing.T, work, lib string) *drivers.Target {
			return &drivers.Target{Name: "mirror", Driver: "rsync", Impl: rsync.Driver{}, Verify: true, TempDir: work, KeepDir: filepath.Join(work, "keep"),
				Settings: drivers.Values{"source": lib + "/", "destination": filepath.Join(work, "mirror"), "delete": true}}
		}},
		{"rclone", func(t *testing.T, work, lib string) *drivers.Target {
			t.Setenv("RCLONE_CONFIG", filepath.Join(work, "no-rclone.conf"))
			return &drivers.Target{Name: "offsite", Driver: "rclone", Impl: rclone.Driver{}, Verify: true, TempDir: work, KeepDir: filepath.Join(work, "keep"),
				Settings: drivers.Values{"source": lib, "destination": filepath.Join(work, "mirror")}}
		}},
		{"restic", func(t *testing.T, work, lib string) *drivers.Target {
			t.Setenv("RESTIC_CACHE_DIR", filepath.Join(work, "cache"))
			pass := drivertest.WriteFile(t, work, "restic.pass", "correct horse battery staple\n", 0o600)
			return &drivers.Target{Name: "library", Driver: "restic", Impl: restic.Driver{}, Verify: true, TempDir: work,
				Settings: drivers.Values{"repository": filepath.Join(work, "repo"), "password_file": pass, "paths": []string{lib}, "host": "test-host"}}
		}},
		{"borg", func(t *testing.T, work, lib string) *drivers.Target {
			pass := drivertest.WriteFile(t, work, "borg.pass", drivertest.BorgPassphrase+"\n", 0o600)
			return &drivers.Target{Name: "library", Driver: "borg", Impl: borg.Driver{}, Verify: true, TempDir: work,
				Settings: drivers.Values{"repository": filepath.Join(work, "repo"), "passphrase_file": pass, "paths": []string{lib},
					"archive_name": "{now:%Y-%m-%dT%H:%M:%S.%f}", "lock_wait": 30 * time.Second},
				Env: map[string]string{"BORG_BASE_DIR": filepath.Join(work, "borg-base")}}
		}},
	}
}

// scaleLibrary is a library of tiny books with names as long as real ones.
type scaleLibrary struct {
	dir   string
	files int
	round int
	rng   *rand.Rand
}

func (l *scaleLibrary) path(i int) string {
	return filepath.Join(l.dir, fmt.Sprintf("Author %04d, Firstname Middlename", i/100),
		fmt.Sprintf("The Collected Works of Author %04d, Volume %06d (2nd ed.).epub", i/100, i))
}

func newScaleLibrary(t *testing.T, files int) *scaleLibrary {
	l := &scaleLibrary{dir: filepath.Join(t.TempDir(), "library"), files: files, rng: rand.New(rand.NewSource(int64(files)))}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			rng := rand.New(rand.NewSource(int64(w)))
			buf := make([]byte, 256)
			for i := w; i < files; i += 4 {
				p := l.path(i)
				if i%100 < 4 {
					if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
						errs <- err
						return
					}
				}
				b := buf[:32+rng.Intn(224)]
				rng.Read(b)
				if err := writeNew(p, b); err != nil {
					errs <- err
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	return l
}

// writeNew writes a file whose directory a sibling worker may still be
// making.
func writeNew(p string, b []byte) error {
	err := os.WriteFile(p, b, 0o644)
	if os.IsNotExist(err) {
		if err = os.MkdirAll(filepath.Dir(p), 0o755); err == nil {
			err = os.WriteFile(p, b, 0o644)
		}
	}
	return err
}

// change rewrites n books spread over the library with new content and
// size, as a day of edits does.
func (l *scaleLibrary) change(t *testing.T, n int) {
	t.Helper()
	l.round++
	for k := 0; k < n; k++ {
		b := make([]byte, 300+l.rng.Intn(200)) // sizes no book had: every tool sees the change
		l.rng.Read(b)
		if err := os.WriteFile(l.path((k*l.files/n+l.round)%l.files), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// argvLog runs commands for real and notes each one's tool and
// subcommand and the longest command line.
type argvLog struct {
	mu      sync.Mutex
	ran     []string
	longest int
}

func (l *argvLog) Run(ctx context.Context, c proc.Command) (proc.Result, error) {
	l.mu.Lock()
	name := c.Program
	if len(c.Args) > 0 {
		name += " " + c.Args[0]
	}
	l.ran = append(l.ran, name)
	n := len(c.Program)
	for _, a := range c.Args {
		n += 1 + len(a)
	}
	l.longest = max(l.longest, n)
	l.mu.Unlock()
	return proc.ProcessExecutor{}.Run(ctx, c)
}

func (l *argvLog) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ran, l.longest = nil, 0
}

func (l *argvLog) names() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.ran...)
}

// peakHeap runs f and returns how far the heap in use rose above where it
// stood before, sampled every few milliseconds.
func peakHeap(f func()) uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	var peak uint64
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(3 * time.Millisecond)
		defer tick.Stop()
		var m runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				runtime.ReadMemStats(&m)
				peak = max(peak, m.HeapInuse)
			}
		}
	}()
	f()
	close(stop)
	<-done
	if peak < base {
		return 0
	}
	return peak - base
}
