package drivers

import (
	"strconv"
	"testing"
)

// A cycle of slices covers every item exactly once, in slices of about
// equal size, and an item keeps its slice from run to run.
func TestInSliceCoversEveryItemOnce(t *testing.T) {
	const items, cycle = 100000, 30
	count := make([]int, cycle+1)
	for i := 0; i < items; i++ {
		key := "books/author-" + strconv.Itoa(i%977) + "/book-" + strconv.Itoa(i) + ".epub"
		in := 0
		for s := 1; s <= cycle; s++ {
			if (Scope{Slice: s, Cycle: cycle}).InSlice(key) {
				in++
				count[s]++
			}
		}
		if in != 1 {
			t.Fatalf("%s is in %d slices, want exactly 1", key, in)
		}
		if !FullScope.InSlice(key) || (Scope{Slice: 1, Cycle: 1}).InSlice(key) != true || (Scope{Cycle: cycle}).InSlice(key) {
			t.Fatalf("%s: a full scope or a cycle of 1 holds every item, slice 0 none", key)
		}
	}
	for s := 1; s <= cycle; s++ {
		if want := items / cycle; count[s] < want*9/10 || count[s] > want*11/10 {
			t.Errorf("slice %d holds %d items, want about %d", s, count[s], want)
		}
	}
}
