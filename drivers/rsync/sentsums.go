package rsync

import (
	"encoding/hex"
	"hash/maphash"
)

// sentSums holds, for the verification, the checksum each file this run
// sent was sent with, compactly: a 64-bit hash of the path maps to the
// checksum's bytes, about 40 bytes a file instead of the path and a hex
// string (a first backup of 100,000 files sent them all). The paths
// themselves stay in the backup's record on disk. A path whose hash
// another path already took (about one chance in 10^10 at 100,000
// files), or whose checksum is not short hex, is kept whole in exact.
type sentSums struct {
	seed   maphash.Seed
	byHash map[uint64]hashedSum
	exact  map[string]*sentSum
}

// hashedSum is one file's checksum (rsync's %C: 16 bytes at most for the
// xxh128, xxh3, xxh64 and md5 it negotiates) and whether the sent check
// has read the file yet: 18 bytes.
type hashedSum struct {
	b    [16]byte
	n    uint8
	read bool
}

// sentSum is a checksum as read back: short hex in hashedSum, or kept as
// text when it is not.
type sentSum struct {
	hashedSum
	text string
}

func newSentSums() *sentSums {
	return &sentSums{seed: maphash.MakeSeed(), byHash: map[uint64]hashedSum{}, exact: map[string]*sentSum{}}
}

func makeSentSum(sum string) sentSum {
	var s sentSum
	if b, err := hex.DecodeString(sum); err == nil && len(b) <= len(s.b) && len(b) > 0 {
		s.n = uint8(copy(s.b[:], b))
	} else {
		s.text = sum
	}
	return s
}

func (s sentSum) String() string {
	if s.text != "" {
		return s.text
	}
	return hex.EncodeToString(s.b[:s.n])
}

// add records the checksum path was sent with; rsync names each file once.
func (m *sentSums) add(path, sum string) {
	v := makeSentSum(sum)
	h := maphash.String(m.seed, path)
	if _, taken := m.byHash[h]; taken || v.text != "" {
		m.exact[path] = &v
		return
	}
	m.byHash[h] = v.hashedSum
}

// read marks path as read by the sent check and returns the checksum it
// was sent with; ok is false when path is no file sent or was read
// already.
func (m *sentSums) read(path string) (want sentSum, ok bool) {
	if v, found := m.exact[path]; found {
		if v.read {
			return sentSum{}, false
		}
		v.read = true
		return *v, true
	}
	h := maphash.String(m.seed, path)
	v, found := m.byHash[h]
	if !found || v.read {
		return sentSum{}, false
	}
	v.read = true
	m.byHash[h] = v
	return sentSum{hashedSum: v}, true
}

// unread says whether path, a file sent, is one the sent check did not
// read.
func (m *sentSums) unread(path string) bool {
	if v, found := m.exact[path]; found {
		return !v.read
	}
	v, found := m.byHash[maphash.String(m.seed, path)]
	return found && !v.read
}

// matches says whether got, the checksum rsync printed, is want.
func (want sentSum) matches(got string) bool {
	g := makeSentSum(got)
	return g.b == want.b && g.n == want.n && g.text == want.text
}
