package drivers

import (
	"context"
	"fmt"
	"hash/fnv"

	"github.com/alexandria-backup/alexandria-backup/internal/proc"
)

// Verification by change plus rotation: every run reads in full what its
// own backup wrote, and one slice of everything else, a different slice
// each run, so that a cycle of verify_cycle runs reads every byte the
// target keeps. The runner picks the slice (the one read longest ago, from
// the state) and records what was read; the driver only reads it.

// DefaultVerifyCycle is verify_cycle's default: each run reads about a
// thirtieth of what it did not write, and a month of daily runs the whole.
const DefaultVerifyCycle = 30

// Scope says how much a verify reads besides what the run's own backup
// wrote, which it always reads in full.
type Scope struct {
	// Full: read everything the target keeps (verify --full, or a cycle
	// of one).
	Full bool
	// Slice of Cycle: read the Slice-th of Cycle parts (1 ≤ Slice ≤
	// Cycle) of everything else. Zero: none.
	Slice, Cycle int
	// Memo is what the driver returned in Coverage.Memo after the
	// target's last verify ("" the first time): the runner keeps it per
	// target and never reads it.
	Memo string
}

// FullScope reads everything.
var FullScope = Scope{Full: true}

func (s Scope) String() string {
	switch {
	case s.Full || s.Cycle == 1:
		return "everything"
	case s.Slice == 0:
		return "nothing else"
	}
	return fmt.Sprintf("slice %d/%d", s.Slice, s.Cycle)
}

// Coverage is what a verify read.
type Coverage struct {
	// Full: everything the target keeps was read.
	Full bool
	// Slice of Cycle is the part of the rest that was read (0: none).
	Slice, Cycle int
	// Slices, when set, are the parts of Cycle that were read instead of
	// Slice alone: a tool that reads on from where it stopped last time
	// (borg's partial check) may finish several in one run, or none.
	Slices []int
	// Memo is kept for the target's next verify (Scope.Memo): what the
	// driver learnt, such as how fast the repository reads.
	Memo string
	// Detail says in the tool's terms what was read, for the report
	// ("the 312 files this run sent and 3,310 of the 100,000 others").
	Detail string
}

// Covered is the Coverage of a verify that read what s asked for.
func (s Scope) Covered(detail string) Coverage {
	if s.Full || s.Cycle == 1 {
		return Coverage{Full: true, Detail: detail}
	}
	return Coverage{Slice: s.Slice, Cycle: s.Cycle, Detail: detail}
}

// SlicesRead are the slices of c.Cycle that were read: Slices, else
// Slice (none when it is 0).
func (c Coverage) SlicesRead() []int {
	if len(c.Slices) > 0 {
		return c.Slices
	}
	if c.Slice > 0 {
		return []int{c.Slice}
	}
	return nil
}

// ScopedVerifier is implemented by drivers that can verify part of what
// a target keeps: what the backup a wrote (an empty a: nothing new) plus
// the scope's slice of the rest. Driver.Verify reads everything.
type ScopedVerifier interface {
	VerifyScoped(ctx context.Context, x proc.Executor, t *Target, a Artifact, s Scope) (Coverage, error)
}

// InSlice reports whether the item named key (a relative path, a segment
// number) belongs to slice s.Slice of s.Cycle. The partition depends only
// on the key, so an item stays in its slice from run to run, and a cycle
// of slices 1..Cycle covers every item exactly once. A full scope holds
// every item.
func (s Scope) InSlice(key string) bool {
	if s.Full || s.Cycle <= 1 {
		return true
	}
	if s.Slice == 0 {
		return false
	}
	h := fnv.New64a()
	h.Write([]byte(key))
	// FNV's low bits follow the key's last bytes (book-1, book-2, ...):
	// mix them (splitmix64's finalizer) so the slices come out even.
	x := h.Sum64()
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	x ^= x >> 31
	return int(x%uint64(s.Cycle)) == s.Slice-1
}
