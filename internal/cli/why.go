package cli

import (
	"fmt"
	"time"

	"github.com/gefion-hpc/gefion/internal/textsafe"
)

func init() {
	register(&command{path: "why", summary: "why a job waits and when it should start", run: runWhy})
}

func runWhy(e *Env, args []string) error {
	fs := newFlags(e, "why")
	var r remote
	r.register(fs, true)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	refs, err := parseJobRefs(pos)
	if err != nil {
		return err
	}
	if len(refs) != 1 || len(refs[0].Tasks) > 1 {
		return usagef("give one job ID (12) or one array task (12_3)")
	}
	c := r.client(e)
	ctx, cancel := ctxTimeout()
	defer cancel()
	w, err := c.WhyRef(ctx, refs[0])
	if err != nil {
		return explain(err, c.Base)
	}
	if r.asJSON {
		return writeJSON(e.Stdout, w)
	}
	fmt.Fprintf(e.Stdout, "Job %d is %s: %s\n", w.ID, w.State, textsafe.Field(w.Sentence))
	if w.Reason != "" && w.Reason != "None" {
		fmt.Fprintf(e.Stdout, "  reason          %s\n", textsafe.Field(w.Reason))
	}
	if w.EstimatedStart != 0 {
		at := time.Unix(w.EstimatedStart, 0)
		fmt.Fprintf(e.Stdout, "  estimated start %s (in %s)\n", at.Format("2006-01-02 15:04:05 MST"), time.Until(at).Round(time.Second))
	}
	if w.Forecast != 0 {
		at := time.Unix(w.Forecast, 0)
		span := ""
		if w.ForecastLow != 0 && w.ForecastHigh != 0 {
			lo, hi := time.Unix(w.ForecastLow, 0), time.Unix(w.ForecastHigh, 0)
			layout := "15:04"
			switch {
			case lo.YearDay() != hi.YearDay() || lo.Year() != hi.Year():
				layout = "Jan 2 15:04"
			case lo.Format(layout) == hi.Format(layout):
				layout = "15:04:05" // a range within one minute
			}
			span = fmt.Sprintf(", likely %s to %s", lo.Format(layout), hi.Format(layout))
		}
		fmt.Fprintf(e.Stdout, "  forecast start  %s (the digital twin, with every job ahead of it and run times predicted from its users' recent jobs%s)\n", at.Format("2006-01-02 15:04:05 MST"), span)
	}
	if w.Position > 0 {
		fmt.Fprintf(e.Stdout, "  queue position  %d of %d (priority %.0f)\n", w.Position, w.Pending, w.Priority)
	}
	for _, warn := range w.Warnings {
		fmt.Fprintf(e.Stdout, "  warning         %s\n", textsafe.Field(warn))
	}
	return nil
}
