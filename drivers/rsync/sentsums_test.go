package rsync

import (
	"hash/maphash"
	"testing"
)

// Every shape a sent file's checksum takes, and a path whose hash another
// path took: each reads back its own checksum once, a changed one does not
// match, and a file read is no longer unread.
func TestSentSums(t *testing.T) {
	m := newSentSums()
	files := []struct{ path, sum string }{
		{"books/a.epub", "0123456789abcdef0123456789abcdef"}, // xxh128, md5
		{"books/b.epub", "0123456789abcdef"},                 // xxh64, xxh3
		{"books/c.epub", "0123456789ABCDEF"},                 // upper case hex
		{"books/d.epub", "not hex at all"},
		{"books/e.epub", "0123456789abcdef0123456789abcdef0123456789abcdef"}, // longer than 16 bytes
		{"books/f\nnewline.epub", "ffffffffffffffffffffffffffffffff"},
	}
	// books/collides.epub's hash is taken by another path before it comes.
	m.byHash[maphash.String(m.seed, "books/collides.epub")] = makeSentSum("11111111111111111111111111111111").hashedSum
	files = append(files, struct{ path, sum string }{"books/collides.epub", "22222222222222222222222222222222"})
	for _, f := range files {
		m.add(f.path, f.sum)
	}
	if _, ok := m.exact["books/collides.epub"]; !ok {
		t.Fatal("a path whose hash was taken is not kept whole")
	}
	for _, f := range files {
		if !m.unread(f.path) {
			t.Errorf("%q: unread before the check", f.path)
		}
		want, ok := m.read(f.path)
		if !ok || !want.matches(f.sum) {
			t.Errorf("%q: read %v %v, want %s", f.path, want, ok, f.sum)
		}
		if want.matches("33333333333333333333333333333333") {
			t.Errorf("%q: another checksum matches", f.path)
		}
		if m.unread(f.path) {
			t.Errorf("%q: still unread after the check", f.path)
		}
		if _, again := m.read(f.path); again {
			t.Errorf("%q: read twice", f.path)
		}
	}
	if _, ok := m.read("books/never-sent.epub"); ok || m.unread("books/never-sent.epub") {
		t.Error("a file never sent reads as sent")
	}
}
