package web

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/job"
)

// submitData is the Submit page: the form, and after a preview the
// reading of the script.
type submitData struct {
	Script string
	Dir    string
	// Key makes a submission idempotent: sending the form twice (a
	// double click, a reload) submits one job.
	Key string
	// Previewed is set after a preview; Problem holds why the script was
	// refused (the line is in the message), Warnings what was ignored.
	Previewed bool
	Problem   string
	Warnings  []previewWarning
	Fields    [][2]string
	Start     string
}

type previewWarning struct {
	Line    int
	Message string
}

func newKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}

func (s *Server) submitPage(w http.ResponseWriter, r *http.Request, v *viewer) error {
	d := &submitData{Key: newKey(), Dir: homeOf(v.User),
		Script: "#!/bin/bash\n#SBATCH --job-name=hello\n#SBATCH --gpus-per-node=1\n#SBATCH --time=00:10:00\n\nhostname\nnvidia-smi -L\n"}
	s.render(w, http.StatusOK, "submit", v, "Submit", d)
	return nil
}

// scriptOf is the form's script: the uploaded file if one was chosen,
// else the text box.
func scriptOf(r *http.Request) (string, error) {
	if f, _, err := r.FormFile("file"); err == nil {
		defer f.Close()
		b, err := io.ReadAll(io.LimitReader(f, job.MaxScriptSize+1))
		if err != nil {
			return "", err
		}
		if len(b) > 0 {
			if len(b) > job.MaxScriptSize {
				return "", &api.Error{Code: api.CodeTooLarge, Message: fmt.Sprintf("the uploaded script is over %d bytes (4 MiB); keep data out of the script", job.MaxScriptSize)}
			}
			return string(b), nil
		}
	}
	// Browsers send text areas' line ends as CRLF.
	return strings.ReplaceAll(r.PostFormValue("script"), "\r\n", "\n"), nil
}

func (s *Server) submitPost(w http.ResponseWriter, r *http.Request, v *viewer) error {
	script, err := scriptOf(r)
	if err != nil {
		return err
	}
	d := &submitData{Script: script, Dir: r.PostFormValue("dir"), Key: r.PostFormValue("key")}
	if d.Key == "" {
		d.Key = newKey()
	}
	spec, warns, perr := job.ParseScript([]byte(script))
	for _, w := range warns {
		d.Warnings = append(d.Warnings, previewWarning{Line: w.Line, Message: w.Option + ": " + w.Message})
	}
	preview := r.PostFormValue("action") != "submit"
	if perr != nil {
		d.Previewed, d.Problem = true, perr.Error()
		var oe *job.OptionError
		if errors.As(perr, &oe) && oe.Line > 0 {
			d.Problem = fmt.Sprintf("line %d: %s", oe.Line, strings.TrimPrefix(perr.Error(), fmt.Sprintf("line %d: ", oe.Line)))
		}
		s.render(w, http.StatusUnprocessableEntity, "submit", v, "Submit", d)
		return nil
	}
	spec.SubmitDir = d.Dir
	var resp *api.SubmitResponse
	submit := func(ctx context.Context) error {
		var err error
		resp, err = s.ctl.Submit(ctx, v.User, d.Key, api.SubmitRequest{Spec: *spec, TestOnly: preview})
		return err
	}
	if preview {
		err = submit(r.Context()) // a preview changes nothing
	} else {
		err = s.audited(r, v, "POST /submit", "", submit)
	}
	if err != nil {
		var ae *api.Error
		if !errors.As(err, &ae) || api.HTTPStatus(ae.Code) >= 500 {
			return err
		}
		// A refusal is the answer to show beside the script.
		d.Previewed, d.Problem = true, ae.Message
		s.render(w, api.HTTPStatus(ae.Code), "submit", v, "Submit", d)
		return nil
	}
	if !preview {
		http.Redirect(w, r, "/?submitted="+strconv.FormatInt(int64(resp.ID), 10), http.StatusSeeOther)
		return nil
	}
	d.Previewed = true
	for _, w := range resp.Warnings {
		d.Warnings = append(d.Warnings, previewWarning{Message: w})
	}
	if resp.EstimatedStart != 0 {
		d.Start = when(resp.EstimatedStart, time.Now())
	} else {
		d.Start = "not known yet"
	}
	d.Fields = specFields(spec, resp.Request)
	s.render(w, http.StatusOK, "submit", v, "Submit", d)
	return nil
}

// specFields is the --test-only reading of a script: what was asked and
// the shape the controller will place.
func specFields(s *job.Spec, req job.Request) [][2]string {
	var out [][2]string
	add := func(k string, v any) {
		switch x := v.(type) {
		case string:
			if x == "" {
				return
			}
		case int:
			if x == 0 {
				return
			}
		}
		out = append(out, [2]string{k, fmt.Sprint(v)})
	}
	add("name", s.Name)
	add("nodes (asked)", s.NodesMin)
	add("ntasks", s.NTasks)
	add("ntasks per node", s.NTasksPerNode)
	add("cpus per task", s.CPUsPerTask)
	add("gpus", s.GPUs)
	add("gpus per node", s.GPUsPerNode)
	add("gpus per task", s.GPUsPerTask)
	add("gpu type", s.GPUType)
	add("mem", s.Mem)
	add("account", s.Account)
	add("partition", strings.Join(s.Partitions, ","))
	add("qos", s.QOS)
	add("array", s.Array)
	add("dependency", s.Dependency)
	add("signal", s.Signal)
	add("output", s.Output)
	add("error", s.Error)
	if s.Exclusive {
		add("exclusive", "yes")
	}
	add("placed as: nodes", req.Nodes)
	add("placed as: GPUs per node", req.GPUsPerNode)
	add("placed as: CPUs per node", req.CPUsPerNode)
	add("placed as: time limit", duration(req.TimeLimitS))
	return out
}
