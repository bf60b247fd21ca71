package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/alexandria-backup/alexandria-backup/plan"
)

// printJSON prints v indented, as every --json does.
func printJSON(w io.Writer, v any) error {
	out, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", out)
	return err
}

// seconds is a duration as machine-readable output gives every one: a
// number of seconds, to the millisecond.
func seconds(d time.Duration) float64 { return math.Round(d.Seconds()*1000) / 1000 }

// targetJSON is one target in the --json of verify, prune and init: the
// same first fields in each, then the command's own.
type targetJSON struct {
	Target string `json:"target"`
	// Status is the command's word for what happened, or "failed".
	Status          string  `json:"status"`
	Error           string  `json:"error,omitempty"`
	DurationSeconds float64 `json:"duration_seconds"`
}

// commandJSON is the --json document of verify, prune and init.
type commandJSON[T any] struct {
	Command         string  `json:"command"`
	Targets         []T     `json:"targets"`
	Failed          int     `json:"failed"`
	DurationSeconds float64 `json:"duration_seconds"`
}

func newTargetJSON(o plan.Outcome, status string) targetJSON {
	j := targetJSON{Target: o.Target, Status: status, DurationSeconds: seconds(o.Took)}
	if o.Err != nil {
		j.Status, j.Error = "failed", o.Err.Error()
	}
	return j
}

// printOutcomes prints a command's outcomes as JSON, one each through
// each, and returns the exit error the text output would.
func printOutcomes[T any](w io.Writer, command string, list []plan.Outcome, took time.Duration, each func(plan.Outcome) T) error {
	doc := commandJSON[T]{Command: command, Targets: []T{}, DurationSeconds: seconds(took)}
	for _, o := range list {
		doc.Targets = append(doc.Targets, each(o))
		if o.Err != nil {
			doc.Failed++
		}
	}
	if err := printJSON(w, doc); err != nil {
		return err
	}
	if doc.Failed > 0 {
		return &exitError{code: exitFailed, err: fmt.Errorf("%d of %d targets failed", doc.Failed, len(list))}
	}
	return nil
}

func jsonFlag() cli.Flag {
	return &cli.BoolFlag{Name: "json", Usage: "print the outcome as JSON on stdout (durations in seconds)"}
}

// durationSeconds gives JSON logs' durations in seconds, as reports and
// every --json do (slog writes a time.Duration in nanoseconds): the key
// says the unit ("took" becomes "took_seconds").
func durationSeconds(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() != slog.KindDuration {
		return a
	}
	key := a.Key
	if !strings.HasSuffix(key, "_seconds") {
		key += "_seconds"
	}
	return slog.Float64(key, seconds(a.Value.Duration()))
}
