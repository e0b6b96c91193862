package testcost

import (
	"runtime"
	"time"
)

// Measure runs f and returns the CPU time the process spent (user and system, all threads)
// and the bytes the Go heap allocated while it ran.
func Measure(f func()) (cpu time.Duration, alloc uint64) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := cpuTime()
	f()
	cpu = cpuTime() - start
	runtime.ReadMemStats(&after)
	return cpu, after.TotalAlloc - before.TotalAlloc
}
