package job

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestContainerOptionsFromAScript(t *testing.T) {
	// As in Slurm, an unquoted # starts a comment on an #SBATCH line:
	// Pyxis's registry#image form is quoted there.
	script := `#!/bin/bash
#SBATCH --container-image="nvcr.io#nvidia/pytorch:24.05-py3"
#SBATCH --container-mounts=/data:/data,/scratch/x:/x:ro,/opt
#SBATCH --container-workdir=/work/
#SBATCH --container-env=NCCL_DEBUG,WANDB_KEY
#SBATCH --container-remap-root
#SBATCH --no-container-mount-home
#SBATCH --container-writable
python train.py
`
	s, _, err := parse(t, script)
	if err != nil {
		t.Fatal(err)
	}
	want := &Container{
		Image: "nvcr.io#nvidia/pytorch:24.05-py3",
		Mounts: []Mount{{Source: "/data", Target: "/data"}, {Source: "/scratch/x", Target: "/x", ReadOnly: true},
			{Source: "/opt", Target: "/opt"}},
		Workdir: "/work", Env: []string{"NCCL_DEBUG", "WANDB_KEY"}, RemapRoot: true, NoMountHome: true, Writable: true,
	}
	if diff := cmp.Diff(want, s.Container); diff != "" {
		t.Errorf("Container (-want +got):\n%s", diff)
	}
	if err := s.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
}

func TestContainerBadInput(t *testing.T) {
	for _, tc := range []struct{ arg, want string }{
		{"--container-mounts=data:/data", "the source data is a relative path"},
		{"--container-mounts=/data:data", "the destination data is a relative path"},
		{"--container-mounts=/data:/data:rx", `the flag "rx" is not ro or rw`},
		{"--container-mounts=/a:/b:ro:x", "give SRC:DST or SRC:DST:ro"},
		{"--container-mounts=/a:/", "root cannot be replaced"},
		{"--container-image=./img", "relative path"},
		{"--container-image=a b", "no spaces"},
		{"--container-workdir=work", "absolute path inside the container"},
		{"--container-name=a/b", "give a name of letters"},
		{"--container-env=A,1B", `"1B" is not a name`},
	} {
		_, _, err := (&Parser{Now: func() time.Time { return testNow }}).Args([]string{tc.arg, "--wrap=true"}, &Spec{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Args(%s) = %v; want an error saying %q", tc.arg, err, tc.want)
		}
	}
	// Options without an image or a name would do nothing.
	s := Spec{Script: "#!/bin/sh\n", Container: &Container{Workdir: "/w"}}
	if err := s.Container.Validate(); err == nil || !strings.Contains(err.Error(), "need --container-image") {
		t.Errorf("Validate of a workdir alone = %v; want it to ask for an image", err)
	}
	s.Container = &Container{Name: "c"}
	if err := s.Validate(); err == nil || !strings.Contains(err.Error(), "without --container-image") {
		t.Errorf("Validate of a batch job with a name alone = %v; want it to ask for the image", err)
	}
}
