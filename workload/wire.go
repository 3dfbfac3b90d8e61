package workload

import (
	"encoding/json"
	"fmt"
	"time"
)

// envSpec is the environment variable that carries a worker's workerSpec as
// JSON (next to proto.EnvRole = proto.RoleWorker).
const envSpec = "KTSTR_WORKER_SPEC"

// workerSpec is everything a worker process needs to know.
type workerSpec struct {
	// Exit asks for a process that exits at once (ForkExit's child when
	// /bin/true is missing); nothing else is set.
	Exit bool `json:"exit,omitempty"`

	Kind  kindSpec `json:"kind"`
	Index int      `json:"index"` // in the Set
	Group int      `json:"group"` // index of its group
	Role  int      `json:"role"`  // index in its group, 0..GroupSize-1

	Affinity  []int     `json:"affinity,omitempty"`
	Policy    Policy    `json:"policy"`
	Nice      int       `json:"nice,omitempty"`
	MemPolicy MemPolicy `json:"mem_policy"`

	Fds workerFds `json:"fds"`
}

// workerFds are the descriptors a worker inherits; -1 when absent.
type workerFds struct {
	Ctrl   int `json:"ctrl"`   // memfd of the Set's control page
	Report int `json:"report"` // write end of the message pipe to the parent
	Life   int `json:"life"`   // read end of a pipe the parent holds open while it wants the worker
	Group  int `json:"group"`  // memfd of the group's page
	In     int `json:"in"`     // PipeIo: read end from the peer
	Out    int `json:"out"`    // PipeIo: write end to the peer
}

// Life-pipe bytes from the parent.
const (
	lifeSetUp = 's' // the worker is in its cgroup: apply the settings, get ready
)

// message is a line of JSON a worker sends to the parent on its report
// pipe: first {"ready":true} or {"err":...} after setting up, then
// {"report":...} after stopping.
type message struct {
	Ready  bool    `json:"ready,omitempty"`
	Err    string  `json:"err,omitempty"`
	Report *Report `json:"report,omitempty"`
}

func encodeSpec(s workerSpec) (string, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return "", fmt.Errorf("encode worker spec: %w", err)
	}
	return string(b), nil
}

func decodeSpec(v string) (workerSpec, error) {
	var s workerSpec
	if err := json.Unmarshal([]byte(v), &s); err != nil {
		return s, fmt.Errorf("decode worker spec from $%s: %w", envSpec, err)
	}
	return s, nil
}

// Defaults of Spec's timeouts.
const (
	defaultStartTimeout = 30 * time.Second
	defaultStopTimeout  = 10 * time.Second
)
