package cli

import (
	"fmt"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/job"
	"github.com/gefion-hpc/gefion/internal/textsafe"
)

func init() {
	register(&command{path: "audit", summary: "the audit trail: who changed what, and what was refused (operators)", run: runAudit})
}

func runAudit(e *Env, args []string) error {
	fs := newFlags(e, "audit")
	var r remote
	r.register(fs, true)
	since := fs.String("since", "", "records since (YYYY-MM-DD[THH:MM[:SS]], now-1hour style; default: the last 24 hours)")
	user := fs.String("user", "", "only this user's requests")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("gefion audit takes no arguments: gefion audit [--since TIME] [--user NAME] [--json]")
	}
	now := time.Now()
	from := now.Add(-24 * time.Hour)
	if *since != "" {
		if from, err = job.ParseBegin(*since, now); err != nil {
			return usagef("--since: %v", err)
		}
	}
	c := r.client(e)
	ctx, cancel := ctxTimeout()
	defer cancel()
	recs, err := c.Audit(ctx, from.Unix(), *user)
	if err != nil {
		return explain(err, c.Base)
	}
	if recs == nil {
		recs = []api.AuditRecord{}
	}
	if r.asJSON {
		return writeJSON(e.Stdout, map[string]any{"records": recs})
	}
	tw := tabwriter.NewWriter(e.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tUSER\tVIA\tACTION\tTARGET\tOUTCOME\tDETAIL")
	for _, a := range recs {
		out := a.Outcome
		if a.Outcome != "ok" {
			out += " (" + strconv.Itoa(a.Status) + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", time.Unix(a.TimeS, 0).Format("2006-01-02T15:04:05"),
			textsafe.Field(a.User), textsafe.Field(a.Via), textsafe.Field(a.Action), textsafe.Field(a.Target), out, textsafe.Field(a.Detail))
	}
	return tw.Flush()
}
