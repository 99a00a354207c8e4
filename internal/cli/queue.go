package cli

import (
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/job"
	"github.com/gefion-hpc/gefion/internal/textsafe"
)

func init() {
	register(&command{path: "queue", summary: "list jobs (squeue)", run: runQueue})
}

func runQueue(e *Env, args []string) error {
	fs := newFlags(e, "queue")
	var r remote
	r.register(fs, true)
	start := fs.Bool("start", false, "show estimated start times of pending jobs")
	me := fs.Bool("me", false, "only your jobs")
	all := fs.Bool("all", false, "everyone's jobs (operators)")
	users := fs.String("u", "", "only these users (comma-separated)")
	fs.StringVar(users, "user", "", "same as -u")
	states := fs.String("t", "", "only these states (comma-separated, e.g. PD,R or pending,running)")
	fs.StringVar(states, "states", "", "same as -t")
	ids := fs.String("j", "", "only these job IDs (comma-separated)")
	fs.StringVar(ids, "jobs", "", "same as -j")
	noHeader := fs.Bool("h", false, "no header (Slurm's --noheader)")
	fs.BoolVar(noHeader, "noheader", false, "same as -h")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	c := r.client(e)
	ctx, cancel := ctxTimeout()
	defer cancel()
	jobs, err := c.Jobs(ctx, *all || *users != "")
	if err != nil {
		return explain(err, c.Base)
	}
	keep := func(j api.Job) bool {
		if j.State.Final() {
			return false // squeue shows active jobs; sacct shows the rest
		}
		if *me && j.User != c.User {
			return false
		}
		if *users != "" && !slices.Contains(strings.Split(*users, ","), j.User) {
			return false
		}
		if *states != "" && !stateMatches(j.State, *states) {
			return false
		}
		if *ids != "" && !slices.Contains(strings.Split(*ids, ","), fmt.Sprint(j.ID)) {
			return false
		}
		return true
	}
	var out []api.Job
	for _, j := range jobs {
		if keep(j) {
			out = append(out, j)
		}
	}
	if r.asJSON {
		if out == nil {
			out = []api.Job{}
		}
		return writeJSON(e.Stdout, map[string]any{"jobs": out})
	}
	tw := tabwriter.NewWriter(e.Stdout, 0, 0, 2, ' ', 0)
	if *start {
		if !*noHeader {
			fmt.Fprintln(tw, "JOBID\tPARTITION\tNAME\tUSER\tST\tSTART_TIME\tNODES\tGPUS\tNODELIST(REASON)")
		}
		for _, j := range out {
			if j.State != job.Pending {
				continue
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t(%s)\n", jobID(j), textsafe.Field(j.Partition), textsafe.Field(trunc(j.Name, 12)),
				textsafe.Field(j.User), j.State.Short(), startText(j.EstimatedStart), j.Nodes, j.GPUs, textsafe.Field(j.Reason))
		}
		return tw.Flush()
	}
	if !*noHeader {
		fmt.Fprintln(tw, "JOBID\tPARTITION\tNAME\tUSER\tST\tTIME\tNODES\tGPUS\tNODELIST(REASON)")
	}
	now := time.Now().Unix()
	for _, j := range out {
		where := j.NodeList
		if j.State == job.Pending {
			where = "(" + j.Reason + ")"
		}
		elapsed := int64(0)
		if j.StartTime > 0 {
			elapsed = max(now-j.StartTime, 0)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\n", jobID(j), textsafe.Field(j.Partition), textsafe.Field(trunc(j.Name, 12)),
			textsafe.Field(j.User), j.State.Short(), elapsedText(elapsed), j.Nodes, j.GPUs, textsafe.Field(where))
	}
	return tw.Flush()
}

func jobID(j api.Job) string {
	if j.ArrayJobID != 0 {
		return fmt.Sprintf("%d_%d", j.ArrayJobID, j.ArrayTaskID)
	}
	return fmt.Sprint(j.ID)
}

// trunc cuts s to at most n bytes at a character boundary, so that a cut
// never leaves half a UTF-8 sequence for the terminal to misread.
func trunc(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// elapsedText prints seconds as squeue does: M:SS, H:MM:SS or D-HH:MM:SS.
func elapsedText(s int64) string {
	d, h, m, sec := s/86400, s%86400/3600, s%3600/60, s%60
	switch {
	case d > 0:
		return fmt.Sprintf("%d-%02d:%02d:%02d", d, h, m, sec)
	case h > 0:
		return fmt.Sprintf("%d:%02d:%02d", h, m, sec)
	}
	return fmt.Sprintf("%d:%02d", m, sec)
}

func startText(t int64) string {
	if t == 0 {
		return "N/A"
	}
	return time.Unix(t, 0).Format("2006-01-02T15:04:05")
}

// stateMatches accepts Slurm's state names and short codes.
func stateMatches(s job.State, list string) bool {
	for _, w := range strings.Split(list, ",") {
		w = strings.ToUpper(strings.TrimSpace(w))
		if w == string(s) || w == s.Short() || (w == "ALL") {
			return true
		}
	}
	return false
}
