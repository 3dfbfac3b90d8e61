package workload

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseSchedstat(t *testing.T) {
	tests := []struct {
		in      string
		want    Schedstat
		wantErr bool
	}{
		{"92527 66679 2\n", Schedstat{RunTime: 92527, WaitTime: 66679, Timeslices: 2}, false},
		{"1000000000 0 17", Schedstat{RunTime: time.Second, Timeslices: 17}, false},
		{"1 2", Schedstat{}, true},
		{"1 2 x\n", Schedstat{}, true},
		{"", Schedstat{}, true},
	}
	for _, tt := range tests {
		got, err := parseSchedstat([]byte(tt.in))
		if (err != nil) != tt.wantErr {
			t.Errorf("parseSchedstat(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("parseSchedstat(%q) (-want +got):\n%s", tt.in, diff)
		}
	}
}

func TestCPUSince(t *testing.T) {
	a := threadStat{sched: Schedstat{RunTime: 10, WaitTime: 5, Timeslices: 1}, schedOK: true, rusage: 100}
	b := threadStat{sched: Schedstat{RunTime: 40, WaitTime: 8, Timeslices: 4}, schedOK: true, rusage: 200}
	cpu, d := cpuSince(a, b)
	if cpu != 30 || d != (Schedstat{RunTime: 30, WaitTime: 3, Timeslices: 3}) {
		t.Errorf("with schedstat: %v, %+v", cpu, d)
	}
	b.schedOK = false
	cpu, d = cpuSince(a, b)
	if cpu != 100 || d != (Schedstat{}) {
		t.Errorf("without schedstat: %v, %+v", cpu, d)
	}
}

func TestReadThreadStat(t *testing.T) {
	st := readThreadStat()
	if !st.schedOK {
		t.Skipf("%s is not readable here", schedstatPath)
	}
	if st.sched.RunTime <= 0 || st.sched.Timeslices == 0 {
		t.Errorf("implausible schedstat of a running thread: %+v", st.sched)
	}
}
