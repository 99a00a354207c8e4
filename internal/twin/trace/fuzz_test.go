package trace

import (
	"errors"
	"io"
	"math"
	"strings"
	"testing"
)

// FuzzReaders feeds arbitrary bytes to every reader: none may panic, every
// error after the header must be a *RowError with a line, and every record
// must be sane.
func FuzzReaders(f *testing.F) {
	f.Add("timestamp,duration,num_gpus,gpu_time,cluster\n2017-10-09 07:01:55,66.0,1,66.0,11cb48\n")
	f.Add("job_id,num_gpu,submit_time,iterations,model_name,duration,interval\n0,1,0,606,vgg19,164,30\n")
	f.Add("name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time\nopenb-pod-0000,12000,16384,1,1000,,LS,Running,0,12537496,0\n")
	f.Add("name,time,application,num_replicas,batch_size\ncifar10-0,107,cifar10,6,2048\n")
	f.Add("job_id,user,project,submit,start,end,gpus,nodes,cpus,mem_mb,time_limit_s,state,energy_j\n1,a,b,1,2,3,4,1,8,9,60,COMPLETED,\n")
	f.Add("submit_time,end_time,gpus\n\"1\",2,\"3\n")
	for _, format := range Formats() {
		f.Add(string(format) + "\n")
	}
	f.Fuzz(func(t *testing.T, data string) {
		for _, format := range Formats() {
			r, err := Open(strings.NewReader(data), Options{Format: format, Name: "fuzz", SkipBad: len(data)%2 == 0})
			if err != nil {
				if !errors.Is(err, ErrFormat) {
					t.Fatalf("%s: Open error %v is not ErrFormat", format, err)
				}
				continue
			}
			for i := 0; ; i++ {
				rec, err := r.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					var re *RowError
					if !errors.As(err, &re) || re.Line < 1 {
						t.Fatalf("%s: row error %v is not a RowError with a line", format, err)
					}
					break
				}
				if rec.GPUs < 0 || rec.DurationS < 0 || math.IsNaN(rec.DurationS) || math.IsNaN(rec.SubmitS) || math.IsInf(rec.SubmitS, 0) || rec.Line < 2 {
					t.Fatalf("%s: insane record %+v", format, rec)
				}
			}
		}
	})
}
