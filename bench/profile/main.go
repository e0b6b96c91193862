// Command profile runs bom-attest in-process, exactly as the binary does, and writes Go CPU and
// heap profiles of the run: the CPU profile of the whole run, and the heap profile taken at the
// moment the live heap was largest (sampled every 100 ms), which is what peak RSS follows.
//
//	profile -cpu cpu.pprof -heap heap.pprof -- --image oci-dir:IMAGE --dry-run true --output-dir DIR
//
// Read them with `go tool pprof -top -nodecount=25 cpu.pprof` (add -sample_index=inuse_space
// or alloc_space for the heap).
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/metrics"
	"runtime/pprof"
	"sync"
	"syscall"
	"time"

	"github.com/bom-attest/bom-attest/internal/memlimit"
	"github.com/bom-attest/bom-attest/internal/run"
)

func main() {
	cpuOut := flag.String("cpu", "cpu.pprof", "CPU profile to write")
	heapOut := flag.String("heap", "heap.pprof", "heap profile (at the largest live heap) to write")
	flag.Parse()

	cpu, err := os.Create(*cpuOut)
	if err != nil {
		fail(err)
	}
	if err := pprof.StartCPUProfile(cpu); err != nil {
		fail(err)
	}
	peak := watchHeap()
	unlimit := memlimit.Follow() // as main.go does
	defer unlimit()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	env := run.OS()
	env.Args = flag.Args()
	code := run.Main(ctx, env)
	stop()
	pprof.StopCPUProfile()
	if err := cpu.Close(); err != nil {
		fail(err)
	}
	heap, inuse := peak()
	if err := os.WriteFile(*heapOut, heap, 0o644); err != nil {
		fail(err)
	}
	fmt.Fprintf(os.Stderr, "profile: peak live heap %d MiB; wrote %s and %s\n", inuse>>20, *cpuOut, *heapOut)
	os.Exit(code)
}

// watchHeap samples the heap until the returned function is called, which gives the heap
// profile taken when the live heap was largest.
func watchHeap() func() ([]byte, uint64) {
	var (
		mu   sync.Mutex
		best []byte
		max  uint64
	)
	take := func() {
		// The live heap as of the last collection, which is also what the heap profile shows:
		// the heap in use would count garbage not yet collected.
		live := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
		metrics.Read(live)
		mu.Lock()
		defer mu.Unlock()
		if live[0].Value.Uint64() <= max {
			return
		}
		var buf bytes.Buffer
		if err := pprof.Lookup("heap").WriteTo(&buf, 0); err == nil {
			best, max = buf.Bytes(), live[0].Value.Uint64()
		}
	}
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				take()
			}
		}
	}()
	return func() ([]byte, uint64) {
		close(done)
		<-stopped
		take()
		mu.Lock()
		defer mu.Unlock()
		return best, max
	}
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "profile: %v\n", err)
	os.Exit(1)
}
