package memlimit

import (
	"math"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"
)

func TestLimit(t *testing.T) {
	for _, tc := range []struct {
		live uint64
		want int64
	}{
		{0, Floor},
		{350 << 20, Floor}, // 350 MiB live: 484 MiB, under the floor
		{400 << 20, (400<<20)*6/5 + Slack},
		{1 << 30, (1<<30)*6/5 + Slack},
	} {
		if got := Limit(tc.live); got != tc.want {
			t.Errorf("Limit(%d MiB) = %d MiB, want %d MiB", tc.live>>20, got>>20, tc.want>>20)
		}
	}
}

func current() int64 { return debug.SetMemoryLimit(-1) }

// waitFor polls the runtime's limit until ok says it is right, or fails after a few seconds.
func waitFor(t *testing.T, what string, ok func(int64) bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !ok(current()) {
		if time.Now().After(deadline) {
			t.Fatalf("limit %d MiB: never %s", current()>>20, what)
		}
		time.Sleep(every)
	}
}

func TestFollowAndRestore(t *testing.T) {
	if current() != math.MaxInt64 {
		t.Fatalf("the test process starts with a limit (%d): GOMEMLIMIT is set", current())
	}
	// A low floor, so the limit follows a heap a test can afford.
	floor = 0
	defer func() { floor = Floor }()
	stop := Follow()
	live := make([][]byte, 0, 64)
	for range 64 {
		live = append(live, make([]byte, 1<<20))
	}
	runtime.GC()
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(sample)
	if sample[0].Value.Uint64() < 64<<20 {
		t.Fatalf("live heap %d MiB after keeping 64 MiB", sample[0].Value.Uint64()>>20)
	}
	waitFor(t, "follows the live heap", func(l int64) bool { return l >= 64<<20+Slack+12<<20 && l < math.MaxInt64 })
	stop()
	stop() // a second call does nothing
	if current() != math.MaxInt64 {
		t.Errorf("after stop the limit is %d, want none", current())
	}
	runtime.KeepAlive(live)
}

func TestSetLimitLeftAlone(t *testing.T) {
	set := int64(3 << 30)
	prev := debug.SetMemoryLimit(set)
	defer debug.SetMemoryLimit(prev)
	stop := Follow()
	time.Sleep(3 * every)
	if current() != set {
		t.Errorf("limit %d, want the one set before, %d", current(), set)
	}
	stop()
	if current() != set {
		t.Errorf("after stop: limit %d, want %d", current(), set)
	}
}
