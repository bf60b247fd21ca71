package pgdump

import (
	"strings"
	"testing"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
)

// Each form of `database` gives drill_check the scratch database: by name,
// as a DSN of the same form with the plan's options, and the server and
// role as PG* variables that win over the target's `env`.
func TestDrillCheckCommandEnv(t *testing.T) {
	const name = PgDrillPrefix + "0123456789abcdef"
	for _, tc := range []struct {
		database string
		env      map[string]string
		dsn      string
	}{
		{"postgres://u@h:5433/app?sslmode=require", nil, "postgres://u@h:5433/" + name + "?sslmode=require"},
		{"postgresql://u@h:5433/app?dbname=other&sslmode=require", nil, "postgresql://u@h:5433/" + name + "?sslmode=require"},
		{"host=h port=5433 user=u dbname=app sslmode=require", nil, "host=h port=5433 user=u dbname=app sslmode=require dbname='" + name + "'"},
		{"app", map[string]string{"PGHOST": "h", "PGPORT": "5433", "PGUSER": "u", "PGDATABASE": "app"}, "dbname='" + name + "'"},
	} {
		t.Run(tc.database, func(t *testing.T) {
			tg := &drivers.Target{Name: "db", Env: tc.env, Settings: drivers.Values{"database": tc.database,
				drillCheckKey: []string{"check", "--all"}}}
			scratchDB, err := pgDatabaseOn(tc.database, name)
			if err != nil {
				t.Fatal(err)
			}
			pgpass := proc.EnvVar{Name: "PGPASSFILE", Value: "/private/pgpass"}
			c, err := drillCheckCommand(tg, name, scratchDB, append([]proc.EnvVar{pgpass}, tg.EnvVars()...))
			if err != nil {
				t.Fatal(err)
			}
			if c.Program != "check" || strings.Join(c.Args, " ") != "--all" {
				t.Fatalf("argv %q %q", c.Program, c.Args)
			}
			// As the child sees it: the last of a name wins.
			got := map[string]string{}
			for _, e := range c.Env {
				got[e.Name] = e.Value
			}
			want := map[string]string{"PGHOST": "h", "PGPORT": "5433", "PGUSER": "u", "PGDATABASE": name,
				"ALEXANDRIA_DB_NAME": name, "ALEXANDRIA_BACKUP_DRILL_DSN": tc.dsn, "PGPASSFILE": "/private/pgpass"}
			for k, v := range want {
				if got[k] != v {
					t.Errorf("%s = %q, want %q", k, got[k], v)
				}
			}
		})
	}
}

// A drill_check that names no program is refused at the drill too, for a
// Target made without plan.Load.
func TestDrillCheckCommandRefusesNoProgram(t *testing.T) {
	for _, argv := range [][]string{{}, {""}, {" "}} {
		tg := &drivers.Target{Name: "db", Settings: drivers.Values{"database": "app", drillCheckKey: argv}}
		_, err := drillCheckCommand(tg, PgDrillPrefix+"0123456789abcdef", "app", nil)
		if err == nil || !strings.Contains(err.Error(), "drill_check") {
			t.Errorf("%q: %v", argv, err)
		}
	}
}
