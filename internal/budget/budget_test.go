package budget

import (
	"testing"
	"time"
)

func TestNew(t *testing.T) {
	for _, tc := range []struct {
		name        string
		in          Input
		slowdown    float64
		scale       float64
		watchdog    time.Duration
		hostAtMost  time.Duration
		testAtLeast time.Duration
	}{
		{"kvm", Input{Accel: "kvm", VCPUs: 16, HostCPUs: 16, Duration: 2 * time.Second}, 1, 1, 0, time.Minute, 22 * time.Second},
		{"tcg", Input{Accel: "tcg", VCPUs: 2, HostCPUs: 2, Duration: 2 * time.Second}, 4, 2, 0, 3 * time.Minute, 88 * time.Second},
		{"tcg overcommit", Input{Accel: "tcg", VCPUs: 8, HostCPUs: 2, Duration: 2 * time.Second}, 16, 8, 0, 10 * time.Minute, 352 * time.Second},
		{"scheduler", Input{Accel: "tcg", VCPUs: 4, HostCPUs: 2, Duration: 10 * time.Second, Watchdog: 4 * time.Second, Scheduler: true}, 8, 4, 8 * time.Second, 10 * time.Minute, 240 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := New(tc.in)
			if b.Slowdown != tc.slowdown || b.Scale != tc.scale || b.Watchdog != tc.watchdog {
				t.Errorf("slowdown %v, scale %v, watchdog %v; want %v, %v, %v", b.Slowdown, b.Scale, b.Watchdog, tc.slowdown, tc.scale, tc.watchdog)
			}
			if b.Host > tc.hostAtMost || b.Test < tc.testAtLeast {
				t.Errorf("host limit %s (want at most %s), test limit %s (want at least %s)", b.Host, tc.hostAtMost, b.Test, tc.testAtLeast)
			}
			// The host waits longer than every guest-side limit together,
			// so the guest's own limits fire first and explain themselves.
			if guest := b.Boot + b.SentinelReady + b.Attach + b.Test + b.Watchdog + b.Stop; b.Host <= guest {
				t.Errorf("host limit %s is not above the guest-side limits' sum %s", b.Host, guest)
			}
			if tc.in.Scheduler && (b.Attach <= 0 || b.Stop <= 0 || b.SentinelReady <= 0) {
				t.Errorf("scheduler limits missing: %+v", b)
			}
		})
	}
	if a, b := New(Input{Accel: "tcg", VCPUs: 4, HostCPUs: 2}), New(Input{Accel: "tcg", VCPUs: 16, HostCPUs: 2}); a.Host >= b.Host {
		t.Error("more vCPUs per host CPU must get a larger budget")
	}
}

// Absurd inputs saturate instead of overflowing into a negative limit,
// which a timer would take as "no limit".
func TestSaturates(t *testing.T) {
	b := New(Input{Accel: "tcg", VCPUs: 1 << 30, HostCPUs: 1, Duration: 1 << 62, Watchdog: 1 << 62, Scheduler: true})
	for name, d := range map[string]time.Duration{"host": b.Host, "test": b.Test, "watchdog": b.Watchdog, "boot": b.Boot, "attach": b.Attach} {
		if d <= 0 || d > Limit {
			t.Errorf("%s limit %s: want within (0, %s]", name, d, Limit)
		}
	}
	z := New(Input{})
	if z.Overcommit != 1 || z.Host <= 0 {
		t.Errorf("zero input: %+v", z)
	}
}
