package drivers_test

import (
	"context"
	"encoding/binary"
	"hash/crc32"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alexandria-backup/alexandria-backup/drivers"
)

const borgPassphrase = "correct horse battery staple"

type borgFixture struct {
	dir, src, repo, pass string
	x                    drivers.ProcessExecutor
	mu                   sync.Mutex
	log                  []string // every command line run, as shown
}

func newBorgFixture(t *testing.T) *borgFixture {
	requireTool(t, "borg")
	t.Parallel()
	dir := t.TempDir()
	f := &borgFixture{dir: dir, src: filepath.Join(dir, "library"), repo: filepath.Join(dir, "repo")}
	f.x = drivers.ProcessExecutor{Log: func(line string) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.log = append(f.log, line)
	}}
	f.pass = writeFile(t, dir, "borg.pass", borgPassphrase+"\n", 0o600)
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 12; i++ {
		b := make([]byte, 20000+rng.Intn(40000))
		rng.Read(b)
		writeFile(t, f.src, filepath.Join("books", "author"+string(rune('a'+i%4)), "book"+string(rune('a'+i))+".epub"), string(b), 0o644)
	}
	return f
}

// target makes a borg target whose caches, keys and security data live in
// the test's directory (BORG_BASE_DIR through the target's env, so tests
// can run in parallel). Archive names carry microseconds: tests make
// several archives a second.
func (f *borgFixture) target(name string, settings drivers.Values) *drivers.Target {
	v := drivers.Values{"repository": f.repo, "passphrase_file": f.pass, "paths": []string{f.src},
		"archive_name": "{now:%Y-%m-%dT%H:%M:%S.%f}", "lock_wait": 30 * time.Second}
	for k, x := range settings {
		if x == nil {
			delete(v, k)
		} else {
			v[k] = x
		}
	}
	return &drivers.Target{Name: name, Driver: "borg", Impl: drivers.Borg{}, Verify: true, Settings: v, TempDir: f.dir,
		Env: map[string]string{"BORG_BASE_DIR": filepath.Join(f.dir, "borg-base")}}
}

func (f *borgFixture) commands() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strings.Join(f.log, "\n")
}

// borgRun runs borg directly (outside the driver) against the fixture's
// repository, for looking at what the driver did.
func (f *borgFixture) borgRun(t *testing.T, args ...string) (drivers.Result, error) {
	t.Helper()
	return drivers.ProcessExecutor{}.Run(context.Background(), drivers.Command{Program: "borg", Args: args, ExtraFiles: []string{f.pass},
		Env: []drivers.EnvVar{{Name: "BORG_REPO", Value: f.repo}, {Name: "BORG_PASSPHRASE_FD", Value: "3"},
			{Name: "BORG_BASE_DIR", Value: filepath.Join(f.dir, "borg-base")}}, StdoutTail: 1 << 20})
}

func TestBorgInitBackupVerifySnapshots(t *testing.T) {
	f := newBorgFixture(t)
	ctx := context.Background()
	b := drivers.Borg{}
	tg := f.target("library", drivers.Values{"exclude": []string{filepath.Join(f.src, "books", "authorb")}, "compression": "zstd,3"})
	if err := b.Validate(tg); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ { // init is idempotent
		if err := b.Init(ctx, f.x, tg); err != nil {
			t.Fatalf("init %d: %v", i, err)
		}
	}
	a, err := b.Backup(ctx, f.x, tg)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(a.ID, "library@") || a.Bytes <= 0 || len(a.Warnings) != 0 {
		t.Fatalf("artifact %+v", a)
	}
	if err := b.Verify(ctx, f.x, tg, a); err != nil {
		t.Fatalf("verify: %v", err)
	}
	if err := b.Verify(ctx, f.x, tg, drivers.Artifact{}); err != nil {
		t.Fatalf("verify latest: %v", err)
	}
	snaps, err := b.Snapshots(ctx, f.x, tg)
	if err != nil || len(snaps) != 1 || snaps[0].ID != a.ID || time.Since(snaps[0].Time) > time.Hour || time.Since(snaps[0].Time) < 0 {
		t.Fatalf("snapshots %+v %v", snaps, err)
	}
	// The exclude worked: borg's own listing of the archive has no authorb.
	res, err := f.borgRun(t, "list", "--short", "--", "::"+a.ID)
	if err != nil || strings.Contains(string(res.Stdout), "authorb") || !strings.Contains(string(res.Stdout), "authora/booka.epub") {
		t.Fatalf("list: %v\n%s", err, res.Stdout)
	}
}

func TestBorgInitRefusesWrongPassphrase(t *testing.T) {
	f := newBorgFixture(t)
	ctx := context.Background()
	tg := f.target("library", nil)
	if err := (drivers.Borg{}).Init(ctx, f.x, tg); err != nil {
		t.Fatal(err)
	}
	config, _ := os.ReadFile(filepath.Join(f.repo, "config"))
	tg.Settings["passphrase_file"] = writeFile(t, f.dir, "wrong.pass", "not it\n", 0o600)
	err := drivers.Borg{}.Init(ctx, f.x, tg)
	if err == nil || !strings.Contains(err.Error(), "is incorrect") {
		t.Fatalf("init with a wrong passphrase must fail, not re-init: %v", err)
	}
	if strings.Count(f.commands(), "borg init") != 1 {
		t.Fatalf("borg init ran again:\n%s", f.commands())
	}
	if now, _ := os.ReadFile(filepath.Join(f.repo, "config")); string(now) != string(config) {
		t.Fatal("the repository config changed")
	}
	// Something that is not a borg repository is not "missing" either.
	tg.Settings["repository"] = f.src
	tg.Settings["passphrase_file"] = f.pass
	if err := (drivers.Borg{}).Init(ctx, f.x, tg); err == nil || !strings.Contains(err.Error(), "not a valid repository") {
		t.Fatalf("init over a non-repository: %v", err)
	}
}

// borg drops trailing newlines from what it reads on BORG_PASSPHRASE_FD,
// so a file written by `echo` and one without the newline open the same
// repository; a passcommand gets the same treatment.
func TestBorgPassphraseNewlineAndPasscommand(t *testing.T) {
	f := newBorgFixture(t)
	ctx := context.Background()
	tg := f.target("library", nil)
	if err := (drivers.Borg{}).Init(ctx, f.x, tg); err != nil {
		t.Fatal(err)
	}
	tg.Settings["passphrase_file"] = writeFile(t, f.dir, "no-newline.pass", borgPassphrase, 0o600)
	if _, err := (drivers.Borg{}).Backup(ctx, f.x, tg); err != nil {
		t.Fatalf("passphrase file without the newline: %v", err)
	}
	cmd := f.target("library", drivers.Values{"passphrase_file": nil, "passcommand": "cat " + f.pass})
	if _, err := (drivers.Borg{}).Snapshots(ctx, f.x, cmd); err != nil {
		t.Fatalf("passcommand: %v", err)
	}
}

// A passcommand printing nothing would make `borg init` create a
// repository with an empty passphrase (borg 1.2 accepts it).
func TestBorgInitRefusesEmptyPasscommand(t *testing.T) {
	f := newBorgFixture(t)
	tg := f.target("library", drivers.Values{"passphrase_file": nil, "passcommand": "true"})
	err := drivers.Borg{}.Init(context.Background(), f.x, tg)
	if err == nil || !strings.Contains(err.Error(), "empty passphrase") {
		t.Fatalf("got %v", err)
	}
	if _, err := os.Stat(f.repo); !os.IsNotExist(err) {
		t.Fatalf("a repository was created: %v", err)
	}
}

// borg 1.2 makes an empty archive and exits 1 when a source path is
// missing; the driver must refuse before borg runs.
func TestBorgMissingPathFailsBeforeBorg(t *testing.T) {
	f := newBorgFixture(t)
	ctx := context.Background()
	b := drivers.Borg{}
	tg := f.target("library", drivers.Values{"paths": []string{f.src, filepath.Join(f.dir, "unmounted")}})
	if err := b.Init(ctx, f.x, tg); err != nil {
		t.Fatal(err)
	}
	_, err := b.Backup(ctx, f.x, tg)
	if err == nil || !strings.Contains(err.Error(), "unmounted") {
		t.Fatalf("want an error naming the missing path, got %v", err)
	}
	if strings.Contains(f.commands(), "borg create") {
		t.Fatalf("borg create ran:\n%s", f.commands())
	}
	if snaps, err := b.Snapshots(ctx, f.x, tg); err != nil || len(snaps) != 0 {
		t.Fatalf("an archive was made: %+v %v", snaps, err)
	}
}

// The passphrase never reaches argv or a shown command line; a passphrase
// file others can read is refused before anything runs.
func TestBorgPassphraseNeverInArgv(t *testing.T) {
	f := newBorgFixture(t)
	ctx := context.Background()
	b := drivers.Borg{}
	tg := f.target("library", drivers.Values{"keep_last": 1})
	if err := b.Init(ctx, f.x, tg); err != nil {
		t.Fatal(err)
	}
	a, err := b.Backup(ctx, f.x, tg)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Verify(ctx, f.x, tg, a); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Prune(ctx, f.x, tg, false); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Snapshots(ctx, f.x, tg); err != nil {
		t.Fatal(err)
	}
	all := f.commands()
	if n := strings.Count(all, "\n") + 1; n < 6 {
		t.Fatalf("only %d commands recorded:\n%s", n, all)
	}
	if strings.Contains(all, "horse") || !strings.Contains(all, "BORG_PASSPHRASE_FD=3") {
		t.Fatalf("commands:\n%s", all)
	}

	os.Chmod(f.pass, 0o644)
	before := len(f.log)
	_, err = b.Backup(ctx, f.x, tg)
	if err == nil || !strings.Contains(err.Error(), "passphrase_file") || !strings.Contains(err.Error(), "0644") {
		t.Fatalf("got %v", err)
	}
	if len(f.log) != before {
		t.Fatalf("borg ran with an open passphrase file: %q", f.log[before:])
	}
}

// A byte changed in a segment file (size and mtime kept) passes
// `borg check --archives-only`, which reads no data, but fails the
// repository check that Verify runs, and --verify-data.
func TestBorgVerifyCatchesCorruptSegment(t *testing.T) {
	f := newBorgFixture(t)
	ctx := context.Background()
	b := drivers.Borg{}
	tg := f.target("library", nil)
	if err := b.Init(ctx, f.x, tg); err != nil {
		t.Fatal(err)
	}
	a, err := b.Backup(ctx, f.x, tg)
	if err != nil {
		t.Fatal(err)
	}
	segments, _ := filepath.Glob(filepath.Join(f.repo, "data", "*", "*"))
	var biggest string
	var fi os.FileInfo
	for _, p := range segments {
		if s, _ := os.Stat(p); fi == nil || s.Size() > fi.Size() {
			biggest, fi = p, s
		}
	}
	if fi == nil || fi.Size() < 100000 {
		t.Fatalf("no segment holding the data: %v", segments)
	}
	fh, err := os.OpenFile(biggest, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1)
	fh.ReadAt(buf, fi.Size()/2)
	buf[0] ^= 0xff
	fh.WriteAt(buf, fi.Size()/2)
	fh.Close()
	os.Chtimes(biggest, fi.ModTime(), fi.ModTime())
	if now, _ := os.Stat(biggest); now.Size() != fi.Size() || !now.ModTime().Equal(fi.ModTime()) {
		t.Fatal("size or mtime changed")
	}

	if _, err := f.borgRun(t, "check", "--archives-only", "--", "::"+a.ID); err != nil {
		t.Logf("note: even --archives-only noticed: %v", err)
	} else {
		t.Logf("borg check --archives-only passed the damaged segment (it reads no data)")
	}
	err = b.Verify(ctx, f.x, tg, a)
	if err == nil || !strings.Contains(err.Error(), "checksum mismatch") {
		t.Fatalf("verify passed a damaged segment, or did not say why: %v", err)
	}
	t.Logf("verify failed as it must: %v", err)
	// Watched on a terminal, borg check speaks JSON: the verdict and its
	// reason must be the same.
	watched := *tg
	watched.Progress = true
	err = b.Verify(ctx, f.x, &watched, a)
	if err == nil || !strings.Contains(err.Error(), "checksum mismatch") || strings.Contains(err.Error(), `"type"`) {
		t.Fatalf("verify with progress on: %v", err)
	}
	tg.Settings["check_verify_data"] = true
	if err := b.Verify(ctx, f.x, tg, drivers.Artifact{}); err == nil {
		t.Fatal("verify with check_verify_data passed a damaged segment")
	}
}

// A chunk changed with its segment entry's CRC32 recomputed (tampering,
// not bit rot) passes the repository check; only check_verify_data,
// which decrypts and authenticates every chunk, catches it.
func TestBorgVerifyDataCatchesTamperedChunk(t *testing.T) {
	f := newBorgFixture(t)
	ctx := context.Background()
	b := drivers.Borg{}
	tg := f.target("library", nil)
	if err := b.Init(ctx, f.x, tg); err != nil {
		t.Fatal(err)
	}
	a, err := b.Backup(ctx, f.x, tg)
	if err != nil {
		t.Fatal(err)
	}
	tamperLargestChunk(t, f.repo)
	if err := b.Verify(ctx, f.x, tg, a); err != nil {
		t.Logf("note: the default verify noticed too: %v", err)
	} else {
		t.Logf("the default verify (repository CRCs + archive metadata) passed the tampered chunk")
	}
	tg.Settings["check_verify_data"] = true
	err = b.Verify(ctx, f.x, tg, a)
	if err == nil {
		t.Fatal("verify with check_verify_data passed a tampered chunk")
	}
	t.Logf("check_verify_data failed as it must: %v", err)
}

// tamperLargestChunk flips a byte in the data of the largest PUT entry of
// any segment and rewrites the entry's CRC32, keeping size and mtime.
// Segment layout (borg 1.2 repository.py): "BORG_SEG", then entries of
// crc32 uint32le | size uint32le | tag byte | id [32] | data, where the CRC
// covers everything after itself.
func tamperLargestChunk(t *testing.T, repo string) {
	t.Helper()
	segments, _ := filepath.Glob(filepath.Join(repo, "data", "*", "*"))
	var path string
	var best, bestSize int
	var content []byte
	for _, p := range segments {
		data, err := os.ReadFile(p)
		if err != nil || len(data) < 8 || string(data[:8]) != "BORG_SEG" {
			continue
		}
		for off := 8; off+9 <= len(data); {
			size := int(binary.LittleEndian.Uint32(data[off+4:]))
			if size < 9 || off+size > len(data) {
				break
			}
			if data[off+8] == 0 && size > bestSize { // tag 0 = PUT
				path, best, bestSize, content = p, off, size, data
			}
			off += size
		}
	}
	if path == "" || bestSize < 10000 {
		t.Fatalf("no data chunk found in %v", segments)
	}
	fi, _ := os.Stat(path)
	entry := content[best : best+bestSize]
	entry[41+(bestSize-41)/2] ^= 0xff
	binary.LittleEndian.PutUint32(entry, crc32.ChecksumIEEE(entry[4:]))
	if err := os.WriteFile(path, content, fi.Mode()); err != nil {
		t.Fatal(err)
	}
	os.Chtimes(path, fi.ModTime(), fi.ModTime())
}

// Retention thins only this target's archives, keeps the newest, and a
// dry run removes nothing. Another target's archives in the same
// repository, even one whose name starts like this one's, are untouched.
func TestBorgRetentionPerTarget(t *testing.T) {
	f := newBorgFixture(t)
	ctx := context.Background()
	b := drivers.Borg{}
	lib := f.target("lib", drivers.Values{"keep_last": 2})
	other := f.target("lib-borg", drivers.Values{"keep_last": 1})
	if err := b.Init(ctx, f.x, lib); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if _, err := b.Backup(ctx, f.x, other); err != nil {
			t.Fatal(err)
		}
	}
	var last drivers.Artifact
	for i := 0; i < 3; i++ {
		if i > 0 {
			// keep_last is borg's --keep-secondly: archives must be a second apart.
			time.Sleep(1100 * time.Millisecond)
		}
		writeFile(t, f.src, "new"+string(rune('0'+i))+".txt", "change", 0o644)
		a, err := b.Backup(ctx, f.x, lib)
		if err != nil {
			t.Fatal(err)
		}
		last = a
	}
	dry, err := b.Prune(ctx, f.x, lib, true)
	if err != nil || len(dry.Removed) != 1 || dry.Kept != 2 || !dry.Policy {
		t.Fatalf("dry run: %+v %v", dry, err)
	}
	if snaps, _ := b.Snapshots(ctx, f.x, lib); len(snaps) != 3 {
		t.Fatalf("a dry run removed archives: %d left", len(snaps))
	}
	res, err := b.Prune(ctx, f.x, lib, false)
	if err != nil || len(res.Removed) != 1 || res.Removed[0] != dry.Removed[0] {
		t.Fatalf("prune: %+v %v", res, err)
	}
	snaps, _ := b.Snapshots(ctx, f.x, lib)
	if len(snaps) != 2 || snaps[0].ID != last.ID {
		t.Fatalf("after prune: %+v (newest %s must stay)", snaps, last.ID)
	}
	if o, _ := b.Snapshots(ctx, f.x, other); len(o) != 2 {
		t.Fatalf("pruning lib touched lib-borg: %+v", o)
	}
	if !strings.Contains(f.commands(), "borg compact") {
		t.Fatalf("prune did not compact:\n%s", f.commands())
	}
}

// An unencrypted repository (encryption = "none") needs no passphrase, and
// still works from a machine that has not seen it (a restore host).
func TestBorgUnencrypted(t *testing.T) {
	f := newBorgFixture(t)
	ctx := context.Background()
	b := drivers.Borg{}
	tg := f.target("library", drivers.Values{"passphrase_file": nil, "encryption": "none"})
	if err := b.Validate(tg); err != nil {
		t.Fatal(err)
	}
	if err := b.Init(ctx, f.x, tg); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Backup(ctx, f.x, tg); err != nil {
		t.Fatal(err)
	}
	tg.Env["BORG_BASE_DIR"] = filepath.Join(f.dir, "fresh-host")
	if snaps, err := b.Snapshots(ctx, f.x, tg); err != nil || len(snaps) != 1 {
		t.Fatalf("from a fresh host: %+v %v", snaps, err)
	}
}

func TestBorgCheckToolsInstalled(t *testing.T) {
	requireTool(t, "borg")
	t.Parallel()
	if err := (drivers.Borg{}).CheckTools(context.Background(), drivers.ProcessExecutor{}, &drivers.Target{}); err != nil {
		t.Fatal(err)
	}
}
