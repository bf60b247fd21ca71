// Package benchdata builds what `make bench` (tools/bench) backs up: a
// library of many small files and a PostgreSQL database of a given size,
// both fully determined by a seed, and the deterministic changes an
// everyday run finds between two runs.
//
// Unlike the sandbox (a plausible Alexandria installation for the demo and
// the tests), these are sized by the benchmark's flags: number of files,
// their size range, bytes of database.
package benchdata

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
)

// filesPerDir keeps directories small, as a library sorted by author is.
const filesPerDir = 100

// Library is a tree of Files pseudo-random (incompressible, like EPUBs,
// PDFs and JPEGs) files under Dir, each MinSize to MaxSize bytes, named
// Dir/dNNNN/fNNNNNNN.bin. File i's size and content depend only on Seed, i
// and the round that last changed it (0: as generated).
type Library struct {
	Dir              string
	Files            int
	MinSize, MaxSize int
	Seed             int64
}

// Path is file i's path.
func (l Library) Path(i int) string {
	return filepath.Join(l.Dir, fmt.Sprintf("d%04d", i/filesPerDir), fmt.Sprintf("f%07d.bin", i))
}

// Generate writes files from..Files-1 (from = 0 for a new library; the old
// Files to grow one) and returns the bytes written.
func (l Library) Generate(from int) (int64, error) {
	if l.MinSize < 1 || l.MaxSize < l.MinSize {
		return 0, fmt.Errorf("benchdata: file sizes %d..%d", l.MinSize, l.MaxSize)
	}
	idx := make([]int, 0, max(l.Files-from, 0))
	for i := from; i < l.Files; i++ {
		idx = append(idx, i)
	}
	return l.write(idx, 0)
}

// Change rewrites count files picked from (Seed, round), each with new
// content and a new size from the same range, as an application updating
// files does (same name, new mtime). The same round always picks the same
// files and writes the same bytes. It returns the bytes written.
func (l Library) Change(round, count int) (int64, error) {
	if round < 1 {
		return 0, errors.New("benchdata: change rounds start at 1")
	}
	count = min(count, l.Files)
	r := rand.New(rand.NewPCG(uint64(l.Seed), uint64(round)))
	return l.write(r.Perm(l.Files)[:count], round)
}

// write writes the files idx at round, several at once.
func (l Library) write(idx []int, round int) (int64, error) {
	var (
		next, total atomic.Int64
		wg          sync.WaitGroup
		mu          sync.Mutex
		firstErr    error
	)
	workers := min(runtime.GOMAXPROCS(0), 8)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf []byte
			for {
				k := int(next.Add(1)) - 1
				if k >= len(idx) {
					return
				}
				var err error
				var n int
				buf, n, err = l.writeFile(idx[k], round, buf)
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
				total.Add(int64(n))
			}
		}()
	}
	wg.Wait()
	return total.Load(), firstErr
}

// writeFile writes file i as of round, reusing buf.
func (l Library) writeFile(i, round int, buf []byte) ([]byte, int, error) {
	var key [24]byte
	binary.LittleEndian.PutUint64(key[0:], uint64(l.Seed))
	binary.LittleEndian.PutUint64(key[8:], uint64(i))
	binary.LittleEndian.PutUint64(key[16:], uint64(round))
	seed := sha256.Sum256(append([]byte("alexandria-bench/file/"), key[:]...))
	src := rand.NewChaCha8(seed)
	size := l.MinSize + int(rand.New(src).Uint64N(uint64(l.MaxSize-l.MinSize+1)))
	if cap(buf) < size {
		buf = make([]byte, size)
	}
	buf = buf[:size]
	_, _ = src.Read(buf) // never fails
	p := l.Path(i)
	if err := os.WriteFile(p, buf, 0o644); err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			return buf, 0, err
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return buf, 0, err
		}
		if err := os.WriteFile(p, buf, 0o644); err != nil {
			return buf, 0, err
		}
	}
	return buf, size, nil
}
