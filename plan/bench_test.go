package plan

import (
	"fmt"
	"strings"
	"testing"
)

// BenchmarkParse: validating a large plan (200 targets) stays well under a
// millisecond per target.
func BenchmarkParse(b *testing.B) {
	var src strings.Builder
	src.WriteString("parallel = 4\n")
	var names []string
	for i := 0; i < 200; i++ {
		name := fmt.Sprintf("db%03d", i)
		names = append(names, `"`+name+`"`)
		fmt.Fprintf(&src, "[targets.%s]\ndriver = \"pg_dump\"\ndatabase = \"${DB:-alexandria}\"\ndir = \"/var/backups/%s\"\nkeep_last = 7\n", name, name)
	}
	fmt.Fprintf(&src, "[plans.all]\ntargets = [%s]\n", strings.Join(names, ", "))
	data := []byte(src.String())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse("bench.toml", data, env(nil)); err != nil {
			b.Fatal(err)
		}
	}
}
