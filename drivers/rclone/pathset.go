package rclone

import "hash/maphash"

// pathSet is the set of the paths a run sent, for the verification that
// follows it: a 64-bit hash of each path, 8 bytes a file where a map of
// the paths would hold a string header and a slot of its own for each (a
// first backup of 100,000 files sent them all). Two paths the run sent
// that share a hash change nothing (both are in the set). A path it did
// not send that shares a hash with one it did (about one lookup in 10^14
// at 100,000 files) would count as sent: judged by what was sent, a
// difference in it would be called damage, never forgiven.
type pathSet struct {
	seed   maphash.Seed
	hashes map[uint64]struct{}
}

func newPathSet(paths []string) *pathSet {
	s := &pathSet{seed: maphash.MakeSeed(), hashes: make(map[uint64]struct{}, len(paths))}
	for _, p := range paths {
		s.hashes[maphash.String(s.seed, p)] = struct{}{}
	}
	return s
}

func (s *pathSet) add(p string) { s.hashes[maphash.String(s.seed, p)] = struct{}{} }

func (s *pathSet) has(p string) bool {
	_, ok := s.hashes[maphash.String(s.seed, p)]
	return ok
}

// len is how many paths the set holds.
func (s *pathSet) len() int { return len(s.hashes) }
