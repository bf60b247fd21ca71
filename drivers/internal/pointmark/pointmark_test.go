package pointmark

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alexandria-backup/alexandria-backup/drivers"
)

// A marker is written as JSON under its name and read back whole; every
// file that is not one (another tool's, damaged, a point of the wrong
// shape) is refused, so it never puts a mirror into a point.
func TestMarkerRoundTripAndHostileShapes(t *testing.T) {
	tg := &drivers.Target{Name: "mirror", Point: drivers.NewPoint(time.Now()), Settings: drivers.Values{"source": "/srv/library/"}}
	path, cleanup, err := WriteTemp(t.TempDir(), New(tg, "rsync"))
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	if filepath.Base(path) != drivers.MirrorPointMarker {
		t.Fatalf("written as %s", path)
	}
	m, err := Decode(data, "here")
	if err != nil || m.Point != tg.Point || m.Target != "mirror" || m.Tool != "rsync" || m.Source != "/srv/library/" || time.Since(m.Verified) > time.Minute {
		t.Fatalf("read back %+v %v from %s", m, err, data)
	}
	cleanup()
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatal("cleanup left the marker file")
	}
	for _, bad := range []string{"", "{}", "not json", `{"point": 20261207}`, `{"point": "20261207T031500Z"}`,
		`{"point": "20261207T031500Z-4f1c extra"}`, `{"point": "../../etc"}`, `{"point": "20261207T031500Z-4F1C"}`, "\x00\x01", `["20261207T031500Z-4f1c"]`} {
		if m, err := Decode([]byte(bad), "DEST/.alexandria-backup-point"); err == nil || !strings.Contains(err.Error(), "DEST/.alexandria-backup-point") {
			t.Errorf("%q: %+v %v, want a refusal naming the file", bad, m, err)
		}
	}
}

// Check refuses every point the marker does not name, saying which it
// holds (or that it holds none); no point asked: the mirror as it is.
func TestCheck(t *testing.T) {
	held := Mark{Point: "20261207T031500Z-4f1c", Verified: time.Now()}
	if err := Check("", nil, "d"); err != nil {
		t.Fatal(err)
	}
	if err := Check(held.Point, &held, "d"); err != nil {
		t.Fatal(err)
	}
	if err := Check("20261206T031500Z-0000", &held, "d"); err == nil || !strings.Contains(err.Error(), "holds recovery point "+held.Point) {
		t.Fatalf("another point: %v", err)
	}
	if err := Check(held.Point, nil, "d"); err == nil || !strings.Contains(err.Error(), "holds no recovery point") {
		t.Fatalf("no marker: %v", err)
	}
	b, _ := json.Marshal(held)
	if !strings.Contains(string(b), `"verified_at"`) {
		t.Fatalf("field names changed: %s", b)
	}
}
