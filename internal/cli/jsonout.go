package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"time"
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
