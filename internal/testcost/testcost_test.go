package testcost

import (
	"testing"
	"time"
)

func TestMeasure(t *testing.T) {
	var sink []byte
	var n int
	cpu, alloc := Measure(func() {
		for start := cpuTime(); cpuTime()-start < 30*time.Millisecond; n++ {
			sink = make([]byte, 1<<20)
		}
	})
	if cpu < 30*time.Millisecond || alloc < uint64(n)<<20 {
		t.Fatalf("30 ms of CPU allocating %d MiB measured %v and %d bytes", n, cpu, alloc)
	}
	_ = sink
	idle, _ := Measure(func() { time.Sleep(100 * time.Millisecond) })
	if idle > 50*time.Millisecond {
		t.Fatalf("sleeping 100 ms cost %v of CPU", idle)
	}
}
