package job

import (
	"errors"
	"reflect"
	"testing"
)

func TestParseDependency(t *testing.T) {
	ref := func(id ID) JobRef { return JobRef{ID: id, Task: NoTask} }
	tests := []struct {
		in   string
		want Dependencies
	}{
		{"", Dependencies{}},
		{"afterok:12:13,afterany:14", Dependencies{Conds: []Dep{
			{Type: AfterOK, Jobs: []JobRef{ref(12), ref(13)}},
			{Type: AfterAny, Jobs: []JobRef{ref(14)}}}}},
		{"afterok:12?afternotok:13", Dependencies{Any: true, Conds: []Dep{
			{Type: AfterOK, Jobs: []JobRef{ref(12)}}, {Type: AfterNotOK, Jobs: []JobRef{ref(13)}}}}},
		{"singleton", Dependencies{Conds: []Dep{{Type: Singleton}}}},
		{"after:12+5:13", Dependencies{Conds: []Dep{{Type: After, Jobs: []JobRef{ref(12), ref(13)}, DelayS: []int64{300, 0}}}}},
		{"aftercorr:20", Dependencies{Conds: []Dep{{Type: AfterCorr, Jobs: []JobRef{ref(20)}}}}},
		{"afterburstbuffer:7", Dependencies{Conds: []Dep{{Type: AfterBurstBuffer, Jobs: []JobRef{ref(7)}}}}},
		{"afterok:30_2", Dependencies{Conds: []Dep{{Type: AfterOK, Jobs: []JobRef{{ID: 30, Task: 2}}}}}},
		{"AfterOK:1", Dependencies{Conds: []Dep{{Type: AfterOK, Jobs: []JobRef{ref(1)}}}}},
		{"12:13", Dependencies{Conds: []Dep{{Type: AfterAny, Jobs: []JobRef{ref(12), ref(13)}}}}},
		{"singleton,afterok:4", Dependencies{Conds: []Dep{{Type: Singleton}, {Type: AfterOK, Jobs: []JobRef{ref(4)}}}}},
	}
	for _, tc := range tests {
		got, err := ParseDependency(tc.in)
		if err != nil {
			t.Errorf("ParseDependency(%q) error: %v", tc.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseDependency(%q) = %s; want %s", tc.in, jsonOf(got), jsonOf(tc.want))
		}
		if tc.in != "" && tc.in != "12:13" && tc.in != "AfterOK:1" && got.String() != tc.in {
			t.Errorf("ParseDependency(%q).String() = %q; want the input back", tc.in, got.String())
		}
	}
	for _, in := range []string{"afterok", "afterok:", "afterok:x", "afterok:-1", "afterok:0", "before:1",
		"afterok:1,afterany:2?afterok:3", "afterok:1,,afterok:2", "afterany:1+5", "after:1+x", "afterok:1_x", ",", "?"} {
		if got, err := ParseDependency(in); !errors.Is(err, ErrBadDependency) {
			t.Errorf("ParseDependency(%q) = %v, %v; want ErrBadDependency", in, got, err)
		}
	}
}

func TestEvaluateDependencies(t *testing.T) {
	jobs := map[JobRef]DepJob{
		{ID: 1, Task: NoTask}:  {State: Completed},                         // ok
		{ID: 2, Task: NoTask}:  {State: Failed, ExitCode: 1},               // not ok
		{ID: 3, Task: NoTask}:  {State: Running, StartS: 1000},             // running since 1000
		{ID: 4, Task: NoTask}:  {State: Pending},                           // not started
		{ID: 5, Task: NoTask}:  {State: Completed, ExitCode: 3},            // completed, non-zero exit: not ok
		{ID: 6, Task: NoTask}:  {State: Cancelled},                         // cancelled before start
		{ID: 7, Task: NoTask}:  {State: Timeout, StartS: 10},               // not ok
		{ID: 8, Task: 0}:       {State: Completed},                         // array task 8_0 ok
		{ID: 8, Task: 1}:       {State: Failed, ExitCode: 2},               // 8_1 failed
		{ID: 8, Task: 2}:       {State: Running, StartS: 1},                // 8_2 running
		{ID: 9, Task: NoTask}:  {State: NodeFail, StartS: 5},               // not ok
		{ID: 10, Task: NoTask}: {State: Preempted, StartS: 5, ExitCode: 0}, // ended, not ok
	}
	ctx := DepContext{
		Now:       1200,
		ArrayTask: NoTask,
		Lookup: func(r JobRef) (DepJob, bool) {
			j, ok := jobs[r]
			return j, ok
		},
	}
	tests := []struct {
		dep  string
		task int
		want DepStatus
	}{
		{"", NoTask, DepSatisfied},
		{"afterok:1", NoTask, DepSatisfied},
		{"afterok:2", NoTask, DepNever},
		{"afterok:3", NoTask, DepWaiting},
		{"afterok:5", NoTask, DepNever},
		{"afterok:1:3", NoTask, DepWaiting},
		{"afterok:1:2", NoTask, DepNever},
		{"afternotok:2", NoTask, DepSatisfied},
		{"afternotok:1", NoTask, DepNever},
		{"afternotok:7:9", NoTask, DepSatisfied},
		{"afternotok:10", NoTask, DepSatisfied},
		{"afterany:1:2:7", NoTask, DepSatisfied},
		{"afterany:3", NoTask, DepWaiting},
		{"afterburstbuffer:2", NoTask, DepSatisfied},
		{"after:3", NoTask, DepSatisfied},
		{"after:3+3", NoTask, DepSatisfied}, // 1000 + 180 <= 1200
		{"after:3+4", NoTask, DepWaiting},   // 1000 + 240 > 1200
		{"after:4", NoTask, DepWaiting},
		{"after:6", NoTask, DepSatisfied},     // cancelled before it started
		{"afterok:999", NoTask, DepSatisfied}, // unknown: lifted
		{"afterok:8_0", NoTask, DepSatisfied},
		{"afterok:8_1", NoTask, DepNever},
		{"aftercorr:8", 0, DepSatisfied},
		{"aftercorr:8", 1, DepNever},
		{"aftercorr:8", 2, DepWaiting},
		// ',' needs all; '?' needs one.
		{"afterok:1,afterok:3", NoTask, DepWaiting},
		{"afterok:1,afterok:2", NoTask, DepNever},
		{"afterok:2,afterok:3", NoTask, DepNever},
		{"afterok:2?afterok:3", NoTask, DepWaiting},
		{"afterok:2?afterok:1", NoTask, DepSatisfied},
		{"afterok:2?afterok:5", NoTask, DepNever},
		{"afterok:3?afterany:1", NoTask, DepSatisfied},
		{"singleton", NoTask, DepSatisfied},
	}
	for _, tc := range tests {
		d, err := ParseDependency(tc.dep)
		if err != nil {
			t.Fatalf("ParseDependency(%q): %v", tc.dep, err)
		}
		c := ctx
		c.ArrayTask = tc.task
		if got := d.Evaluate(c); got != tc.want {
			t.Errorf("Evaluate(%q, task %d) = %v; want %v", tc.dep, tc.task, got, tc.want)
		}
	}
	d, _ := ParseDependency("singleton,afterok:1")
	busy := ctx
	busy.SingletonFree = func() bool { return false }
	if got := d.Evaluate(busy); got != DepWaiting {
		t.Errorf("singleton with another job of the same name = %v; want waiting", got)
	}
}
