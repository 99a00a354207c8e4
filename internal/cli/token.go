package cli

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/gefion-hpc/gefion/internal/api"
)

func init() {
	register(&command{path: "token", summary: "issue a bearer token for you, for scripts and the REST API (scontrol token)", run: runToken})
	register(&command{path: "token list", summary: "list your bearer tokens (an operator's: everyone's)", run: runTokenList})
	register(&command{path: "token revoke", summary: "revoke a bearer token by ID", run: runTokenRevoke})
	register(&command{path: "nodes forget-key", summary: "forget a node's enrolled key, for a reinstalled node (operators)", run: runForgetNodeKey})
}

func runToken(e *Env, args []string) error {
	fs := newFlags(e, "token")
	var r remote
	r.register(fs, true)
	life := fs.Duration("lifespan", 0, "how long the token is valid (default 24h)")
	if pos, err := parseFlags(fs, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return usagef("gefion token takes no arguments (did you mean 'gefion token list' or 'gefion token revoke ID'?)")
	}
	if *life < 0 || (*life > 0 && *life < time.Second) {
		return usagef("--lifespan=%s: give a positive duration of at least 1s, e.g. 8h", *life)
	}
	c := r.client(e)
	ctx, cancel := ctxTimeout()
	defer cancel()
	t, err := c.IssueToken(ctx, api.TokenRequest{LifespanS: int64(life.Seconds())})
	if err != nil {
		return explain(err, c.Base)
	}
	if r.asJSON {
		return json.NewEncoder(e.Stdout).Encode(t)
	}
	// scontrol token prints SLURM_JWT=...; the same shape can be eval'd.
	fmt.Fprintf(e.Stdout, "GEFION_AUTH_TOKEN=%s\n", t.Token)
	fmt.Fprintf(e.Stderr, "token %s for %s, valid until %s; revoke it with 'gefion token revoke %s'\n", t.ID, t.User, time.Unix(t.ExpiresS, 0).UTC().Format(time.RFC3339), t.ID)
	return nil
}

func runTokenList(e *Env, args []string) error {
	fs := newFlags(e, "token list")
	var r remote
	r.register(fs, true)
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	c := r.client(e)
	ctx, cancel := ctxTimeout()
	defer cancel()
	list, err := c.Tokens(ctx)
	if err != nil {
		return explain(err, c.Base)
	}
	if r.asJSON {
		return json.NewEncoder(e.Stdout).Encode(list)
	}
	tw := tabwriter.NewWriter(e.Stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tUSER\tCREATED\tEXPIRES\tREVOKED")
	ts := func(s int64) string {
		if s == 0 {
			return "-"
		}
		return time.Unix(s, 0).UTC().Format(time.RFC3339)
	}
	for _, t := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", t.ID, safeMessage(t.User), ts(t.CreatedS), ts(t.ExpiresS), ts(t.RevokedS))
	}
	return tw.Flush()
}

func runTokenRevoke(e *Env, args []string) error {
	fs := newFlags(e, "token revoke")
	var r remote
	r.register(fs, false)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usagef("give the IDs of the tokens to revoke ('gefion token list' shows them)")
	}
	c := r.client(e)
	ctx, cancel := ctxTimeout()
	defer cancel()
	for _, id := range pos {
		if err := c.RevokeToken(ctx, id); err != nil {
			return explain(err, c.Base)
		}
		fmt.Fprintf(e.Stdout, "revoked token %s\n", id)
	}
	return nil
}

func runForgetNodeKey(e *Env, args []string) error {
	fs := newFlags(e, "nodes forget-key")
	var r remote
	r.register(fs, false)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usagef("give the names of the nodes whose keys to forget")
	}
	c := r.client(e)
	ctx, cancel := ctxTimeout()
	defer cancel()
	for _, n := range pos {
		if err := c.ForgetNodeKey(ctx, n); err != nil {
			return explain(err, c.Base)
		}
		fmt.Fprintf(e.Stdout, "forgot the key of node %s: its agent enrols anew when it next registers\n", n)
	}
	return nil
}
