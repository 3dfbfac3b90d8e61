package kernel

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/ktstr-go/ktstr/internal/hostbuild"
	"github.com/schollz/progressbar/v3"
	"golang.org/x/sys/unix"
)

// A full build of the Debian source (6.12.117) with the ktstr fragment,
// measured with make -j2 on 2 cores: 2392 CC/LD/AR lines (1888 CC, 12 LD,
// 492 AR) in 9 min 13 s wall. These estimate a first build; later builds
// use what statsFile recorded.
const (
	defaultBuildLines   = 2392
	defaultBuildSeconds = 553
	defaultBuildJobs    = 2
)

// statsFile, in a build directory, records the last full build there.
const statsFile = "ktstr-build-stats.json"

// buildStats is what statsFile holds.
type buildStats struct {
	Lines   int     `json:"lines"`
	Seconds float64 `json:"seconds"`
	Jobs    int     `json:"jobs"`
}

func readStats(buildDir string) (buildStats, bool) {
	var s buildStats
	b, err := os.ReadFile(filepath.Join(buildDir, statsFile))
	if err != nil || json.Unmarshal(b, &s) != nil || s.Lines <= 0 || s.Jobs <= 0 {
		return buildStats{}, false
	}
	return s, true
}

func writeStats(buildDir string, s buildStats) error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	return hostbuild.WriteFileAtomic(filepath.Join(buildDir, statsFile), b, 0o644)
}

// estimate returns the expected line count of a full build and a human
// estimate of its duration with jobs parallel jobs.
func estimate(buildDir string, jobs int) (int, string) {
	lines := defaultBuildLines
	cpuMin := float64(defaultBuildSeconds*defaultBuildJobs) / 60
	if s, ok := readStats(buildDir); ok {
		lines, cpuMin = s.Lines, s.Seconds*float64(s.Jobs)/60
	}
	ncpu := min(jobs, numCPU())
	mins := max(1, int(cpuMin/float64(max(ncpu, 1))+0.5))
	cores := "cores"
	if ncpu == 1 {
		cores = "core"
	}
	return lines, fmt.Sprintf("about %d min on %d %s", mins, ncpu, cores)
}

// newReporter returns the reporter of a kernel build: its phase lines go to
// w (when not nil) as "ktstr: kernel: <phase>".
func newReporter(w io.Writer) hostbuild.Reporter {
	return hostbuild.Reporter{W: w, Prefix: "ktstr: kernel: "}
}

// kbuildPrefixes are the kbuild output lines that count as progress.
var kbuildPrefixes = [][]byte{[]byte("  CC "), []byte("  LD "), []byte("  AR ")}

// lineCounter is an io.Writer that counts kbuild's CC/LD/AR lines and calls
// onLine with the running count for each.
type lineCounter struct {
	mu      sync.Mutex
	partial []byte
	n       int
	onLine  func(n int)
}

func (c *lineCounter) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	data := p
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			if len(c.partial) < 4096 {
				c.partial = append(c.partial, data...)
			}
			break
		}
		line := data[:i]
		if len(c.partial) > 0 {
			line = append(c.partial, line...)
			c.partial = c.partial[:0]
		}
		data = data[i+1:]
		for _, pre := range kbuildPrefixes {
			if bytes.HasPrefix(line, pre) {
				c.n++
				if c.onLine != nil {
					c.onLine(c.n)
				}
				break
			}
		}
	}
	return len(p), nil
}

// count returns the lines counted so far.
func (c *lineCounter) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// newBar returns a progress bar on w for total lines; total < 0 shows a
// spinner with a count. On a terminal it redraws often, elsewhere (a CI log)
// rarely.
func newBar(w io.Writer, total int) *progressbar.ProgressBar {
	throttle := 15 * time.Second
	if isTerminal(w) {
		throttle = 200 * time.Millisecond
	}
	return progressbar.NewOptions64(int64(total),
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetRenderBlankState(true),
		progressbar.OptionSetDescription("bzImage"),
		progressbar.OptionShowCount(),
		progressbar.OptionSetWidth(30),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionSetPredictTime(total > 0),
		progressbar.OptionThrottle(throttle),
		progressbar.OptionShowElapsedTimeOnFinish(),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }),
	)
}

// barUpdater returns an onLine callback that moves bar, raising its maximum
// when the estimate was too low.
func barUpdater(bar *progressbar.ProgressBar, total int) func(int) {
	return func(n int) {
		if total > 0 && n >= total {
			total = n + n/20 + 1
			bar.ChangeMax64(int64(total))
		}
		_ = bar.Set64(int64(n))
	}
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
