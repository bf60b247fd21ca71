package restic

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
)

// restic's rule for --read-data-subset=n/t (cmd_check.go,
// selectPacksByBucket, 0.14 to today): a pack whose ID starts with byte b
// is in group n of t when b mod t == n-1.
func resticSelects(b, n, t int) bool { return n > 0 && b%t == n-1 }

// Over a cycle, every pack is read exactly once, whatever the cycle:
// restic's groups one to one up to 256 slices, spread over the slices of a
// longer cycle. Every first byte a pack ID can have stands for its packs.
func TestResticGroupCoversEveryPackOncePerCycle(t *testing.T) {
	for _, cycle := range []int{1, 2, 3, 4, 7, 30, 100, 255, 256, 257, 300, 365, 512, 999, 1000} {
		reads := make([]int, 256)
		nights := 0
		for slice := 1; slice <= cycle; slice++ {
			n, of := resticGroup(drivers.Scope{Slice: slice, Cycle: cycle})
			if of > resticGroupsMax || n > of || (cycle <= resticGroupsMax && (n != slice || of != cycle)) {
				t.Fatalf("cycle %d slice %d: group %d/%d", cycle, slice, n, of)
			}
			if n > 0 {
				nights++
			}
			for b := range reads {
				if resticSelects(b, n, of) {
					reads[b]++
				}
			}
		}
		for b, r := range reads {
			if r != 1 {
				t.Fatalf("cycle %d: packs starting with byte %#x are read %d times a cycle", cycle, b, r)
			}
		}
		if want := min(cycle, resticGroupsMax); nights != want {
			t.Errorf("cycle %d: %d slices read data, want %d", cycle, nights, want)
		}
	}
	for _, s := range []drivers.Scope{{Cycle: 30}, {Slice: 31, Cycle: 30}, {Slice: -1, Cycle: 30}} {
		if n, _ := resticGroup(s); n != 0 {
			t.Errorf("%+v reads group %d", s, n)
		}
	}
}

func TestCheckFlag(t *testing.T) {
	for _, c := range []struct {
		scope drivers.Scope
		want  string
	}{
		{drivers.FullScope, "--read-data"},
		{drivers.Scope{Slice: 1, Cycle: 1}, "--read-data"},
		{drivers.Scope{Slice: 4, Cycle: 30}, "--read-data-subset=4/30"},
		{drivers.Scope{Slice: 256, Cycle: 256}, "--read-data-subset=256/256"},
		{drivers.Scope{Slice: 1, Cycle: 365}, "--read-data-subset=1/256"},
		{drivers.Scope{Slice: 3, Cycle: 365}, "--read-data-subset=3/256"},
		{drivers.Scope{Slice: 4, Cycle: 365}, ""}, // ⌈256·4/365⌉ = 3: slice 3 reads group 3
		{drivers.Scope{Slice: 364, Cycle: 365}, "--read-data-subset=256/256"},
		{drivers.Scope{Slice: 365, Cycle: 365}, ""},
		{drivers.Scope{Cycle: 30}, ""},
	} {
		if got := checkFlag(c.scope); got != c.want {
			t.Errorf("%v: %q, want %q", c.scope, got, c.want)
		}
	}
}

func TestCheckOutputDetail(t *testing.T) {
	const v014 = "using temporary cache in /tmp/x\ncreate exclusive lock for repository\nload indexes\ncheck all packs\ncheck snapshots, trees and blobs\n[0:00] 100.00%  7 / 7 snapshots\n\n"
	for _, c := range []struct{ flag, stdout, want string }{
		{"--read-data-subset=1/4", v014 + "read group #1 of 6 data packs (out of total 14 packs in 4 groups)\n[0:00] 100.00%  6 / 6 packs\n\nno errors were found\n", "group 1 of 4 (6 of the 14 packs)"},
		// restic 0.18 names the kind of packs, and may leave out the ")".
		{"--read-data-subset=2/30", "read group #2 of 3 data packs (out of total 90 packs in 30 groups\n", "group 2 of 30 (3 of the 90 packs)"},
		{"--read-data-subset=2/30", "no errors were found\n", "packs 2/30"},
	} {
		if got := subsetDetail(c.flag, []byte(c.stdout)); got != c.want {
			t.Errorf("%s: %q, want %q", c.flag, got, c.want)
		}
	}
	if got := readAllDetail([]byte(v014 + "read all data\n[0:00] 100.00%  14 / 14 packs\n\nno errors were found\n")); got != "all 14 packs" {
		t.Errorf("read all: %q", got)
	}
}

func TestWrittenPacksRefusesWhatIsNotAPack(t *testing.T) {
	id := strings.Repeat("ab", 32)
	if _, err := writtenPacks([]string{"data/ab/" + id, "data/" + id}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"books/a.epub", "data/ab/" + id[:63], "index/" + id, "data/../../" + id, "/data/ab/" + id, "data/ab/" + strings.ToUpper(id)} {
		if _, err := writtenPacks([]string{p}); err == nil {
			t.Errorf("%q taken for a pack", p)
		}
	}
}

// packServer plays a remote repository for the argv and the hashing of a
// remote verify: `list packs` lists the packs, `cat pack ID` prints the
// pack's bytes (a damaged pack's are not what its name says), `check`
// passes.
type packServer struct {
	packs   map[string][]byte // ID → bytes
	argv    []string
	catSeen []bool // whether each cat pack had somewhere to stream to
}

func (p *packServer) Run(_ context.Context, c proc.Command) (proc.Result, error) {
	p.argv = append(p.argv, strings.Join(c.Args, " "))
	res := proc.Result{Command: c.String()}
	switch {
	case c.Args[0] == "list":
		for id := range p.packs {
			res.Stdout = append(res.Stdout, id+"\n"...)
		}
	case c.Args[0] == "cat":
		p.catSeen = append(p.catSeen, c.Stdout != nil)
		c.Stdout.Write(p.packs[c.Args[2]])
	}
	return res, nil
}

func newPackServer(n int) (*packServer, []string) {
	s := &packServer{packs: map[string][]byte{}}
	var paths []string
	for i := 0; i < n; i++ {
		b := []byte(fmt.Sprintf("pack %d", i))
		sum := sha256.Sum256(b)
		id := hex.EncodeToString(sum[:])
		s.packs[id] = b
		paths = append(paths, "data/"+id[:2]+"/"+id)
	}
	return s, paths
}

// A remote repository: each pack the backup added is read through its own
// `restic cat pack` (cache off), streamed into the hash, not into argv or
// memory; a damaged one fails the verify by name while the rest is still
// checked; the check reads the scope's group.
func TestVerifyScopedRemoteArgv(t *testing.T) {
	tg := &drivers.Target{Name: "library", Settings: drivers.Values{"repository": "sftp:backup@nas:/restic", "password_file": "/p"}}
	srv, paths := newPackServer(10)
	a := drivers.Artifact{ID: "abcd1234", Written: paths[7:]}
	cov, err := Driver{}.VerifyScoped(context.Background(), srv, tg, a, drivers.Scope{Slice: 4, Cycle: 30})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"list packs --no-lock"}
	for _, p := range paths[7:] {
		want = append(want, "cat pack "+p[8:]+" --no-lock --no-cache")
	}
	want = append(want, "check --read-data-subset=4/30")
	if strings.Join(srv.argv, "\n") != strings.Join(want, "\n") {
		t.Fatalf("ran\n%s\nwant\n%s", strings.Join(srv.argv, "\n"), strings.Join(want, "\n"))
	}
	for i, streamed := range srv.catSeen {
		if !streamed {
			t.Errorf("cat pack %d printed into the output tail, not the hash", i)
		}
	}
	if cov.Full || cov.Slice != 4 || cov.Cycle != 30 || !strings.Contains(cov.Detail, "the 3 packs (18 B) this backup added") || !strings.HasSuffix(cov.Detail, "each hashed against its name, and with restic check the structure and packs 4/30") {
		t.Errorf("coverage %+v", cov)
	}

	damaged := paths[8][8:]
	srv.packs[damaged] = []byte("pack 8, changed")
	srv.argv = nil
	_, err = Driver{}.VerifyScoped(context.Background(), srv, tg, a, drivers.Scope{Slice: 4, Cycle: 30})
	if err == nil || !strings.Contains(err.Error(), "pack "+damaged+" this backup added is damaged") || strings.Count(err.Error(), "damaged") != 1 {
		t.Fatalf("a damaged pack: %v", err)
	}
	if last := srv.argv[len(srv.argv)-1]; last != "check --read-data-subset=4/30" {
		t.Errorf("the rest went unchecked after a damaged pack: %q", srv.argv)
	}
}

// When the backup added half the repository or more (the first backup of
// a library), one `restic check --read-data` reads everything, new packs
// included, and the coverage says everything was read.
func TestVerifyScopedReadsAllWhenMostIsNew(t *testing.T) {
	tg := &drivers.Target{Name: "library", Settings: drivers.Values{"repository": "sftp:backup@nas:/restic", "password_file": "/p"}}
	srv, paths := newPackServer(10)
	cov, err := Driver{}.VerifyScoped(context.Background(), srv, tg, drivers.Artifact{ID: "abcd1234", Written: paths[5:]}, drivers.Scope{Slice: 4, Cycle: 30})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(srv.argv, "; ") != "list packs --no-lock; check --read-data" || !cov.Full || !strings.Contains(cov.Detail, "this backup added 5 of the 10") {
		t.Fatalf("ran %q, coverage %+v", srv.argv, cov)
	}
	// Verify and the full scope: one check of everything, nothing else.
	srv.argv = nil
	if err := (Driver{}).Verify(context.Background(), srv, tg, drivers.Artifact{ID: "abcd1234", Written: paths[9:]}); err != nil || strings.Join(srv.argv, "; ") != "check --read-data" {
		t.Fatalf("verify ran %q: %v", srv.argv, err)
	}
}

// check_read_data_subset no longer decides anything: old plans load, the
// dry run says the key is unused, and the check reads the rotation's group.
func TestCheckReadDataSubsetIsNoLongerUsed(t *testing.T) {
	tg := &drivers.Target{Name: "library", VerifyCycle: 12, Settings: drivers.Values{"repository": "sftp:backup@nas:/restic", "password_file": "/p",
		"paths": []string{"/srv/library"}, "check_read_data_subset": "100%"}}
	if err := (Driver{}).Validate(tg); err != nil {
		t.Fatal(err)
	}
	var shown []string
	for _, s := range (Driver{}).Steps(tg) {
		if s.Phase == drivers.PhaseVerify {
			shown = append(shown, s.String())
		}
	}
	all := strings.Join(shown, "\n")
	if !strings.Contains(all, "check_read_data_subset is no longer used") || !strings.Contains(all, "restic check --read-data-subset=N/12") || strings.Contains(all, "100%") {
		t.Fatalf("dry run:\n%s", all)
	}
	srv, _ := newPackServer(0)
	if _, err := (Driver{}).VerifyScoped(context.Background(), srv, tg, drivers.Artifact{}, drivers.Scope{Slice: 5, Cycle: 12}); err != nil || strings.Join(srv.argv, "; ") != "check --read-data-subset=5/12" {
		t.Fatalf("ran %q: %v", srv.argv, err)
	}
}
