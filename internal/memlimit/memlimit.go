package memlimit

import (
	"math"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"time"
)

const (
	// Floor is the limit while the live heap is small: below it the GC paces itself as Go does
	// by default, so small and medium images cost no extra collections.
	Floor = 512 << 20
	// Above the floor the limit is the live heap, a fifth more and Slack: enough headroom that
	// the GC never runs back to back (the limit always clears what must stay live), little
	// enough that a 500 MB live heap is not followed by 500 MB of garbage.
	headroom = 0.2
	Slack    = 64 << 20

	// every is how often the live heap is read; it changes only when a collection ends.
	every = 20 * time.Millisecond
)

// Limit is the soft memory limit for a live heap of live bytes.
func Limit(live uint64) int64 {
	return max(floor, int64(float64(live)*(1+headroom))+Slack)
}

// floor is Floor; a test lowers it to see the limit follow a heap it can afford.
var floor int64 = Floor

// Follow sets the runtime's soft memory limit to Limit of the live heap and keeps it there until
// the returned function is called, which removes it again. A limit set already (GOMEMLIMIT) is
// left alone: whoever set it knows the machine. It is the process's policy: call it once, from
// main.
func Follow() (stop func()) {
	if debug.SetMemoryLimit(-1) != math.MaxInt64 {
		return func() {}
	}
	done, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		follow(done)
	}()
	return sync.OnceFunc(func() {
		close(done)
		<-exited
		debug.SetMemoryLimit(math.MaxInt64)
	})
}

func follow(done <-chan struct{}) {
	live := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	t := time.NewTicker(every)
	defer t.Stop()
	var set int64
	for {
		metrics.Read(live)
		if l := Limit(live[0].Value.Uint64()); l != set {
			debug.SetMemoryLimit(l)
			set = l
		}
		select {
		case <-done:
			return
		case <-t.C:
		}
	}
}
