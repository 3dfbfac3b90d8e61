package workload

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// threadStat is a reading of the calling thread's CPU accounting.
type threadStat struct {
	sched   Schedstat // from /proc/thread-self/schedstat, if schedOK
	schedOK bool
	rusage  time.Duration // user+system time from getrusage(RUSAGE_THREAD)
}

// schedstatPath is the calling thread's schedstat file.
const schedstatPath = "/proc/thread-self/schedstat"

// readThreadStat reads the calling thread's schedstat and rusage.
func readThreadStat() threadStat {
	var st threadStat
	if data, err := os.ReadFile(schedstatPath); err == nil {
		st.sched, err = parseSchedstat(data)
		st.schedOK = err == nil
	}
	var ru unix.Rusage
	if unix.Getrusage(unix.RUSAGE_THREAD, &ru) == nil {
		st.rusage = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	return st
}

// cpuSince returns the CPU time and the schedstat change from start to end.
// CPU time is schedstat's run time, which the scheduler accounts in
// nanoseconds; without schedstat it is the rusage time and the schedstat
// change is zero.
func cpuSince(start, end threadStat) (time.Duration, Schedstat) {
	if !start.schedOK || !end.schedOK {
		return end.rusage - start.rusage, Schedstat{}
	}
	d := Schedstat{
		RunTime:    end.sched.RunTime - start.sched.RunTime,
		WaitTime:   end.sched.WaitTime - start.sched.WaitTime,
		Timeslices: end.sched.Timeslices - start.sched.Timeslices,
	}
	return d.RunTime, d
}

// parseSchedstat parses the content of /proc/<pid>/schedstat: run time (ns),
// run-queue wait time (ns), number of timeslices.
func parseSchedstat(data []byte) (Schedstat, error) {
	f := bytes.Fields(data)
	if len(f) != 3 {
		return Schedstat{}, fmt.Errorf("parse schedstat %q: want 3 fields, have %d", data, len(f))
	}
	var v [3]uint64
	for i := range v {
		n, err := strconv.ParseUint(string(f[i]), 10, 64)
		if err != nil {
			return Schedstat{}, fmt.Errorf("parse schedstat %q: %w", data, err)
		}
		v[i] = n
	}
	return Schedstat{RunTime: time.Duration(v[0]), WaitTime: time.Duration(v[1]), Timeslices: v[2]}, nil
}
