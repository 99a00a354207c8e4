package cli

func init() {
	register(&command{path: "hold", summary: "hold pending jobs (scontrol hold)", run: func(e *Env, a []string) error { return runHold(e, a, true) }})
	register(&command{path: "release", summary: "release held jobs (scontrol release)", run: func(e *Env, a []string) error { return runHold(e, a, false) }})
}

func runHold(e *Env, args []string, hold bool) error {
	name := "release"
	if hold {
		name = "hold"
	}
	fs := newFlags(e, name)
	var r remote
	r.register(fs, false)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	refs, err := parseJobRefs(pos)
	if err != nil {
		return err
	}
	c := r.client(e)
	ctx, cancel := ctxTimeout()
	defer cancel()
	for _, ref := range refs {
		if err := c.HoldRef(ctx, ref, hold); err != nil {
			return explain(err, c.Base)
		}
	}
	return nil
}
