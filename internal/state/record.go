package state

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/alexandria-backup/alexandria-backup/internal/metrics"
	"github.com/alexandria-backup/alexandria-backup/plan"
)

// Record keeps the outcome of a run or a drill for `status` (state_dir/
// state.json), keeps the last KeepReports reports of its plan, and after a
// run rewrites the metrics file. Call it under the run lock, so the state
// file's read-modify-write never interleaves with another's.
func Record(p *plan.Plan, rep *plan.Report, log *slog.Logger) error {
	dir := p.StateDir
	var errs []error
	s, err := Update(dir, rep)
	if err != nil {
		errs = append(errs, fmt.Errorf("state: %w", err))
	}
	if gone, err := PruneReports(dir, rep, KeepReports); err != nil {
		errs = append(errs, fmt.Errorf("removing old reports: %w", err))
	} else if len(gone) > 0 {
		log.Debug("removed old reports", "count", len(gone))
	}
	if path := p.Notify.MetricsFile; path != "" && rep.Command != "drill" && s != nil {
		if err := metrics.Write(path, metricsOf(p, s)); err != nil {
			errs = append(errs, fmt.Errorf("metrics_file: %w", err))
		}
	}
	return errors.Join(errs...)
}

// RewriteMetrics rewrites the metrics file from the state, after what
// changes it outside a run (a verify: a scheduled check that found damage
// must reach the dashboards as a run's failure does). Nothing without
// metrics_file.
func RewriteMetrics(p *plan.Plan) error {
	if p.Notify.MetricsFile == "" {
		return nil
	}
	s, err := Load(p.StateDir)
	if err != nil {
		return err
	}
	if err := metrics.Write(p.Notify.MetricsFile, metricsOf(p, s)); err != nil {
		return fmt.Errorf("metrics_file: %w", err)
	}
	return nil
}

// metricsOf is one metrics sample set per target of each plan of the plan
// file that has run: plans and targets removed from the file drop out of
// the metrics instead of alerting forever.
func metricsOf(p *plan.Plan, s *State) []metrics.Target {
	var out []metrics.Target
	for name, g := range p.Plans {
		ps := s.Plans[name]
		if ps == nil {
			continue
		}
		for _, target := range g.Targets {
			o := ps.Targets[target]
			if o == nil {
				continue
			}
			m := metrics.Target{Plan: name, Target: target, Driver: o.Driver, LastRun: o.LastRunAt,
				DurationSeconds: o.DurationSeconds, Status: metrics.StatusFailed, Bytes: o.Bytes}
			if m.Driver == "" && p.Targets[target] != nil {
				m.Driver = p.Targets[target].Driver
			}
			if o.LastSuccessAt != nil {
				m.LastSuccess = *o.LastSuccessAt
			}
			if rot := s.Verify[target]; rot != nil {
				m.Verify = rot.coverage()
			}
			m.VerifyFailed = s.VerifyFailed[target] != nil
			switch o.Status {
			case plan.StatusOK:
				m.Status = metrics.StatusOK
			case plan.StatusWarning:
				m.Status = metrics.StatusWarning
			}
			out = append(out, m)
		}
	}
	return out
}
