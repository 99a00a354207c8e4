package promtext

import (
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
)

// RegisterRuntime adds the Go runtime metrics (go_*) and, on Linux, the
// process metrics (process_*) that the Prometheus Go client's Go and
// process collectors export by default, under the same names, so that
// dashboards built on those keep working. Left out: go_gc_gogc_percent
// (the runtime cannot read GOGC without setting it), the quantiles of
// go_gc_duration_seconds (its sum and count are there) and the network
// counters process_network_*. Each scrape reads the runtime's
// memory statistics once.
func (r *Registry) RegisterRuntime() {
	r.registerGroup("go_", goFamilies{})
	if _, err := os.Stat("/proc/self/stat"); err == nil {
		r.registerGroup("process_", processFamilies{})
	}
}

// registerGroup adds f, which writes several families whose names all
// start with prefix, sorted among the others by prefix.
func (r *Registry) registerGroup(prefix string, f family) {
	r.register(prefix, f)
}

type goFamilies struct{}

func (goFamilies) write(b *strings.Builder) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	threads, _ := runtime.ThreadCreateProfile(nil)

	writeHeader(b, "go_gc_duration_seconds", "A summary of the wall-time pause (stop-the-world) duration in garbage collection cycles.", "summary")
	writeSample(b, "go_gc_duration_seconds_sum", nil, nil, "", 0, float64(ms.PauseTotalNs)/1e9)
	writeSample(b, "go_gc_duration_seconds_count", nil, nil, "", 0, float64(ms.NumGC))
	gauge(b, "go_gc_gomemlimit_bytes", "Go runtime memory limit configured by the user, otherwise math.MaxInt64.", float64(debug.SetMemoryLimit(-1)))
	gauge(b, "go_goroutines", "Number of goroutines that currently exist.", float64(runtime.NumGoroutine()))
	writeHeader(b, "go_info", "Information about the Go environment.", "gauge")
	writeSample(b, "go_info", []string{"version"}, []string{runtime.Version()}, "", 0, 1)
	gauge(b, "go_memstats_alloc_bytes", "Number of heap bytes allocated and currently in use.", float64(ms.Alloc))
	counter(b, "go_memstats_alloc_bytes_total", "Total number of heap bytes allocated, even if freed.", float64(ms.TotalAlloc))
	counter(b, "go_memstats_frees_total", "Total number of heap objects frees.", float64(ms.Frees))
	gauge(b, "go_memstats_gc_sys_bytes", "Number of bytes used for garbage collection system metadata.", float64(ms.GCSys))
	gauge(b, "go_memstats_heap_alloc_bytes", "Number of heap bytes allocated and currently in use.", float64(ms.HeapAlloc))
	gauge(b, "go_memstats_heap_idle_bytes", "Number of heap bytes waiting to be used.", float64(ms.HeapIdle))
	gauge(b, "go_memstats_heap_inuse_bytes", "Number of heap bytes that are in use.", float64(ms.HeapInuse))
	gauge(b, "go_memstats_heap_objects", "Number of currently allocated objects.", float64(ms.HeapObjects))
	gauge(b, "go_memstats_heap_released_bytes", "Number of heap bytes released to OS.", float64(ms.HeapReleased))
	gauge(b, "go_memstats_heap_sys_bytes", "Number of heap bytes obtained from system.", float64(ms.HeapSys))
	gauge(b, "go_memstats_buck_hash_sys_bytes", "Number of bytes used by the profiling bucket hash table.", float64(ms.BuckHashSys))
	gauge(b, "go_memstats_last_gc_time_seconds", "Number of seconds since 1970 of last garbage collection.", float64(ms.LastGC)/1e9)
	counter(b, "go_memstats_mallocs_total", "Total number of heap objects allocated, both live and gc-ed.", float64(ms.Mallocs))
	gauge(b, "go_memstats_mcache_inuse_bytes", "Number of bytes in use by mcache structures.", float64(ms.MCacheInuse))
	gauge(b, "go_memstats_mcache_sys_bytes", "Number of bytes used for mcache structures obtained from system.", float64(ms.MCacheSys))
	gauge(b, "go_memstats_mspan_inuse_bytes", "Number of bytes in use by mspan structures.", float64(ms.MSpanInuse))
	gauge(b, "go_memstats_mspan_sys_bytes", "Number of bytes used for mspan structures obtained from system.", float64(ms.MSpanSys))
	gauge(b, "go_memstats_next_gc_bytes", "Number of heap bytes when next garbage collection will take place.", float64(ms.NextGC))
	gauge(b, "go_memstats_other_sys_bytes", "Number of bytes used for other system allocations.", float64(ms.OtherSys))
	gauge(b, "go_memstats_stack_inuse_bytes", "Number of bytes obtained from system for stack allocator.", float64(ms.StackInuse))
	gauge(b, "go_memstats_stack_sys_bytes", "Number of bytes obtained from system for stack allocator.", float64(ms.StackSys))
	gauge(b, "go_memstats_sys_bytes", "Number of bytes obtained from system.", float64(ms.Sys))
	gauge(b, "go_sched_gomaxprocs_threads", "The current runtime.GOMAXPROCS setting, or the number of operating system threads that can execute user-level Go code simultaneously.", float64(runtime.GOMAXPROCS(0)))
	gauge(b, "go_threads", "Number of OS threads created.", float64(threads))
}

type processFamilies struct{}

// processStart is read once, at the first scrape: the start time does not
// change.
var processStart = sync.OnceValue(func() float64 {
	st, err := readProcStat()
	if err != nil {
		return 0
	}
	return startSeconds(st.startTicks)
})

func (processFamilies) write(b *strings.Builder) {
	st, err := readProcStat()
	if err != nil {
		return // the process metrics are best effort, as in the Prometheus client
	}
	counter(b, "process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", st.cpuSeconds)
	if max, ok := softLimit("Max open files"); ok {
		gauge(b, "process_max_fds", "Maximum number of open file descriptors.", max)
	}
	if fds, err := os.ReadDir("/proc/self/fd"); err == nil {
		gauge(b, "process_open_fds", "Number of open file descriptors.", float64(len(fds)))
	}
	gauge(b, "process_resident_memory_bytes", "Resident memory size in bytes.", st.rssBytes)
	if start := processStart(); start > 0 {
		gauge(b, "process_start_time_seconds", "Start time of the process since unix epoch in seconds.", start)
	}
	gauge(b, "process_virtual_memory_bytes", "Virtual memory size in bytes.", st.vsizeBytes)
	if max, ok := softLimit("Max address space"); ok {
		gauge(b, "process_virtual_memory_max_bytes", "Maximum amount of virtual memory available in bytes.", max)
	}
}

// procStat is what /proc/self/stat says about this process.
type procStat struct {
	cpuSeconds, rssBytes, vsizeBytes float64
	startTicks                       float64
}

// userHZ is the unit of the times in /proc/PID/stat (USER_HZ), which is
// 100 on every Linux architecture Go supports.
const userHZ = 100

func readProcStat() (procStat, error) {
	data, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return procStat{}, err
	}
	// The command name, field 2, is in parentheses and may hold spaces:
	// the fields that follow are counted from the last ')'.
	s := string(data)
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		s = s[i+1:]
	}
	f := strings.Fields(s) // f[0] is field 3 (state)
	num := func(field int) float64 {
		if field-3 >= len(f) {
			return 0
		}
		v, _ := strconv.ParseFloat(f[field-3], 64)
		return v
	}
	return procStat{
		cpuSeconds: (num(14) + num(15)) / userHZ,
		startTicks: num(22),
		vsizeBytes: num(23),
		rssBytes:   num(24) * float64(os.Getpagesize()),
	}, nil
}

// startSeconds turns a start time in ticks since boot into Unix seconds.
func startSeconds(ticks float64) float64 {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			boot, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				return 0
			}
			return boot + ticks/userHZ
		}
	}
	return 0
}

// softLimit reads a soft limit from /proc/self/limits by its name ("Max
// open files"); unlimited is the largest uint64, as the Prometheus client
// reports it.
func softLimit(name string) (float64, bool) {
	data, err := os.ReadFile("/proc/self/limits")
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, name); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				if f[0] == "unlimited" {
					return float64(^uint64(0)), true
				}
				v, err := strconv.ParseFloat(f[0], 64)
				return v, err == nil
			}
		}
	}
	return 0, false
}

func gauge(b *strings.Builder, name, help string, v float64) {
	writeHeader(b, name, help, "gauge")
	writeSample(b, name, nil, nil, "", 0, v)
}

func counter(b *strings.Builder, name, help string, v float64) {
	writeHeader(b, name, help, "counter")
	writeSample(b, name, nil, nil, "", 0, v)
}
