package rclone

import (
	"fmt"
	"testing"
)

// The set of the paths a run sent holds each of them, names no other, and
// counts each once.
func TestPathSet(t *testing.T) {
	var sent []string
	for i := 0; i < 1000; i++ {
		sent = append(sent, fmt.Sprintf("books/author%02d/book%04d.epub", i%40, i))
	}
	s := newPathSet(append(sent, sent[0], "odd ␊ name", ""))
	for _, p := range append(sent, "odd ␊ name", "") {
		if !s.has(p) {
			t.Errorf("%q sent, not in the set", p)
		}
	}
	for _, p := range []string{"books/author00/book0000.epub.tmp", "books/author00/", "Books/author00/book0000.epub", " books/author00/book0000.epub"} {
		if s.has(p) {
			t.Errorf("%q not sent, in the set", p)
		}
	}
	if s.len() != 1002 {
		t.Errorf("len %d, want 1002", s.len())
	}
}
