package drivertest

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
	"github.com/alexandria-backup/alexandria-backup/drivers/borg"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
)

const BorgPassphrase = "correct horse battery staple"

type BorgFixture struct {
	Dir, Src, Repo, Pass string
	X                    proc.ProcessExecutor
	mu                   sync.Mutex
	Log                  []string // every command line run, as shown
}

func NewBorgFixture(t *testing.T) *BorgFixture {
	RequireTool(t, "borg")
	t.Parallel()
	dir := t.TempDir()
	f := &BorgFixture{Dir: dir, Src: filepath.Join(dir, "library"), Repo: filepath.Join(dir, "repo")}
	f.X = proc.ProcessExecutor{Log: func(line string) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.Log = append(f.Log, line)
	}}
	f.Pass = WriteFile(t, dir, "borg.pass", BorgPassphrase+"\n", 0o600)
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 12; i++ {
		b := make([]byte, 20000+rng.Intn(40000))
		rng.Read(b)
		WriteFile(t, f.Src, filepath.Join("books", "author"+string(rune('a'+i%4)), "book"+string(rune('a'+i))+".epub"), string(b), 0o644)
	}
	return f
}

// target makes a borg target whose caches, keys and security data live in
// the test's directory (BORG_BASE_DIR through the target's env, so tests
// can run in parallel). Archive names carry microseconds: tests make
// several archives a second.
func (f *BorgFixture) Target(name string, settings drivers.Values) *drivers.Target {
	v := drivers.Values{"repository": f.Repo, "passphrase_file": f.Pass, "paths": []string{f.Src},
		"archive_name": "{now:%Y-%m-%dT%H:%M:%S.%f}", "lock_wait": 30 * time.Second}
	for k, x := range settings {
		if x == nil {
			delete(v, k)
		} else {
			v[k] = x
		}
	}
	return &drivers.Target{Name: name, Driver: "borg", Impl: borg.Driver{}, Verify: true, Settings: v, TempDir: f.Dir,
		Env: map[string]string{"BORG_BASE_DIR": filepath.Join(f.Dir, "borg-base")}}
}

func (f *BorgFixture) Commands() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strings.Join(f.Log, "\n")
}

// BorgRun runs borg directly (outside the driver) against the fixture's
// repository, for looking at what the driver did.
func (f *BorgFixture) BorgRun(t *testing.T, args ...string) (proc.Result, error) {
	t.Helper()
	return proc.ProcessExecutor{}.Run(context.Background(), proc.Command{Program: "borg", Args: args, ExtraFiles: []string{f.Pass},
		Env: []proc.EnvVar{{Name: "BORG_REPO", Value: f.Repo}, {Name: "BORG_PASSPHRASE_FD", Value: "3"},
			{Name: "BORG_BASE_DIR", Value: filepath.Join(f.Dir, "borg-base")}}, StdoutTail: 1 << 20})
}

// TamperLargestChunk flips a byte in the data of the largest PUT entry of
// any segment and rewrites the entry's CRC32, keeping size and mtime.
// Segment layout (borg 1.2 repository.py): "BORG_SEG", then entries of
// crc32 uint32le | size uint32le | tag byte | id [32] | data, where the CRC
// covers everything after itself.
func TamperLargestChunk(t *testing.T, repo string) {
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

func (f *BorgFixture) RestoreTarget(t *testing.T, name string, settings drivers.Values) *drivers.Target {
	tg := f.Target(name, settings)
	tg.TempDir = filepath.Join(f.Dir, "tmp-"+name)
	if err := os.MkdirAll(tg.TempDir, 0o700); err != nil {
		t.Fatal(err)
	}
	return tg
}

func (f *BorgFixture) Backup(t *testing.T, tg *drivers.Target) drivers.Artifact {
	t.Helper()
	b := borg.Driver{}
	if err := b.Init(context.Background(), f.X, tg); err != nil {
		t.Fatal(err)
	}
	a, err := b.Backup(context.Background(), f.X, tg)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func BorgTarget(t *testing.T, settings drivers.Values) *drivers.Target {
	dir := t.TempDir()
	v := drivers.Values{"repository": filepath.Join(dir, "repo"), "paths": []string{dir},
		"passphrase_file": WriteFile(t, dir, "borg.pass", "correct horse\n", 0o600)}
	for k, x := range settings {
		if x == nil {
			delete(v, k)
		} else {
			v[k] = x
		}
	}
	return &drivers.Target{Name: "library", Driver: "borg", Impl: borg.Driver{}, Verify: true, Settings: v, TempDir: dir}
}
