package drivers

import (
	"bytes"
	"context"
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/alexandria-backup/alexandria-backup/internal/proc"
)

// The tools' progress parsers: each reads one line of its tool's
// machine-readable output (see proc.ProgressReader, which splits the
// output into lines and hands the updates to the context's proc.Trace).

// parseResticStatus reads `restic backup --json` (restic prints a status
// line 60 times a second with --json, terminal or not): status lines are
// progress; the summary and errors stay in the tail.
func parseResticStatus(line []byte) (Progress, bool, []byte) {
	if !bytes.Contains(line, []byte(`"message_type":"status"`)) {
		return Progress{}, false, line
	}
	var s struct {
		PercentDone      float64  `json:"percent_done"`
		TotalBytes       int64    `json:"total_bytes"`
		BytesDone        int64    `json:"bytes_done"`
		FilesDone        int64    `json:"files_done"`
		SecondsElapsed   float64  `json:"seconds_elapsed"`
		SecondsRemaining *float64 `json:"seconds_remaining"`
		CurrentFiles     []string `json:"current_files"`
	}
	if json.Unmarshal(line, &s) != nil {
		return Progress{}, false, line
	}
	p := Progress{Bytes: s.BytesDone, Total: s.TotalBytes, Percent: 100 * s.PercentDone, Files: s.FilesDone, ETA: -1}
	if s.SecondsRemaining != nil {
		p.ETA = time.Duration(*s.SecondsRemaining * float64(time.Second))
	}
	if s.SecondsElapsed > 0 {
		p.Rate = float64(s.BytesDone) / s.SecondsElapsed
	}
	if len(s.CurrentFiles) > 0 {
		p.Item = s.CurrentFiles[0]
	}
	return p, true, nil
}

// rsyncProgress2 matches a line of `rsync --info=progress2`:
// "  110,000,000 100%  330.83MB/s    0:00:00 (xfr#4, to-chk=0/5)". While
// rsync still scans (ir-chk), its percentage is of what it has found so
// far, not of the whole, so it is only believed with to-chk.
var rsyncProgress2 = regexp.MustCompile(`^\s*([\d,]+)\s+(\d+)%\s+([\d.]+)([kMGT]?B)/s\s+(\d+):(\d\d):(\d\d)(?:\s+\(xfr#(\d+), (ir|to)-chk=(\d+)/(\d+)\))?`)

func parseRsyncProgress(line []byte) (Progress, bool, []byte) {
	m := rsyncProgress2.FindSubmatch(line)
	if m == nil {
		return Progress{}, false, line
	}
	p := Progress{Percent: -1, ETA: -1}
	p.Bytes, _ = strconv.ParseInt(strings.ReplaceAll(string(m[1]), ",", ""), 10, 64)
	rate, _ := strconv.ParseFloat(string(m[3]), 64)
	p.Rate = rate * float64(map[string]int64{"B": 1, "kB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40}[string(m[4])])
	if m[8] != nil {
		p.Files, _ = strconv.ParseInt(string(m[8]), 10, 64)
	}
	if string(m[9]) == "to" {
		p.Percent, _ = strconv.ParseFloat(string(m[2]), 64)
		h, _ := strconv.Atoi(string(m[5]))
		mi, _ := strconv.Atoi(string(m[6]))
		s, _ := strconv.Atoi(string(m[7]))
		p.ETA = time.Duration(h)*time.Hour + time.Duration(mi)*time.Minute + time.Duration(s)*time.Second
	}
	return p, true, nil
}

// borgPercentSuffix is the percentage borg ends a progress_percent
// message with ("Checking segments 16.7%"); Progress.Percent carries it.
var borgPercentSuffix = regexp.MustCompile(`\s*[\d.]+%$`)

// parseBorgLogJSON reads borg's stderr under `--log-json --progress`:
// archive_progress (create) and progress_percent (check) lines are
// progress, log messages become their plain text (so errors read as they
// do without --log-json), other progress messages are dropped.
func parseBorgLogJSON(line []byte) (Progress, bool, []byte) {
	var m struct {
		Type         string `json:"type"`
		OriginalSize int64  `json:"original_size"`
		NFiles       int64  `json:"nfiles"`
		Path         string `json:"path"`
		Message      string `json:"message"`
		Finished     bool   `json:"finished"`
		Current      int64  `json:"current"`
		Total        int64  `json:"total"`
	}
	if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &m) != nil {
		return Progress{}, false, line
	}
	switch m.Type {
	case "archive_progress":
		if m.Finished {
			return Progress{}, false, nil // carries no sizes: only "done"
		}
		return Progress{Bytes: m.OriginalSize, Files: m.NFiles, Item: m.Path, Percent: -1, ETA: -1}, true, nil
	case "progress_percent":
		if m.Finished || m.Total <= 0 {
			return Progress{}, false, nil
		}
		return Progress{Percent: 100 * float64(m.Current) / float64(m.Total), ETA: -1,
			Item: borgPercentSuffix.ReplaceAllString(m.Message, "")}, true, nil
	case "log_message", "file_status":
		return Progress{}, false, []byte(m.Message)
	case "progress_message":
		return Progress{}, false, nil
	}
	return Progress{}, false, line
}

// parseRcloneJSONLog reads rclone's stderr under `--use-json-log --stats`:
// lines with stats are progress, other log lines become "LEVEL: message".
func parseRcloneJSONLog(line []byte) (Progress, bool, []byte) {
	var m struct {
		Level  string `json:"level"`
		Msg    string `json:"msg"`
		Object string `json:"object"`
		Stats  *struct {
			Bytes          int64    `json:"bytes"`
			TotalBytes     int64    `json:"totalBytes"`
			Speed          float64  `json:"speed"`
			ETA            *float64 `json:"eta"`
			Transfers      int64    `json:"transfers"`
			TotalTransfers int64    `json:"totalTransfers"`
			Transferring   []struct {
				Name string `json:"name"`
			} `json:"transferring"`
		} `json:"stats"`
	}
	if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &m) != nil {
		return Progress{}, false, line
	}
	if s := m.Stats; s != nil {
		p := Progress{Bytes: s.Bytes, Total: s.TotalBytes, Rate: s.Speed, Files: s.Transfers, Percent: -1, ETA: -1}
		if s.TotalBytes > 0 {
			p.Percent = 100 * float64(s.Bytes) / float64(s.TotalBytes)
		}
		if s.ETA != nil {
			p.ETA = time.Duration(*s.ETA * float64(time.Second))
		}
		if len(s.Transferring) > 0 {
			p.Item = s.Transferring[0].Name
		}
		return p, true, nil
	}
	text := strings.ToUpper(m.Level) + ": "
	if m.Object != "" {
		text += m.Object + ": "
	}
	return Progress{}, false, []byte(text + strings.TrimSpace(m.Msg))
}

// growthInterval is how often watchGrowth looks at a file being written.
var growthInterval = time.Second

// watchGrowth reports, while a tool that prints no progress of its own
// (pg_dump) writes path, how much it has written: the size of the file,
// or of a directory dump's files. It does nothing unless ctx's trace
// wants progress; the returned stop ends it.
func watchGrowth(ctx context.Context, path string) (stop func()) {
	report := proc.TraceOf(ctx).Progress
	if report == nil {
		return func() {}
	}
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(growthInterval)
		defer tick.Stop()
		start := time.Now()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				n := diskSize(path)
				report(Progress{Bytes: n, Percent: -1, ETA: -1, Rate: float64(n) / time.Since(start).Seconds()})
			}
		}
	}()
	return func() { close(done); <-finished }
}
