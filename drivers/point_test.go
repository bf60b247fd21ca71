package drivers_test

import (
	"testing"
	"time"

	"github.com/alexandria-backup/alexandria-backup/drivers"
)

func TestPointIDs(t *testing.T) {
	start := time.Date(2026, 12, 7, 3, 15, 0, 0, time.FixedZone("CET", 3600))
	id := drivers.NewPoint(start)
	if !drivers.ValidPoint(id) || id[:17] != "20261207T021500Z-" {
		t.Fatalf("NewPoint = %q", id)
	}
	if other := drivers.NewPoint(start); other == id && drivers.NewPoint(start) == id {
		t.Errorf("three runs in the same second share the id %q", id)
	}
	for _, c := range []struct {
		labels []string
		want   string
	}{
		{[]string{"alexandria-backup", drivers.PointLabel(id)}, id},
		{[]string{"made by hand; " + drivers.PointLabel(id)}, id},
		{[]string{"alexandria-point=20261207T021500Z"}, ""},       // cut short
		{[]string{"alexandria-point=20261207T021500Z-4f1cc"}, ""}, // too long
		{[]string{"alexandria-point=../../etc-4f1c"}, ""},
		{[]string{"x-alexandria-point=" + id}, ""},
		{nil, ""},
	} {
		if got := drivers.PointFromLabels(c.labels...); got != c.want {
			t.Errorf("PointFromLabels(%q) = %q, want %q", c.labels, got, c.want)
		}
	}
}
